/**
 * Image preprocessing for both backbones: bytes → oriented, flattened, 8-bit sRGB → centre square
 * crop → 299x299 (InceptionV3) and 224x224 (MobileNetV2) float32 NHWC RGB in 0..255.
 *
 * Policies (and why):
 * - Crop: the centre square of the shorter side. Dermoscopy images are taken with the lesion in the
 *   middle, and both backbones were trained on square inputs, so squashing a 4:3 image would distort
 *   lesion shape (asymmetry is a melanoma cue) while the centre square keeps it. The crop is returned
 *   in original (EXIF-oriented) pixel coordinates so Grad-CAM maps can be placed back.
 * - Alpha is flattened on BLACK: outside a dermatoscope's field of view the training images are black
 *   (circular vignette), so black is the "no tissue here" colour the models already know; white would
 *   read as a regression area / blue-white structure, which are melanoma features.
 * - Truncated or corrupt files are rejected (sharp `failOn: 'error'`) rather than decoded with a grey
 *   tail: a half-decoded lesion would give a confident but meaningless prediction. Mere decoder
 *   warnings (e.g. extraneous bytes before a marker, common in camera files) are tolerated.
 * - The declared pixel count is checked from the header (sharp metadata reads only the header)
 *   before anything is decoded, so a PNG that claims 50,000 x 50,000 never allocates its pixels.
 *
 * Every failure is an ImageInputError naming the file, with a specific code.
 */
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { INCEPTION_INPUT_SIZE, ImageInputError, MOBILENET_INPUT_SIZE, type CropBox, type ImageErrorCode, type PreparedImage } from './types.ts';

/**
 * Bumped whenever the pixels prepareImage produces change for the same input (kernel, crop,
 * colour handling), so feature caches keyed by it are never reused across versions.
 */
export const PREPROCESS_VERSION = 1;
export const DEFAULT_MAX_INPUT_PIXELS = 100e6;
/** Largest file we are willing to read into memory at all. */
export const DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024;
/** Pixel value used wherever there is no image (flattened alpha, rotation corners). */
export const FILL_RGB = { r: 0, g: 0, b: 0 } as const;

export type ColorConstancy = 'none' | 'shades_of_gray';

/** Packed 8-bit RGB pixels, row-major. */
export interface RgbRaster {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

/**
 * A change to the centre square before it is resized to the backbone inputs (the model factory's
 * training augmentation, training/features/augment.ts; the app itself uses none). It returns a
 * square, possibly smaller (a zoom): the reported crop is then narrowed about its centre to match.
 */
export type SquareTransform = (square: RgbRaster) => Promise<RgbRaster>;

export interface PreprocessOptions {
  /** Reject images whose declared width*height exceeds this, before decoding. Default 100e6. */
  maxInputPixels?: number;
  colorConstancy?: ColorConstancy;
  squareTransform?: SquareTransform;
  /**
   * Also return the whole oriented image downscaled so its longer side is at most this
   * (PreparedImage.oriented), resampled from the raster already decoded for the backbones: the
   * input gate's quality checks read it without a second decode of the file.
   */
  orientedMaxSide?: number;
}

export interface DecodeOptions {
  /** Name used in errors when decoding a buffer. */
  name?: string;
  maxInputPixels?: number;
  /** Downscale (never upscale) so the longer side is at most this, keeping the aspect ratio. */
  maxSide?: number;
}

export interface OrientedImage {
  /** Packed 8-bit sRGB RGB, row-major. */
  readonly rgb: Buffer;
  /** Size of `rgb` (after maxSide). */
  readonly width: number;
  readonly height: number;
  /** Oriented size of the original image. */
  readonly originalWidth: number;
  readonly originalHeight: number;
}

type Format = 'jpeg' | 'png' | 'webp' | 'tiff';

/** The formats we decode, recognised by their magic bytes (never by the file name). */
function sniffFormat(bytes: Buffer): Format | 'other_image' | 'unknown' {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 4 && (b.toString('latin1', 0, 4) === 'II*\0' || b.toString('latin1', 0, 4) === 'MM\0*')) return 'tiff';
  if (b.length >= 4 && (b.toString('latin1', 0, 4) === 'II+\0' || b.toString('latin1', 0, 4) === 'MM\0+')) return 'tiff';
  // Recognisable images we deliberately do not accept: GIF, BMP, HEIF/AVIF, JPEG 2000, SVG, ICO.
  const head = b.toString('latin1', 0, Math.min(b.length, 64));
  if (head.startsWith('GIF8') || head.startsWith('BM') || head.slice(4, 8) === 'ftyp' || head.startsWith('\0\0\0\x0cjP')) {
    return 'other_image';
  }
  if (b.length >= 4 && b.readUInt32BE(0) === 0x00000100) return 'other_image';
  if (/^\s*(<\?xml[^>]*>\s*)?<svg/i.test(head)) return 'other_image';
  return 'unknown';
}

