/**
 * The fusion head as the app runs it: per-branch global pooling of the backbone feature maps,
 * standardisation with training-set statistics, concatenation, dense ReLU layers, two-class
 * output. Pooling happens inside the head so that gradients with respect to the feature maps
 * (Grad-CAM) are exact.
 *
 * Saved form (written by the model factory's head trainer, training/head/): `head.json` holds the
 * config and a weights manifest (`weightSpecs`: name, shape, dtype float32, in file order) and
 * `head.weights.bin` the float32 values, little-endian, concatenated in that order. The app reads
 * it with weights.ts's decoder and runs the forward pass and its gradient in plain typed arrays:
 * the head is small, and loading a tensor library only to read a weight file is not worth its
 * size or its start-up time. A training-side test holds both to the training library's results.
 *
 * Gradient of global pooling: average pooling spreads d/d(avg_c) evenly, 1/(H·W) per cell; max
 * pooling sends d/d(max_c) to every cell holding the maximum.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concatArrays } from '../util/typed-arrays.ts';
import type { FeatureMap } from './types.ts';
import { decodeWeights, type WeightSpec } from './weights.ts';

export type Branch = 'inception' | 'mobilenet';
export type Pooling = 'avg' | 'avg+max';

export interface HeadConfig {
  /** Which backbone branches feed the head, in concatenation order (baselines use one). */
  readonly branches: readonly Branch[];
  readonly inceptionChannels: number;
  readonly mobilenetChannels: number;
  readonly pooling: Pooling;
  /** Hidden layer widths; [] makes the head a (standardised) logistic regression. */
  readonly hidden: readonly number[];
  /** Training only (the app runs the head without dropout). */
  readonly dropout: number;
  /** Informational: the InceptionV3 tap this head was trained on. */
  readonly inceptionLayer?: string;
  /**
   * InceptionV3 taps whose maps are concatenated along channels into the 'inception' branch
   * (mixed5-mixed7 are all 17x17x768), in this order; absent means the one `inceptionLayer`.
   */
  readonly inceptionLayers?: readonly string[];
  /**
   * Informational, for late fusion (training/head/late-fusion.ts): widths of the input blocks that
   * separately trained members read; the weights are block-diagonal, so the output is the members'
   * mean logit.
   */
  readonly lateFusionBlocks?: readonly number[];
}

export const HEAD_FORMAT = 'dermafuse-head/1';
export const HEAD_JSON = 'head.json';
export const HEAD_BIN = 'head.weights.bin';

/** What head.json holds. */
interface HeadFileMeta {
  readonly format: string;
  readonly config: HeadConfig;
  readonly weightsFile?: string;
  readonly weightSpecs: readonly WeightSpec[];
}

export class HeadError extends Error {
  override readonly name = 'HeadError';
}

/** Length of the pooled vector of one branch. */
export function branchWidth(config: HeadConfig, branch: Branch): number {
  const channels = branch === 'inception' ? config.inceptionChannels : config.mobilenetChannels;
  return config.pooling === 'avg+max' ? 2 * channels : channels;
}

/** Length of the concatenated pooled input: per branch [avg, max?], branches in config order. */
export function pooledWidth(config: HeadConfig): number {
  return config.branches.reduce((sum, b) => sum + branchWidth(config, b), 0);
}

export function validateConfig(config: HeadConfig): void {
  if (!config.branches?.length) throw new HeadError('head config needs at least one branch');
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new HeadError('dropout must be in [0, 1)');
  if (config.pooling !== 'avg' && config.pooling !== 'avg+max') throw new HeadError(`unknown pooling ${String(config.pooling)}`);
  if (config.lateFusionBlocks && config.lateFusionBlocks.reduce((a, b) => a + b, 0) !== pooledWidth(config)) {
    throw new HeadError(`late-fusion blocks (${config.lateFusionBlocks.join('+')}) do not add up to the pooled width ${pooledWidth(config)}`);
  }
}

