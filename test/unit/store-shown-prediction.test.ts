/**
 * An image classified by two model versions shows one prediction in every read: the one by the
 * model in use (store.preferModelVersion), else the newest by any model. After a rollback the
 * shipped model's result must win over the newer one of the local model no longer in use.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageRecord } from '#common/domain';
import { type Store } from '../../electron/store/index.ts';
import type { PredictionInput } from '../../electron/store/repositories/predictions.ts';
import { closeTempStore, openTempStore } from '../helpers/temp-store.ts';

const SHIPPED = 'fusion-v2';
const LOCAL = 'fusion-v2+local-1';

let dir: string;
let store: Store;

beforeEach(() => {
  ({ dir, store } = openTempStore('df-shown-'));
});
afterEach(() => closeTempStore({ dir, store }));

function prediction(imageId: number, modelVersion: string, p: number): PredictionInput {
  return {
    imageId,
    modelVersion,
    pMalignantRaw: p,
    pMalignant: p,
    threshold: 0.3,
    label: p >= 0.3 ? 'malignant' : 'benign',
    tier: p >= 0.6 ? 'high' : p >= 0.3 ? 'review' : 'low',
    uncertainty: 0.01,
    backend: 'test',
    timingMs: 1,
  };
}

async function image(name: string, shade: number, placement: { visitId: number; lesionId: number }): Promise<ImageRecord> {
  const path = join(dir, name);
  await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: shade, g: 40, b: 90 } } }).png().toFile(path);
  return store.images.importFile(path, placement);
}

describe('the prediction an image shows', () => {
  it('is the one by the preferred model version, else the newest by any model, in every composite read', async () => {
    const patient = store.patients.create({ identifier: 'SP-1', name: 'Shown Prediction' });
    const visit = store.visits.create({ patientId: patient.id, date: '2026-03-01' });
    const lesion = store.lesions.create({ patientId: patient.id, bodySite: 'back' });
    const both = await image('both.png', 10, { visitId: visit.id, lesionId: lesion.id });
    const shippedOnly = await image('shipped-only.png', 200, { visitId: visit.id, lesionId: lesion.id });
    // The shipped model said low; the local model, adopted later, said high (the newer row).
    const byShipped = store.predictions.create(prediction(both.id, SHIPPED, 0.1));
    const other = store.predictions.create(prediction(shippedOnly.id, SHIPPED, 0.2));
    const byLocal = store.predictions.create(prediction(both.id, LOCAL, 0.8));

    const shown = () => ({
      image: store.predictions.latestForImage(both.id)?.id,
      fallback: store.predictions.latestForImage(shippedOnly.id)?.id,
      timeline: store.lesionTimeline(lesion.id).map((e) => e.prediction?.id),
      summary: store.visits.summariesForPatient(patient.id).map(({ maxPMalignant, highCount, imageCount }) => ({ maxPMalignant, highCount, imageCount })),
      worklist: store.listPredictions({ sort: 'risk_desc' }),
      high: store.listPredictions({ tier: 'high' }).total,
      visitList: store.listPredictions({ visitId: visit.id }).items.map((r) => r.prediction.id).sort(),
    });

    // No preference (the CLI, or no model loaded): the newest prediction.
    expect(store.preferredModelVersion()).toBeNull();
    let s = shown();
    expect(s.image).toBe(byLocal.id);
    expect(s.timeline).toEqual([byLocal.id, other.id]);
    expect(s.summary).toEqual([{ maxPMalignant: 0.8, highCount: 1, imageCount: 2 }]);
    expect(s.worklist.items.map((r) => r.prediction.id)).toEqual([byLocal.id, other.id]);
    expect(s.worklist.total).toBe(2);
    expect(s.high).toBe(1);

    // Back on the shipped model: its result wins over the newer local one.
    store.preferModelVersion(SHIPPED);
    s = shown();
    expect(s.image).toBe(byShipped.id);
    expect(s.fallback).toBe(other.id);
    expect(s.timeline).toEqual([byShipped.id, other.id]);
    expect(s.summary).toEqual([{ maxPMalignant: 0.2, highCount: 0, imageCount: 2 }]);
    expect(s.worklist.items.map((r) => r.prediction.id)).toEqual([other.id, byShipped.id]);
    expect(s.worklist.total).toBe(2);
    expect(s.high).toBe(0);
    expect(s.visitList).toEqual([byShipped.id, other.id].sort());
    expect(store.countImagesWithoutPrediction(SHIPPED)).toBe(0);

    // The local model in use: its result where it has one, the shipped one for the image it never classified.
    store.preferModelVersion(LOCAL);
    s = shown();
    expect(s.image).toBe(byLocal.id);
    expect(s.fallback).toBe(other.id);
    expect(s.timeline).toEqual([byLocal.id, other.id]);
    expect(s.summary).toEqual([{ maxPMalignant: 0.8, highCount: 1, imageCount: 2 }]);
    expect(s.worklist.items.map((r) => r.prediction.modelVersion)).toEqual([LOCAL, SHIPPED]);
    expect(s.high).toBe(1);
    expect(store.countImagesWithoutPrediction(LOCAL)).toBe(1);
    // Reclassified after the worklist was read: the next read follows (the hidden set is kept up to date).
    const reclassified = store.predictions.create(prediction(shippedOnly.id, LOCAL, 0.7));
    s = shown();
    expect(s.fallback).toBe(reclassified.id);
    expect(s.worklist.items.map((r) => r.prediction.id)).toEqual([byLocal.id, reclassified.id]);
    expect(s.worklist.total).toBe(2);
    expect(s.high).toBe(2);
    expect(store.countImagesWithoutPrediction(LOCAL)).toBe(0);
    store.preferModelVersion(SHIPPED);
    expect(store.listPredictions({ sort: 'risk_desc' }).items.map((r) => r.prediction.id)).toEqual([other.id, byShipped.id]);
    store.preferModelVersion(LOCAL);

    // A version that made no prediction shows the newest, as with no preference.
    store.preferModelVersion('fusion-v3');
    expect(store.predictions.latestForImage(both.id)?.id).toBe(byLocal.id);
    // Every prediction stays stored, whichever is shown.
    expect(store.predictions.listForImage(both.id).map((p) => p.modelVersion)).toEqual([LOCAL, SHIPPED]);
  });
});
