import { describe, expect, it } from 'vitest';
import {
  deletionCurves,
  deletionMask,
  normalisedArea,
  randomSmoothMap,
  saliencyOrder,
  spearman,
  summariseDeletion,
  type Raster,
} from '../../training/studies/faithfulness.ts';
import { normaliseMap, type NormalisedMap } from '../../electron/model/gradcam.ts';
import type { CropBox } from '../../electron/model/types.ts';

describe('Spearman rank correlation', () => {
  it('is 1 for any increasing transform, -1 reversed, and averages tied ranks', () => {
    const a = [0.1, 0.5, 0.2, 0.9, 0.3];
    expect(spearman(a, a.map((x) => Math.exp(5 * x)))).toBeCloseTo(1, 12);
    expect(spearman(a, a.map((x) => -x))).toBeCloseTo(-1, 12);
    // ranks [0,1.5,1.5,3] vs [0,1,2,3]: 4.5 / sqrt(4.5 * 5)
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(4.5 / Math.sqrt(22.5), 12);
    expect(Number.isNaN(spearman([1, 1, 1], [1, 2, 3]))).toBe(true);
  });
});

describe('deletion masks', () => {
  const crop: CropBox = { left: 15, top: 0, width: 90, height: 90 };

  it('orders only pixels inside the crop, most salient first', () => {
    const m = new Float32Array(49);
    m[3 * 7 + 3] = 1;
    const order = saliencyOrder(normaliseMap(7, 7, m), crop, 120, 90);
    expect(order.length).toBe(90 * 90);
    for (const i of order) {
      const x = i % 120;
      expect(x).toBeGreaterThanOrEqual(15);
      expect(x).toBeLessThan(105);
    }
    const first = order[0]!;
    expect(Math.abs((first % 120) - 60)).toBeLessThan(8); // crop centre x = 15 + 45
    expect(Math.abs(Math.floor(first / 120) - 45)).toBeLessThan(8);
  });

  it('masks the requested share of the crop', () => {
    const order = saliencyOrder(randomSmoothMap(7, 3), crop, 120, 90);
    for (const f of [0, 0.1, 0.5, 1]) {
      const mask = deletionMask(order, f, 120 * 90);
      expect(mask.reduce((s, v) => s + v, 0)).toBe(Math.round(f * 8100));
    }
  });

  it('normalised area of a flat curve is its level', () => {
    expect(normalisedArea([0, 0.1, 0.5], [0.7, 0.7, 0.7])).toBeCloseTo(0.7, 12);
    expect(normalisedArea([0, 1], [1, 0])).toBeCloseTo(0.5, 12);
  });
});

describe('deletion test on a model whose evidence is known', () => {
  // A 120x90 image; the "model" is confident in proportion to how bright a small disk is.
  const width = 120;
  const height = 90;
  const crop: CropBox = { left: 15, top: 0, width: 90, height: 90 };
  const centre = { x: 40, y: 25, r: 12 };
  const inDisk = (x: number, y: number): boolean => (x - centre.x) ** 2 + (y - centre.y) ** 2 <= centre.r ** 2;
  const image: Raster = (() => {
    const rgb = Buffer.alloc(width * height * 3, 60);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inDisk(x, y)) rgb.fill(250, (y * width + x) * 3, (y * width + x) * 3 + 3);
    return { rgb, width, height };
  })();
  const score = async (images: readonly Raster[]): Promise<number[]> =>
    images.map((im) => {
      let s = 0;
      let n = 0;
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inDisk(x, y)) {
        s += im.rgb[(y * width + x) * 3]!;
        n++;
      }
      return s / n / 255;
    });
  /** A Grad-CAM-like 7x7 map peaking over a point of the original. */
  const mapAt = (ox: number, oy: number): NormalisedMap => {
    const m = new Float32Array(49);
    const cx = ((ox - crop.left) / crop.width) * 7 - 0.5;
    const cy = ((oy - crop.top) / crop.height) * 7 - 0.5;
    for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) m[y * 7 + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 1.5);
    return normaliseMap(7, 7, m);
  };

  it('a map on the evidence drops confidence faster than random blobs and than a map elsewhere', async () => {
    const curves = [];
    for (let seed = 1; seed <= 6; seed++) {
      curves.push(
        await deletionCurves(image, crop, { right: mapAt(40, 25), wrong: mapAt(90, 75), random: randomSmoothMap(7, seed) }, score, {
          fill: 'grey',
          seed,
        }),
      );
    }
    const right = summariseDeletion(curves, 'right');
    const wrong = summariseDeletion(curves, 'wrong');
    const random = summariseDeletion(curves, 'random');
    expect(right.meanConfidence[0]).toBeCloseTo(250 / 255, 6);
    expect(right.audc).toBeLessThan(random.audc - 0.1);
    expect(right.audc).toBeLessThan(wrong.audc - 0.1);
    expect(right.beatsRandom).toBe(1);
    expect(wrong.beatsRandom).toBeLessThan(0.5);
    // 20% of the crop is 1,620 px, more than the disk's ~450: the right map has removed it all.
    expect(right.meanDrop[right.meanDrop.length - 3]).toBeCloseTo((250 - 128) / 255, 2);
  });

  it('blur fill changes only the masked pixels', async () => {
    const seen: Raster[] = [];
    await deletionCurves(image, crop, { right: mapAt(40, 25) }, async (ims) => {
      seen.push(...ims);
      return ims.map(() => 0.5);
    }, { fractions: [0, 0.1], fill: 'blur' });
    const changed = seen[1]!.rgb.reduce((n, v, i) => n + (v !== image.rgb[i] ? 1 : 0), 0) / 3;
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThanOrEqual(Math.round(0.1 * 8100));
  });
});
