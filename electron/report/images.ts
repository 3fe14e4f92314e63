/**
 * Images for the page: decoded, oriented and downsized with sharp to what the printed size needs,
 * re-encoded as JPEG. Originals can be many megapixels; embedding them whole would make a
 * 200-image report huge and slow to open.
 */
import sharp from 'sharp';
import type { ImageSource } from './types.ts';

/** Enough for print-quality thumbnails; more only grows the file. */
export const DEFAULT_DPI = 150;

export interface PageImage {
  readonly jpeg: Buffer;
  /** Pixel size after downsizing; its aspect ratio is the original's. */
  readonly width: number;
  readonly height: number;
}

export interface FittedBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

async function bytesOf(source: ImageSource): Promise<Buffer | null> {
  if (source === null) return null;
  if (Buffer.isBuffer(source)) return source;
  return source();
}

/**
 * Prepares an image to be printed inside a box of boxWidth x boxHeight points. Unreadable or
 * missing images give null (the page then says so); they never fail the report.
 */
export async function preparePageImage(
  source: ImageSource,
  boxWidth: number,
  boxHeight: number,
  dpi = DEFAULT_DPI,
): Promise<PageImage | null> {
  try {
    const bytes = await bytesOf(source);
    if (!bytes || bytes.length === 0) return null;
    const maxW = Math.max(1, Math.ceil((boxWidth / 72) * dpi));
    const maxH = Math.max(1, Math.ceil((boxHeight / 72) * dpi));
    const { data, info } = await sharp(bytes, { limitInputPixels: 268_402_689, failOn: 'error' })
      .rotate()
      .resize({ width: maxW, height: maxH, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg({ quality: 80, mozjpeg: false })
      .toBuffer({ resolveWithObject: true });
    return { jpeg: data, width: info.width, height: info.height };
  } catch {
    return null;
  }
}

/** The largest rectangle with the image's aspect ratio that fits the box, centred in it. */
export function fitInBox(image: PageImage, x: number, y: number, width: number, height: number): FittedBox {
  const scale = Math.min(width / image.width, height / image.height);
  const w = image.width * scale;
  const h = image.height * scale;
  return { x: x + (width - w) / 2, y: y + (height - h) / 2, width: w, height: h };
}

