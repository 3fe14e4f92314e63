/**
 * Local model folders and the clinic's registry, on the real fusion-v2 folder and a real store in
 * a temp dir: the written folder loads through the classifier's own loaders (manifest, head,
 * gate statistics, CAM baseline), the head file round-trips, adoption and rollback are audited,
 * a folder edited after it was written is refused with the registry left as it was, and an
 * unreadable registry is moved aside by a rollback.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalModelError, manifestSha256, verifyModelFolder, writeModelFolder } from '../../electron/adaptation/local-model.ts';
import { createRegistry, LOCAL_MODELS_DIR, modelInForce, REGISTRY_FILE } from '../../electron/adaptation/registry.ts';
import { expectedMeta, loadCamBaseline } from '../../electron/model/cam-baseline.ts';
import { inceptionLayersOf, manifestOodStats } from '../../electron/model/classifier.ts';
import { FusionHead, writeHeadFiles } from '../../electron/model/head.ts';
import { loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { modelNameOf, reportContextFor } from '../../electron/report/index.ts';
import { modelsDir } from '../../electron/util/paths.ts';
import { type Store } from '../../electron/store/index.ts';
import { localModelSpec, shippedArrays, SHIPPED_DIR } from '../helpers/adapt-fixtures.ts';
import { closeTempStore, openTempStore } from '../helpers/temp-store.ts';

let dir: string;
let store: Store;

beforeEach(() => {
  ({ dir, store } = openTempStore('df-local-model-'));
});
afterEach(() => closeTempStore({ dir, store }));

describe('local model folder', () => {
  it('round-trips a head through head.json + head.weights.bin', async () => {
    const { config, arrays } = await shippedArrays();
    const folder = join(dir, 'head');
    rmSync(folder, { recursive: true, force: true });
    await writeHeadFiles(folder, config, arrays);
    // The shipped files were written by tfjs' encoder: the app's encoder gives the same bytes.
    expect(readFileSync(join(folder, 'head.weights.bin')).equals(readFileSync(join(SHIPPED_DIR, 'head.weights.bin')))).toBe(true);
    expect(JSON.parse(readFileSync(join(folder, 'head.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(SHIPPED_DIR, 'head.json'), 'utf8')));
    const a = await FusionHead.load(folder);
    const b = await FusionHead.load(SHIPPED_DIR);
    const x = Float32Array.from({ length: 3584 }, (_, i) => Math.sin(i) * 0.3 + 0.2);
    expect(a.logitFromPooled(x)).toBe(b.logitFromPooled(x));
  });

  it('writes a folder the classifier loads: manifest, adapted head, gate statistics under the new version, CAM baseline', async () => {
    const s = await localModelSpec(0.5);
    const target = join(dir, 'out', 'fusion-v2+local-1');
    const written = await writeModelFolder(s, target, 'fusion-v2+local-1');
    expect(written.manifestSha256).toBe(manifestSha256(target));
    const manifest = verifyModelFolder(target, written.manifestSha256);
    expect(manifest.version).toBe('fusion-v2+local-1');
    expect(manifest.adaptation?.base).toEqual({ version: 'fusion-v2', manifestSha256: manifestSha256(SHIPPED_DIR) });
    expect(manifest.adaptation?.cases.ids).toEqual(['image:1', 'image:2']);
    expect(Object.keys(manifest.adaptation!.files).sort()).toEqual(['cam-baseline.bin', 'cam-baseline.json', 'head.json', 'head.weights.bin', 'ood-stats.bin', 'ood-stats.json']);
    expect(manifest.fixturePredictions).toBeUndefined();
    expect(manifest.temperature).toBe(0.9);
    // The classifier's own loaders accept it (statistics pinned by sha256 and named for this version).
    expect(manifestOodStats(target, manifest)?.header.modelVersion).toBe('fusion-v2+local-1');
    expect(await loadCamBaseline(target, expectedMeta(manifest, inceptionLayersOf(manifest)))).toBeDefined();
    const head = await FusionHead.load(target);
    const base = await FusionHead.load(SHIPPED_DIR);
    const x = Float32Array.from({ length: 3584 }, (_, i) => Math.cos(i) * 0.4);
    expect(head.logitFromPooled(x) - base.logitFromPooled(x)).toBeCloseTo(0.5, 5);
    // No temporary folder is left beside it; a second write to the same place is refused.
    expect(readdirSync(join(dir, 'out'))).toEqual(['fusion-v2+local-1']);
    await expect(writeModelFolder(s, target, 'fusion-v2+local-1')).rejects.toThrow(/already exists/);
  });

  it('finds a changed head file even when the manifest is untouched', async () => {
    const target = join(dir, 'm');
    const written = await writeModelFolder(await localModelSpec(), target, 'fusion-v2+local-1');
    const bin = readFileSync(join(target, 'head.weights.bin'));
    bin[100] = bin[100]! ^ 0xff;
    writeFileSync(join(target, 'head.weights.bin'), bin);
    expect(() => verifyModelFolder(target, written.manifestSha256)).toThrow(/fusion-v2\+local-1 was modified after it was created: sha256 of head.weights.bin/);
  });
});

describe('registry', () => {
  async function registered(registry: ReturnType<typeof createRegistry>, shift: number): Promise<string> {
    const version = registry.nextVersion('fusion-v2');
    const written = await writeModelFolder(await localModelSpec(shift), join(registry.dir, version), version);
    registry.register({ version, folder: version, manifestSha256: written.manifestSha256, baseVersion: 'fusion-v2', method: 'last_layer', createdAt: '2026-02-01T10:00:00.000Z' }, 'dr.maker');
    return version;
  }

  it('registers versions without adopting them; adopt and rollback are audited and switch the active folder', async () => {
    const registry = createRegistry(store.dataDir, store);
    expect(registry.activeModelDir()).toBeNull();
    const v1 = await registered(registry, 0.2);
    const v2 = await registered(registry, 0.4);
    expect([v1, v2]).toEqual(['fusion-v2+local-1', 'fusion-v2+local-2']);
    expect(registry.read().active).toBeNull();
    expect(registry.activeModelDir()).toBeNull();

    const adopted = registry.adopt(v2, 'dr.adopter');
    expect(adopted.adoptedBy).toBe('dr.adopter');
    expect(registry.activeModelDir()).toBe(join(store.dataDir, LOCAL_MODELS_DIR, v2));
    registry.rollback('dr.adopter');
    expect(registry.activeModelDir()).toBeNull();
    registry.rollback('dr.adopter'); // already on the shipped model: nothing to record

    const entries = store.audit.list({ entity: 'local_models' }).items.reverse();
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ['model.create', 'dr.maker'],
      ['model.create', 'dr.maker'],
      ['model.adopt', 'dr.adopter'],
      ['model.rollback', 'dr.adopter'],
    ]);
    expect(JSON.parse(entries[2]!.detail)).toMatchObject({ version: v2, previous: null, baseVersion: 'fusion-v2' });
    expect(JSON.parse(entries[3]!.detail)).toMatchObject({ from: v2, to: 'shipped' });
    expect(() => registry.adopt('fusion-v2+local-9', 'dr.adopter')).toThrow(/no local model fusion-v2\+local-9/);
  });

  it('the model in force names what reports print: the adopted version, its cut-offs, and what it looks with', async () => {
    const registry = createRegistry(store.dataDir, store);
    expect(modelInForce(registry)).toEqual({ dir: null, notice: null });
    const shipped = reportContextFor(store, {}, []);
    expect(shipped.modelVersion).toBe(loadManifest(shippedModelDir()).version);
    expect(shipped.modelName).toBe(modelNameOf(loadManifest(shippedModelDir())));
    expect(modelNameOf(loadManifest(modelsDir('mobilenet-ft-v3')))).toBe('dermafuse (MobileNetV2)');

    const v1 = await registered(registry, 0.3);
    registry.adopt(v1, 'dr.adopter');
    const inForce = modelInForce(registry);
    expect(inForce).toEqual({ dir: join(store.dataDir, LOCAL_MODELS_DIR, v1), notice: null });
    const local = reportContextFor(store, { modelDir: inForce.dir! }, []);
    expect(local).toMatchObject({ modelVersion: v1, modelName: 'dermafuse fusion (InceptionV3 + MobileNetV2)', tierCutoffs: { review: 0.05, high: 0.45 } });

    // Edited after adoption: the shipped model is in force, and the notice says why.
    const manifestFile = join(registry.dir, v1, 'manifest.json');
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').replace('"highAt": 0.45', '"highAt": 0.9'));
    const fallback = modelInForce(registry);
    expect(fallback.dir).toBeNull();
    expect(fallback.notice).toMatch(/^local model fusion-v2\+local-1 was modified after it was created: .*\. The shipped model is in use instead/);
  });

  it('refuses a tampered local manifest: clear message, registry and audit unchanged', async () => {
    const registry = createRegistry(store.dataDir, store);
    const v1 = await registered(registry, 0.3);
    registry.adopt(v1, 'dr.adopter');
    const registryFile = join(registry.dir, REGISTRY_FILE);
    const before = readFileSync(registryFile, 'utf8');
    const audits = store.audit.list({ entity: 'local_models' }).total;

    const manifestFile = join(registry.dir, v1, 'manifest.json');
    const m = JSON.parse(readFileSync(manifestFile, 'utf8'));
    m.tiers.highAt = 0.99; // someone "tunes" the cut-off by hand
    writeFileSync(manifestFile, JSON.stringify(m, null, 2) + '\n');

    expect(() => registry.activeModelDir()).toThrow(LocalModelError);
    expect(() => registry.activeModelDir()).toThrow(/local model fusion-v2\+local-1 was modified after it was created: sha256 of .*manifest.json is [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect(() => registry.adopt(v1, 'dr.adopter')).toThrow(/was modified after it was created/);
    expect(readFileSync(registryFile, 'utf8')).toBe(before);
    expect(store.audit.list({ entity: 'local_models' }).total).toBe(audits);
    // Rolling back to the shipped model stays possible.
    registry.rollback('dr.adopter');
    expect(registry.activeModelDir()).toBeNull();
  });

  it('an unreadable registry throws LocalModelError where a model is chosen; rollback moves it aside and starts afresh', async () => {
    const registry = createRegistry(store.dataDir, store);
    const v1 = await registered(registry, 0.3);
    registry.adopt(v1, 'dr.adopter');
    const registryFile = join(registry.dir, REGISTRY_FILE);
    const cut = readFileSync(registryFile, 'utf8').slice(0, 40); // a write cut short
    writeFileSync(registryFile, cut);
    const audits = store.audit.list({ entity: 'local_models' }).total;

    expect(() => registry.activeModelDir()).toThrow(LocalModelError);
    expect(() => registry.activeModelDir()).toThrow(/registry\.json is not valid JSON/);
    // Valid JSON that is not a registry is as unusable.
    writeFileSync(registryFile, JSON.stringify({ active: 7 }));
    expect(() => registry.activeModelDir()).toThrow(/is not a valid local model registry/);
    writeFileSync(registryFile, cut);
    expect(() => registry.rollback('  ')).toThrow(/needs the name/);
    expect(readFileSync(registryFile, 'utf8')).toBe(cut);

    registry.rollback('dr.rescuer');
    expect(registry.read()).toEqual({ active: null, versions: [] });
    expect(registry.activeModelDir()).toBeNull();
    const aside = readdirSync(registry.dir).filter((name) => name.startsWith(`${REGISTRY_FILE}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatch(/^registry\.json\.corrupt-\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    expect(readFileSync(join(registry.dir, aside[0]!), 'utf8')).toBe(cut);
    // The local model folders stay on disk, and their names stay taken.
    expect(existsSync(join(registry.dir, v1, 'manifest.json'))).toBe(true);
    expect(registry.nextVersion('fusion-v2')).toBe('fusion-v2+local-2');

    const entries = store.audit.list({ entity: 'local_models' });
    expect(entries.total).toBe(audits + 1);
    expect(entries.items[0]).toMatchObject({ action: 'model.rollback', actor: 'dr.rescuer', entityId: null });
    expect(JSON.parse(entries.items[0]!.detail)).toEqual({
      from: null,
      to: 'shipped',
      registryUnreadable: expect.stringMatching(/registry\.json is not valid JSON/),
      movedTo: join(registry.dir, aside[0]!),
    });
    // The fresh registry is an ordinary one: rolling back again records nothing.
    registry.rollback('dr.rescuer');
    expect(store.audit.list({ entity: 'local_models' }).total).toBe(audits + 1);
  });

  it('skips version names whose folder exists but was never registered (a write killed before registering)', async () => {
    const registry = createRegistry(store.dataDir, store);
    (await import('node:fs')).mkdirSync(join(registry.dir, 'fusion-v2+local-1'), { recursive: true });
    expect(registry.nextVersion('fusion-v2')).toBe('fusion-v2+local-2');
    expect(existsSync(join(registry.dir, REGISTRY_FILE))).toBe(false);
  });
});
