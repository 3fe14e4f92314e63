/**
 * Is a heatmap faithful to the model? Two measurements.
 *
 * Deletion test (Petsiuk et al. 2018, adapted): remove the top-k% most salient pixels of the
 * ORIGINAL image (inside the model's crop, k as a fraction of the crop's area), re-score, and see
 * how far the confidence in the explained class falls. The same area removed at random is the
 * baseline. "Random" is a smooth random field at Grad-CAM's own resolution (not scattered
 * pixels), so the baseline removes blobs of the same size and shape statistics as a real map;
 * scattered pixels would damage texture everywhere and make an unfair, stronger baseline.
 * Removed pixels are replaced by a heavily blurred copy of the image (default) or flat grey:
 * blur keeps colour and brightness, so the score moves because structure vanished, not because
 * a grey hole looks like a regression area.
 *
 * Sanity check (Adebayo et al. 2018): maps from a head with randomised weights should not look
 * like the real ones; reported as Spearman rank correlation between the two maps per image.
 */
import sharp from 'sharp';
import type { Backbones } from '../../electron/model/backbones.ts';
import type { FusionClassifier } from '../../electron/model/classifier.ts';
import type { NormalisedMap } from '../../electron/model/gradcam.ts';
import { mapOnOriginal } from '../../electron/model/overlay.ts';
import type { CropBox, PreparedImage } from '../../electron/model/types.ts';
import { concatArrays } from '../../electron/util/typed-arrays.ts';
import { seededRandom } from '../../electron/util/random.ts';

export const DEFAULT_FRACTIONS: readonly number[] = [0, 0.05, 0.1, 0.2, 0.3, 0.5];
export type Fill = 'blur' | 'grey';

/**
 * Head logits of many prepared images on the identity view only, in one backbone batch (the
 * deletion curves re-score a dozen masked copies per image). `backbones` must be the classifier's.
 */
export async function scoreBatch(classifier: FusionClassifier, backbones: Backbones, prepared: readonly PreparedImage[]): Promise<Float32Array> {
  const inc = concatArrays(prepared.map((p) => p.inception), Float32Array);
  const mob = concatArrays(prepared.map((p) => p.mobilenet), Float32Array);
  const out = await backbones.run(inc, mob, prepared.length);
  return classifier.head.logits(classifier.inceptionMap(out.inception), out.mobilenet);
}

/** The draws of the deletion test's random baselines (scripts reuse it for their samples). */
export const seeded = seededRandom;

/** Average ranks (ties share their mean rank), 0-based. */
function ranks(values: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const r = new Float64Array(values.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && values[idx[j + 1]!] === values[idx[i]!]) j++;
    const mean = (i + j) / 2;
    for (let k = i; k <= j; k++) r[idx[k]!] = mean;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson on average ranks); NaN when either input is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error('spearman: inputs differ in length');
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const mean = (n - 1) / 2;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i]! - mean) * (rb[i]! - mean);
    saa += (ra[i]! - mean) ** 2;
    sbb += (rb[i]! - mean) ** 2;
  }
  return saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

/** A smooth random map: uniform noise on a `grid`x`grid` lattice, as Grad-CAM maps are. */
export function randomSmoothMap(grid: number, seed: number): NormalisedMap {
  const r = seeded(seed);
  const data = Float32Array.from({ length: grid * grid }, () => r());
  return { width: grid, height: grid, data, empty: false };
}

/**
 * Pixels of the original inside the crop, most salient first. Ties (Grad-CAM's ReLU leaves many
 * zeros) are broken by a seeded random key, so a flat region is removed in random order rather
 * than top-to-bottom.
 */
export function saliencyOrder(map: NormalisedMap, crop: CropBox, width: number, height: number, seed = 1): Int32Array {
  const placed = mapOnOriginal(map, crop, width, height, width, height);
  const r = seeded(seed);
  const inside: number[] = [];
  for (let i = 0; i < placed.inside.length; i++) if (placed.inside[i]) inside.push(i);
  const key = new Float64Array(placed.data.length);
  for (const i of inside) key[i] = placed.data[i]! + r() * 1e-6;
  inside.sort((a, b) => key[b]! - key[a]!);
  return Int32Array.from(inside);
}

/** The first round(fraction·n) pixels of `order` as a mask over width·height pixels. */
export function deletionMask(order: Int32Array, fraction: number, pixels: number): Uint8Array {
  const mask = new Uint8Array(pixels);
  const k = Math.round(Math.min(1, Math.max(0, fraction)) * order.length);
  for (let i = 0; i < k; i++) mask[order[i]!] = 1;
  return mask;
}

export interface Raster {
  readonly rgb: Buffer;
  readonly width: number;
  readonly height: number;
}

/** What removed pixels become: a strong blur of the image (sigma = 1/8 of the shorter side) or mid grey. */
export async function fillRaster(image: Raster, fill: Fill): Promise<Buffer> {
  if (fill === 'grey') return Buffer.alloc(image.rgb.length, 128);
  const sigma = Math.max(1, Math.min(image.width, image.height) / 8);
  const { data } = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .blur(sigma)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return data;
}

