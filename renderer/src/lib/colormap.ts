import { colorLut } from '#common/colormap';

/** 256 RGB triplets: the inferno table the PNG overlays and PDF reports use too. */
export const INFERNO = colorLut('inferno');

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
