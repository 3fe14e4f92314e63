/**
 * A store in a fresh temporary folder, for tests that each want their own empty database and
 * content store: open it in beforeEach, close and delete it in afterEach.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../electron/store/index.ts';

export interface TempStore {
  /** The temporary folder (the store's data lives in `<dir>/data`; tests may write files beside it). */
  readonly dir: string;
  readonly store: Store;
}

export function openTempStore(prefix: string, actor = 'dr.test'): TempStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, store: openStore({ dataDir: join(dir, 'data'), actor }) };
}

export function closeTempStore(t: TempStore): void {
  t.store.close();
  rmSync(t.dir, { recursive: true, force: true });
}
