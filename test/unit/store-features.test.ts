/**
 * What clinic adaptation reads from the store (migration 004): pooled features per prediction,
 * written with the prediction; confirmed diagnoses on reviews (all three fields or none); each
 * image's newest confirmed diagnosis joined to its prediction by one model.
 */
import Database from 'better-sqlite3';
import { readFileSync,} from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PredictionPage, Review } from '#common/domain';
import { pooledFeatures } from '../../electron/model/pooled-features.ts';
import type { ClassifyResult } from '../../electron/model/types.ts';
import { persistClassification, StoreError, type Store } from '../../electron/store/index.ts';
import { migrate } from '../../electron/store/migrate.ts';
import { migrations } from '../../electron/store/migrations/index.ts';
import { closeTempStore, openTempStore } from '../helpers/temp-store.ts';

let dir: string;
let store: Store;

beforeEach(() => {
  ({ dir, store } = openTempStore('df-features-'));
});
afterEach(() => closeTempStore({ dir, store }));

const features = pooledFeatures(['identity', 'hflip'], [Float64Array.of(0.1, -2.5, 3e-8), Float64Array.of(7, 0, -0.125)]);

let imageCount = 0;
/** An image row with a prediction by `modelVersion`, written straight through the repositories. */
function imageWithPrediction(modelVersion = 'm-1', placement: { patientId?: number; lesionId?: number } = {}): { imageId: number; predictionId: number } {
  imageCount++;
  const { image } = store.images.record(
    { sha256: imageCount.toString(16).padStart(64, '0'), originalName: `${imageCount}.png`, originalPath: `/x/${imageCount}.png`, capturedAt: null, width: 1, height: 1, byteSize: 1 },
    placement,
  );
  const p = store.predictions.create({
    imageId: image.id, modelVersion, pMalignantRaw: 0.4, pMalignant: 0.4, threshold: 0.3, label: 'malignant', tier: 'review', uncertainty: 0, backend: 'test', timingMs: 1,
  });
  return { imageId: image.id, predictionId: p.id };
}

