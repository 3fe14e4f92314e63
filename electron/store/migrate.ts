import type Database from 'better-sqlite3';
import { migrations as allMigrations, type Migration } from './migrations/index.ts';
import { StoreError } from './errors.ts';

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the schema to the newest version. Each migration and its user_version bump commit
 * together, so a crash mid-migration leaves the previous version intact and the next start
 * simply retries it.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = allMigrations): number {
  for (const [i, m] of migrations.entries()) {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} is numbered ${m.version}, expected ${i + 1}`);
  }
  const latest = migrations.length;
  const current = schemaVersion(db);
  if (current > latest) {
    throw new StoreError(
      'schema_too_new',
      `the database has schema version ${current}, this dermafuse knows up to ${latest}: use a newer dermafuse`,
    );
  }
  for (const m of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql);
      // PRAGMA takes no bound parameters; version is an integer from our own table.
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
