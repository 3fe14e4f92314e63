/**
 * Grad-CAM from the head's gradient alone. The backbones run natively (onnxruntime) and are
 * never differentiated: the head hands back d(logit)/d(feature map) for each branch, and the
 * maps below are built from that gradient and the feature map itself.
 *
 * Units: a branch's signed map is Σ_c α_c·A[h,w,c]. For a head that average-pools each branch
 * (the shipped one), α_c = w_c/(H·W) and the map sums over (h,w) to the branch's first-order
 * contribution to the malignant logit, so the cells read as "logit contributed here".
 */
import type { CamKind, FeatureMap } from './types.ts';
import { invertViewOnMap, type View } from './views.ts';

export type CamMethod = 'gradcam' | 'gradcam++';
/** Which score the map explains: the malignant logit (default) or its negation (benign). */
export type CamTarget = 'malignant' | 'benign';

export interface CamOptions {
  readonly method?: CamMethod;
  readonly target?: CamTarget;
  /**
   * Reference feature map (batch 1, same H, W, C), e.g. the mean map over many images. When given,
   * the map is Σ_c α_c·(A − Ā) and the contribution Σ g·(A − Ā): what makes THIS image score
   * differently from the reference. It removes what every image shares, notably the positional
   * responses CNNs give at the borders (zero padding), which plain Grad-CAM paints on every image.
   */
  readonly baseline?: FeatureMap;
}

/** A map on the branch's own feature grid (e.g. 17x17 or 7x7), before normalisation. */
export interface BranchCam {
  readonly width: number;
  readonly height: number;
  /** ReLU(Σ_c α_c A[h,w,c]), row-major. */
  readonly data: Float32Array;
  /**
   * Σ_{h,w,c} g·A (gradient × input) for the target score: the branch's first-order share of the
   * logit. Used to weigh the branches in the fused map. Signed.
   */
  readonly contribution: number;
}

/** A map in [0,1] on some pixel grid. `empty` means nothing pointed towards the target. */
export interface NormalisedMap {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
  readonly empty: boolean;
}

function checkSameShape(features: FeatureMap, gradients: FeatureMap): void {
  const a = features.shape;
  const b = gradients.shape;
  if (a.length !== 4 || a.some((d, i) => d !== b[i])) {
    throw new Error(`feature map ${JSON.stringify(a)} and gradient ${JSON.stringify(b)} differ in shape`);
  }
}

/**
 * Per-channel weights. Grad-CAM: spatial mean of the gradient. Grad-CAM++ (Chattopadhay et al.
 * 2018, closed form under an exponential score): w_c = Σ_ij a_ij·ReLU(g_ij) with
 * a_ij = g² / (2g² + Σ_ab A_ab·g³), a = 0 where the denominator vanishes.
 */
function channelWeights(
  features: FeatureMap,
  gradients: FeatureMap,
  index: number,
  sign: number,
  method: CamMethod,
): Float64Array {
  const [, h, w, c] = features.shape;
  const cells = h * w;
  const base = index * cells * c;
  const A = features.data;
  const G = gradients.data;
  const weights = new Float64Array(c);
  if (method === 'gradcam') {
    for (let p = 0; p < cells; p++) {
      const off = base + p * c;
      for (let k = 0; k < c; k++) weights[k]! += sign * G[off + k]!;
    }
    for (let k = 0; k < c; k++) weights[k]! /= cells;
    return weights;
  }
  const sumA = new Float64Array(c);
  for (let p = 0; p < cells; p++) {
    const off = base + p * c;
    for (let k = 0; k < c; k++) sumA[k]! += A[off + k]!;
  }
  for (let p = 0; p < cells; p++) {
    const off = base + p * c;
    for (let k = 0; k < c; k++) {
      const g = sign * G[off + k]!;
      if (g <= 0) continue;
      const g2 = g * g;
      const denom = 2 * g2 + sumA[k]! * g2 * g;
      if (denom !== 0) weights[k]! += (g2 / denom) * g;
    }
  }
  return weights;
}

/** Grad-CAM (or Grad-CAM++) of one branch for batch item `index`. */
export function branchCam(
  features: FeatureMap,
  gradients: FeatureMap,
  index = 0,
  options: CamOptions = {},
): BranchCam {
  checkSameShape(features, gradients);
  const [n, h, w, c] = features.shape;
  if (index < 0 || index >= n) throw new RangeError(`batch index ${index} out of range 0..${n - 1}`);
  const sign = options.target === 'benign' ? -1 : 1;
  const weights = channelWeights(features, gradients, index, sign, options.method ?? 'gradcam');
  const cells = h * w;
  const base = index * cells * c;
  const A = features.data;
  const G = gradients.data;
  const B = options.baseline?.data;
  if (options.baseline && options.baseline.shape.slice(1).some((d, i) => d !== features.shape[i + 1])) {
    throw new Error(`baseline ${JSON.stringify(options.baseline.shape)} does not match feature map ${JSON.stringify(features.shape)}`);
  }
  const data = new Float32Array(cells);
  let contribution = 0;
  for (let p = 0; p < cells; p++) {
    const off = base + p * c;
    const boff = p * c;
    let s = 0;
    for (let k = 0; k < c; k++) {
      const a = B ? A[off + k]! - B[boff + k]! : A[off + k]!;
      s += weights[k]! * a;
      contribution += sign * G[off + k]! * a;
    }
    data[p] = s > 0 ? s : 0;
  }
  return { width: w, height: h, data, contribution };
}

