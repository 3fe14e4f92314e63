/**
 * Training augmentation: flips, a rotation about the crop centre and a zoom into the centre,
 * applied to the centre square of the preprocessing (electron/model/preprocess.ts) before it is
 * resized to the backbone inputs, so an augmented image goes through the same decode and
 * resampling as the app's own input. The app never augments; its test-time views
 * (electron/model/views.ts) are lossless flips and quarter turns of the prepared arrays.
 */
import { FILL_RGB, rawSharp, toRaster, type SquareTransform } from '../../electron/model/preprocess.ts';

export interface AugmentOptions {
  flipH?: boolean;
  flipV?: boolean;
  /** Rotation about the crop centre; corners fall outside the image and are filled black. */
  rotateDeg?: number;
  /** >= 1: crops in to the central 1/zoom of the square (after rotation). */
  zoom?: number;
}

/** Programming errors, not bad images: thrown as RangeError before any work is done. */
function checkAugment(aug: AugmentOptions): void {
  if (aug.zoom !== undefined && !(aug.zoom >= 1 && Number.isFinite(aug.zoom))) throw new RangeError(`augment.zoom must be >= 1, got ${aug.zoom}`);
  if (aug.rotateDeg !== undefined && !Number.isFinite(aug.rotateDeg)) throw new RangeError(`augment.rotateDeg must be finite, got ${aug.rotateDeg}`);
}

/**
 * The augmentation as a preprocessing step (PreprocessOptions.squareTransform). Each step is its
 * own sharp pipeline so the order is explicit: flips, rotation, zoom.
 */
export function augmentTransform(aug: AugmentOptions): SquareTransform {
  checkAugment(aug);
  return async (square) => {
    let r = square;
    const side = square.width;
    if (aug.flipH || aug.flipV) {
      let img = rawSharp(r);
      if (aug.flipH) img = img.flop();
      if (aug.flipV) img = img.flip();
      r = await toRaster(img);
    }
    const deg = aug.rotateDeg ?? 0;
    if (deg % 360 !== 0) {
      const rotated = await toRaster(rawSharp(r).rotate(deg, { background: FILL_RGB }));
      const left = Math.floor((rotated.width - side) / 2);
      const top = Math.floor((rotated.height - side) / 2);
      r = await toRaster(rawSharp(rotated).extract({ left, top, width: side, height: side }));
    }
    const zoom = aug.zoom ?? 1;
    if (zoom > 1) {
      const zoomedSide = Math.max(1, Math.round(side / zoom));
      const off = Math.floor((side - zoomedSide) / 2);
      r = await toRaster(rawSharp(r).extract({ left: off, top: off, width: zoomedSide, height: zoomedSide }));
    }
    return r;
  };
}
