/**
 * Multi-scale input (an experiment of the generalisation study, models/generalisation.md): a second MobileNetV2 input that zooms in on the
 * middle of the image, i.e. the central 1/zoom of the standard centre square resized to the
 * same 224 input, so the network sees the lesion's centre at zoom x the resolution. It goes
 * through the training augmentation's zoom inside the preprocessing (same decode, same
 * resampling), so the crop is the only difference from the standard input.
 */
import { centreSquareCrop, prepareImage } from '../../../electron/model/preprocess.ts';
import { augmentTransform } from '../../features/augment.ts';
import type { CropBox, PreparedImage } from '../../../electron/model/types.ts';

export const CENTRE_ZOOM2_VERSION = 'centre-zoom2-v1';

/** The central 1/zoom of the centre square of a width x height image, in the same pixels. */
export function centreZoomBox(width: number, height: number, zoom: number): CropBox {
  if (!(zoom >= 1 && Number.isFinite(zoom))) throw new RangeError(`zoom must be >= 1, got ${zoom}`);
  const square = centreSquareCrop(width, height);
  const side = Math.max(1, Math.round(square.width / zoom));
  return { left: square.left + Math.floor((square.width - side) / 2), top: square.top + Math.floor((square.height - side) / 2), width: side, height: side };
}

/** Both backbone inputs of the zoomed centre; `crop` is the zoomed box in oriented original pixels. */
export async function prepareCentreZoom(file: string, zoom: number): Promise<PreparedImage> {
  return prepareImage(file, { squareTransform: augmentTransform({ zoom }) });
}
