/**
 * Colour maps for heatmap overlays. Grad-CAM values are read as magnitudes, so the map must be
 * perceptually uniform and monotonic in lightness (equal steps in saliency look like equal steps,
 * and the map still reads in greyscale print); rainbow/jet maps invent boundaries that are not
 * in the data. The tables come from d3-scale-chromatic (the matplotlib viridis/inferno data).
 * One table for every place a map is drawn (screen overlay, PNG overlays, PDF reports), so they
 * all show the same colours.
 */
import { interpolateInferno, interpolateViridis } from 'd3-scale-chromatic';

export type ColormapName = 'inferno' | 'viridis';

/** 256 RGB entries, packed [r0,g0,b0,r1,...]. */
export type ColorLut = Uint8Array;

const interpolators: Record<ColormapName, (t: number) => string> = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
};

const cache = new Map<ColormapName, ColorLut>();

function parseCssColor(css: string): [number, number, number] {
  // d3 returns "#rrggbb" for these schemes; accept "rgb(r, g, b)" too in case a version changes it.
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(css);
  if (hex) return [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16), parseInt(hex[3]!, 16)];
  const rgb = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(css);
  if (rgb) return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])];
  throw new Error(`unexpected colour string from d3-scale-chromatic: ${css}`);
}

export function colorLut(name: ColormapName = 'inferno'): ColorLut {
  const known = cache.get(name);
  if (known) return known;
  const lut = new Uint8Array(256 * 3);
  const interpolate = interpolators[name];
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = parseCssColor(interpolate(i / 255));
    lut[i * 3] = r;
    lut[i * 3 + 1] = g;
    lut[i * 3 + 2] = b;
  }
  cache.set(name, lut);
  return lut;
}

/** Index into a LUT for a value in [0,1] (clamped; NaN maps to 0). */
export function lutIndex(value: number): number {
  if (!(value > 0)) return 0;
  if (value >= 1) return 255;
  return Math.round(value * 255);
}
