import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './migrate.ts';

export interface OpenDatabaseOptions {
  readonly readonly?: boolean;
  /** How long a writer waits for another connection's lock before failing. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the SQLite file with the settings every connection needs, then
 * migrates it. WAL lets the UI read while a batch writes; synchronous=NORMAL is safe in WAL
 * mode (a power cut can lose the last commits, never corrupt the file) and keeps a commit
 * well under a millisecond.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database.Database {
  // Clinical data: the folder is the user's alone (mode applies only to folders created here).
  if (file !== ':memory:' && !options.readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('foreign_keys = ON');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