export function applyMask(image: Raster, filler: Buffer, mask: Uint8Array): Raster {
  const out = Buffer.from(image.rgb);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const p = i * 3;
    out[p] = filler[p]!;
    out[p + 1] = filler[p + 1]!;
    out[p + 2] = filler[p + 2]!;
  }
  return { rgb: out, width: image.width, height: image.height };
}

/** Trapezoid area under a curve over its x-span, divided by the span (so a flat curve at y has area y). */
export function normalisedArea(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length < 2) throw new Error('normalisedArea needs matching xs, ys with >= 2 points');
  let area = 0;
  for (let i = 1; i < xs.length; i++) area += ((ys[i]! + ys[i - 1]!) / 2) * (xs[i]! - xs[i - 1]!);
  return area / (xs[xs.length - 1]! - xs[0]!);
}

export interface DeletionOptions {
  readonly fractions?: readonly number[];
  readonly fill?: Fill;
  readonly seed?: number;
}

/** Confidence in the explained class for each perturbed raster, in order. */
export type Scorer = (images: readonly Raster[]) => Promise<number[]>;

export interface DeletionCurves {
  readonly fractions: readonly number[];
  /** Confidence after removing each fraction, per map name (fraction 0 = the unperturbed image). */
  readonly confidence: Record<string, number[]>;
}

/**
 * Deletion curves of one image for several maps (e.g. fused, per branch, random), all scored in
 * one batch. The unperturbed image is scored once and shared as every curve's first point.
 */
export async function deletionCurves(
  image: Raster,
  crop: CropBox,
  maps: Record<string, NormalisedMap>,
  score: Scorer,
  options: DeletionOptions = {},
): Promise<DeletionCurves> {
  const fractions = [...(options.fractions ?? DEFAULT_FRACTIONS)];
  if (fractions[0] !== 0) fractions.unshift(0);
  const filler = await fillRaster(image, options.fill ?? 'blur');
  const names = Object.keys(maps);
  const pixels = image.width * image.height;
  const batch: Raster[] = [image];
  for (const [i, name] of names.entries()) {
    const order = saliencyOrder(maps[name]!, crop, image.width, image.height, (options.seed ?? 1) + i);
    for (const f of fractions.slice(1)) batch.push(applyMask(image, filler, deletionMask(order, f, pixels)));
  }
  const scores = await score(batch);
  if (scores.length !== batch.length) throw new Error(`scorer returned ${scores.length} scores for ${batch.length} images`);
  const confidence: Record<string, number[]> = {};
  const per = fractions.length - 1;
  names.forEach((name, i) => {
    confidence[name] = [scores[0]!, ...scores.slice(1 + i * per, 1 + (i + 1) * per)];
  });
  return { fractions, confidence };
}

export interface DeletionSummary {
  /** Mean confidence at each fraction. */
  readonly meanConfidence: number[];
  /** Mean (confidence at 0 − confidence at f) at each fraction. */
  readonly meanDrop: number[];
  /** Mean normalised area under the deletion curve; lower = the map found what mattered sooner. */
  readonly audc: number;
  readonly audcSd: number;
  /** Share of images whose drop at `atFraction` beats the random map's drop (ties count half). */
  readonly beatsRandom?: number;
}

export function summariseDeletion(curves: readonly DeletionCurves[], name: string, randomName = 'random', atFraction = 0.2): DeletionSummary {
  if (curves.length === 0) throw new Error('no curves to summarise');
  const fractions = curves[0]!.fractions;
  const n = curves.length;
  const meanConfidence = fractions.map((_, j) => curves.reduce((s, c) => s + c.confidence[name]![j]!, 0) / n);
  const meanDrop = fractions.map((_, j) => curves.reduce((s, c) => s + (c.confidence[name]![0]! - c.confidence[name]![j]!), 0) / n);
  const areas = curves.map((c) => normalisedArea(fractions, c.confidence[name]!));
  const audc = areas.reduce((a, b) => a + b, 0) / n;
  const audcSd = Math.sqrt(areas.reduce((a, b) => a + (b - audc) ** 2, 0) / Math.max(1, n - 1));
  const j = fractions.indexOf(atFraction);
  let beatsRandom: number | undefined;
  if (name !== randomName && j >= 0 && curves.every((c) => c.confidence[randomName])) {
    let wins = 0;
    for (const c of curves) {
      const mine = c.confidence[name]![0]! - c.confidence[name]![j]!;
      const rand = c.confidence[randomName]![0]! - c.confidence[randomName]![j]!;
      wins += mine > rand ? 1 : mine === rand ? 0.5 : 0;
    }
    beatsRandom = wins / n;
  }
  return { meanConfidence, meanDrop, audc, audcSd, ...(beatsRandom !== undefined ? { beatsRandom } : {}) };
}
