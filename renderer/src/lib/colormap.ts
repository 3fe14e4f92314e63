/**
 * The inferno colour map (perceptually uniform, readable in greyscale print), sampled at nine
 * stops from matplotlib's table and interpolated linearly: close enough for a heatmap overlay.
 */
const STOPS: [number, number, number][] = [
  [0, 0, 4],
  [27, 12, 65],
  [74, 12, 107],
  [120, 28, 109],
  [165, 44, 96],
  [207, 68, 70],
  [237, 105, 37],
  [251, 155, 6],
  [252, 255, 164],
];

/** 256 RGB triplets. */
export const INFERNO: Uint8ClampedArray = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(STOPS[k]![c]! * (1 - f) + STOPS[k + 1]![c]! * f);
  }
  return lut;
})();

/**
 * Colours a grey saliency map in place: each pixel gets the colour of its value and an alpha equal
 * to it, so unremarkable skin stays clear and the salient region shows most.
 */
export function colourise(pixels: Uint8ClampedArray): void {
  for (let i = 0; i < pixels.length; i += 4) {
    const v = pixels[i]!;
    pixels[i] = INFERNO[v * 3]!;
    pixels[i + 1] = INFERNO[v * 3 + 1]!;
    pixels[i + 2] = INFERNO[v * 3 + 2]!;
    pixels[i + 3] = v;
  }
}
