/**
 * Image-quality checks of the input gate: cheap, explainable measurements of the decoded image,
 * each compared with a threshold chosen on the training sources (thresholds.json) so that at
 * least 99% of every dermoscopy source passes. Pure functions of the RGB raster: no sharp, no
 * model, no I/O, so they run anywhere (tests, CLI, main process) in a few milliseconds.
 *
 * Measurements (all on 8-bit sRGB; luma is Rec.709 on the gamma-encoded values,
 * Y' = 0.2126 R' + 0.7152 G' + 0.0722 B', expressed as a share of the 0..255 range):
 * - too_dark: the 95th percentile of luma over the whole image. The percentile, not the mean, so
 *   the black dermatoscope vignette and a dark lesion (both normal) do not count as darkness; an
 *   underexposed capture is dark everywhere, including its brightest 5%.
 * - overexposed: the share of pixels whose luma is >= 250/255 (clipped highlights), and the 5th
 *   percentile of luma (a washed-out image has no dark detail left, even where the lesion is).
 * - out_of_focus: variance of a 3x3 Laplacian on the centre crop (the central square of side 2/3
 *   of the shorter side, where the lesion is), box-averaged to a fixed 96x96 grey raster first so
 *   the figure does not depend on the resolution (the smallest training images, 150 px on the short
 *   side, give a 100 px crop, so every training image is downscaled, never upscaled).
 * - too_small: the shorter side of the oriented original in pixels. The gate does not segment the
 *   lesion, so it cannot measure the lesion's own area: it refuses images whose whole field is
 *   smaller than the smallest the model was trained on (HAM10000's 150 px short side).
 * - uniform: the standard deviation of grey (whole image, 96x96) and the edge density (share of
 *   96x96 cells whose gradient magnitude exceeds EDGE_LEVEL grey levels per pixel); an image with
 *   almost no variation or almost no edges has no structure to judge.
 */

/** The decoded, EXIF-oriented image the gate looks at (what decodeForGate returns). */
export interface GateImage {
  /** Packed 8-bit sRGB RGB, row-major, possibly downscaled from the original. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Oriented size of the original file (before any downscale); too_small reads this. */
  readonly originalWidth: number;
  readonly originalHeight: number;
}

export const QUALITY_CODES = ['too_dark', 'overexposed', 'out_of_focus', 'too_small', 'uniform'] as const;
export type QualityCode = (typeof QUALITY_CODES)[number];
/** Every reason the gate can give; out_of_distribution comes from ood.ts. */
export type GateReasonCode = QualityCode | 'out_of_distribution';

/** The measured numbers, all in the units the thresholds use. */
export interface QualityScores {
  /** 95th / 5th percentile and mean of Rec.709 luma, share of range 0..1. */
  readonly lumaP95: number;
  readonly lumaP5: number;
  readonly lumaMean: number;
  /** Share of pixels with luma >= 250/255. */
  readonly clippedFraction: number;
  /** Variance of the Laplacian on the 96x96 grey centre crop (grey levels squared). */
  readonly laplacianVar: number;
  /** Shorter side of the oriented original, pixels. */
  readonly shortSide: number;
  /** Standard deviation of grey on the 96x96 whole image (grey levels 0..255). */
  readonly greyStd: number;
  /** Share of 96x96 cells with gradient magnitude above EDGE_LEVEL. */
  readonly edgeDensity: number;
}
export type QualityMetric = keyof QualityScores;
export const QUALITY_METRICS: readonly QualityMetric[] = ['lumaP95', 'lumaP5', 'lumaMean', 'clippedFraction', 'laplacianVar', 'shortSide', 'greyStd', 'edgeDensity'];

/** One threshold on one metric: the image fails when the metric is below `min` or above `max`. */
export interface MetricRule {
  readonly metric: QualityMetric;
  readonly min?: number;
  readonly max?: number;
}

/** Which metrics each check reads; a check fails when any of its rules fails. */
export const CHECK_METRICS: Readonly<Record<QualityCode, readonly { metric: QualityMetric; side: 'min' | 'max' }[]>> = {
  too_dark: [{ metric: 'lumaP95', side: 'min' }],
  overexposed: [
    { metric: 'clippedFraction', side: 'max' },
    { metric: 'lumaP5', side: 'max' },
  ],
  out_of_focus: [{ metric: 'laplacianVar', side: 'min' }],
  too_small: [{ metric: 'shortSide', side: 'min' }],
  uniform: [
    { metric: 'greyStd', side: 'min' },
    { metric: 'edgeDensity', side: 'min' },
  ],
};

export interface GateReason {
  readonly code: GateReasonCode;
  /** For people: what was wrong, with the measured value ("image too dark: luminance 4% of range"). */
  readonly message: string;
  readonly metric: string;
  readonly value: number;
  readonly threshold: number;
}