/** A deep, frozen copy of a config (a head's config never changes under it). */
export function frozenConfig(config: HeadConfig): HeadConfig {
  return Object.freeze({
    ...config,
    branches: [...config.branches],
    hidden: [...config.hidden],
    ...(config.inceptionLayers ? { inceptionLayers: [...config.inceptionLayers] } : {}),
    ...(config.lateFusionBlocks ? { lateFusionBlocks: [...config.lateFusionBlocks] } : {}),
  });
}

/** One dense layer's weights. */
export interface DenseArrays {
  /** [fanIn, fanOut] row-major. */
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly fanIn: number;
  readonly fanOut: number;
}

/** Every weight of a head as plain arrays. */
export interface HeadArrays {
  readonly mean: Float32Array;
  readonly std: Float32Array;
  readonly layers: readonly DenseArrays[];
  /** Final dense layer to the two classes [benign, malignant]. */
  readonly output: DenseArrays;
}

/** Checks every weight's shape against the config and arranges them as HeadArrays. */
export function headArrays(config: HeadConfig, named: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>): HeadArrays {
  const take = (name: string, shape: readonly number[]): Float32Array => {
    const w = named.get(name);
    if (!w) throw new HeadError(`head weights lack ${name}`);
    if (w.shape.join() !== shape.join() || w.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new HeadError(`head weight ${name} has shape [${w.shape.join(', ')}], the config needs [${shape.join(', ')}]`);
    }
    return w.data;
  };
  const width = pooledWidth(config);
  const dense = (prefix: string, fanIn: number, fanOut: number): DenseArrays => ({
    kernel: take(`${prefix}/kernel`, [fanIn, fanOut]),
    bias: take(`${prefix}/bias`, [fanOut]),
    fanIn,
    fanOut,
  });
  const widths = [width, ...config.hidden];
  return {
    mean: take('norm/mean', [width]),
    std: take('norm/std', [width]),
    layers: config.hidden.map((units, i) => dense(`dense${i}`, widths[i]!, units)),
    output: dense('out', widths.at(-1)!, 2),
  };
}

/** Reads head.json and the weight file it names: the config and every weight with its shape. */
export async function readHeadFile(dir: string): Promise<{ config: HeadConfig; weights: Map<string, { shape: readonly number[]; data: Float32Array }> }> {
  const jsonFile = join(dir, HEAD_JSON);
  let meta: Partial<HeadFileMeta>;
  try {
    meta = JSON.parse(await readFile(jsonFile, 'utf8')) as Partial<HeadFileMeta>;
  } catch (error) {
    throw new HeadError(`cannot read ${jsonFile}: ${(error as Error).message}`);
  }
  if (meta.format !== HEAD_FORMAT || !meta.config || !Array.isArray(meta.weightSpecs)) throw new HeadError(`${jsonFile} is not a ${HEAD_FORMAT} file`);
  validateConfig(meta.config);
  for (const spec of meta.weightSpecs) {
    if (spec.dtype !== 'float32' || spec.quantization) throw new HeadError(`${jsonFile}: weight ${spec.name} is not plain float32`);
  }
  const binFile = join(dir, meta.weightsFile ?? HEAD_BIN);
  let bytes: Buffer;
  try {
    bytes = await readFile(binFile);
  } catch (error) {
    throw new HeadError(`cannot read ${binFile}: ${(error as Error).message}`);
  }
  let decoded: Map<string, Float32Array>;
  try {
    decoded = decodeWeights(meta.weightSpecs, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (error) {
    throw new HeadError(`${binFile}: ${(error as Error).message}`);
  }
  const weights = new Map(meta.weightSpecs.map((spec) => [spec.name, { shape: spec.shape, data: decoded.get(spec.name)! }]));
  return { config: meta.config, weights };
}

/**
 * head.json + head.weights.bin as readHeadFile reads them: plain float32 little-endian, weights in
 * the order their specs list (the layout tfjs' encodeWeights produces, so trained and adapted heads
 * are written alike).
 */
export function encodeHeadFiles(config: HeadConfig, arrays: HeadArrays): { json: string; bin: Buffer } {
  const named: [string, readonly number[], Float32Array][] = [
    ['norm/mean', [arrays.mean.length], arrays.mean],
    ['norm/std', [arrays.std.length], arrays.std],
  ];
  arrays.layers.forEach((d, i) => named.push([`dense${i}/kernel`, [d.fanIn, d.fanOut], d.kernel], [`dense${i}/bias`, [d.fanOut], d.bias]));
  named.push(['out/kernel', [arrays.output.fanIn, arrays.output.fanOut], arrays.output.kernel], ['out/bias', [arrays.output.fanOut], arrays.output.bias]);
  const bin = Buffer.alloc(named.reduce((n, [, , data]) => n + data.length * 4, 0));
  let offset = 0;
  for (const [, , data] of named) {
    for (let i = 0; i < data.length; i++) offset = bin.writeFloatLE(data[i]!, offset);
  }
  const specs: WeightSpec[] = named.map(([name, shape]) => ({ name, shape, dtype: 'float32' }));
  const meta: HeadFileMeta = { format: HEAD_FORMAT, config, weightsFile: HEAD_BIN, weightSpecs: specs };
  return { json: JSON.stringify(meta, null, 2) + '\n', bin };
}

/** Writes encodeHeadFiles' two files into dir (created when missing). */
export async function writeHeadFiles(dir: string, config: HeadConfig, arrays: HeadArrays): Promise<void> {
  const { json, bin } = encodeHeadFiles(config, arrays);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, HEAD_BIN), bin);
  await writeFile(join(dir, HEAD_JSON), json);
}

