/**
 * Lesion-centred cropping (an experiment of the leave-one-source-out generalisation study,
 * models/generalisation.md): instead of the centre square of the shorter side, crop a square
 * around the lesion so that dark corners (vignetting), rulers and skin far from the lesion weigh
 * less in the pooled features.
 *
 * The lesion is found with a deliberately simple rule, on a blurred grey thumbnail:
 * Otsu's threshold splits darker (lesion) from lighter (skin) pixels; the largest dark connected
 * component that does not touch the image border is the lesion (vignetting and frame edges always
 * touch the border; thin hairs are mostly erased by the blur). When no such component covers a
 * plausible share of the image (the lesion fills the frame or runs off it), the centre square is
 * used, i.e. the standard policy.
 */
import sharp from 'sharp';
import { centreSquareCrop, decodeOriented } from '../../../electron/model/preprocess.ts';
import type { CropBox } from '../../../electron/model/types.ts';

/** Side of the grey thumbnail the lesion is searched on. */
export const ANALYSIS_SIDE = 128;
export const LESION_CROP_VERSION = 'lesion-box-v1';

/** Otsu's threshold of 8-bit values: the level that maximises the between-class variance. */
export function otsuThreshold(values: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[v]!++;
  const total = values.length;
  let sumAll = 0;
  for (let t = 0; t < 256; t++) sumAll += t * hist[t]!;
  let wB = 0;
  let sumB = 0;
  let best = 0;
  let bestVar = -1;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > bestVar) {
      bestVar = between;
      best = t;
    }
  }
  return best;
}

export interface LesionBox {
  /** Bounding box in the grey image's pixels. */
  readonly box: CropBox;
  /** Share of the image the component covers. */
  readonly area: number;
}

/**
 * The largest dark 4-connected component not touching the border, or undefined when none covers
 * between `minArea` and `maxArea` of the image.
 */
export function findLesion(grey: Uint8Array, width: number, height: number, minArea = 0.004, maxArea = 0.8): LesionBox | undefined {
  const first = darkComponent(grey, width, height, otsuThreshold(grey), minArea, maxArea);
  if (first.lesion) return first.lesion;
  // A dark vignette or frame can take the whole "dark" class: threshold again on what is left.
  // Only then: without a sizeable dark border, a second pass mostly finds texture, not lesions.
  const rest = grey.filter((_, i) => !first.borderDark[i]);
  if (rest.length < grey.length * 0.2 || rest.length > grey.length * 0.85) return undefined;
  const masked = Uint8Array.from(grey, (v, i) => (first.borderDark[i] ? 255 : v));
  return darkComponent(masked, width, height, otsuThreshold(rest), minArea, maxArea).lesion;
}

function darkComponent(grey: Uint8Array, width: number, height: number, t: number, minArea: number, maxArea: number): { lesion?: LesionBox; borderDark: Uint8Array } {
  const borderDark = new Uint8Array(grey.length);
  const label = new Int32Array(width * height).fill(-1);
  const queue = new Int32Array(width * height);
  let best: LesionBox | undefined;
  let bestCount = 0;
  for (let start = 0; start < grey.length; start++) {
    if (grey[start]! > t || label[start] !== -1) continue;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    label[start] = start;
    let touches = false;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    while (head < tail) {
      const p = queue[head++]!;
      const x = p % width;
      const y = (p - x) / width;
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) touches = true;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      const next = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1];
      for (const q of next) {
        if (q >= 0 && label[q] === -1 && grey[q]! <= t) {
          label[q] = start;
          queue[tail++] = q;
        }
      }
    }
    if (touches) for (let k = 0; k < tail; k++) borderDark[queue[k]!] = 1;
    const share = tail / grey.length;
    if (!touches && share >= minArea && share <= maxArea && tail > bestCount) {
      bestCount = tail;
      best = { box: { left: minX, top: minY, width: maxX - minX + 1, height: maxY - minY + 1 }, area: share };
    }
  }
  return { ...(best ? { lesion: best } : {}), borderDark };
}

/** A square around `box` with `margin` (fraction of its longer side) on every side, kept inside width x height. */
export function squareAround(box: CropBox, width: number, height: number, margin = 0.2, minShare = 0.5): CropBox {
  // Never zoom in more than 1/minShare: a wrong box then still keeps much of the centre, and tiny
  // lesions are not blown up into their own pixels.
  const short = Math.min(width, height);
  const side = Math.min(short, Math.max(Math.round(short * minShare), Math.round(Math.max(box.width, box.height) * (1 + 2 * margin))));
  const cx = box.left + box.width / 2;
  const cy = box.top + box.height / 2;
  const left = Math.min(width - side, Math.max(0, Math.round(cx - side / 2)));
  const top = Math.min(height - side, Math.max(0, Math.round(cy - side / 2)));
  return { left, top, width: side, height: side };
}

export interface LesionCrop {
  /** size x size x 3 float32 RGB 0..255. */
  readonly pixels: Float32Array;
  /** Square crop in oriented original coordinates. */
  readonly crop: CropBox;
  /** false: no lesion found, the centre square was used. */
  readonly found: boolean;
}

/** Decodes `file`, finds the lesion and returns its square crop resized to size x size. */
export async function prepareLesionCrop(file: string, size: number): Promise<LesionCrop> {
  const img = await decodeOriented(file, { maxSide: 4 * size });
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const thumbW = Math.max(1, Math.round((img.width * ANALYSIS_SIDE) / Math.max(img.width, img.height)));
  const thumbH = Math.max(1, Math.round((img.height * ANALYSIS_SIDE) / Math.max(img.width, img.height)));
  const grey = await sharp(img.rgb, raw).resize(thumbW, thumbH, { fit: 'fill' }).greyscale().blur(1.5).raw().toBuffer();
  const lesion = findLesion(new Uint8Array(grey.buffer, grey.byteOffset, grey.length), thumbW, thumbH);
  const sx = img.width / thumbW;
  const sy = img.height / thumbH;
  const inRaster = lesion
    ? squareAround({ left: Math.floor(lesion.box.left * sx), top: Math.floor(lesion.box.top * sy), width: Math.ceil(lesion.box.width * sx), height: Math.ceil(lesion.box.height * sy) }, img.width, img.height)
    : centreSquareCrop(img.width, img.height);
  const out = await sharp(img.rgb, raw).extract(inRaster).resize(size, size, { fit: 'fill' }).raw().toBuffer();
  const pixels = new Float32Array(out.length);
  for (let i = 0; i < out.length; i++) pixels[i] = out[i]!;
  const back = img.originalWidth / img.width;
  const crop = { left: Math.round(inRaster.left * back), top: Math.round(inRaster.top * back), width: Math.round(inRaster.width * back), height: Math.round(inRaster.height * back) };
  return { pixels, crop, found: lesion !== undefined };
}
