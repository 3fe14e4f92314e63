import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { colorLut } from '#common/colormap';
import { normaliseMap } from '../../electron/model/gradcam.ts';
import { blendOverlay, mapOnOriginal, overlayPng, rawMapPng } from '../../electron/model/overlay.ts';
import type { CropBox } from '../../electron/model/types.ts';

/** CIE L* of an sRGB colour (D65), to check that the colour map's lightness is monotonic. */
function lightness(r: number, g: number, b: number): number {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const y = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return y > 216 / 24389 ? 116 * Math.cbrt(y) - 16 : (24389 / 27) * y;
}

/** A striped test image so that "unchanged" is a real check, not a uniform colour. */
function stripes(width: number, height: number): Buffer {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      rgb[p] = (x * 7) % 256;
      rgb[p + 1] = (y * 5) % 256;
      rgb[p + 2] = 128;
    }
  }
  return rgb;
}

function peakMap(size: number, row: number, col: number) {
  const data = new Float32Array(size * size);
  data[row * size + col] = 1;
  return normaliseMap(size, size, data);
}

describe('colour maps', () => {
  for (const name of ['inferno', 'viridis'] as const) {
    it(`${name} rises monotonically in lightness over the whole range`, () => {
      const lut = colorLut(name);
      expect(lut.length).toBe(768);
      let previous = -1;
      for (let i = 0; i < 256; i++) {
        const l = lightness(lut[i * 3]!, lut[i * 3 + 1]!, lut[i * 3 + 2]!);
        expect(l).toBeGreaterThan(previous - 0.5); // 8-bit rounding may wobble by a fraction
        previous = l;
      }
      const first = lightness(lut[0]!, lut[1]!, lut[2]!);
      const last = lightness(lut[765]!, lut[766]!, lut[767]!);
      expect(last - first).toBeGreaterThan(60);
    });
  }
});

describe('overlay on the original geometry', () => {
  // A 4:3 landscape original whose centre square went to the model.
  const width = 400;
  const height = 300;
  const crop: CropBox = { left: 50, top: 0, width: 300, height: 300 };

  it('places a map cell over the same part of the original, and nothing outside the crop', () => {
    const map = peakMap(7, 0, 0); // top-left cell of the crop
    const placed = mapOnOriginal(map, crop, width, height, width, height);
    let best = 0;
    for (let i = 1; i < placed.data.length; i++) if (placed.data[i]! > placed.data[best]!) best = i;
    const bx = best % width;
    const by = Math.floor(best / width);
    // The cell spans x 50..93, y 0..42 of the original.
    expect(bx).toBeGreaterThanOrEqual(50);
    expect(bx).toBeLessThan(50 + 300 / 7);
    expect(by).toBeLessThan(300 / 7);
    for (let y = 0; y < height; y += 13) {
      for (let x = 0; x < 50; x++) {
        expect(placed.inside[y * width + x]).toBe(0);
        expect(placed.data[y * width + x]).toBe(0);
      }
    }
  });

  it('keeps the same placement when the original is shown downscaled', () => {
    const map = peakMap(7, 6, 6); // bottom-right cell
    const small = mapOnOriginal(map, crop, width, height, 200, 150);
    let best = 0;
    for (let i = 1; i < small.data.length; i++) if (small.data[i]! > small.data[best]!) best = i;
    // Bottom-right of the crop in original pixels is x 307..349, y 257..299 → halved.
    expect(best % 200).toBeGreaterThanOrEqual(153);
    expect(best % 200).toBeLessThan(175);
    expect(Math.floor(best / 200)).toBeGreaterThanOrEqual(128);
  });

  it('writes a PNG of the original size; unsalient pixels keep their colour, salient ones take the map colour', async () => {
    const rgb = stripes(width, height);
    const map = peakMap(7, 3, 3);
    const png = await overlayPng({ rgb, width, height }, map, crop, width, height, { opacity: 0.8, dimOutside: 0.5 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([width, height, 3]);
    // Outside the crop: dimmed by half, not coloured.
    const outside = (10 * width + 10) * 3;
    expect(data[outside]).toBe(Math.round(rgb[outside]! * 0.5));
    expect(data[outside + 1]).toBe(Math.round(rgb[outside + 1]! * 0.5));
    // Inside the crop, far from the peak (map value 0): untouched.
    const corner = (5 * width + 60) * 3;
    expect([data[corner], data[corner + 1], data[corner + 2]]).toEqual([rgb[corner], rgb[corner + 1], rgb[corner + 2]]);
    // At the peak (crop centre = original (200,150)): alpha = 0.8 · m, colour from the LUT at m.
    const lut = colorLut('inferno');
    const m = mapOnOriginal(map, crop, width, height, width, height).data[150 * width + 200]!;
    expect(m).toBeGreaterThan(0.95);
    const a = 0.8 * m;
    const l = Math.round(m * 255) * 3;
    const centre = (150 * width + 200) * 3;
    for (let ch = 0; ch < 3; ch++) {
      expect(Math.abs(data[centre + ch]! - (rgb[centre + ch]! * (1 - a) + lut[l + ch]! * a))).toBeLessThanOrEqual(1);
    }
  });

  it('opacity 0 leaves the crop exactly as it was', () => {
    const rgb = stripes(width, height);
    const placed = mapOnOriginal(peakMap(7, 3, 3), crop, width, height, width, height);
    const out = blendOverlay({ rgb, width, height }, placed, { opacity: 0, dimOutside: 0 });
    expect(out.equals(rgb)).toBe(true);
  });

  it('the raw grey map has the original aspect ratio and is dark outside the crop', async () => {
    const png = await rawMapPng(peakMap(7, 3, 3), crop, width, height, 128);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([128, 96, 1]);
    const { data } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect(data[48 * 128 + 64]).toBeGreaterThan(200); // centre
    for (let y = 0; y < 96; y++) for (let x = 0; x < 15; x++) expect(data[y * 128 + x]).toBe(0);
  });

  it('rejects a map raster that does not match the image', () => {
    const placed = mapOnOriginal(peakMap(7, 3, 3), crop, width, height, 100, 75);
    expect(() => blendOverlay({ rgb: stripes(width, height), width, height }, placed)).toThrow(/does not match/);
  });
});