/** Maps a file-system error to the image error vocabulary. Exported for tests. */
export function fsErrorToImageError(err: unknown, file: string): ImageInputError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new ImageInputError('not_found', file, 'file not found');
    case 'EACCES':
    case 'EPERM':
      return new ImageInputError('unreadable', file, 'permission denied');
    case 'EISDIR':
      return new ImageInputError('unreadable', file, 'is a directory, not an image file');
    case 'ELOOP':
      return new ImageInputError('unreadable', file, 'symbolic link loop');
    default:
      return new ImageInputError('unreadable', file, `cannot read file (${code ?? msg})`);
  }
}

/** Maps a sharp/libvips failure to a specific code. */
function sharpErrorToImageError(err: unknown, file: string): ImageInputError {
  if (err instanceof ImageInputError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const m = msg.toLowerCase();
  let code: ImageErrorCode = 'decode_failed';
  if (m.includes('pixel limit')) code = 'too_large';
  else if (m.includes('premature end') || m.includes('truncated') || m.includes('unexpected end') || m.includes('end of stream') || m.includes('not enough data')) {
    code = 'truncated';
  } else if (m.includes('unsupported image format')) code = 'not_an_image';
  return new ImageInputError(code, file, `cannot decode image (${msg.split('\n')[0]})`);
}

/** Reads a whole image file with the same checks and error codes as prepareImage (for callers that hash or store the bytes). */
export async function readImageFile(file: string): Promise<Buffer> {
  let size: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (!st.isFile()) {
      // FIFOs and devices would block or never end; refuse them before opening.
      throw new ImageInputError('unreadable', file, 'not a regular file');
    }
    size = st.size;
  } catch (err) {
    if (err instanceof ImageInputError) throw err;
    throw fsErrorToImageError(err, file);
  }
  if (size === 0) throw new ImageInputError('empty', file, 'file is empty (0 bytes)');
  if (size > DEFAULT_MAX_FILE_BYTES) throw new ImageInputError('too_large', file, `file is ${size} bytes`);
  try {
    return await readFile(file);
  } catch (err) {
    throw fsErrorToImageError(err, file);
  }
}

interface Header {
  format: Format;
  /** Oriented size. */
  width: number;
  height: number;
}

/** Validates the bytes and reads the header only; nothing is decoded yet. */
async function inspect(bytes: Buffer, file: string, maxInputPixels: number): Promise<Header> {
  if (bytes.length === 0) throw new ImageInputError('empty', file, 'file is empty (0 bytes)');
  const format = sniffFormat(bytes);
  if (format === 'other_image') {
    throw new ImageInputError('unsupported_format', file, 'unsupported image format (accepted: JPEG, PNG, WebP, TIFF)');
  }
  if (format === 'unknown') throw new ImageInputError('not_an_image', file, 'not an image file');
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    const e = sharpErrorToImageError(err, file);
    // A recognised signature whose header cannot be parsed is a broken file, not a foreign one.
    throw e.code === 'not_an_image' ? new ImageInputError('decode_failed', file, e.message.slice(file.length + 2)) : e;
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (!(w > 0 && h > 0)) throw new ImageInputError('decode_failed', file, 'image header declares no size');
  if (w * h > maxInputPixels) {
    throw new ImageInputError('too_large', file, `image declares ${w}x${h} pixels (limit ${maxInputPixels})`);
  }
  const swap = (meta.orientation ?? 1) >= 5;
  return { format, width: swap ? h : w, height: swap ? w : h };
}

