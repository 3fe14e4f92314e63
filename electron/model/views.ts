/**
 * Test-time views (flips and quarter turns) on prepared pixel arrays, and their inverses for
 * heatmaps: a Grad-CAM map computed on a flipped view must be flipped back before it is averaged
 * with the identity view's map. Lossless index permutations, so they commute exactly with the
 * backbones' square inputs and need no resampling.
 *
 * Conventions: arrays are row-major HWC (row y, column x, channel c). rot90 turns the image a
 * quarter turn CLOCKWISE (the top row becomes the right column); rot270 is a quarter turn
 * anticlockwise.
 */

export const VIEWS = ['identity', 'hflip', 'vflip', 'rot90', 'rot180', 'rot270'] as const;
export type View = (typeof VIEWS)[number];

export interface Grid<T extends Float32Array | Uint8Array = Float32Array> {
  readonly data: T;
  readonly width: number;
  readonly height: number;
}

/** The view that undoes `view`. */
export function inverseView(view: View): View {
  if (view === 'rot90') return 'rot270';
  if (view === 'rot270') return 'rot90';
  return view;
}

/**
 * Applies `view` to a width x height x channels grid. Quarter turns swap width and height.
 */
export function transformGrid<T extends Float32Array | Uint8Array>(
  src: T,
  width: number,
  height: number,
  channels: number,
  view: View,
): Grid<T> {
  if (src.length !== width * height * channels) {
    throw new RangeError(`grid has ${src.length} values, expected ${width}x${height}x${channels}`);
  }
  const quarter = view === 'rot90' || view === 'rot270';
  const outW = quarter ? height : width;
  const outH = quarter ? width : height;
  const out = new (src.constructor as { new (n: number): T })(src.length);
  if (view === 'identity') {
    out.set(src);
    return { data: out, width: outW, height: outH };
  }
  let o = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sx: number;
      let sy: number;
      switch (view) {
        case 'hflip': sx = width - 1 - x; sy = y; break;
        case 'vflip': sx = x; sy = height - 1 - y; break;
        case 'rot180': sx = width - 1 - x; sy = height - 1 - y; break;
        case 'rot90': sx = y; sy = height - 1 - x; break;
        case 'rot270': sx = width - 1 - y; sy = x; break;
      }
      const s = (sy * width + sx) * channels;
      for (let c = 0; c < channels; c++) out[o++] = src[s + c]!;
    }
  }
  return { data: out, width: outW, height: outH };
}

/** A view of a square size x size x 3 prepared image (as in PreparedImage.inception / .mobilenet). */
export function applyView(pixels: Float32Array, size: number, view: View): Float32Array {
  return transformGrid(pixels, size, size, 3, view).data;
}

/**
 * Maps a single-channel heatmap computed on `view` of an image back to the image's own
 * orientation. `w` x `h` is the map's size as computed (on the view); for quarter turns the
 * result is h wide and w high.
 */
export function invertViewOnMap(map: Float32Array, w: number, h: number, view: View): Float32Array {
  return transformGrid(map, w, h, 1, inverseView(view)).data;
}
