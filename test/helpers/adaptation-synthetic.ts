/**
 * A tiny late-fusion head and synthetic confirmed cases for the adaptation maths tests. The head
 * mirrors fusion-v2's layout at toy size: pooled width 8 in four 2-wide member blocks, a
 * block-diagonal identity first layer (so the hidden activations are the pooled values, which the
 * cases keep positive), equal output weights per unit, i.e. the mean of the members' logits.
 */
import { FusionHead, type HeadConfig } from '../../electron/model/head.ts';
import type { BaseModel, GroupedSample } from '../../electron/model/adaptation/index.ts';
import { seededRandom } from '../../electron/util/random.ts';

export const TOY_CONFIG: HeadConfig = {
  branches: ['inception', 'mobilenet'],
  inceptionChannels: 6,
  mobilenetChannels: 2,
  pooling: 'avg',
  hidden: [8],
  dropout: 0,
  lateFusionBlocks: [2, 2, 2, 2],
};
export const WIDTH = 8;
/** Every unit's weight on the shipped logit (output column malignant minus benign). */
export const UNIT_WEIGHT = 0.5;
/** Where the unit values centre; the shipped logit is UNIT_WEIGHT * (sum - WIDTH * CENTRE). */
export const CENTRE = 3;

export function toyHead(): FusionHead {
  const kernel = new Float32Array(WIDTH * WIDTH);
  for (let i = 0; i < WIDTH; i++) kernel[i * WIDTH + i] = 1;
  const out = new Float32Array(WIDTH * 2);
  for (let j = 0; j < WIDTH; j++) {
    out[j * 2] = 0.1; // a benign column that is not zero, so the difference is what counts
    out[j * 2 + 1] = 0.1 + UNIT_WEIGHT;
  }
  return FusionHead.fromArrays(TOY_CONFIG, {
    mean: new Float32Array(WIDTH),
    std: new Float32Array(WIDTH).fill(1),
    layers: [{ kernel, bias: new Float32Array(WIDTH), fanIn: WIDTH, fanOut: WIDTH }],
    output: { kernel: out, bias: Float32Array.from([0.2, 0.2 - UNIT_WEIGHT * WIDTH * CENTRE]), fanIn: WIDTH, fanOut: 2 },
  });
}

export function toyBase(temperature = 1.5, calibrationBias = 0.3): BaseModel {
  return { head: toyHead(), temperature, calibrationBias };
}

export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export interface CaseOptions {
  readonly seed: number;
  readonly melanoma: number;
  readonly benign: number;
  /** Per unit: how far melanoma moves it (units of noise sd). */
  readonly signal: readonly number[];
  /** Images per group (lesion); default 1. */
  readonly perGroup?: number;
  readonly views?: number;
}

/** Cases whose unit values are CENTRE + signal_j * (label - 0.5) + N(0, 1), plus small per-view jitter, clamped positive. */
export function toyCases(options: CaseOptions): GroupedSample[] {
  const normal = gaussian(seededRandom(options.seed));
  const views = options.views ?? 2;
  const perGroup = options.perGroup ?? 1;
  const labels = [...new Array<1>(options.melanoma).fill(1), ...new Array<0>(options.benign).fill(0)];
  return labels.map((label, i) => {
    const unit = Array.from({ length: WIDTH }, (_, j) => CENTRE + options.signal[j]! * (label - 0.5) + normal());
    const pooled = new Float32Array(views * WIDTH);
    for (let v = 0; v < views; v++) for (let j = 0; j < WIDTH; j++) pooled[v * WIDTH + j] = Math.max(0, unit[j]! + 0.1 * normal());
    return { pooled, views, label, group: `${label ? 'm' : 'b'}${Math.floor(i / perGroup)}` };
  });
}

/** Cases labelled by a known logistic model of the shipped logit: p = sigmoid(a * logit + c). */
export function casesFromLogit(seed: number, n: number, base: BaseModel, a: number, c: number): GroupedSample[] {
  const random = seededRandom(seed);
  const normal = gaussian(seededRandom(seed + 1));
  return Array.from({ length: n }, (_, i) => {
    const pooled = Float32Array.from({ length: WIDTH }, () => Math.max(0, CENTRE + 1.5 * normal()));
    const logit = base.head.logitFromPooled(pooled);
    const label: 0 | 1 = random() < 1 / (1 + Math.exp(-(a * logit + c))) ? 1 : 0;
    return { pooled, views: 1, label, group: `g${i}` };
  });
}