/** The policy: the centre square of the shorter side, in oriented original coordinates. */
export function centreSquareCrop(width: number, height: number): CropBox {
  const side = Math.min(width, height);
  return { left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), width: side, height: side };
}

/**
 * Decode once to an oriented, flattened 8-bit sRGB RGB raster, optionally downscaled. A downscale
 * goes through sharp's shrink-on-load (JPEG DCT scaling), which is what keeps 12 MP photos cheap.
 */
async function decodeRaster(
  bytes: Buffer,
  file: string,
  maxInputPixels: number,
  target?: { width: number; height: number },
): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    let img = sharp(bytes, { failOn: 'error', limitInputPixels: maxInputPixels, pages: 1 }).rotate();
    if (target) img = img.resize(target.width, target.height, { fit: 'fill' });
    const { data, info } = await img
      .flatten({ background: FILL_RGB })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new ImageInputError('decode_failed', file, `unexpected decoded layout (${info.channels} channels)`);
    }
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw sharpErrorToImageError(err, file);
  }
}

/** Resampling headroom: intermediate raster is at least this multiple of the largest model input. */
const INTERMEDIATE_FACTOR = 2;

function scaledSize(width: number, height: number, maxSide: number): { width: number; height: number } | undefined {
  const s = maxSide / Math.max(width, height);
  if (s >= 1) return undefined;
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/**
 * Shades of Gray illuminant estimate (Finlayson & Trezzi 2004) with Minkowski norm p = 6, the
 * setting used for dermoscopy colour constancy (Barata et al. 2015). Returns per-channel gains
 * that map the estimated illuminant to neutral grey of the same length.
 */
export function shadesOfGrayGains(rgb: Uint8Array | Float32Array): [number, number, number] {
  let r6 = 0;
  let g6 = 0;
  let b6 = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const r2 = (rgb[i]! / 255) ** 2;
    const g2 = (rgb[i + 1]! / 255) ** 2;
    const b2 = (rgb[i + 2]! / 255) ** 2;
    r6 += r2 * r2 * r2;
    g6 += g2 * g2 * g2;
    b6 += b2 * b2 * b2;
  }
  const n = Math.max(1, rgb.length / 3);
  const e = [r6, g6, b6].map((a) => (a / n) ** (1 / 6));
  const norm = Math.hypot(e[0]!, e[1]!, e[2]!);
  if (!(norm > 0)) return [1, 1, 1];
  return e.map((c) => (c > 0 ? norm / (Math.sqrt(3) * c) : 1)) as [number, number, number];
}

function toFloat(rgb: Buffer, gains?: readonly [number, number, number]): Float32Array {
  const out = new Float32Array(rgb.length);
  if (!gains) {
    for (let i = 0; i < rgb.length; i++) out[i] = rgb[i]!;
    return out;
  }
  for (let i = 0; i < rgb.length; i += 3) {
    out[i] = Math.min(255, rgb[i]! * gains[0]);
    out[i + 1] = Math.min(255, rgb[i + 1]! * gains[1]);
    out[i + 2] = Math.min(255, rgb[i + 2]! * gains[2]);
  }
  return out;
}

/** A sharp pipeline reading a raster. */
export function rawSharp(r: RgbRaster): sharp.Sharp {
  return sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } });
}

