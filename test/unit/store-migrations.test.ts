import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../electron/store/database.ts';
import { migrate, schemaVersion } from '../../electron/store/migrate.ts';
import { migrations } from '../../electron/store/migrations/index.ts';
import type { Migration } from '../../electron/store/migrations/types.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'df-migrate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('migrations', () => {
  it('are numbered 1..n without gaps', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
  });

  it('bring a new file to the latest user_version with the pragmas every connection needs', () => {
    const db = openDatabase(join(dir, 'a.sqlite'));
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(
      expect.arrayContaining(['patients', 'visits', 'lesions', 'images', 'predictions', 'overlays', 'reviews', 'audit_log', 'settings', 'batch_jobs', 'batch_items']),
    );
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    db.close();
  });

  it('003 adds the input gate to predictions; rows from before it keep their tier and mean "classified before the gate"', () => {
    const db = new Database(':memory:');
    migrate(db, migrations.slice(0, 2));
    db.exec(`INSERT INTO images (id, sha256, original_name, original_path, imported_at, width, height, byte_size) VALUES (1, '${'a'.repeat(64)}', 'a.jpg', '/a.jpg', '2026-01-01T00:00:00Z', 1, 1, 1)`);
    db.exec(`INSERT INTO predictions (image_id, model_version, p_malignant_raw, p_malignant, threshold, label, tier, uncertainty, backend, timing_ms, created_at)
             VALUES (1, 'old', 0.9, 0.9, 0.5, 'malignant', 'high', 0, 'x', 1, '2026-01-01T00:00:00Z')`);
    expect(migrate(db, migrations)).toBe(migrations.length);
    expect(db.prepare('SELECT tier, triage, gate_verdict, shown_anyway_at FROM predictions').get()).toEqual({ tier: 'high', triage: 'high', gate_verdict: null, shown_anyway_at: null });
    // A refused row counts apart until shown anyway; "shown anyway" needs a refusal.
    db.exec(`UPDATE predictions SET gate_verdict = 'refused', gate_version = 'v', gate_reasons = '[]', gate_scores = '{}'`);
    expect(db.prepare('SELECT triage, risk_rank FROM predictions').get()).toEqual({ triage: 'cannot_assess', risk_rank: -1 });
    db.exec(`UPDATE predictions SET shown_anyway_by = 'dr', shown_anyway_at = '2026-01-02T00:00:00Z'`);
    expect(db.prepare('SELECT triage, risk_rank FROM predictions').get()).toEqual({ triage: 'high', risk_rank: 0.9 });
    expect(() => db.exec(`UPDATE predictions SET gate_verdict = 'ok'`)).toThrow(/CHECK/);
    expect(() => db.exec(`UPDATE predictions SET gate_version = NULL`)).toThrow(/CHECK/);
    db.close();
  });

  it('re-opening an up-to-date file changes nothing', () => {
    const file = join(dir, 'b.sqlite');
    openDatabase(file).close();
    const before = new Database(file).prepare('SELECT sql FROM sqlite_master ORDER BY name').all();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.prepare('SELECT sql FROM sqlite_master ORDER BY name').all()).toEqual(before);
    db.close();
  });

  it('applies only the missing steps, in order, and a failing step rolls back entirely', () => {
    const db = new Database(':memory:');
    const steps: Migration[] = [
      { version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER);' },
      { version: 2, name: 'two', sql: 'ALTER TABLE a ADD COLUMN y TEXT;' },
    ];
    expect(migrate(db, steps.slice(0, 1))).toBe(1);
    expect(migrate(db, steps)).toBe(2);
    expect(db.prepare('SELECT name FROM pragma_table_info(?)').all('a')).toEqual([{ name: 'x' }, { name: 'y' }]);

    const broken: Migration[] = [...steps, { version: 3, name: 'broken', sql: 'CREATE TABLE b (z INTEGER); SELECT * FROM no_such_table;' }];
    expect(() => migrate(db, broken)).toThrow(/no_such_table/);
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'`).get()).toEqual({ n: 0 });
  });

  it('upgrades a file written at schema 1 to the latest, keeping its rows', () => {
    const file = join(dir, 'old.sqlite');
    const old = new Database(file);
    migrate(old, migrations.slice(0, 1));
    old.prepare(`INSERT INTO patients (identifier, name, sex, created_at, updated_at) VALUES ('MRN', 'Kept', 'female', 'x', 'x')`).run();
    old.close();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.prepare('SELECT name FROM patients').all()).toEqual([{ name: 'Kept' }]);
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'predictions_tier_risk'`).get()).toEqual({ n: 1 });
    db.close();
  });

  it('refuses a database written by a newer version instead of guessing', () => {
    const db = new Database(':memory:');
    db.pragma(`user_version = ${migrations.length + 1}`);
    expect(() => migrate(db)).toThrow(/newer dermafuse/);
  });

  it('rejects a mis-numbered migration list', () => {
    const db = new Database(':memory:');
    expect(() => migrate(db, [{ version: 2, name: 'skip', sql: '' }])).toThrow(/expected 1/);
  });
});
