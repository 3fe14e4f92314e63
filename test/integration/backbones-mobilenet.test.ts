/**
 * MobileNetV2: the converted ONNX graph must compute what the TFLite file's (dequantised) ops
 * compute, executed independently with tfjs ops; and its ImageNet head must name photographs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbones, imagenetLabels } from '../../electron/model/backbones.ts';
import { findMobilenetBlocks, findMobilenetTaps } from '../../electron/model/convert/mobilenet-v2.ts';
import { Activation, Builtin, dequantize, intValues, readTflite, type TfliteModel } from '../../electron/model/convert/tflite-reader.ts';
import { MOBILENET_V2_TFLITE } from '../../electron/model/weights.ts';
import { sharedDir } from '../../electron/util/paths.ts';
import { fixtureImages, haveFixtures, loadBatch, maxAbs, maxAbsDiff } from './backbones-helpers.ts';
import { loadMobilenetBlocks, type MobilenetBlocks } from '../../training/studies/generalisation/mobilenet-blocks.ts';

const tflitePath = join(sharedDir('models'), MOBILENET_V2_TFLITE.fileName);
const haveWeights = existsSync(tflitePath);
const darknetData = ['/usr/share/darknet/data', '/usr/share/darknet-data/data'].find((d) => existsSync(join(d, 'dog.jpg')));

if (!haveWeights) console.warn(`skipping MobileNetV2 tests: ${tflitePath} is absent (needs ../shared/models)`);
if (!haveFixtures) console.warn('skipping MobileNetV2 equivalence test: ../shared/data/fixtures is absent');
if (!darknetData) console.warn("skipping ImageNet top-5 test: Debian's darknet sample photographs (/usr/share/darknet/data) are absent: `apt-get install darknet` (.ci/run does)");

/** Runs the float network described by the TFLite file with tfjs ops (the reference). */
function tfliteReference(model: TfliteModel, image: tf.Tensor4D, targets: number[]): tf.Tensor[] {
  const values = new Map<number, tf.Tensor>();
  values.set(model.inputs[0]!, image.div(127.5).sub(1));
  const act = (x: tf.Tensor, fn: number) => (fn === Activation.RELU6 ? tf.clipByValue(x, 0, 6) : fn === Activation.RELU ? tf.relu(x) : x);
  const constant = (i: number) => {
    const t = model.tensors[i]!;
    return tf.tensor(dequantize(t), [...t.shape]);
  };
  for (const op of model.operators) {
    const x = values.get(op.inputs[0]!);
    if (!x) continue; // not on the path from the input
    const out = op.outputs[0]!;
    switch (op.builtin) {
      case Builtin.QUANTIZE:
      case Builtin.DEQUANTIZE:
        values.set(out, x);
        break;
      case Builtin.CONV_2D: {
        const o = op.options.kind === 'conv' ? op.options.conv : null;
        const filter = constant(op.inputs[1]!).transpose([1, 2, 3, 0]) as tf.Tensor4D; // [O,KH,KW,I] -> [KH,KW,I,O]
        const y = tf.conv2d(x as tf.Tensor4D, filter, [o!.strideH, o!.strideW], o!.padding === 'SAME' ? 'same' : 'valid', 'NHWC', [o!.dilationH, o!.dilationW]).add(constant(op.inputs[2]!));
        values.set(out, act(y, o!.activation));
        break;
      }
      case Builtin.DEPTHWISE_CONV_2D: {
        const o = op.options.kind === 'conv' ? op.options.conv : null;
        const f = model.tensors[op.inputs[1]!]!;
        const inC = (x.shape as number[])[3]!;
        const filter = constant(op.inputs[1]!).reshape([f.shape[1]!, f.shape[2]!, inC, f.shape[3]! / inC]) as tf.Tensor4D;
        const y = tf.depthwiseConv2d(x as tf.Tensor4D, filter, [o!.strideH, o!.strideW], o!.padding === 'SAME' ? 'same' : 'valid').add(constant(op.inputs[2]!));
        values.set(out, act(y, o!.activation));
        break;
      }
      case Builtin.ADD:
        values.set(out, act(tf.add(x, values.get(op.inputs[1]!)!), op.options.kind === 'activation' ? op.options.activation : 0));
        break;
      case Builtin.MEAN:
        values.set(out, tf.mean(x, intValues(model.tensors[op.inputs[1]!]!), op.options.kind === 'reducer' && op.options.keepDims));
        break;
      case Builtin.RESHAPE:
        values.set(out, x.reshape([-1, ...model.tensors[out]!.shape.slice(1)]));
        break;
      case Builtin.SOFTMAX:
        values.set(out, tf.softmax(x));
        break;
      default:
        throw new Error(`reference lacks ${op.opName}`);
    }
  }
  return targets.map((t) => values.get(t)!);
}