/**
 * Global pooling of batch item `index` of a NHWC map: the per-channel mean (and maximum when
 * asked). The head pools with it, and the input gate's out-of-distribution score reads the same
 * average-pooled vectors (electron/model/input-gate/ood.ts), so both see identical features.
 */
export function globalPool(map: FeatureMap, index = 0, withMax = false): { avg: Float64Array; max?: Float64Array } {
  const [, h, w, c] = map.shape;
  const cells = h * w;
  const base = index * cells * c;
  const avg = new Float64Array(c);
  const max = withMax ? new Float64Array(c).fill(-Infinity) : undefined;
  for (let p = 0; p < cells; p++) {
    const off = base + p * c;
    for (let k = 0; k < c; k++) {
      const v = map.data[off + k]!;
      avg[k]! += v;
      if (max && v > max[k]!) max[k] = v;
    }
  }
  for (let k = 0; k < c; k++) avg[k]! /= cells;
  return max ? { avg, max } : { avg };
}

/** Average pooling of one item of a NHWC map: the vector the head's 'avg' pooling sees. */
export function averagePool(map: FeatureMap, index = 0): Float64Array {
  return globalPool(map, index).avg;
}

/**
 * Standardisation and the dense ReLU layers of a head, from the `mean.length` pooled values at
 * `offset`: every layer's activations, the standardised input first, the last hidden layer last.
 */
export function hiddenActivations(arrays: Pick<HeadArrays, 'mean' | 'std' | 'layers'>, pooled: ArrayLike<number>, offset = 0): Float64Array[] {
  const { mean, std, layers } = arrays;
  let x = new Float64Array(mean.length);
  for (let i = 0; i < x.length; i++) x[i] = (pooled[offset + i]! - mean[i]!) / std[i]!;
  const acts = [x];
  for (const layer of layers) {
    const y = new Float64Array(layer.fanOut);
    for (let j = 0; j < layer.fanOut; j++) y[j] = layer.bias[j]!;
    for (let i = 0; i < layer.fanIn; i++) {
      const xi = x[i]!;
      if (xi === 0) continue;
      const row = i * layer.fanOut;
      for (let j = 0; j < layer.fanOut; j++) y[j]! += xi * layer.kernel[row + j]!;
    }
    for (let j = 0; j < y.length; j++) if (y[j]! < 0) y[j] = 0;
    x = y;
    acts.push(x);
  }
  return acts;
}

