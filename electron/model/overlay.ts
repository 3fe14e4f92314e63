/**
 * Heatmap images for people: the colour overlay on the ORIGINAL image (its own geometry, not the
 * model's square) and the raw map as a small grey PNG that the UI can recolour itself.
 *
 * The map lives on the model's square crop; here it is sampled straight into original pixel
 * coordinates through the crop box (no intermediate resize), so a centre-cropped 4:3 photo gets
 * its heat exactly over the part the model saw. Pixels the model never saw (outside the crop) get
 * no colour and are dimmed a little, so a clinician can tell "not salient" from "not looked at".
 */
import sharp from 'sharp';
import { colorLut, lutIndex, type ColormapName } from '#common/colormap';
import type { NormalisedMap } from './gradcam.ts';
import type { CropBox } from './types.ts';

export interface OverlayOptions {
  /** Colour opacity at the most salient pixel, 0..1 (default 0.6). */
  readonly opacity?: number;
  readonly colormap?: ColormapName;
  /** Darkening of the area outside the model's crop, 0 (none) .. 1 (black). Default 0.35. */
  readonly dimOutside?: number;
}

/** An 8-bit RGB raster in original orientation, possibly downscaled from the original. */
export interface RgbImage {
  readonly rgb: Buffer | Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface MapOnOriginal {
  readonly width: number;
  readonly height: number;
  /** Map value per output pixel, 0 outside the crop. */
  readonly data: Float32Array;
  /** 1 where the pixel lies inside the model's crop. */
  readonly inside: Uint8Array;
}

/**
 * Resample a crop-grid map onto an output raster of `outWidth`x`outHeight` that shows the whole
 * original image (`originalWidth`x`originalHeight`, possibly at another scale). Bilinear, with
 * cell centres at (i+0.5) of the map grid.
 */
export function mapOnOriginal(
  map: NormalisedMap,
  crop: CropBox,
  originalWidth: number,
  originalHeight: number,
  outWidth: number,
  outHeight: number,
): MapOnOriginal {
  const data = new Float32Array(outWidth * outHeight);
  const inside = new Uint8Array(outWidth * outHeight);
  const sx = originalWidth / outWidth;
  const sy = originalHeight / outHeight;
  const mw = map.width;
  const mh = map.height;
  const m = map.data;
  for (let y = 0; y < outHeight; y++) {
    const v = (y + 0.5) * sy;
    if (v < crop.top || v >= crop.top + crop.height) continue;
    const fy = Math.min(Math.max(((v - crop.top) / crop.height) * mh - 0.5, 0), mh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, mh - 1);
    const ty = fy - y0;
    for (let x = 0; x < outWidth; x++) {
      const u = (x + 0.5) * sx;
      if (u < crop.left || u >= crop.left + crop.width) continue;
      const fx = Math.min(Math.max(((u - crop.left) / crop.width) * mw - 0.5, 0), mw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, mw - 1);
      const tx = fx - x0;
      const top = m[y0 * mw + x0]! + (m[y0 * mw + x1]! - m[y0 * mw + x0]!) * tx;
      const bottom = m[y1 * mw + x0]! + (m[y1 * mw + x1]! - m[y1 * mw + x0]!) * tx;
      const i = y * outWidth + x;
      data[i] = top + (bottom - top) * ty;
      inside[i] = 1;
    }
  }
  return { width: outWidth, height: outHeight, data, inside };
}

/**
 * Colour-map blend: alpha = opacity · m, so unsalient tissue stays as it was and the colour
 * strengthens with saliency (a constant-alpha blend of inferno would paint every low-saliency
 * pixel near-black and hide the lesion).
 */
export function blendOverlay(image: RgbImage, placed: MapOnOriginal, options: OverlayOptions = {}): Buffer {
  if (placed.width !== image.width || placed.height !== image.height) {
    throw new Error(`map ${placed.width}x${placed.height} does not match image ${image.width}x${image.height}`);
  }
  const opacity = Math.min(1, Math.max(0, options.opacity ?? 0.6));
  const dim = 1 - Math.min(1, Math.max(0, options.dimOutside ?? 0.35));
  const lut = colorLut(options.colormap ?? 'inferno');
  const out = Buffer.alloc(image.width * image.height * 3);
  const src = image.rgb;
  for (let i = 0, p = 0; i < placed.data.length; i++, p += 3) {
    if (!placed.inside[i]) {
      out[p] = src[p]! * dim;
      out[p + 1] = src[p + 1]! * dim;
      out[p + 2] = src[p + 2]! * dim;
      continue;
    }
    const value = placed.data[i]!;
    const a = opacity * Math.min(1, Math.max(0, value));
    const l = lutIndex(value) * 3;
    out[p] = Math.round(src[p]! * (1 - a) + lut[l]! * a);
    out[p + 1] = Math.round(src[p + 1]! * (1 - a) + lut[l + 1]! * a);
    out[p + 2] = Math.round(src[p + 2]! * (1 - a) + lut[l + 2]! * a);
  }
  return out;
}

/** The overlay as PNG bytes, same size as `image`. */
export async function overlayPng(
  image: RgbImage,
  map: NormalisedMap,
  crop: CropBox,
  originalWidth: number,
  originalHeight: number,
  options: OverlayOptions = {},
): Promise<Buffer> {
  const placed = mapOnOriginal(map, crop, originalWidth, originalHeight, image.width, image.height);
  const rgb = blendOverlay(image, placed, options);
  return sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
}

/** Default longest side of the raw grey map PNG: enough for a smooth upscale, a few kB on disk. */
export const RAW_MAP_MAX_SIDE = 128;

/**
 * The raw map on the original's geometry (same aspect ratio, longest side `maxSide`), 8-bit grey,
 * 0 = not salient or outside the model's crop, 255 = most salient. The UI stretches it over the
 * original and applies its own colour map and opacity.
 */
export async function rawMapPng(
  map: NormalisedMap,
  crop: CropBox,
  originalWidth: number,
  originalHeight: number,
  maxSide = RAW_MAP_MAX_SIDE,
): Promise<Buffer> {
  const s = Math.min(1, maxSide / Math.max(originalWidth, originalHeight));
  const w = Math.max(1, Math.round(originalWidth * s));
  const h = Math.max(1, Math.round(originalHeight * s));
  const placed = mapOnOriginal(map, crop, originalWidth, originalHeight, w, h);
  const grey = Buffer.alloc(w * h);
  for (let i = 0; i < grey.length; i++) grey[i] = lutIndex(placed.data[i]!);
  return sharp(grey, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}
