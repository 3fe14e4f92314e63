/**
 * `dermafuse adapt` end to end on a real store in a temp folder and on a labels CSV, with the real
 * fusion-v2 folder (manifest, head, gate statistics) classifying through the real classifier on
 * stand-in backbones (test/helpers/adapt-fixtures.ts): confirmed cases in, cross-validated
 * comparison out, a local model folder the classifier loads, registered but never adopted, a PDF
 * report; and each bad input stops with a plain message and leaves store and registry unchanged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdaptationInputError } from '../../electron/adaptation/cases.ts';
import { createRegistry, LOCAL_MODELS_DIR } from '../../electron/adaptation/registry.ts';
import { formatAdapt, runAdapt, type AdaptDeps } from '../../electron/cli/adapt.ts';
import { aggregateViews } from '../../electron/model/classifier.ts';
import { loadManifest } from '../../electron/model/manifest.ts';
import { openStore } from '../../electron/store/index.ts';
import { caseColours, colourImage, pinShippedModel, seedStore, SHIPPED_DIR, standInClassifier, type SeededCase } from '../helpers/adapt-fixtures.ts';

// These tests adapt fusion-v2 (the stand-in features fit its head), whichever version ships.
const unpin = pinShippedModel();

const REPO = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
const deps: AdaptDeps = { loadClassifier: (modelDir) => standInClassifier(modelDir) };
/** Quick cross-validation: the figures' precision is not what these tests are about. */
const QUICK = { repeats: '2', iterations: '200', seed: '11' };

function snapshot(db: string): { audit: number; reviews: number; predictions: number; features: number } {
  const store = openStore({ file: db });
  try {
    const n = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { audit: n('audit_log'), reviews: n('reviews'), predictions: n('predictions'), features: n('prediction_features') };
  } finally {
    store.close();
  }
}

async function makeStore(name: string, cases: readonly SeededCase[], withFeatures = true): Promise<{ db: string; ids: number[] }> {
  const data = join(dir, name);
  mkdirSync(join(data, 'src'), { recursive: true });
  const store = openStore({ dataDir: data, actor: 'dr.test' });
  try {
    const ids = await seedStore(store, join(data, 'src'), cases, await standInClassifier(), { withFeatures });
    return { db: store.file, ids };
  } finally {
    store.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'df-adapt-'));
});
afterAll(() => {
  unpin();
  rmSync(dir, { recursive: true, force: true });
});