export interface HeadGradients {
  readonly logit: number;
  /** Same shapes as the inputs (batch 1); zero for a branch the head does not read. */
  readonly inception: FeatureMap;
  readonly mobilenet: FeatureMap;
}

/** The head the classifier runs: read-only weights, forward pass and Grad-CAM gradient in float64. */
export class FusionHead {
  readonly config: HeadConfig;
  private readonly mean: Float32Array;
  private readonly std: Float32Array;
  private readonly layers: readonly DenseArrays[];
  private readonly output: DenseArrays;

  private constructor(config: HeadConfig, weights: HeadArrays) {
    this.config = frozenConfig(config);
    this.mean = weights.mean;
    this.std = weights.std;
    this.layers = weights.layers;
    this.output = weights.output;
  }

  /** A head from weights already in memory (the model factory hands over trained heads this way). */
  static fromArrays(config: HeadConfig, weights: HeadArrays): FusionHead {
    validateConfig(config);
    const named = new Map<string, { shape: number[]; data: Float32Array }>([
      ['norm/mean', { shape: [weights.mean.length], data: weights.mean }],
      ['norm/std', { shape: [weights.std.length], data: weights.std }],
    ]);
    const add = (prefix: string, d: DenseArrays): void => {
      named.set(`${prefix}/kernel`, { shape: [d.fanIn, d.fanOut], data: d.kernel });
      named.set(`${prefix}/bias`, { shape: [d.fanOut], data: d.bias });
    };
    weights.layers.forEach((d, i) => add(`dense${i}`, d));
    add('out', weights.output);
    if (weights.layers.length !== config.hidden.length) throw new HeadError(`head has ${weights.layers.length} hidden layers, the config ${config.hidden.length}`);
    return new FusionHead(config, headArrays(config, named));
  }

  /**
   * The weights themselves, for code that refits part of the head (clinic adaptation). The
   * arrays are the head's own: callers copy before changing anything.
   */
  arrays(): HeadArrays {
    return { mean: this.mean, std: this.std, layers: this.layers, output: this.output };
  }

  /** Loads head.json + head.weights.bin from a folder. */
  static async load(dir: string): Promise<FusionHead> {
    const { config, weights } = await readHeadFile(dir);
    return new FusionHead(config, headArrays(config, weights));
  }

  private mapOf(branch: Branch, inception: FeatureMap | null, mobilenet: FeatureMap | null): FeatureMap {
    const m = branch === 'inception' ? inception : mobilenet;
    if (!m) throw new HeadError(`head needs the ${branch} feature map`);
    const channels = branch === 'inception' ? this.config.inceptionChannels : this.config.mobilenetChannels;
    if (m.shape[3] !== channels) throw new HeadError(`${branch} map has ${m.shape[3]} channels, head expects ${channels}`);
    return m;
  }

  /**
   * Pooled input vector of batch item `index`, in the head's concatenation order: what the head
   * reads, and what the store keeps with each prediction (pooled-features.ts) so that the head
   * can be re-run or refitted without the backbones.
   */
  pooledInput(inception: FeatureMap | null, mobilenet: FeatureMap | null, index = 0): Float64Array {
    const parts: Float64Array[] = [];
    for (const branch of this.config.branches) {
      const { avg, max } = globalPool(this.mapOf(branch, inception, mobilenet), index, this.config.pooling === 'avg+max');
      parts.push(avg);
      if (max) parts.push(max);
    }
    return concatArrays(parts, Float64Array);
  }

  /** Forward from a pooled vector; keeps each layer's activations for the backward pass. */
  private forward(pooled: Float64Array): { logit: number; classLogits: [number, number]; acts: Float64Array[] } {
    const acts = hiddenActivations({ mean: this.mean, std: this.std, layers: this.layers }, pooled);
    const x = acts.at(-1)!;
    const out = this.output;
    let z0 = out.bias[0]!;
    let z1 = out.bias[1]!;
    for (let i = 0; i < out.fanIn; i++) {
      z0 += x[i]! * out.kernel[i * 2]!;
      z1 += x[i]! * out.kernel[i * 2 + 1]!;
    }
    return { logit: z1 - z0, classLogits: [z0, z1], acts };
  }

