/**
 * Random inputs for head tests, and a randomly initialised head for the app's runtime (electron/model/head.ts) without the training
 * library: uniform kernels (Glorot's limit), small random biases, identity standardisation unless
 * asked otherwise. Tests of Grad-CAM and of the head itself need heads, not trained ones.
 */
import { FusionHead, pooledWidth, type DenseArrays, type HeadConfig } from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { seededRandom } from '../../electron/util/random.ts';

export function randomHead(config: HeadConfig, seed: number, options: { standardise?: boolean } = {}): FusionHead {
  const r = seededRandom(seed);
  const uniform = (n: number, limit: number): Float32Array => Float32Array.from({ length: n }, () => (2 * r() - 1) * limit);
  const width = pooledWidth(config);
  const widths = [width, ...config.hidden, 2];
  const dense = (fanIn: number, fanOut: number): DenseArrays => ({
    kernel: uniform(fanIn * fanOut, Math.sqrt(6 / (fanIn + fanOut))),
    bias: uniform(fanOut, 0.1),
    fanIn,
    fanOut,
  });
  const layers = config.hidden.map((units, i) => dense(widths[i]!, units));
  return FusionHead.fromArrays(config, {
    mean: options.standardise ? uniform(width, 1) : new Float32Array(width),
    std: options.standardise ? Float32Array.from(uniform(width, 0.5), (v) => 1 + v) : new Float32Array(width).fill(1),
    layers,
    output: dense(widths.at(-2)!, 2),
  });
}

/** A feature map of values in [0, 4) from a small linear congruential generator. */
export function seededMap(shape: [number, number, number, number], seed: number): FeatureMap {
  let s = seed;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 4;
  });
  return { data, shape };
}

/** Central finite difference of a head's first logit w.r.t. one value of one branch's map. */
export function finiteDifference(
  logits: (inception: FeatureMap, mobilenet: FeatureMap) => Float32Array,
  inception: FeatureMap,
  mobilenet: FeatureMap,
  branch: 'inception' | 'mobilenet',
  index: number,
  eps: number,
): number {
  const at = (delta: number): number => {
    const map = branch === 'inception' ? inception : mobilenet;
    const data = Float32Array.from(map.data);
    data[index]! += delta;
    const moved = { data, shape: map.shape };
    return (branch === 'inception' ? logits(moved, mobilenet) : logits(inception, moved))[0]!;
  };
  return (at(eps) - at(-eps)) / (2 * eps);
}