describe('adapt --db', () => {
  it('adapts from confirmed cases, writes and registers a local version (not adopted) that the classifier loads', async () => {
    const colours = caseColours(40, 3);
    const cases: SeededCase[] = colours.map((c, i) => ({ rgb: c.rgb, diagnosis: c.melanoma ? 'melanoma' : 'benign', patient: Math.floor(i / 2), lesion: `L${i}` }));
    // Kept out: another malignant diagnosis, and an image nobody confirmed.
    cases.push({ rgb: [90, 40, 40], diagnosis: 'other_malignant', patient: 90 }, { rgb: [100, 100, 100], diagnosis: null, patient: 91 });
    // Half the predictions predate stored features: the adaptation backfills them first.
    const { db, ids } = await makeStore('main', cases, false);
    const before = snapshot(db);
    expect(before.features).toBe(0);

    const report = join(dir, 'main-report.pdf');
    const outcome = await runAdapt({ db, method: 'recalibrate', report, ...QUICK }, deps);
    // Folds keep each patient whole, even those with a melanoma and a benign lesion: 20 groups.
    expect(outcome.summary.cases).toMatchObject({ source: 'store', count: 40, melanoma: 14, benign: 26, excluded: 1, groups: 20 });
    expect(outcome.summary.candidates.map((c) => c.method)).toEqual(['shipped', 'recalibrate']);
    expect(outcome.summary.method).toBe('recalibrate');
    expect(outcome.summary.choice).toMatchObject({ method: 'none', allowed: ['recalibrate'] }); // fewer than 30 melanomas: offered, not chosen
    expect(outcome.summary.choice.reasons.at(-1)).toBe('recalibrate was requested explicitly, instead of the automatic choice (keep the shipped model).');
    expect(outcome.written).toMatchObject({ version: 'fusion-v2+local-1', registered: true });

    const after = snapshot(db);
    expect(after.features).toBe(42); // every prediction of the model got its features, confirmed or not
    expect(after.predictions).toBe(before.predictions);
    expect(after.reviews).toBe(before.reviews);

    const data = join(dir, 'main');
    const store = openStore({ dataDir: data });
    try {
      const registry = createRegistry(store.dataDir, store);
      expect(registry.read().active).toBeNull();
      expect(registry.read().versions.map((v) => v.version)).toEqual(['fusion-v2+local-1']);
      expect(store.audit.list({ entity: 'local_models' }).items.map((e) => e.action)).toEqual(['model.create']);
    } finally {
      store.close();
    }
    const folder = join(data, LOCAL_MODELS_DIR, 'fusion-v2+local-1');
    const manifest = loadManifest(folder);
    expect(manifest.adaptation?.cases.ids).toEqual(ids.slice(0, 40).map((id) => `image:${id}`));
    expect(manifest.adaptation?.method).toBe('recalibrate');
    expect(manifest.metrics['cv:local']).toMatchObject({ n: 40, positives: 14 });

    // The local folder runs through the real classifier (as DERMAFUSE_MODEL_DIR=folder would).
    const local = await standInClassifier(folder);
    const shipped = await standInClassifier();
    const image = await colourImage(join(dir, 'probe.png'), [140, 80, 70]);
    const a = (await local.classifyFile(image)).classification;
    const b = (await shipped.classifyFile(image)).classification;
    expect(a.modelVersion).toBe('fusion-v2+local-1');
    expect(a.pooled!.data).toEqual(b.pooled!.data); // same backbones, same features
    const logits = Float32Array.from([0, 1], (v) => local.head.logitFromPooled(a.pooled!.data.subarray(v * a.pooled!.width, (v + 1) * a.pooled!.width)));
    expect(a.pMalignant).toBeCloseTo(aggregateViews(logits, manifest.temperature, manifest.calibrationBias).p, 10);
    expect(a.pMalignant).not.toBeCloseTo(b.pMalignant, 6);

    const pdf = readFileSync(report);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.toString('latin1').match(/\/Type \/Page\b/g)).toHaveLength(1);
    expect(formatAdapt(outcome)).toMatch(/AUC \(95% CI\)[\s\S]*registered in the store, not adopted/);

    // A ranking-changing method is refused for so few melanomas, with the reason.
    await expect(runAdapt({ db, method: 'members', ...QUICK }, deps)).rejects.toThrow(/members is not offered for these cases\. Only 14 confirmed melanoma and 26 benign/);
  });

  it('stops on conflicting diagnoses for one lesion, with store and registry unchanged', async () => {
    const cases: SeededCase[] = caseColours(12, 5).map((c, i) => ({ rgb: c.rgb, diagnosis: c.melanoma ? 'melanoma' : 'benign', patient: i, lesion: 'A' }));
    cases.push({ rgb: [150, 60, 60], diagnosis: 'melanoma', patient: 1, lesion: 'A' }); // patient 1's lesion A is benign above
    const { db, ids } = await makeStore('conflict', cases);
    const before = snapshot(db);
    const error = await runAdapt({ db, ...QUICK }, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdaptationInputError);
    expect((error as Error).message).toMatch(new RegExp(`conflicting confirmed diagnoses for the same lesion .*lesion \\d+: melanoma \\(image:${ids[12]}\\) and benign \\(image:${ids[1]}\\)`));
    expect(snapshot(db)).toEqual(before);
    expect(existsSync(join(dir, 'conflict', LOCAL_MODELS_DIR))).toBe(false);
  });

  it('stops when a confirmed case\u2019s stored image is missing, naming it', async () => {
    const cases: SeededCase[] = caseColours(10, 8).map((c, i) => ({ rgb: c.rgb, diagnosis: c.melanoma ? 'melanoma' : 'benign', patient: i }));
    const { db, ids } = await makeStore('missing', cases, false);
    const store = openStore({ file: db });
    const image = store.images.require(ids[3]!);
    unlinkSync(store.imagePath(image.sha256));
    store.close();
    await expect(runAdapt({ db, ...QUICK }, deps)).rejects.toThrow(new RegExp(`1 confirmed case\\(s\\) could not be read again .*image ${ids[3]}: image ${ids[3]} \\(case-3.png\\): stored file cannot be read`));
    expect(existsSync(join(dir, 'missing', LOCAL_MODELS_DIR))).toBe(false);
  });

  it('stops when a class has no confirmed case', async () => {
    const { db } = await makeStore('one-class', [0, 1, 2].map((i) => ({ rgb: [180, 120, 100 + i * 10] as const, diagnosis: 'benign' as const, patient: i })));
    await expect(runAdapt({ db, ...QUICK }, deps)).rejects.toThrow(/has 0 confirmed melanoma and 3 confirmed benign cases: adaptation needs both classes/);
  });
});