  /**
   * The two class logits [z_benign, z_malignant] of batch item `index` (the input gate's energy
   * score reads them); logits() gives their difference.
   */
  classLogits(inception: FeatureMap | null, mobilenet: FeatureMap | null, index = 0): [number, number] {
    return this.forward(this.pooledInput(inception, mobilenet, index)).classLogits;
  }

  /** [z_benign, z_malignant] from an input already pooled and joined in the head's order (training studies). */
  classLogitsFromPooled(pooled: ArrayLike<number>): [number, number] {
    if (pooled.length !== this.mean.length) throw new HeadError(`pooled input has ${pooled.length} values, the head expects ${this.mean.length}`);
    return this.forward(Float64Array.from(pooled)).classLogits;
  }

  /** z_malignant − z_benign from an input already pooled and joined in the head's order (a stored prediction's features). */
  logitFromPooled(pooled: ArrayLike<number>): number {
    const [z0, z1] = this.classLogitsFromPooled(pooled);
    return z1 - z0;
  }

  /** Pre-softmax malignant score z_malignant − z_benign per batch item (calibrate: manifest.ts). */
  logits(inception: FeatureMap | null, mobilenet: FeatureMap | null): Float32Array {
    const n = (inception ?? mobilenet)!.shape[0];
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.forward(this.pooledInput(inception, mobilenet, i)).logit;
    return out;
  }

  /** The logit of batch item `index` and its gradient w.r.t. that item's feature maps (Grad-CAM). */
  logitWithGradients(inception: FeatureMap, mobilenet: FeatureMap, index = 0): HeadGradients {
    const pooled = this.pooledInput(inception, mobilenet, index);
    const { logit, acts } = this.forward(pooled);
    // d logit / d last activations = K[:,1] − K[:,0]
    const out = this.output;
    let grad = new Float64Array(out.fanIn);
    for (let i = 0; i < out.fanIn; i++) grad[i] = out.kernel[i * 2 + 1]! - out.kernel[i * 2]!;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const y = acts[l + 1]!;
      const prev = new Float64Array(layer.fanIn);
      for (let j = 0; j < layer.fanOut; j++) if (!(y[j]! > 0)) grad[j] = 0; // ReLU
      for (let i = 0; i < layer.fanIn; i++) {
        const row = i * layer.fanOut;
        let s = 0;
        for (let j = 0; j < layer.fanOut; j++) s += layer.kernel[row + j]! * grad[j]!;
        prev[i] = s;
      }
      grad = prev;
    }
    for (let i = 0; i < grad.length; i++) grad[i]! /= this.std[i]!;

    const result: Record<Branch, FeatureMap> = {
      inception: { data: new Float32Array(inception.data.length / inception.shape[0]), shape: [1, ...inception.shape.slice(1)] as unknown as FeatureMap['shape'] },
      mobilenet: { data: new Float32Array(mobilenet.data.length / mobilenet.shape[0]), shape: [1, ...mobilenet.shape.slice(1)] as unknown as FeatureMap['shape'] },
    };
    let offset = 0;
    for (const branch of this.config.branches) {
      const map = branch === 'inception' ? inception : mobilenet;
      const g = result[branch].data;
      const [, h, w, c] = map.shape;
      const cells = h * w;
      const base = index * cells * c;
      for (let p = 0; p < cells; p++) {
        const off = p * c;
        for (let k = 0; k < c; k++) g[off + k] = grad[offset + k]! / cells;
      }
      offset += c;
      if (this.config.pooling === 'avg+max') {
        for (let k = 0; k < c; k++) {
          let max = -Infinity;
          for (let p = 0; p < cells; p++) max = Math.max(max, map.data[base + p * c + k]!);
          const dmax = grad[offset + k]!;
          for (let p = 0; p < cells; p++) if (map.data[base + p * c + k] === max) g[p * c + k]! += dmax;
        }
        offset += c;
      }
    }
    return { logit, inception: result.inception, mobilenet: result.mobilenet };
  }
}
