/**
 * InceptionV3: the converted ONNX graph (BN folded, explicit pads, several taps) must match
 * tfjs executing the original Keras layers model, loaded by tfjs itself from the nsfwjs files
 * (tfjs does its own dequantisation), truncated at the same layers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbones } from '../../electron/model/backbones.ts';
import { loadInceptionSource, type LayersModelSource } from '../../electron/model/weights.ts';
import { fixtureImages, haveFixtures, loadBatch, maxAbs, maxAbsDiff } from './backbones-helpers.ts';

if (!haveFixtures) console.warn('skipping InceptionV3 equivalence tests: ../shared/data/fixtures is absent');

const LAYERS = ['mixed5', 'mixed6'];

async function referenceModel(source: LayersModelSource, layers: readonly string[]): Promise<tf.LayersModel> {
  const full = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: source.modelTopology as unknown as tf.io.ModelJSON['modelTopology'],
      weightSpecs: source.weightSpecs as tf.io.WeightsManifestEntry[],
      weightData: source.weightData,
    }),
  );
  return tf.model({ inputs: full.inputs, outputs: layers.map((l) => full.getLayer(l).output as tf.SymbolicTensor) });
}

describe.skipIf(!haveFixtures)('InceptionV3 backbone (nsfwjs Keras → ONNX)', () => {
  let source: LayersModelSource;
  let cache: string;
  const savedCache = process.env.DERMAFUSE_CACHE;

  beforeAll(async () => {
    cache = mkdtempSync(join(tmpdir(), 'dermafuse-incv3-'));
    process.env.DERMAFUSE_CACHE = cache;
    await tf.setBackend('cpu');
    source = await loadInceptionSource();
  });

  afterAll(() => {
    if (savedCache === undefined) delete process.env.DERMAFUSE_CACHE;
    else process.env.DERMAFUSE_CACHE = savedCache;
    rmSync(cache, { recursive: true, force: true });
  });

  it("matches tfjs at mixed5/mixed6 with 'unit' scaling on real images (max abs diff <= 1e-3)", async () => {
    const files = fixtureImages(2);
    const x = await loadBatch(files, 299);
    const reference = await referenceModel(source, LAYERS);
    const ref = tf.tidy(() => (reference.predict(tf.tensor4d(x, [files.length, 299, 299, 3]).div(255)) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array));
    const backbones = await Backbones.load({ inceptionLayers: LAYERS, inceptionScaling: 'unit', executionProvider: 'cpu', intraOpThreads: 2 });
    try {
      const out = await backbones.runInception(x, files.length);
      for (const [i, layer] of LAYERS.entries()) {
        expect(out[layer]!.shape).toEqual([files.length, 17, 17, 768]);
        const d = maxAbsDiff(out[layer]!.data, ref[i]!);
        console.log(`InceptionV3 ${layer} (unit) ONNX vs tfjs on ${files.length} fixtures: max|diff| ${d.toExponential(2)} (max |value| ${maxAbs(ref[i]!).toFixed(2)})`);
        expect(maxAbs(ref[i]!)).toBeGreaterThan(0.5);
        expect(d).toBeLessThanOrEqual(1e-3);
      }
    } finally {
      await backbones.dispose();
      reference.dispose();
    }
  });

  it("matches tfjs at mixed7 and mixed2 with 'symmetric' scaling, taps in any order", async () => {
    const files = fixtureImages(3).slice(2);
    const x = await loadBatch(files, 299);
    const reference = await referenceModel(source, ['mixed7', 'mixed2']);
    const ref = tf.tidy(() => (reference.predict(tf.tensor4d(x, [1, 299, 299, 3]).div(127.5).sub(1)) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array));
    const backbones = await Backbones.load({ inceptionLayers: ['mixed7', 'mixed2'], inceptionScaling: 'symmetric', executionProvider: 'cpu', intraOpThreads: 2 });
    try {
      const out = await backbones.runInception(x, 1);
      expect(Object.keys(out)).toEqual(['mixed7', 'mixed2']);
      expect(out.mixed7!.shape).toEqual([1, 17, 17, 768]);
      expect(out.mixed2!.shape).toEqual([1, 35, 35, 288]);
      for (const [i, layer] of ['mixed7', 'mixed2'].entries()) {
        const d = maxAbsDiff(out[layer]!.data, ref[i]!);
        console.log(`InceptionV3 ${layer} (symmetric) ONNX vs tfjs on ${files.length} fixture: max|diff| ${d.toExponential(2)} (max |value| ${maxAbs(ref[i]!).toFixed(2)})`);
        expect(maxAbs(ref[i]!)).toBeGreaterThan(0.5);
        expect(d).toBeLessThanOrEqual(1e-3);
      }
    } finally {
      await backbones.dispose();
      reference.dispose();
    }
  });
});
