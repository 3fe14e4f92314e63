import sharp from 'sharp';
import exifReader from 'exif-reader';
import { ImageInputError } from '../model/types.ts';

export interface ImageFacts {
  /** Displayed size, after EXIF orientation. */
  readonly width: number;
  readonly height: number;
  /** EXIF DateTimeOriginal (camera clock, no zone: read as UTC), when present and sane. */
  readonly capturedAt: string | null;
}

/** Reads only the header: cheap, and never decodes the pixels. */
export async function readImageFacts(bytes: Buffer, name: string): Promise<ImageFacts> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new ImageInputError('not_an_image', name, `not a readable image (${err instanceof Error ? err.message : String(err)})`);
  }
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  return { width, height, capturedAt: captureTime(meta.exif) };
}

function captureTime(exif: Buffer | undefined): string | null {
  if (!exif) return null;
  try {
    const tags = exifReader(exif);
    const when = tags.Photo?.DateTimeOriginal ?? tags.Image?.DateTime;
    if (!(when instanceof Date) || Number.isNaN(when.getTime())) return null;
    const year = when.getUTCFullYear();
    return year >= 1990 && year <= 2200 ? when.toISOString() : null;
  } catch {
    // Broken EXIF is common and harmless here: the capture time is simply unknown.
    return null;
  }
}
