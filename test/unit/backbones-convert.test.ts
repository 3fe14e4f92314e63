/**
 * Converter and runtime pieces on small synthetic inputs: a random Keras model exercising every
 * supported layer (odd/even sizes, 'same' stride-2 padding, folded and free BN, pads, pools,
 * concat, add, dense) must match tfjs; TFLite reader rejects garbage; provider choice is explicit.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cachedGraph } from '../../electron/model/convert/cache.ts';
import { GraphBuilder, attr } from '../../electron/model/convert/onnx-builder.ts';
import { kerasToOnnx } from '../../electron/model/convert/keras-to-onnx.ts';
import { samePads } from '../../electron/model/convert/padding.ts';
import { TfliteFormatError, readTflite } from '../../electron/model/convert/tflite-reader.ts';
import { RuntimeError, createSession, listedProviders, ort, resolveProviderChoice } from '../../electron/model/runtime.ts';
import { decodeWeights, type KerasModelTopology, type WeightSpec } from '../../electron/model/weights.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('TensorFlow SAME padding', () => {
  it('puts the odd extra pixel at the end, as TF does', () => {
    expect(samePads(224, 3, 2)).toEqual([0, 1]);
    expect(samePads(299, 3, 2)).toEqual([1, 1]);
    expect(samePads(17, 7, 1)).toEqual([3, 3]);
    expect(samePads(8, 1, 2)).toEqual([0, 0]);
    expect(samePads(13, 2, 2)).toEqual([0, 1]);
    expect(samePads(10, 3, 1, 2)).toEqual([2, 2]);
  });
});

function buildSyntheticModel(): tf.LayersModel {
  const input = tf.input({ shape: [13, 12, 3], name: 'img' });
  const c1 = tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  const b1 = tf.layers.batchNormalization({ name: 'b1', epsilon: 1e-3 }).apply(c1) as tf.SymbolicTensor;
  const a1 = tf.layers.activation({ name: 'a1', activation: 'relu' }).apply(b1) as tf.SymbolicTensor; // 7x6x4
  const maxp = tf.layers.maxPooling2d({ name: 'maxp', poolSize: 3, strides: 1, padding: 'same' }).apply(a1) as tf.SymbolicTensor;
  const avgp = tf.layers.averagePooling2d({ name: 'avgp', poolSize: 3, strides: 1, padding: 'same' }).apply(a1) as tf.SymbolicTensor;
  const zp = tf.layers.zeroPadding2d({ name: 'zp', padding: [[1, 1], [2, 0]] }).apply(a1) as tf.SymbolicTensor; // 9x8
  const c2 = tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: [3, 3], padding: 'valid', activation: 'relu6' }).apply(zp) as tf.SymbolicTensor; // 7x6x6
  const cat = tf.layers.concatenate({ name: 'cat', axis: -1 }).apply([maxp, avgp, c2]) as tf.SymbolicTensor; // 7x6x14
  const bnFree = tf.layers.batchNormalization({ name: 'bn_free' }).apply(cat) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([maxp, avgp]) as tf.SymbolicTensor;
  const c3 = tf.layers.conv2d({ name: 'c3', filters: 8, kernelSize: 3, strides: 2, padding: 'same' }).apply(cat) as tf.SymbolicTensor; // 4x3x8
  const pool2 = tf.layers.averagePooling2d({ name: 'pool2', poolSize: 2, strides: 2, padding: 'same' }).apply(c3) as tf.SymbolicTensor; // 2x2x8
  const flat = tf.layers.flatten({ name: 'flat' }).apply(pool2) as tf.SymbolicTensor;
  const head = tf.layers.dense({ name: 'head', units: 5, activation: 'softmax' }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [head, bnFree, sum] });
  // Non-trivial BN statistics, so that folding is actually exercised.
  for (const name of ['b1', 'bn_free']) {
    const layer = model.getLayer(name);
    layer.setWeights(layer.getWeights().map((w, i) => (i === 3 ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 7) : tf.randomNormal(w.shape, 0, 0.5, 'float32', 11 + i))));
  }
  return model;
}

describe('Keras → ONNX converter on a synthetic model', () => {
  it('matches tfjs at every requested layer (NHWC outputs named after layers)', async () => {
    const model = buildSyntheticModel();
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const wd = saved!.weightData!;
    const data = Array.isArray(wd) ? tf.io.concatenateArrayBuffers(wd) : wd;
    const weights = decodeWeights(saved!.weightSpecs as WeightSpec[], data);
    const layers = ['cat', 'c3', 'head', 'bn_free', 'sum', 'a1'];
    const graph = kerasToOnnx(saved!.modelTopology as unknown as KerasModelTopology, weights, { graphName: 'synthetic', outputs: layers, inputScale: 1 / 255, inputOffset: 0 });
    expect(graph.outputs.map((o) => o.name)).toEqual(layers);

    const x = tf.randomUniform([2, 13, 12, 3], 0, 255, 'float32', 3);
    const truncated = tf.model({ inputs: model.inputs, outputs: layers.map((l) => model.getLayer(l).output as tf.SymbolicTensor) });
    const ref = (truncated.predict(x.div(255)) as tf.Tensor[]).map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    const { session } = await createSession(graph.onnx, { executionProvider: 'cpu', intraOpThreads: 1 });
    const out = await session.run({ image: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 13, 12, 3]) });
    for (const [i, l] of layers.entries()) {
      expect(out[l]!.dims).toEqual(ref[i]!.shape);
      const got = out[l]!.data as Float32Array;
      let diff = 0;
      for (let k = 0; k < got.length; k++) diff = Math.max(diff, Math.abs(got[k]! - ref[i]!.data[k]!));
      expect(diff, `${l}`).toBeLessThan(1e-4);
    }
    await session.release();
  });
});

describe('TFLite reader', () => {
  it('rejects bytes that are not a TFLite model', () => {
    expect(() => readTflite(new Uint8Array(8))).toThrow(TfliteFormatError);
    expect(() => readTflite(new TextEncoder().encode('this is plainly not a flatbuffer model file'))).toThrow(TfliteFormatError);
  });
});

describe('execution provider choice', () => {
  const saved = process.env.DERMAFUSE_EP;
  afterEach(() => {
    if (saved === undefined) delete process.env.DERMAFUSE_EP;
    else process.env.DERMAFUSE_EP = saved;
  });

  function tinyGraph(): Uint8Array {
    const g = new GraphBuilder('tiny');
    g.reserve(['y']);
    const x = g.input('image', ['batch', 2]);
    g.rename(g.node('Relu', [g.node('Transpose', [x], { perm: attr.ints([0, 1]) })]), 'y');
    g.output('y', ['batch', 2]);
    return g.encode('tiny');
  }

  it('lets the setting win, then $DERMAFUSE_EP, then auto', () => {
    delete process.env.DERMAFUSE_EP;
    expect(resolveProviderChoice()).toBe('auto');
    process.env.DERMAFUSE_EP = 'CPU';
    expect(resolveProviderChoice()).toBe('cpu');
    expect(resolveProviderChoice('auto')).toBe('cpu');
    expect(resolveProviderChoice('cuda')).toBe('cuda');
    process.env.DERMAFUSE_EP = 'tpu';
    expect(() => resolveProviderChoice()).toThrow(RuntimeError);
  });

  it("'auto' starts on a provider this build lists and reports it", async () => {
    delete process.env.DERMAFUSE_EP;
    const { session, executionProvider } = await createSession(tinyGraph());
    expect(listedProviders().map((p) => p.name)).toContain(executionProvider);
    const r = await session.run({ image: new ort.Tensor('float32', Float32Array.of(-1, 2, 3, -4), [2, 2]) });
    expect(Array.from(r.y!.data as Float32Array)).toEqual([0, 2, 3, 0]);
    await session.release();
  });

  it('a forced provider that this build lacks is an error, not a silent CPU fallback', async () => {
    const missing = (['coreml', 'dml', 'cuda'] as const).find((p) => !listedProviders().some((b) => b.name === p && b.bundled));
    if (!missing) return; // every accelerator is present here: nothing to check
    await expect(createSession(tinyGraph(), { executionProvider: missing })).rejects.toThrow(RuntimeError);
  });
});

describe('converted-graph cache', () => {
  it('converts once, reuses verified bytes, and re-converts a damaged or differently-keyed graph', async () => {
    const saved = process.env.DERMAFUSE_CACHE;
    const dir = mkdtempSync(join(tmpdir(), 'dermafuse-onnx-cache-'));
    process.env.DERMAFUSE_CACHE = dir;
    try {
      let calls = 0;
      const convert = () => {
        calls++;
        return { onnx: new Uint8Array(64).fill(calls), macsPerImage: 5, outputs: [] };
      };
      const first = await cachedGraph('g', 'sha-a', { layers: ['x'] }, convert);
      expect(first.converted).toBe(true);
      expect(first.path.startsWith(join(dir, 'onnx'))).toBe(true);
      const again = await cachedGraph('g', 'sha-a', { layers: ['x'] }, convert);
      expect(again.converted).toBe(false);
      expect(calls).toBe(1);
      expect(Array.from(again.onnx)).toEqual(Array.from(first.onnx));

      const bytes = readFileSync(first.path);
      bytes[10] = bytes[10]! ^ 0xff;
      writeFileSync(first.path, bytes);
      expect((await cachedGraph('g', 'sha-a', { layers: ['x'] }, convert)).converted).toBe(true);
      expect(calls).toBe(2);

      const other = await cachedGraph('g', 'sha-a', { layers: ['y'] }, convert);
      expect(other.converted).toBe(true);
      expect(other.path).not.toBe(first.path);
      expect((await cachedGraph('g', 'sha-b', { layers: ['x'] }, convert)).path).not.toBe(first.path);
    } finally {
      if (saved === undefined) delete process.env.DERMAFUSE_CACHE;
      else process.env.DERMAFUSE_CACHE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