describe('adapt --labels', () => {
  async function labelsFolder(name: string, rows: readonly (readonly [string, string, string?, string?])[]): Promise<string> {
    const folder = join(dir, name);
    mkdirSync(join(folder, 'img'), { recursive: true });
    const colours = caseColours(rows.length, 21);
    for (const [i, [path]] of rows.entries()) if (!path.startsWith('missing')) await colourImage(join(folder, path), colours[i]!.rgb);
    writeFileSync(join(folder, 'labels.csv'), ['path,label,patient,lesion', ...rows.map((r) => [r[0], r[1], r[2] ?? '', r[3] ?? ''].join(','))].join('\n') + '\n');
    return join(folder, 'labels.csv');
  }

  it('reads a labels CSV, compares every method, keeps the shipped model with too few melanomas and writes a loadable folder on request', async () => {
    const colours = caseColours(36, 21);
    const csv = await labelsFolder(
      'csv',
      colours.map((c, i) => [`img/${i}.png`, i === 5 ? 'seborrheic_keratosis' : c.melanoma ? 'melanoma' : 'benign', `p${Math.floor(i / 3)}`] as const),
    );
    const out = join(dir, 'csv-model');
    const outcome = await runAdapt({ labels: csv, out, ...QUICK }, deps);
    expect(outcome.summary.cases).toMatchObject({ source: 'labels', count: 35, excluded: 1 });
    expect(outcome.summary.cases.melanoma).toBeLessThan(30);
    expect(outcome.summary.candidates.map((c) => c.method)).toEqual(['shipped', 'recalibrate', 'members', 'last_layer']);
    // Too few melanomas: nothing is chosen, nothing written, and the output says why.
    expect(outcome.summary.method).toBeNull();
    expect(outcome.summary.choice.reasons.at(-1)).toBe('Keep the shipped model.');
    expect(outcome.written).toBeNull();
    expect(existsSync(out)).toBe(false);
    const printed = formatAdapt(outcome);
    expect(printed).toMatch(/- Only \d+ confirmed melanoma and \d+ benign cases/);
    expect(printed).toMatch(/- Recalibration can be requested explicitly, but it is not chosen automatically/);
    expect(printed).toMatch(/no local model written: the shipped model stays$/);

    // Asked for explicitly, recalibration is fitted and written as a folder the classifier loads.
    const requested = await runAdapt({ labels: csv, out, method: 'recalibrate', ...QUICK }, deps);
    expect(requested.summary.method).toBe('recalibrate');
    expect(requested.written?.folder).toBe(out);
    expect(loadManifest(out).adaptation?.cases.ids).toHaveLength(35);
    expect((await (await standInClassifier(out)).classifyFile(join(dir, 'csv', 'img', '0.png'))).classification.modelVersion).toBe('fusion-v2+local-1');
    expect(formatAdapt(requested)).toMatch(/recalibrate was requested explicitly[\s\S]*local model fusion-v2\+local-1 \(recalibrate\) written to/);
    // Same seed, same figures.
    const again = await runAdapt({ labels: csv, out: join(dir, 'csv-model-2'), ...QUICK }, deps);
    expect(again.summary.candidates).toEqual(outcome.summary.candidates);
  });

  it('refuses missing images, conflicting lesion labels and a missing class before reading any image', async () => {
    let loads = 0;
    const counting: AdaptDeps = { loadClassifier: (d) => ((loads += 1), standInClassifier(d)) };
    const missing = await labelsFolder('csv-missing', [['img/a.png', 'melanoma'], ['missing.png', 'benign'], ['img/c.png', 'benign']]);
    await expect(runAdapt({ labels: missing, out: join(dir, 'x1') }, counting)).rejects.toThrow(/1 image\(s\) listed in .*labels.csv do not exist: missing.png/);
    const conflict = await labelsFolder('csv-conflict', [['img/a.png', 'melanoma', 'p1', 'L1'], ['img/b.png', 'benign', 'p1', 'L1'], ['img/c.png', 'benign', 'p2', 'L2']]);
    await expect(runAdapt({ labels: conflict, out: join(dir, 'x2') }, counting)).rejects.toThrow(/conflicting confirmed diagnoses for the same lesion .*lesion L1 of patient p1: melanoma \(img\/a.png\) and benign \(img\/b.png\)/);
    const oneClass = await labelsFolder('csv-one-class', [['img/a.png', 'benign'], ['img/b.png', 'benign'], ['img/c.png', 'other']]);
    await expect(runAdapt({ labels: oneClass, out: join(dir, 'x3') }, counting)).rejects.toThrow(/has 0 confirmed melanoma and 2 confirmed benign cases/);
    expect(loads).toBe(0);
    expect(['x1', 'x2', 'x3'].some((x) => existsSync(join(dir, x)))).toBe(false);
  });

  it('the command prints one plain line and exits 1 on bad input', () => {
    const csv = join(dir, 'csv-missing', 'labels.csv');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'electron/cli/main.ts', 'adapt', '--labels', csv, '--out', join(dir, 'x4'), '--model', SHIPPED_DIR], { cwd: REPO, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^dermafuse adapt: 1 image\(s\) listed in .* do not exist: missing.png$/)]);
    const usage = spawnSync(process.execPath, ['--import', 'tsx', 'electron/cli/main.ts', 'adapt', '--labels', csv], { cwd: REPO, encoding: 'utf8' });
    expect(usage.status).toBe(1);
    expect(usage.stderr).toMatch(/--labels needs --out DIR/);
  });
});