describe.skipIf(!haveWeights)('MobileNetV2 backbone (Coral TFLite → ONNX)', () => {
  let backbones: Backbones;
  let blockGraph: MobilenetBlocks;
  let cache: string;
  const savedCache = process.env.DERMAFUSE_CACHE;

  beforeAll(async () => {
    cache = mkdtempSync(join(tmpdir(), 'dermafuse-mnv2-'));
    process.env.DERMAFUSE_CACHE = cache;
    await tf.setBackend('cpu');
    backbones = await Backbones.load({ executionProvider: 'cpu', intraOpThreads: 2 });
    blockGraph = await loadMobilenetBlocks(['expanded_conv_14', 'expanded_conv_13'], { executionProvider: 'cpu', intraOpThreads: 2 });
  });

  afterAll(async () => {
    await backbones?.dispose();
    await blockGraph?.release();
    if (savedCache === undefined) delete process.env.DERMAFUSE_CACHE;
    else process.env.DERMAFUSE_CACHE = savedCache;
    rmSync(cache, { recursive: true, force: true });
  });

  it('reports the provider that ran and a [N,7,7,1280] map for a batch', async () => {
    expect(backbones.executionProvider).toBe('cpu');
    const x = new Float32Array(2 * 224 * 224 * 3).map((_, i) => (i * 31) % 256);
    const f = await backbones.runMobilenet(x, 2);
    expect(f.shape).toEqual([2, 7, 7, 1280]);
    expect(f.data.length).toBe(2 * 7 * 7 * 1280);
    expect(Math.min(...f.data)).toBeGreaterThanOrEqual(0); // after ReLU6
    expect(Math.max(...f.data)).toBeLessThanOrEqual(6);
    await expect(backbones.runMobilenet(new Float32Array(10), 1)).rejects.toThrow(/expected 150528 values/);
  });

  it.skipIf(!haveFixtures)('matches a tfjs execution of the dequantised TFLite ops on real images (max abs diff <= 1e-3)', async () => {
    const files = fixtureImages(3);
    const x = await loadBatch(files, 224);
    const model = readTflite(readFileSync(tflitePath));
    const taps = findMobilenetTaps(model);
    const blocks = findMobilenetBlocks(model);
    expect(blocks.size).toBe(17);
    const [refFeatures, refLogits, ref13, ref14] = tf.tidy(() =>
      tfliteReference(model, tf.tensor4d(x, [files.length, 224, 224, 3]), [taps.features, taps.logits, blocks.get('expanded_conv_13')!, blocks.get('expanded_conv_14')!]).map((t) => t.dataSync() as Float32Array),
    );
    const features = await backbones.runMobilenet(x, files.length);
    const tapped = await blockGraph.run(x, files.length);
    expect(tapped.expanded_conv_13!.shape).toEqual([files.length, 14, 14, 96]);
    expect(tapped.expanded_conv_14!.shape).toEqual([files.length, 7, 7, 160]);
    expect(Array.from(tapped.features!.data)).toEqual(Array.from(features.data));
    const diffBlocks = Math.max(maxAbsDiff(tapped.expanded_conv_13!.data, ref13!), maxAbsDiff(tapped.expanded_conv_14!.data, ref14!));
    console.log(`MobileNetV2 blocks 13/14 ONNX vs tfjs: max|diff| ${diffBlocks.toExponential(2)}`);
    expect(diffBlocks).toBeLessThanOrEqual(1e-3);
    const { logits } = await backbones.runMobilenetImagenet(x, files.length);
    const diffF = maxAbsDiff(features.data, refFeatures!);
    const diffL = maxAbsDiff(logits, refLogits!);
    console.log(`MobileNetV2 ONNX vs tfjs on ${files.length} fixtures: features max|diff| ${diffF.toExponential(2)} (max |value| ${maxAbs(refFeatures!).toFixed(2)}), logits max|diff| ${diffL.toExponential(2)}`);
    expect(maxAbs(refFeatures!)).toBeGreaterThan(0.5); // a non-trivial map, not all zeros
    expect(diffF).toBeLessThanOrEqual(1e-3);
    expect(diffL).toBeLessThanOrEqual(1e-3);
  });

  it.skipIf(!darknetData)('names photographs sensibly (ImageNet top-5)', async () => {
    const labels = await imagenetLabels();
    expect(labels.length).toBe(1001);
    const photos = ['dog.jpg', 'eagle.jpg'].map((f) => join(darknetData!, f));
    const x = await loadBatch(photos, 224);
    const { logits, classes } = await backbones.runMobilenetImagenet(x, photos.length);
    const top5 = photos.map((_, n) =>
      Array.from(logits.subarray(n * classes, (n + 1) * classes))
        .map((v, i) => [v, i] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, 5)
        .map(([, i]) => i),
    );
    for (const [n, p] of photos.entries()) console.log(`${p}: ${top5[n]!.map((i) => labels[i]).join(' | ')}`);
    // Index 0 is 'background'; ImageNet's dog breeds are classes 151..268, i.e. 152..269 here.
    expect(top5[0]!.some((i) => i >= 152 && i <= 269)).toBe(true);
    expect(top5[1]!.some((i) => labels[i]!.startsWith('bald eagle'))).toBe(true);
  });
});