/** Runs a sharp pipeline to a raster. */
export async function toRaster(img: sharp.Sharp): Promise<RgbRaster> {
  const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

async function prepare(bytes: Buffer, file: string, opts: PreprocessOptions): Promise<PreparedImage> {
  const maxInputPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const header = await inspect(bytes, file, maxInputPixels);
  const crop = centreSquareCrop(header.width, header.height);

  // One decode into an intermediate raster big enough for a clean resample to both sizes.
  const target = scaledSize(header.width, header.height, INCEPTION_INPUT_SIZE * INTERMEDIATE_FACTOR * (Math.max(header.width, header.height) / crop.width));
  const raster = await decodeRaster(bytes, file, maxInputPixels, target);
  const scale = raster.width / header.width;
  const sx = Math.min(raster.width - 1, Math.round(crop.left * scale));
  const sy = Math.min(raster.height - 1, Math.round(crop.top * scale));
  const sSide = Math.max(1, Math.min(raster.width - sx, raster.height - sy, Math.round(crop.width * scale)));

  try {
    let square = await toRaster(rawSharp(raster).extract({ left: sx, top: sy, width: sSide, height: sSide }));
    let finalCrop = crop;
    if (opts.squareTransform) {
      square = await opts.squareTransform(square);
      if (square.width !== sSide) {
        const w = Math.round((crop.width * square.width) / sSide);
        finalCrop = { left: crop.left + Math.floor((crop.width - w) / 2), top: crop.top + Math.floor((crop.height - w) / 2), width: w, height: w };
      }
    }
    // The whole image at the asked size: from the original-size raster exactly as decodeOriented
    // would resize it; from an already reduced raster (a camera file) by the same filter.
    const orientedSize = opts.orientedMaxSide ? (scaledSize(header.width, header.height, opts.orientedMaxSide) ?? { width: header.width, height: header.height }) : undefined;
    const [inc, mob, oriented] = await Promise.all([
      toRaster(rawSharp(square).resize(INCEPTION_INPUT_SIZE, INCEPTION_INPUT_SIZE, { fit: 'fill' })),
      toRaster(rawSharp(square).resize(MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, { fit: 'fill' })),
      !orientedSize
        ? undefined
        : orientedSize.width === raster.width && orientedSize.height === raster.height
          ? raster
          : toRaster(rawSharp(raster).resize(orientedSize.width, orientedSize.height, { fit: 'fill' })),
    ]);
    // The illuminant is a global statistic: estimating it on the smaller output is as good and
    // cheaper, and using one estimate for both keeps the two branches' inputs consistent.
    const gains = opts.colorConstancy === 'shades_of_gray' ? shadesOfGrayGains(mob.data) : undefined;
    return {
      file,
      width: header.width,
      height: header.height,
      crop: finalCrop,
      inception: toFloat(inc.data, gains),
      mobilenet: toFloat(mob.data, gains),
      ...(oriented ? { oriented: { rgb: oriented.data, width: oriented.width, height: oriented.height, originalWidth: header.width, originalHeight: header.height } } : {}),
    };
  } catch (err) {
    if (err instanceof RangeError) throw err;
    throw sharpErrorToImageError(err, file);
  }
}

/** IPC hands over plain Uint8Arrays; view them as Buffers without copying. */
function asBuffer(bytes: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decode and prepare an image file for both backbones. Rejects with ImageInputError only. */
export async function prepareImage(file: string, opts: PreprocessOptions = {}): Promise<PreparedImage> {
  const bytes = await readImageFile(file);
  return prepare(bytes, file, opts);
}

/** As prepareImage, for bytes already in memory (drag-and-drop, IPC). `name` is used in errors. */
export async function prepareBuffer(bytes: Buffer | Uint8Array, name: string, opts: PreprocessOptions = {}): Promise<PreparedImage> {
  return prepare(asBuffer(bytes), name, opts);
}

/**
 * The oriented, alpha-flattened sRGB original, for overlays and thumbnails. Use `maxSide` to avoid
 * holding a full 12 MP raster when only a preview is needed.
 */
export async function decodeOriented(input: string | Buffer | Uint8Array, opts: DecodeOptions = {}): Promise<OrientedImage> {
  const file = typeof input === 'string' ? input : (opts.name ?? '<buffer>');
  const bytes = typeof input === 'string' ? await readImageFile(input) : asBuffer(input);
  const maxInputPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const header = await inspect(bytes, file, maxInputPixels);
  const target = opts.maxSide ? scaledSize(header.width, header.height, opts.maxSide) : undefined;
  const r = await decodeRaster(bytes, file, maxInputPixels, target);
  return { rgb: r.data, width: r.width, height: r.height, originalWidth: header.width, originalHeight: header.height };
}
