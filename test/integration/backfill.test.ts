/**
 * backfillFeatures on a real store in a temp folder: predictions stored without features get them
 * from the stored image bytes, one commit per image (a second connection sees each one as soon as
 * its progress is reported, so a killed run keeps what it did), the predictions themselves never
 * change, a stopped run resumes without re-running what is done, and an unreadable, altered or
 * no-longer-matching image is reported and skipped, not stored.
 */
import Database from 'better-sqlite3';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfillFeatures, type BackfillClassifier, type BackfillProgress } from '../../electron/adaptation/backfill.ts';
import { pooledFeatures } from '../../electron/model/pooled-features.ts';
import type { Classification, ClassifyResult } from '../../electron/model/types.ts';
import { persistClassification, type Store } from '../../electron/store/index.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { closeTempStore, openTempStore } from '../helpers/temp-store.ts';

const MODEL = 'stand-in-1';

let dir: string;
let store: Store;

beforeEach(() => {
  ({ dir, store } = openTempStore('df-backfill-'));
});
afterEach(() => closeTempStore({ dir, store }));

/** Deterministic stand-in for the model: probability and vectors follow from the bytes, so a re-run reproduces them. */
function scoreOf(bytes: Buffer): { p: number; vectors: number[][] } {
  const h = Buffer.from(sha256Hex(bytes), 'hex');
  return { p: 0.05 + (0.9 * h[0]!) / 255, vectors: [[h[1]! / 7, -h[2]! / 3, h[3]! * 1e-3], [h[4]! / 5, h[5]! / 11, -h[6]!]] };
}

function classification(bytes: Buffer, withPooled: boolean, pShift = 0): Classification {
  const { p, vectors } = scoreOf(bytes);
  return {
    pMalignant: p + pShift,
    pMalignantRaw: p,
    label: p >= 0.3 ? 'malignant' : 'benign',
    tier: p >= 0.6 ? 'high' : p >= 0.3 ? 'review' : 'low',
    uncertainty: 0,
    threshold: 0.3,
    modelVersion: MODEL,
    backend: { backbones: 'stand-in', head: 'stand-in' },
    timingsMs: { total_ms: 1 },
    ...(withPooled ? { pooled: pooledFeatures(['identity', 'hflip'], vectors) } : {}),
  };
}

/** The stand-in the backfill runs; counts what it was asked to classify and can be told to drift on some names. */
function standIn(options: { drift?: (name: string) => number; pooled?: boolean } = {}): BackfillClassifier & { calls: string[] } {
  const calls: string[] = [];
  return {
    modelVersion: MODEL,
    calls,
    async classifyBuffer(bytes: Buffer, name: string, opts): Promise<ClassifyResult> {
      expect(opts?.cam).toBe(false); // the backfill never asks for Grad-CAM
      calls.push(name);
      return { file: name, width: 8, height: 8, classification: classification(bytes, options.pooled ?? true, options.drift?.(name) ?? 0) };
    },
  };
}

/** Imports `n` images the way the app did before features were kept: a prediction without them. */
async function importWithoutFeatures(n: number): Promise<{ predictionId: number; sha256: string; name: string }[]> {
  const patient = store.patients.create({ identifier: 'BF', name: 'Backfill' });
  const out = [];
  for (let i = 0; i < n; i++) {
    const bytes = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 30 * i, g: 100, b: 7 * i } } }).png().toBuffer();
    const name = `img-${i}.png`;
    const result: ClassifyResult = { file: name, width: 8, height: 8, classification: classification(bytes, false) };
    const { image, prediction } = await persistClassification(store, { bytes, originalPath: `/cam/${name}` }, { result }, { placement: { patientId: patient.id }, audit: {} });
    out.push({ predictionId: prediction.id, sha256: image.sha256, name });
  }
  return out;
}