/** Scale a non-negative map to [0,1] by its maximum; an all-zero map stays zero and is flagged. */
export function normaliseMap(width: number, height: number, data: Float32Array): NormalisedMap {
  let max = 0;
  for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  const out = new Float32Array(data.length);
  if (!(max > 0) || !Number.isFinite(max)) return { width, height, data: out, empty: true };
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, data[i]!) / max;
  return { width, height, data: out, empty: false };
}

/**
 * Bilinear resampling of a cell map onto a pixel grid. Cell centres sit at (i+0.5)·scale
 * (half-pixel alignment, as image resizers do), edges clamp, so a 7x7 map stretched over a crop
 * puts each cell's value over the image area that cell's receptive field is centred on.
 */
export function resizeBilinear(
  src: Float32Array,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
): Float32Array {
  const out = new Float32Array(dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  const x0s = new Int32Array(dw);
  const x1s = new Int32Array(dw);
  const fxs = new Float32Array(dw);
  for (let x = 0; x < dw; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
    const x0 = Math.floor(fx);
    x0s[x] = x0;
    x1s[x] = Math.min(x0 + 1, sw - 1);
    fxs[x] = fx - x0;
  }
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const ty = fy - y0;
    const r0 = y0 * sw;
    const r1 = y1 * sw;
    const row = y * dw;
    for (let x = 0; x < dw; x++) {
      const x0 = x0s[x]!;
      const x1 = x1s[x]!;
      const tx = fxs[x]!;
      const top = src[r0 + x0]! + (src[r0 + x1]! - src[r0 + x0]!) * tx;
      const bottom = src[r1 + x0]! + (src[r1 + x1]! - src[r1 + x0]!) * tx;
      out[row + x] = top + (bottom - top) * ty;
    }
  }
  return out;
}

export interface FusedCam {
  readonly map: NormalisedMap;
  /** Weight each branch got in the fused map (sums to 1). */
  readonly weights: Readonly<Partial<Record<CamKind, number>>>;
}

/**
 * The fused map, on a common `size`x`size` grid over the model's square crop.
 *
 * Rule: each branch map is resized to the grid and normalised to max 1; branch b gets weight
 * w_b = max(0, C_b) / Σ_b' max(0, C_b'), where C_b is the branch's gradient×input contribution
 * to the target logit. A branch that pushed the score the other way contributes nothing; when no
 * branch pushed towards the target, both get equal weight (the map then shows where the weak
 * positive evidence is, and is flagged empty if there is none). The sum is renormalised to max 1.
 */
export function fuseBranchCams(
  branches: ReadonlyArray<{ kind: CamKind; cam: BranchCam }>,
  size: number,
): FusedCam {
  const positive = branches.map((b) => Math.max(0, b.cam.contribution));
  const total = positive.reduce((a, b) => a + b, 0);
  const weights: Partial<Record<CamKind, number>> = {};
  const fused = new Float32Array(size * size);
  branches.forEach((b, i) => {
    const w = total > 0 ? positive[i]! / total : 1 / branches.length;
    weights[b.kind] = w;
    if (w === 0) return;
    const resized = resizeBilinear(b.cam.data, b.cam.width, b.cam.height, size, size);
    const norm = normaliseMap(size, size, resized);
    for (let p = 0; p < fused.length; p++) fused[p]! += w * norm.data[p]!;
  });
  return { map: normaliseMap(size, size, fused), weights };
}

/** Element-wise mean of equally sized maps (used to average test-time views after un-flipping). */
export function meanMaps(maps: readonly Float32Array[]): Float32Array {
  if (maps.length === 0) throw new Error('meanMaps needs at least one map');
  const out = new Float32Array(maps[0]!.length);
  for (const m of maps) {
    if (m.length !== out.length) throw new Error('meanMaps: maps differ in size');
    for (let i = 0; i < out.length; i++) out[i]! += m[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= maps.length;
  return out;
}

/**
 * Average maps computed on test-time views of one image, each first turned back into the image's
 * own orientation (a map from the hflip view is flipped back before it meets the identity map).
 * Quarter turns of a non-square map would change its shape; the maps here are square.
 */
export function averageViewMaps(
  maps: ReadonlyArray<{ data: Float32Array; width: number; height: number; view: View }>,
): { data: Float32Array; width: number; height: number } {
  if (maps.length === 0) throw new Error('averageViewMaps needs at least one view');
  const back = maps.map((m) => {
    const quarter = m.view === 'rot90' || m.view === 'rot270';
    return {
      data: invertViewOnMap(m.data, m.width, m.height, m.view),
      width: quarter ? m.height : m.width,
      height: quarter ? m.width : m.height,
    };
  });
  const { width, height } = back[0]!;
  if (back.some((b) => b.width !== width || b.height !== height)) throw new Error('averageViewMaps: views differ in map size');
  return { data: meanMaps(back.map((b) => b.data)), width, height };
}
