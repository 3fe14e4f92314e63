import { Settings } from '#common/domain';
import type { RepoContext } from '../context.ts';

type StoredSettings = Omit<Settings, 'dataDir'>;
const STORED_KEYS = Object.keys(Settings.shape).filter((k) => k !== 'dataDir') as (keyof StoredSettings)[];

/**
 * Key/value settings kept in the database, values as JSON. The data folder is not among them:
 * the database lives inside it, so the caller that opened the store owns that choice.
 */
export class SettingsRepo {
  constructor(
    private readonly ctx: RepoContext,
    private readonly dataDir: string,
  ) {}

  get(key: string): unknown {
    const row = this.ctx.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as unknown);
  }

  set(key: string, value: unknown): void {
    const { db, audit } = this.ctx;
    db.transaction(() => {
      const before = this.get(key);
      db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
      audit.record({ actor: this.ctx.actor(), action: 'settings.update', entity: 'settings', entityId: null, detail: { key, from: before, to: value } });
    })();
  }

  /** All settings, defaults filled in; stored values that no longer validate fall back to the default. */
  getAll(): Settings {
    const raw: Record<string, unknown> = { dataDir: this.dataDir };
    for (const key of STORED_KEYS) {
      const value = this.get(key);
      if (value !== undefined && Settings.shape[key].safeParse(value).success) raw[key] = value;
    }
    return Settings.parse(raw);
  }

  /** Validates the whole result first, then writes only the keys that changed, in one transaction. */
  update(patch: Partial<StoredSettings>): Settings {
    const current = this.getAll();
    const next = Settings.parse({ ...current, ...patch, dataDir: this.dataDir });
    this.ctx.db.transaction(() => {
      for (const key of STORED_KEYS) if (JSON.stringify(next[key]) !== JSON.stringify(current[key])) this.set(key, next[key]);
    })();
    return this.getAll();
  }
}
