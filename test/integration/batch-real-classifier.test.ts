/**
 * The batch with the real fusion classifier (native backbones, Grad-CAM) on a few fixture images:
 * what the store keeps is what the classifier produced, overlays included. Uses the shipped model
 * when models/current.json exists, otherwise a randomly initialised head on the real backbones
 * (the store does not care what the head learned).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../electron/batch/run-batch.ts';
import { modelsDir, sharedDir } from '../../electron/util/paths.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { TfjsHead } from '../../training/head/tfjs-head.ts';
import type { ModelManifest } from '../../electron/model/manifest.ts';
import { openStore, type Store } from '../../electron/store/index.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const fixtures = sharedDir('data', 'fixtures');
const weights = sharedDir('models', 'coral_tf2_mobilenet_v2_1.0_224_ptq.tflite');
const available = existsSync(join(fixtures, 'labels.csv')) && existsSync(weights);
if (!available) console.warn(`batch with the real classifier skipped: needs ${fixtures} and ${weights} (the shared data/weights folder)`);

const randomHeadManifest: ModelManifest = testManifest({ head: { hidden: [16] } });

describe.skipIf(!available)('batch with the real classifier', () => {
  let dir: string;
  let store: Store;
  let classifier: FusionClassifier;
  let folder: string;
  let good: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'df-batch-real-'));
    if (existsSync(modelsDir('current.json'))) {
      classifier = await createClassifier();
    } else {
      const head = TfjsHead.create({ branches: ['inception', 'mobilenet'], inceptionChannels: 768, mobilenetChannels: 1280, pooling: 'avg', hidden: [16], dropout: 0, inceptionLayer: 'mixed6' }, 5);
      await head.save(join(dir, 'model'));
      head.dispose();
      writeFileSync(join(dir, 'model', 'manifest.json'), JSON.stringify(randomHeadManifest));
      classifier = await createClassifier({ modelDir: join(dir, 'model') });
    }
    const rows = readFileSync(join(fixtures, 'labels.csv'), 'utf8').trim().split('\n').slice(1, 5);
    folder = join(dir, 'in');
    mkdirSync(folder);
    good = rows.map((r, i) => {
      const dest = join(folder, `${i}-${r.split(',')[0]!.replace(/\//g, '_')}`);
      copyFileSync(join(fixtures, r.split(',')[0]!), dest);
      return dest;
    });
    writeFileSync(join(folder, 'truncated.jpg'), readFileSync(good[0]!).subarray(0, 300));
    store = openStore({ file: join(dir, 'data', 'db.sqlite') });
  }, 300_000);

  afterAll(async () => {
    store?.close();
    await classifier?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores each classification with its Grad-CAM overlays, records the bad file, and never re-runs the model', async () => {
    const first = await runBatch({ store, classifier, root: folder });
    expect(first.job).toMatchObject({ status: 'done', total: 5, done: 4, failed: 1, modelVersion: classifier.modelVersion });
    const [bad] = store.batches.listItems(first.job.id, { status: 'error' }).items;
    expect(bad!.path).toBe(join(folder, 'truncated.jpg'));
    expect(bad!.error).toMatch(/^(truncated|decode_failed): /);

    const rows = store.listPredictions({ jobId: first.job.id, pageSize: 10 }).items;
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.prediction.modelVersion).toBe(classifier.modelVersion);
      expect(row.prediction.backend).toMatch(/^onnxruntime:[\w-]+ \+ head:[\w-]+$/);
      expect(row.prediction.timingMs).toBeGreaterThan(0);
      const overlays = store.overlays.listForPrediction(row.prediction.id);
      const kinds = new Set(overlays.map((o) => o.kind));
      expect(kinds.has('fused')).toBe(true);
      expect(overlays.filter((o) => o.format === 'overlay').length).toBe(kinds.size);
      expect(overlays.filter((o) => o.format === 'map').length).toBe(kinds.size);
      const fused = overlays.find((o) => o.kind === 'fused' && o.format === 'overlay')!;
      // The colour overlay sits on the original geometry (fixtures are small: never upscaled).
      expect([fused.width, fused.height]).toEqual([row.image.width, row.image.height]);
      const png = store.overlays.png(fused.id)!;
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(readFileSync(store.imagePath(row.image.sha256)).equals(readFileSync(row.image.originalPath))).toBe(true);
    }
    console.log(
      `real classifier batch: ${first.classified} images in ${(first.elapsedMs / 1000).toFixed(1)} s, store ${first.storeMsPerItem?.toFixed(1)} ms/image, model ${classifier.modelVersion}`,
    );

    const again = await runBatch({ store, classifier, root: folder });
    expect(again).toMatchObject({ classified: 0, reused: 4 });
    expect(store.predictions.count()).toBe(4);
  });
});
