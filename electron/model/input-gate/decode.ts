/**
 * The pixels the input gate looks at: the file decoded exactly as the model's preprocessing
 * decodes it (preprocess.ts decodeOriented: magic-byte sniffing, header pixel limit, EXIF
 * orientation, alpha flattened on black, sRGB, 8-bit), downscaled so the longer side is at most
 * GATE_MAX_SIDE. Training images are 150-256 px on the short side, so for them the raster is the
 * image itself; a 12 MP camera file is shrunk on load (JPEG DCT scaling) and stays cheap.
 *
 * The classifier does not call this: it asks preprocessing for the same whole-image raster
 * (PreprocessOptions.orientedMaxSide = GATE_MAX_SIDE → PreparedImage.oriented), resampled from
 * the decode it makes for the backbones, so a camera file is decoded once. The measurement code
 * (training/studies/input-gate) and checkQuality() use this function; a test holds both to the
 * same quality scores.
 *
 * Errors are preprocess.ts's ImageInputError (not_found, truncated, ...): a file the gate cannot
 * decode is one the model cannot decode either.
 */
import { decodeOriented } from '../preprocess.ts';
import type { GateImage } from './quality.ts';

export const GATE_MAX_SIDE = 512;

export async function decodeForGate(input: string | Buffer | Uint8Array, opts: { name?: string; maxSide?: number } = {}): Promise<GateImage> {
  const img = await decodeOriented(input, { name: opts.name, maxSide: opts.maxSide ?? GATE_MAX_SIDE });
  return { rgb: img.rgb, width: img.width, height: img.height, originalWidth: img.originalWidth, originalHeight: img.originalHeight };
}