export interface QualityVerdict {
  readonly verdict: 'ok' | 'refused';
  readonly reasons: GateReason[];
  readonly scores: QualityScores;
}

/** Side of the fixed grey raster the focus and structure measures use. */
export const GREY_SIZE = 96;
/** Share of the shorter side the centre crop for the focus measure spans. */
export const FOCUS_CROP = 2 / 3;
/** Gradient magnitude (grey levels per pixel on the 96x96 raster) that counts as an edge. */
export const EDGE_LEVEL = 8;
export const CLIP_LUMA = 250;

/** Rec.709 luma of 8-bit R'G'B', 0..255. */
export function luma709(r: number, g: number, b: number): number {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function checkImage(img: GateImage): void {
  if (!(img.width > 0 && img.height > 0) || img.rgb.length !== img.width * img.height * 3) {
    throw new RangeError(`gate image must be packed RGB: ${img.width}x${img.height}, ${img.rgb.length} bytes`);
  }
}

/**
 * Box-filter (area) resampling of a region of the image's luma to size x size: each output cell is
 * the mean of the source pixels it covers, with fractional coverage at the cell borders. Upscales
 * too (then it is nearest-neighbour-like), which the measures above avoid for training-size inputs.
 */
export function greyArea(img: GateImage, region: { left: number; top: number; width: number; height: number }, size: number): Float64Array {
  const { rgb, width } = img;
  if (!Number.isInteger(region.left) || !Number.isInteger(region.top) || region.left + region.width > img.width || region.top + region.height > img.height) {
    throw new RangeError(`region ${JSON.stringify(region)} is not an integer-aligned part of the ${img.width}x${img.height} image`);
  }
  const out = new Float64Array(size * size);
  const sx = region.width / size;
  const sy = region.height / size;
  // Per-axis weights: for output index o, the source pixels [o*s, (o+1)*s) with partial ends.
  const spans = (n: number, s: number, offset: number): { start: number; weights: number[] }[] =>
    Array.from({ length: n }, (_, o) => {
      const a = o * s;
      const b = (o + 1) * s;
      const start = Math.floor(a);
      const end = Math.min(Math.ceil(b), Math.round(n * s));
      const weights: number[] = [];
      for (let p = start; p < end; p++) weights.push(Math.max(0, Math.min(b, p + 1) - Math.max(a, p)));
      return { start: start + offset, weights };
    });
  const xs = spans(size, sx, region.left);
  const ys = spans(size, sy, region.top);
  for (let oy = 0; oy < size; oy++) {
    const ySpan = ys[oy]!;
    for (let ox = 0; ox < size; ox++) {
      const xSpan = xs[ox]!;
      let sum = 0;
      let wsum = 0;
      for (let j = 0; j < ySpan.weights.length; j++) {
        const wy = ySpan.weights[j]!;
        if (wy === 0) continue;
        const row = (ySpan.start + j) * width;
        for (let i = 0; i < xSpan.weights.length; i++) {
          const w = wy * xSpan.weights[i]!;
          if (w === 0) continue;
          const k = (row + xSpan.start + i) * 3;
          sum += w * luma709(rgb[k]!, rgb[k + 1]!, rgb[k + 2]!);
          wsum += w;
        }
      }
      out[oy * size + ox] = wsum > 0 ? sum / wsum : 0;
    }
  }
  return out;
}

/** Variance of the 4-neighbour Laplacian over the interior of a size x size grey raster. */
export function laplacianVariance(grey: ArrayLike<number>, size: number): number {
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let y = 1; y < size - 1; y++) {
    for (let x = 1; x < size - 1; x++) {
      const i = y * size + x;
      const l = grey[i - size]! + grey[i + size]! + grey[i - 1]! + grey[i + 1]! - 4 * grey[i]!;
      sum += l;
      sum2 += l * l;
      n++;
    }
  }
  if (n === 0) return 0;
  const mean = sum / n;
  return Math.max(0, sum2 / n - mean * mean);
}

/** Share of interior cells whose central-difference gradient magnitude exceeds `level`. */
export function edgeDensity(grey: ArrayLike<number>, size: number, level = EDGE_LEVEL): number {
  let edges = 0;
  let n = 0;
  for (let y = 1; y < size - 1; y++) {
    for (let x = 1; x < size - 1; x++) {
      const i = y * size + x;
      const gx = (grey[i + 1]! - grey[i - 1]!) / 2;
      const gy = (grey[i + size]! - grey[i - size]!) / 2;
      if (gx * gx + gy * gy > level * level) edges++;
      n++;
    }
  }
  return n === 0 ? 0 : edges / n;
}