describe('migration 004', () => {
  it('upgrades a schema-3 file: old reviews keep NULL (not confirmed), the new columns hold their CHECKs', () => {
    const db = new Database(':memory:');
    migrate(db, migrations.slice(0, 3));
    db.exec(`INSERT INTO images (id, sha256, original_name, original_path, imported_at, width, height, byte_size) VALUES (1, '${'a'.repeat(64)}', 'a.jpg', '/a.jpg', '2026-01-01T00:00:00Z', 1, 1, 1)`);
    db.exec(`INSERT INTO predictions (id, image_id, model_version, p_malignant_raw, p_malignant, threshold, label, tier, uncertainty, backend, timing_ms, created_at)
             VALUES (1, 1, 'old', 0.9, 0.9, 0.5, 'malignant', 'high', 0, 'x', 1, '2026-01-01T00:00:00Z')`);
    db.exec(`INSERT INTO reviews (image_id, clinician, verdict, created_at) VALUES (1, 'dr', 'agree', '2026-01-02T00:00:00Z')`);
    expect(migrate(db, migrations)).toBe(4);
    expect(db.prepare('SELECT confirmed_diagnosis, confirmation_basis, confirmed_on FROM reviews').get()).toEqual({ confirmed_diagnosis: null, confirmation_basis: null, confirmed_on: null });
    expect(db.prepare('SELECT count(*) AS n FROM prediction_features').get()).toEqual({ n: 0 });

    const set = (d: string | null, b: string | null, on: string | null) =>
      db.prepare('UPDATE reviews SET confirmed_diagnosis = ?, confirmation_basis = ?, confirmed_on = ?').run(d, b, on);
    set('melanoma', 'histopathology', '2026-02-28');
    expect(() => set('melanoma', null, '2026-02-28')).toThrow(/CHECK/);
    expect(() => set('melanoma', 'histopathology', null)).toThrow(/CHECK/);
    expect(() => set(null, 'histopathology', '2026-02-28')).toThrow(/CHECK/);
    expect(() => set('naevus', 'histopathology', '2026-02-28')).toThrow(/CHECK/);
    expect(() => set('benign', 'gut_feeling', '2026-02-28')).toThrow(/CHECK/);
    expect(() => set('benign', 'histopathology', '2026-02-30')).toThrow(/CHECK/);
    expect(() => set('benign', 'histopathology', '28/02/2026')).toThrow(/CHECK/);
    set(null, null, null);

    // A features row must hold views x width float32 values, and goes with its prediction.
    const put = (bytes: number) => db.prepare(`INSERT INTO prediction_features VALUES (1, 2, '["identity","hflip"]', ?, 'now')`).run(Buffer.alloc(bytes));
    expect(() => put(12)).toThrow(/CHECK/);
    put(16);
    expect(() => db.prepare(`INSERT INTO prediction_features VALUES (2, 1, '["identity"]', ?, 'now')`).run(Buffer.alloc(4))).toThrow(/FOREIGN KEY/);
    db.exec('DELETE FROM reviews; DELETE FROM predictions');
    expect(db.prepare('SELECT count(*) AS n FROM prediction_features').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('features repository', () => {
  it('stores float32 vectors exactly, per prediction, and lists the predictions of a model still without them', () => {
    const a = imageWithPrediction('m-1');
    const b = imageWithPrediction('m-1');
    const c = imageWithPrediction('m-2');
    expect(store.features.get(a.predictionId)).toBeNull();
    expect(store.features.countMissing('m-1')).toBe(2);

    store.features.put(a.predictionId, features);
    const back = store.features.get(a.predictionId)!;
    expect(back).toEqual(features);
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(store.features.has(a.predictionId)).toBe(true);
    // Little-endian float32 on disk, whatever reads it.
    const raw = store.db.prepare('SELECT data FROM prediction_features WHERE prediction_id = ?').get(a.predictionId) as { data: Buffer };
    expect(raw.data.readFloatLE(4 * 3)).toBe(7);

    expect(store.features.missingFor('m-1', 10).map((m) => m.predictionId)).toEqual([b.predictionId]);
    expect(store.features.missingFor('m-1', 10)[0]).toMatchObject({ imageId: b.imageId, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), pMalignant: 0.4 });
    expect(store.features.missingFor('m-2', 10).map((m) => m.predictionId)).toEqual([c.predictionId]);
    expect(store.features.missingFor('m-1', 10, b.predictionId)).toEqual([]); // the cursor skips what was already tried
    expect(store.features.missingFor('m-1', 0)).toEqual([]);
    expect(store.features.countMissing('m-1')).toBe(1);

    // Replacing is allowed (same prediction, recomputed); a copy shares the source's vectors.
    const other = pooledFeatures(['identity'], [[1, 2, 3]]);
    store.features.put(a.predictionId, other);
    expect(store.features.get(a.predictionId)).toEqual(other);
    expect(store.features.copy(a.predictionId, b.predictionId)).toBe(true);
    expect(store.features.get(b.predictionId)).toEqual(other);
    expect(store.features.copy(c.predictionId, b.predictionId)).toBe(false); // c has none

    expect(() => store.features.put(9999, features)).toThrow(StoreError);
    expect(() => store.features.put(c.predictionId, { width: 3, views: ['identity'], data: new Float32Array(4) })).toThrow(/need 3/);
    expect(store.features.has(c.predictionId)).toBe(false);
  });
});

describe('confirmed diagnosis on reviews', () => {
  it('round-trips all three fields; partial or impossible confirmations are refused before the file is touched', () => {
    const { imageId, predictionId } = imageWithPrediction();
    const plain = store.reviews.create({ imageId, clinician: 'dr', verdict: 'agree' });
    expect(plain).toMatchObject({ confirmedDiagnosis: null, confirmationBasis: null, confirmedOn: null });
    const confirmed = store.reviews.create({
      imageId, predictionId, clinician: 'dr', verdict: 'disagree', confirmedDiagnosis: 'melanoma', confirmationBasis: 'histopathology', confirmedOn: '2026-03-04',
    });
    expect(Review.parse(confirmed)).toMatchObject({ confirmedDiagnosis: 'melanoma', confirmationBasis: 'histopathology', confirmedOn: '2026-03-04' });
    expect(store.reviews.listForImage(imageId).map((r) => r.confirmedDiagnosis)).toEqual(['melanoma', null]);
    expect(JSON.parse(store.audit.list({ entity: 'reviews', entityId: confirmed.id }).items[0]!.detail)).toMatchObject({ confirmedDiagnosis: 'melanoma', confirmedOn: '2026-03-04' });

    const before = store.reviews.listForImage(imageId).length;
    expect(() => store.reviews.create({ imageId, clinician: 'dr', verdict: 'agree', confirmedDiagnosis: 'benign' })).toThrow(/all three, or none/);
    expect(() => store.reviews.create({ imageId, clinician: 'dr', verdict: 'agree', confirmationBasis: 'expert_consensus', confirmedOn: '2026-01-01' })).toThrow(/all three/);
    expect(() => store.reviews.create({ imageId, clinician: 'dr', verdict: 'agree', confirmedDiagnosis: 'benign', confirmationBasis: 'expert_consensus', confirmedOn: '2026-02-30' })).toThrow(/not a calendar date/);
    expect(() => store.reviews.create({ imageId, clinician: 'dr', verdict: 'agree', confirmedDiagnosis: 'naevus' as never, confirmationBasis: 'expert_consensus', confirmedOn: '2026-02-01' })).toThrow();
    expect(store.reviews.listForImage(imageId)).toHaveLength(before);

    // The worklist and the timeline carry the latest review with its confirmation.
    const page = PredictionPage.parse(store.listPredictions({}));
    expect(page.items[0]!.review).toMatchObject({ id: confirmed.id, confirmedDiagnosis: 'melanoma', confirmationBasis: 'histopathology' });
  });

  it("lists each image's newest confirmed diagnosis with its prediction by the model asked for", () => {
    const patient = store.patients.create({ identifier: 'P1', name: 'Case' });
    const lesion = store.lesions.create({ patientId: patient.id, bodySite: 'back', label: '' });
    const a = imageWithPrediction('m-1', { patientId: patient.id, lesionId: lesion.id });
    const b = imageWithPrediction('m-2'); // no prediction by m-1
    const c = imageWithPrediction('m-1'); // reviewed, never confirmed
    const confirm = (imageId: number, d: 'melanoma' | 'benign' | 'other_malignant', on: string, verdict: 'agree' | 'disagree' = 'agree') =>
      store.reviews.create({ imageId, clinician: 'dr', verdict, confirmedDiagnosis: d, confirmationBasis: 'clinical_follow_up', confirmedOn: on });

    confirm(a.imageId, 'benign', '2026-01-01');
    const newest = confirm(a.imageId, 'melanoma', '2026-02-01', 'disagree');
    store.reviews.create({ imageId: a.imageId, clinician: 'dr', verdict: 'agree', note: 'later, unconfirmed: does not undo the confirmation' });
    const bReview = confirm(b.imageId, 'other_malignant', '2026-01-15');
    store.reviews.create({ imageId: c.imageId, clinician: 'dr', verdict: 'agree' });

    expect(store.confirmedCases('m-1')).toEqual([
      {
        imageId: a.imageId, predictionId: a.predictionId, patientId: patient.id, lesionId: lesion.id, sha256: store.images.require(a.imageId).sha256,
        diagnosis: 'melanoma', basis: 'clinical_follow_up', confirmedOn: '2026-02-01', reviewId: newest.id,
      },
      {
        imageId: b.imageId, predictionId: null, patientId: null, lesionId: null, sha256: store.images.require(b.imageId).sha256,
        diagnosis: 'other_malignant', basis: 'clinical_follow_up', confirmedOn: '2026-01-15', reviewId: bReview.id,
      },
    ]);
    expect(store.confirmedCases('m-2').map((k) => [k.imageId, k.predictionId])).toEqual([[a.imageId, null], [b.imageId, b.predictionId]]);
    expect(store.confirmedCases('never')).toHaveLength(2);
  });
});

describe('persistClassification keeps the features with the prediction', () => {
  async function classified(name: string, pooled: ReturnType<typeof pooledFeatures> | undefined): Promise<{ bytes: Buffer; result: ClassifyResult }> {
    const path = join(dir, name);
    await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 200, g: 40, b: name.length * 10 } } }).png().toFile(path);
    const classification = {
      modelVersion: 'test-1', pMalignantRaw: 0.7, pMalignant: 0.7, threshold: 0.3, label: 'malignant' as const, tier: 'high' as const, uncertainty: 0.02,
      backend: { backbones: 'cpu', head: 'analytic-js' }, timingsMs: { total_ms: 5 }, ...(pooled ? { pooled } : {}),
    };
    return { bytes: readFileSync(path), result: { file: path, width: 20, height: 10, classification } };
  }

  it('writes them in the prediction’s transaction, copies them with a copied prediction, and fills them in for one that had none', async () => {
    const patient = store.patients.create({ identifier: 'PF', name: 'Persist' });
    const { bytes, result } = await classified('f.png', features);
    const first = await persistClassification(store, { bytes, originalPath: '/cam/f.png' }, { result }, { placement: { patientId: patient.id }, audit: {} });
    expect(store.features.get(first.prediction.id)).toEqual(features);

    const other = store.patients.create({ identifier: 'PG', name: 'Other' });
    const copy = await persistClassification(store, { bytes, originalPath: '/cam/f.png' }, { copyOf: first.prediction }, { placement: { patientId: other.id }, audit: {} });
    expect(copy.prediction.id).not.toBe(first.prediction.id);
    expect(store.features.get(copy.prediction.id)).toEqual(features);

    // A stand-in classifier without a head keeps no features; a later real result of the same bytes adds them, the prediction unchanged.
    const bare = await classified('gg.png', undefined);
    const made = await persistClassification(store, { bytes: bare.bytes, originalPath: '/cam/gg.png' }, { result: bare.result }, { placement: { patientId: patient.id }, audit: {} });
    expect(store.features.has(made.prediction.id)).toBe(false);
    const withFeatures = { ...bare.result, classification: { ...bare.result.classification, pMalignant: 0.1, pooled: features } };
    const again = await persistClassification(store, { bytes: bare.bytes, originalPath: '/cam/gg.png' }, { result: withFeatures }, { placement: { patientId: patient.id }, audit: {} });
    expect(again.prediction).toEqual(made.prediction);
    expect(store.features.get(made.prediction.id)).toEqual(features);
  });

  it('bad features roll the whole record back: no image row, no prediction', async () => {
    const broken = { width: 4, views: ['identity'], data: new Float32Array(3) };
    const { bytes, result } = await classified('h.png', broken);
    const predictions = store.predictions.count();
    await expect(persistClassification(store, { bytes, originalPath: '/cam/h.png' }, { result }, { placement: {}, audit: {} })).rejects.toThrow(/need 4/);
    expect(store.predictions.count()).toBe(predictions);
    expect(store.db.prepare('SELECT count(*) AS n FROM images WHERE original_name = ?').get('h.png')).toEqual({ n: 0 });
  });
});
