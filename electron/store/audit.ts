import type Database from 'better-sqlite3';
import type { AuditEntry } from '#common/domain';
import { nowIso } from './time.ts';
import type { Page, PageQuery } from './paging.ts';
import { pageBounds } from './paging.ts';

export interface AuditRecord {
  readonly actor: string;
  /** `<entity>.<verb>`, e.g. "patient.create". */
  readonly action: string;
  readonly entity: string;
  readonly entityId: number | null;
  readonly detail?: unknown;
}

const SELECT = `SELECT id, at, actor, action, entity, entity_id AS entityId, detail FROM audit_log`;

/**
 * The audit trail. Callers write it inside the same transaction as the change it describes,
 * so the log and the data can never disagree; triggers in the schema refuse UPDATE and DELETE.
 */
export class AuditLog {
  private readonly insert: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      'INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  record(entry: AuditRecord): void {
    if (!this.db.inTransaction) throw new Error(`audit ${entry.action} must be written inside the transaction of its change`);
    this.insert.run(nowIso(), entry.actor, entry.action, entry.entity, entry.entityId, JSON.stringify(entry.detail ?? {}));
  }

  /** `offset`, when given, wins over `page`: a reader can ask for one more than a page to learn if another follows. */
  list(query: PageQuery & { entity?: string; entityId?: number; offset?: number } = {}): Page<AuditEntry> {
    const bounds = pageBounds(query);
    const { limit, page, pageSize } = bounds;
    const offset = query.offset !== undefined ? Math.max(0, Math.floor(query.offset)) : bounds.offset;
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.entity !== undefined) {
      where.push('entity = ?');
      params.push(query.entity);
    }
    if (query.entityId !== undefined) {
      where.push('entity_id = ?');
      params.push(query.entityId);
    }
    const clause = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) AS n FROM audit_log${clause}`).get(...params) as { n: number }).n;
    const items = this.db
      .prepare(`${SELECT}${clause} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...params, limit, offset) as AuditEntry[];
    return { items, total, page, pageSize };
  }
}