/** Every measurement of QualityScores from one raster. */
export function measureQuality(img: GateImage): QualityScores {
  checkImage(img);
  const { rgb, width, height } = img;
  const hist = new Float64Array(256);
  let lumaSum = 0;
  let clipped = 0;
  const n = width * height;
  for (let k = 0; k < rgb.length; k += 3) {
    const y = luma709(rgb[k]!, rgb[k + 1]!, rgb[k + 2]!);
    lumaSum += y;
    if (y >= CLIP_LUMA) clipped++;
    hist[Math.min(255, Math.round(y))]!++;
  }
  const percentile = (q: number): number => {
    const target = q * n;
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hist[v]!;
      if (acc >= target) return v;
    }
    return 255;
  };

  const side = Math.min(width, height);
  const crop = Math.max(1, Math.round(side * FOCUS_CROP));
  const centre = greyArea(img, { left: Math.floor((width - crop) / 2), top: Math.floor((height - crop) / 2), width: crop, height: crop }, GREY_SIZE);
  const whole = greyArea(img, { left: 0, top: 0, width, height }, GREY_SIZE);
  let gs = 0;
  let gs2 = 0;
  for (const v of whole) {
    gs += v;
    gs2 += v * v;
  }
  const gm = gs / whole.length;
  return {
    lumaP95: percentile(0.95) / 255,
    lumaP5: percentile(0.05) / 255,
    lumaMean: lumaSum / n / 255,
    clippedFraction: clipped / n,
    laplacianVar: laplacianVariance(centre, GREY_SIZE),
    shortSide: Math.min(img.originalWidth, img.originalHeight),
    greyStd: Math.sqrt(Math.max(0, gs2 / whole.length - gm * gm)),
    edgeDensity: edgeDensity(whole, GREY_SIZE),
  };
}

const pct = (v: number, digits = 0): string => `${(100 * v).toFixed(digits)}%`;
const num = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** The sentence shown to people for a failed rule, with the measured value and the limit. */
export function reasonMessage(code: QualityCode, metric: QualityMetric, value: number, threshold: number, scores: Pick<QualityScores, 'shortSide'> & Partial<QualityScores>, size?: { width: number; height: number }): string {
  switch (metric) {
    case 'lumaP95':
      return `image too dark: luminance ${pct(value)} of range in its brightest part (95th percentile; needs at least ${pct(threshold)})`;
    case 'lumaMean':
      return `image too dark: mean luminance ${pct(value)} of range (needs at least ${pct(threshold)})`;
    case 'clippedFraction':
      return `image overexposed: ${pct(value)} of pixels saturated white (at most ${pct(threshold, 1)} allowed)`;
    case 'lumaP5':
      return `image overexposed: even its darkest part has luminance ${pct(value)} of range (5th percentile; at most ${pct(threshold)} allowed)`;
    case 'laplacianVar':
      return `image out of focus: sharpness ${num(value)} at the centre (variance of the Laplacian; needs at least ${num(threshold)})`;
    case 'shortSide':
      return `image too small: ${size ? `${size.width}x${size.height} px` : `${value} px on the shorter side`}; the model was trained on images at least ${threshold} px on the shorter side`;
    case 'greyStd':
      return `image mostly uniform: grey-level spread ${num(value)} of 255 (needs at least ${num(threshold)})`;
    case 'edgeDensity':
      return `image mostly uniform: edges in ${pct(value, 1)} of the image (needs at least ${pct(threshold, 1)})`;
  }
  return `${code}: ${metric} ${num(value)} (threshold ${num(threshold)})`;
}

/** Thresholds per check, as thresholds.json stores them (see thresholds.ts). */
export type QualityThresholds = Readonly<Record<QualityCode, readonly MetricRule[]>>;

/** Applies the thresholds to measured scores; every failed rule becomes one reason. */
export function judgeQuality(scores: QualityScores, thresholds: QualityThresholds, size?: { width: number; height: number }): QualityVerdict {
  const reasons: GateReason[] = [];
  for (const code of QUALITY_CODES) {
    for (const rule of thresholds[code] ?? []) {
      const value = scores[rule.metric];
      if (rule.min !== undefined && value < rule.min) {
        reasons.push({ code, metric: rule.metric, value, threshold: rule.min, message: reasonMessage(code, rule.metric, value, rule.min, scores, size) });
      } else if (rule.max !== undefined && value > rule.max) {
        reasons.push({ code, metric: rule.metric, value, threshold: rule.max, message: reasonMessage(code, rule.metric, value, rule.max, scores, size) });
      }
    }
  }
  return { verdict: reasons.length > 0 ? 'refused' : 'ok', reasons, scores };
}

/** Which checks a set of scores fails (for measurement tables). */
export function failedChecks(scores: QualityScores, thresholds: QualityThresholds): Set<QualityCode> {
  return new Set(judgeQuality(scores, thresholds).reasons.map((r) => r.code as QualityCode));
}
