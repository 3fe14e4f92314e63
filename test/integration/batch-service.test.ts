import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditEntry, BatchItem, BatchJob, BatchProgress, Overlay, PredictionRow } from '#common/domain';
import { BatchService, runBatch } from '../../electron/batch/index.ts';
import { openStore, type Store } from '../../electron/store/index.ts';
import { makeHostileCorpus } from '../helpers/hostile-corpus.ts';
import { PixelStatsClassifier } from '../helpers/pixel-stats-classifier.ts';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'df-batch-'));
  store = openStore({ file: join(dir, 'data', 'db.sqlite'), actor: 'batch-test' });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** n distinct small lesion-like JPEGs in nested folders. */
async function folderOf(n: number, name = 'images'): Promise<string> {
  const root = join(dir, name);
  for (let i = 0; i < n; i++) {
    const sub = join(root, `sub${i % 3}`);
    mkdirSync(sub, { recursive: true });
    const shade = 40 + ((i * 37) % 180);
    await sharp({ create: { width: 48 + i, height: 40, channels: 3, background: { r: shade, g: 120, b: 255 - shade } } })
      .jpeg()
      .toFile(join(sub, `img${String(i).padStart(3, '0')}.jpg`));
  }
  return root;
}

describe('batch over a hostile corpus', () => {
  it('records an error for each bad input, classifies the rest, and never crashes', async () => {
    const corpus = await makeHostileCorpus(join(dir, 'corpus'));
    const classifier = new PixelStatsClassifier();
    const progress: BatchProgress[] = [];
    // One image at a time: libvips reports some decode errors as "Unknown error" when two decodes
    // overlap, which would blur the exact error codes checked below (the file still fails either way).
    const result = await runBatch({ store, classifier, root: join(dir, 'corpus'), concurrency: 1, onProgress: (p) => progress.push(BatchProgress.parse(p)) });

    expect(result.job.status).toBe('done');
    const items = store.batches.listItems(result.job.id, { pageSize: 500 }).items;
    const byPath = new Map(items.map((i) => [i.path, i]));
    for (const bad of corpus.bad) {
      const item = byPath.get(bad.file);
      expect(item, bad.file).toBeDefined();
      expect(item!.status, bad.file).toBe('error');
      expect(item!.error, bad.file).toMatch(/^[a-z_]+: /);
      // Paths the folder walk already refuses (symlink loops) carry the walker's code instead.
      const expected = corpus.walkErrors.includes(bad.file) ? 'symlink_loop' : bad.expect;
      if (expected !== 'any') expect(item!.error, bad.file).toMatch(new RegExp(`^${expected}:`));
      expect(item!.predictionId).toBeNull();
    }
    for (const loop of corpus.walkErrors) {
      expect(items.some((i) => i.path.startsWith(loop) && i.status === 'error'), loop).toBe(true);
    }
    for (const good of corpus.good) {
      const item = byPath.get(good);
      expect(item?.status, good).toBe('done');
      expect(item?.predictionId).not.toBeNull();
    }
    // Identical bytes under several names are classified once and stored once.
    const distinct = new Set(corpus.good.map(sha));
    expect(new Set(classifier.calls.map((c) => sha(c))).size).toBe(classifier.calls.length);
    expect(classifier.calls.length).toBe(distinct.size);
    expect(store.predictions.count()).toBe(distinct.size);
    expect(result.job.done).toBe(corpus.good.length);
    expect(result.job.failed).toBe(items.filter((i) => i.status === 'error').length);
    expect(result.job.total).toBe(items.length);
    for (const s of distinct) expect(readFileSync(store.imagePath(s)).length).toBeGreaterThan(0);

    // The EXIF-rotated image is stored with its displayed geometry.
    const exif = store.images.require(byPath.get(corpus.exifRotated.file)!.imageId!);
    expect([exif.width, exif.height]).toEqual([corpus.exifRotated.width, corpus.exifRotated.height]);

    const last = progress.at(-1)!;
    expect(last).toMatchObject({ done: result.job.done, failed: result.job.failed, total: result.job.total, etaSec: 0 });
    const settled = progress.map((p) => p.done + p.failed);
    expect(settled).toEqual([...settled].sort((a, b) => a - b));
    // Mid-run the rate is positive and the ETA known once an item has settled.
    const mid = progress.find((p) => p.done + p.failed > 0 && p.done + p.failed < p.total)!;
    expect(mid.ratePerSec).toBeGreaterThan(0);
    expect(mid.etaSec).not.toBeNull();
    expect(mid.etaSec!).toBeGreaterThan(0);

    const rows = store.listPredictions({ jobId: result.job.id, pageSize: 100 });
    expect(rows.total).toBe(distinct.size); // twins share one image record and one prediction
    rows.items.forEach((r) => PredictionRow.parse(r));
    // Every record the store hands out has the shape the IPC contract validates.
    BatchJob.parse(result.job);
    items.forEach((i) => BatchItem.parse(i));
    store.overlays.listForPrediction(rows.items[0]!.prediction.id).forEach((o) => Overlay.parse(o));
    store.audit.list({ pageSize: 500 }).items.forEach((a) => AuditEntry.parse(a));
    expect(store.audit.list({ entity: 'batch_items' }).total).toBe(result.job.failed);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});

describe('resumable, idempotent batches', () => {
  it('files images under the visit, stores overlays, and never classifies the same bytes twice', async () => {
    const root = await folderOf(8);
    copyFileSync(join(root, 'sub0', 'img000.jpg'), join(root, 'sub1', 'twin of 000.jpg'));
    const patient = store.patients.create({ identifier: 'MRN-1', name: 'Batch Patient' });
    const visit = store.visits.create({ patientId: patient.id, date: '2026-03-04' });
    const classifier = new PixelStatsClassifier();

    const first = await runBatch({ store, classifier, root, visitId: visit.id });
    expect(first).toMatchObject({ resumed: false, classified: 8, failed: 0 });
    expect(first.job).toMatchObject({ status: 'done', total: 9, done: 9, patientId: patient.id, visitId: visit.id });
    expect(store.images.listForVisit(visit.id)).toHaveLength(8);
    const rows = store.listPredictions({ visitId: visit.id, pageSize: 50 }).items;
    expect(rows.every((r) => r.patient?.id === patient.id && r.visit?.id === visit.id)).toBe(true);
    expect(store.overlays.listForPrediction(rows[0]!.prediction.id).map((o) => o.format)).toEqual(['overlay', 'map']);
    expect(store.audit.list({ entity: 'predictions' }).total).toBe(8);

    // Same folder again: a new job whose items all link to the existing predictions.
    const again = await runBatch({ store, classifier, root, visitId: visit.id });
    expect(again).toMatchObject({ resumed: false, classified: 0, reused: 9 });
    expect(again.job.id).not.toBe(first.job.id);
    expect(classifier.calls).toHaveLength(8);
    expect(store.predictions.count()).toBe(8);

    // Same bytes into another patient's visit: new records, predictions copied, still no classification.
    const other = store.patients.create({ identifier: 'MRN-2', name: 'Other' });
    const elsewhere = await runBatch({ store, classifier, root, patientId: other.id });
    expect(elsewhere).toMatchObject({ classified: 0, reused: 9 });
    expect(store.listPredictions({ patientId: other.id }).total).toBe(8);
    expect(classifier.calls).toHaveLength(8);

    // A new model version classifies again.
    const v2 = new PixelStatsClassifier({ modelVersion: 'pixel-stats-2' });
    const upgraded = await runBatch({ store, classifier: v2, root, visitId: visit.id });
    expect(upgraded.classified).toBe(8);
  });

  it('cancels between images and continues the same job on the next run', async () => {
    const root = await folderOf(12);
    const classifier = new PixelStatsClassifier();
    const controller = new AbortController();
    const first = await runBatch({
      store,
      classifier,
      root,
      signal: controller.signal,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done >= 4) controller.abort();
      },
    });
    expect(first.cancelled).toBe(true);
    expect(first.job.status).toBe('cancelled');
    expect(first.job.done).toBeGreaterThanOrEqual(4);
    expect(first.job.done).toBeLessThan(12);
    expect(store.batches.listItems(first.job.id, { status: 'pending' }).total).toBe(12 - first.job.done);

    const second = await runBatch({ store, classifier, root });
    expect(second.resumed).toBe(true);
    expect(second.job.id).toBe(first.job.id);
    expect(second.job).toMatchObject({ status: 'done', done: 12, total: 12 });
    expect(classifier.calls).toHaveLength(12);
    expect(new Set(classifier.calls).size).toBe(12);
  });

  it('refuses a destination that does not exist before doing any work', async () => {
    const root = await folderOf(2);
    await expect(runBatch({ store, classifier: new PixelStatsClassifier(), root, visitId: 42 })).rejects.toThrow(/visit 42 does not exist/);
    expect(store.batches.listJobs().total).toBe(0);
  });
});

describe('BatchService', () => {
  it('returns the job at once, streams progress and items, and cancels on request', async () => {
    const root = await folderOf(10);
    const service = new BatchService(store, new PixelStatsClassifier({ delayMs: 20 }));
    const seen: number[] = [];
    const items: string[] = [];
    service.on('item', (i) => items.push(i.status));
    service.on('progress', (p) => {
      seen.push(p.done);
      if (p.done === 3) service.cancel(p.jobId);
    });
    const { job, done } = service.start({ root });
    expect(service.isRunning(job.id)).toBe(true);
    const result = await done;
    expect(result.cancelled).toBe(true);
    expect(service.isRunning(job.id)).toBe(false);
    expect(items.length).toBeGreaterThanOrEqual(3);

    const resumed = service.start({ root });
    expect(resumed.job.id).toBe(job.id);
    expect((await resumed.done).job).toMatchObject({ status: 'done', done: 10 });
  });
});