const predictionRows = (): unknown[] => store.db.prepare('SELECT * FROM predictions ORDER BY id').all();
const auditCount = (): number => (store.db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;

describe('backfillFeatures', () => {
  it('stores each prediction’s features from its stored image, one commit per image, and never changes the prediction', async () => {
    const images = await importWithoutFeatures(3);
    const before = predictionRows();
    const audits = auditCount();
    const reader = new Database(store.file, { readonly: true });
    const progress: BackfillProgress[] = [];
    const committedAtProgress: number[] = [];
    const classifier = standIn();
    const result = await backfillFeatures(store, classifier, {
      modelVersion: MODEL,
      onProgress: (p) => {
        progress.push(p);
        committedAtProgress.push((reader.prepare('SELECT count(*) AS n FROM prediction_features').get() as { n: number }).n);
      },
    });
    reader.close();
    expect(result).toEqual({ done: 3, failed: [], total: 3, aborted: false });
    expect(progress.map((p) => [p.handled, p.total, p.done, p.predictionId])).toEqual(images.map((img, i) => [i + 1, 3, i + 1, img.predictionId]));
    expect(committedAtProgress).toEqual([1, 2, 3]);
    for (const img of images) {
      const bytes = readFileSync(store.blobs.pathOf(img.sha256));
      expect(store.features.get(img.predictionId)).toEqual(pooledFeatures(['identity', 'hflip'], scoreOf(bytes).vectors));
    }
    expect(predictionRows()).toEqual(before);
    expect(auditCount()).toBe(audits);

    // Nothing left: a second run does no work.
    const again = standIn();
    expect(await backfillFeatures(store, again)).toEqual({ done: 0, failed: [], total: 0, aborted: false });
    expect(again.calls).toEqual([]);
  });

  it('a stopped run keeps what it stored and the next one resumes after it, re-running nothing', async () => {
    const images = await importWithoutFeatures(4);
    const controller = new AbortController();
    const first = standIn();
    const stopped = await backfillFeatures(store, first, { signal: controller.signal, onProgress: (p) => p.handled === 2 && controller.abort() });
    expect(stopped).toMatchObject({ done: 2, total: 4, aborted: true });
    expect(images.map((img) => store.features.has(img.predictionId))).toEqual([true, true, false, false]);

    // A signal already aborted does nothing at all.
    const none = standIn();
    expect(await backfillFeatures(store, none, { signal: AbortSignal.abort() })).toEqual({ done: 0, failed: [], total: 2, aborted: true });
    expect(none.calls).toEqual([]);

    const second = standIn();
    expect(await backfillFeatures(store, second)).toEqual({ done: 2, failed: [], total: 2, aborted: false });
    expect([...first.calls, ...second.calls]).toEqual(images.map((img) => img.name));
  });

  it('reports a missing, altered or no-longer-matching image and goes on; those predictions stay without features', async () => {
    const [missing, altered, drifting, fine] = await importWithoutFeatures(4);
    unlinkSync(store.blobs.pathOf(missing!.sha256));
    writeFileSync(store.blobs.pathOf(altered!.sha256), Buffer.from('not the bytes that were classified'));
    const before = predictionRows();
    const classifier = standIn({ drift: (name) => (name === drifting!.name ? -0.04 : 0) });
    const result = await backfillFeatures(store, classifier);
    expect(result.done).toBe(1);
    expect(result.failed.map((f) => f.predictionId)).toEqual([missing!.predictionId, altered!.predictionId, drifting!.predictionId]);
    expect(result.failed[0]!.reason).toMatch(/img-0\.png\): stored file cannot be read/);
    expect(result.failed[1]!.reason).toMatch(/no longer matches its sha256/);
    expect(result.failed[2]!.reason).toMatch(/re-run gives p = .*features not stored/);
    expect(classifier.calls).toEqual([drifting!.name, fine!.name]); // unreadable or altered bytes never reach the model
    expect(store.features.has(fine!.predictionId)).toBe(true);
    expect([missing, altered, drifting].map((img) => store.features.has(img!.predictionId))).toEqual([false, false, false]);
    expect(predictionRows()).toEqual(before);
    expect(store.features.countMissing(MODEL)).toBe(3);
  });

  it('refuses another model’s classifier, and a model that gives no features stores nothing', async () => {
    const [img] = await importWithoutFeatures(1);
    await expect(backfillFeatures(store, standIn(), { modelVersion: 'fusion-v1' })).rejects.toThrow(/features of model fusion-v1 with model stand-in-1/);
    const result = await backfillFeatures(store, standIn({ pooled: false }));
    expect(result.failed).toEqual([{ predictionId: img!.predictionId, reason: 'model stand-in-1 gives no pooled features' }]);
    expect(store.features.has(img!.predictionId)).toBe(false);
  });
});
