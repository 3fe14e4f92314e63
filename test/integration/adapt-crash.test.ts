/**
 * SIGKILL during adaptation: a child process adapts a real store and is killed at each moment its
 * work becomes visible (the model folder renamed into place, the registry replaced while
 * registering, the registry replaced while adopting). After every kill the adopted model, the
 * registry and the store's clinical rows and audit are as they were, no half-written folder is
 * registered, and the next adaptation completes (leftover temporary folders cleared).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { casesFromStore } from '../../electron/adaptation/cases.ts';
import { createRegistry, LOCAL_MODELS_DIR, REGISTRY_FILE } from '../../electron/adaptation/registry.ts';
import { loadBaseModel, runAdaptation, writeLocalModel } from '../../electron/adaptation/run.ts';
import { openStore } from '../../electron/store/index.ts';
import { caseColours, seedStore, SHIPPED_DIR, standInClassifier } from '../helpers/adapt-fixtures.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../helpers/adapt-crash-driver.ts', import.meta.url));
let dir: string;
let data: string;

function state(): { registry: string | null; folders: string[]; rows: Record<string, number>; actions: string[] } {
  const store = openStore({ dataDir: data });
  try {
    const n = (t: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const file = join(data, LOCAL_MODELS_DIR, REGISTRY_FILE);
    return {
      registry: existsSync(file) ? readFileSync(file, 'utf8') : null,
      folders: existsSync(join(data, LOCAL_MODELS_DIR)) ? readdirSync(join(data, LOCAL_MODELS_DIR)).filter((f) => !f.startsWith('.') && f !== REGISTRY_FILE).sort() : [],
      rows: { audit: n('audit_log'), predictions: n('predictions'), reviews: n('reviews'), features: n('prediction_features'), images: n('images') },
      actions: store.audit.list({ entity: 'local_models', pageSize: 100 }).items.map((e) => e.action).reverse(),
    };
  } finally {
    store.close();
  }
}

function killAt(point: string): { signal: NodeJS.Signals | null; stdout: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', DRIVER, data], { cwd: REPO, env: { ...process.env, KILL_AT: point }, encoding: 'utf8' });
  return { signal: run.signal, stdout: run.stdout };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'df-adapt-crash-'));
  data = join(dir, 'data');
  mkdirSync(join(dir, 'src'), { recursive: true });
  const store = openStore({ dataDir: data, actor: 'dr.test' });
  const cases = caseColours(16, 4).map((c, i) => ({ rgb: c.rgb, diagnosis: c.melanoma ? ('melanoma' as const) : ('benign' as const), patient: i }));
  await seedStore(store, join(dir, 'src'), cases, await standInClassifier());
  store.close();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGKILL during adaptation', () => {
  it('killed as the finished folder is renamed into place: nothing registered, nothing adopted, store unchanged', () => {
    const before = state();
    const run = killAt('folder');
    expect(run.signal).toBe('SIGKILL');
    expect(run.stdout).not.toMatch(/written/);
    expect(state()).toEqual(before);
    // Only the dead writer's temporary folder is left, never under a version's name.
    expect(readdirSync(join(data, LOCAL_MODELS_DIR)).filter((f) => f.startsWith('.'))).toHaveLength(1);
  });

  it('killed while the registry is replaced (registering): registry and audit unchanged; the complete folder is not registered', () => {
    const before = state();
    const run = killAt('register');
    expect(run.signal).toBe('SIGKILL');
    const after = state();
    expect(after.registry).toBe(before.registry);
    expect(after.rows).toEqual(before.rows);
    expect(after.actions).toEqual(before.actions);
    expect(after.folders).toEqual([...before.folders, 'fusion-v2+local-1']);
  });

  it('killed while the registry is replaced (adopting): the version stays registered but not adopted, no adoption audited', () => {
    const run = killAt('adopt');
    expect(run.signal).toBe('SIGKILL');
    expect(run.stdout).toMatch(/written fusion-v2\+local-2/);
    const after = state();
    expect(JSON.parse(after.registry!)).toMatchObject({ active: null, versions: [{ version: 'fusion-v2+local-2' }] });
    expect(after.actions).toEqual(['model.create']);
  });

  it('the next adaptation completes and clears the dead writers\u2019 temporary folders', async () => {
    const store = openStore({ dataDir: data, actor: 'dr.test' });
    try {
      const base = await loadBaseModel(SHIPPED_DIR);
      const result = await runAdaptation({ cases: await casesFromStore(store, { modelVersion: 'fusion-v2' }), base, method: 'recalibrate', repeats: 1, bootstrapIterations: 50 });
      const registry = createRegistry(store.dataDir, store);
      const written = await writeLocalModel(result, registry, 'dr.test');
      expect(written.version).toBe('fusion-v2+local-3');
      registry.adopt(written.version, 'dr.test');
      expect(registry.activeModelDir()).toBe(written.folder);
    } finally {
      store.close();
    }
    expect(readdirSync(join(data, LOCAL_MODELS_DIR)).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(state().actions).toEqual(['model.create', 'model.create', 'model.adopt']);
  });
});
