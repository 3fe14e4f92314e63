/**
 * The head split where adaptation cuts it: everything up to the last hidden activations stays
 * fixed in every method, so each case's activations are computed once and every refit works on
 * them. The output layer is linear, so the head logit is direction · activations + bias, and the
 * TTA mean logit (the classifier's rule) equals the same expression on the views' MEAN activations.
 *
 * Late-fusion members: fusion-v2's dense0 is block-diagonal and member k owns hidden units
 * [k·u, (k+1)·u); member k's contribution to the head logit is the output direction restricted to
 * its units. The shipped logit is the sum of contributions plus the output bias (each member's own
 * logit divided by the member count, which is where "mean of member logits" comes from).
 */
import { hiddenActivations, type FusionHead, type HeadArrays } from '../head.ts';
import { AdaptationDataError, type AdaptSample } from './types.ts';

export interface HeadParts {
  /** Pooled input width per view. */
  readonly width: number;
  /** Width of the last hidden activations (the standardised input for a head with no hidden layer). */
  readonly hiddenWidth: number;
  /** Hidden-unit ranges [start, end) of the late-fusion members; one range for a head without blocks. */
  readonly members: readonly (readonly [number, number])[];
  /** d logit / d activations: output kernel column malignant minus column benign. */
  readonly direction: Float64Array;
  /** Output bias malignant minus benign. */
  readonly bias: number;
  /** Last hidden activations of one pooled vector (`pooled` from `offset`, `width` values). */
  hidden(pooled: ArrayLike<number>, offset?: number): Float64Array;
  /** The mean of the views' last hidden activations of a case. */
  meanHidden(sample: AdaptSample): Float64Array;
  /** Each member's contribution to the logit from (mean) activations; they sum to logit - bias. */
  contributions(hidden: ArrayLike<number>): Float64Array;
  /** Head logit from (mean) activations. */
  logit(hidden: ArrayLike<number>): number;
}

/** Member unit ranges: the late-fusion blocks mapped onto the last activations. */
function memberRanges(head: FusionHead, hiddenWidth: number): [number, number][] {
  const blocks = head.config.lateFusionBlocks;
  if (!blocks || blocks.length < 2) return [[0, hiddenWidth]];
  if (head.config.hidden.length === 0) {
    // No hidden layer: the "activations" are the standardised input, whose blocks are the members'.
    const ranges: [number, number][] = [];
    let start = 0;
    for (const w of blocks) {
      ranges.push([start, start + w]);
      start += w;
    }
    return ranges;
  }
  const m = blocks.length;
  if (hiddenWidth % m !== 0) return [[0, hiddenWidth]];
  const u = hiddenWidth / m;
  return Array.from({ length: m }, (_, k) => [k * u, (k + 1) * u] as [number, number]);
}

/** Splits a head for adaptation; reads its weights through FusionHead.arrays() and never changes them. */
export function headParts(head: FusionHead): HeadParts {
  return partsOf(head.arrays(), memberRanges(head, head.arrays().output.fanIn));
}

/** The same split over raw arrays (an adapted head's weights, whose config the base already checked). */
export function partsOf(arrays: HeadArrays, members: readonly (readonly [number, number])[]): HeadParts {
  const { output } = arrays;
  const width = arrays.mean.length;
  const hiddenWidth = output.fanIn;
  const direction = new Float64Array(hiddenWidth);
  for (let j = 0; j < hiddenWidth; j++) direction[j] = output.kernel[j * 2 + 1]! - output.kernel[j * 2]!;
  const bias = output.bias[1]! - output.bias[0]!;

  const hidden = (pooled: ArrayLike<number>, offset = 0): Float64Array => hiddenActivations(arrays, pooled, offset).at(-1)!;

  const meanHidden = (sample: AdaptSample): Float64Array => {
    if (!(sample.views >= 1) || sample.pooled.length !== sample.views * width) {
      throw new AdaptationDataError(`a case has ${sample.pooled.length} pooled values for ${sample.views} view(s); the head reads ${width} per view`);
    }
    const sum = new Float64Array(hiddenWidth);
    for (let v = 0; v < sample.views; v++) {
      const h = hidden(sample.pooled, v * width);
      for (let j = 0; j < hiddenWidth; j++) sum[j]! += h[j]!;
    }
    for (let j = 0; j < hiddenWidth; j++) sum[j]! /= sample.views;
    return sum;
  };

  const contributions = (h: ArrayLike<number>): Float64Array =>
    Float64Array.from(members, ([start, end]) => {
      let s = 0;
      for (let j = start; j < end; j++) s += direction[j]! * h[j]!;
      return s;
    });

  const logit = (h: ArrayLike<number>): number => {
    let s = bias;
    for (let j = 0; j < hiddenWidth; j++) s += direction[j]! * h[j]!;
    return s;
  };

  return { width, hiddenWidth, members, direction, bias, hidden, meanHidden, contributions, logit };
}
