import type Database from 'better-sqlite3';
import type { AuditLog } from './audit.ts';

/** What every repository shares: the connection, the audit log and who is acting. */
export interface RepoContext {
  readonly db: Database.Database;
  readonly audit: AuditLog;
  actor(): string;
  /** The model version whose predictions reads show first (the model in use); null: the newest of any. */
  preferredModelVersion(): string | null;
}

/** SQLite reports constraint violations by code; callers map them to StoreError('conflict'). */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}
