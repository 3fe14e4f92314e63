import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readLabelledFolder } from '../../electron/model/datasets.ts';
import { decodeForGate } from '../../electron/model/input-gate/decode.ts';
import { checkQuality, checkQualityImage, reasonsLine, shippedThresholds } from '../../electron/model/input-gate/gate.ts';
import {
  edgeDensity,
  greyArea,
  judgeQuality,
  laplacianVariance,
  luma709,
  measureQuality,
  QUALITY_CODES,
  type GateImage,
  type QualityScores,
} from '../../electron/model/input-gate/quality.ts';
import { qualityRules } from '../../electron/model/input-gate/thresholds.ts';
import { sharedDir } from '../../electron/util/paths.ts';

const image = (width: number, height: number, f: (x: number, y: number) => [number, number, number]): GateImage => {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set(f(x, y), (y * width + x) * 3);
  return { rgb, width, height, originalWidth: width, originalHeight: height };
};

/** A lesion-like test card: a dark blob on skin tone with a fine texture, 256 x 256. */
const card = (scale = 1, offset = 0): GateImage =>
  image(256, 256, (x, y) => {
    const d = Math.hypot(x - 128, y - 128) / 70;
    const tex = 25 * Math.sin(x * 0.9) * Math.cos(y * 0.7);
    const base: [number, number, number] = d < 1 ? [110, 70, 55] : [210, 160, 140];
    return base.map((v) => Math.max(0, Math.min(255, Math.round((v + tex) * scale + offset)))) as [number, number, number];
  });

const codes = (img: GateImage): string[] => checkQualityImage(img).reasons.map((r) => r.code);

describe('input gate: quality measures', () => {
  it('uses Rec.709 luma', () => {
    expect(luma709(255, 255, 255)).toBeCloseTo(255, 9);
    expect(luma709(0, 255, 0)).toBeCloseTo(0.7152 * 255, 9);
  });

  it('area-averages exactly and gives a zero Laplacian on a linear ramp', () => {
    const ramp = image(200, 200, (x) => [x, x, x]);
    const g = greyArea(ramp, { left: 0, top: 0, width: 200, height: 200 }, 100);
    expect(g[0]).toBeCloseTo(0.5, 9); // mean of columns 0 and 1
    expect(g[99]).toBeCloseTo(198.5, 9);
    expect(laplacianVariance(g, 100)).toBeCloseTo(0, 9);
    expect(edgeDensity(g, 100, 1)).toBe(1); // gradient 2 grey levels per cell everywhere
  });

  it('gives a known Laplacian variance on a checkerboard', () => {
    const size = 8;
    const board = Float64Array.from({ length: size * size }, (_, i) => ((i % size) + Math.floor(i / size)) % 2 * 10);
    // Interior: each cell's Laplacian is +-40 (4 neighbours of the opposite colour), mean 0.
    expect(laplacianVariance(board, size)).toBeCloseTo(1600, 9);
  });

  it('is resolution-independent for the focus measure (same scene at 2x)', () => {
    const small = card();
    const big = image(512, 512, (x, y) => {
      const k = (Math.floor(y / 2) * 256 + Math.floor(x / 2)) * 3;
      return [small.rgb[k]!, small.rgb[k + 1]!, small.rgb[k + 2]!];
    });
    const a = measureQuality(small).laplacianVar;
    const b = measureQuality(big).laplacianVar;
    expect(Math.abs(a - b) / a).toBeLessThan(0.05);
  });
});

describe('input gate: each reason code on a constructed image', () => {
  it('passes the test card', () => {
    expect(codes(card())).toEqual([]);
  });
  it('too_dark: the card at 4% brightness, with the value in the message', () => {
    const r = checkQualityImage(card(0.04));
    expect(r.verdict).toBe('refused');
    const dark = r.reasons.find((x) => x.code === 'too_dark')!;
    expect(dark.value).toBeLessThan(0.05);
    expect(dark.message).toMatch(/^image too dark: luminance \d+% of range/);
    expect(dark.threshold).toBe(shippedThresholds().checks.too_dark[0]!.min);
  });
  it('overexposed: the card tripled and clipped', () => {
    expect(codes(card(3))).toContain('overexposed');
  });
  it('out_of_focus: a smooth blob without texture', () => {
    const blob = image(256, 256, (x, y) => {
      const v = Math.round(200 - 100 * Math.exp(-((x - 128) ** 2 + (y - 128) ** 2) / (2 * 60 ** 2)));
      return [v, Math.round(v * 0.8), Math.round(v * 0.7)];
    });
    expect(codes(blob)).toContain('out_of_focus');
  });
  it('too_small: the card at 120 x 90', () => {
    const c = card();
    const r = checkQualityImage({ ...c, originalWidth: 120, originalHeight: 90 });
    const small = r.reasons.find((x) => x.code === 'too_small')!;
    expect(small.message).toContain('120x90 px');
    expect(r.reasons.map((x) => x.code)).toEqual(['too_small']);
  });
  it('uniform: a flat grey field (and a flat black one)', () => {
    expect(codes(image(300, 200, () => [128, 128, 128]))).toContain('uniform');
    expect(codes(image(300, 200, () => [0, 0, 0]))).toEqual(expect.arrayContaining(['uniform', 'too_dark']));
  });
  it('judges against explicit thresholds and joins reasons into one CSV-safe line', () => {
    const scores: QualityScores = { lumaP95: 0.04, lumaP5: 0, lumaMean: 0.02, clippedFraction: 0, laplacianVar: 50, shortSide: 300, greyStd: 20, edgeDensity: 0.3 };
    const v = judgeQuality(scores, { too_dark: [{ metric: 'lumaP95', min: 0.3 }], overexposed: [], out_of_focus: [], too_small: [], uniform: [] });
    expect(v.reasons).toHaveLength(1);
    expect(v.reasons[0]).toMatchObject({ code: 'too_dark', value: 0.04, threshold: 0.3 });
    expect(reasonsLine(v)).toBe('too_dark: image too dark: luminance 4% of range in its brightest part (95th percentile; needs at least 30%)');
  });
});

describe('input gate: shipped thresholds', () => {
  const file = shippedThresholds();
  it('has a rule for every check, each with its measurement', () => {
    for (const code of QUALITY_CODES) {
      expect(file.checks[code].length).toBeGreaterThan(0);
      for (const rule of file.checks[code]) expect(Object.keys(rule.measured).sort()).toEqual([...file.measuredOn.sources].sort());
    }
    expect(Object.keys(qualityRules(file)).sort()).toEqual([...QUALITY_CODES].sort());
  });
  it('keeps at least 99% of every source on every check (as measured)', () => {
    for (const source of file.measuredOn.sources) {
      for (const code of QUALITY_CODES) expect(file.passRates[source]![code]).toBeGreaterThanOrEqual(0.99);
      expect(file.passRates[source]!.all).toBeGreaterThanOrEqual(0.98);
    }
  });
});

const fixtures = sharedDir('data', 'fixtures');
const present = existsSync(join(fixtures, 'labels.csv'));
if (!present) console.warn(`skipping input-gate fixture tests: ${fixtures} (../shared/data/fixtures) is absent`);

describe.skipIf(!present)('input gate on real dermoscopy fixtures', () => {
  it('refuses none of 40 fixtures, and refuses their simulated faults with the matching reason', async () => {
    const rows = readLabelledFolder(fixtures).slice(0, 200).filter((_, i) => i % 5 === 0);
    for (const r of rows) {
      const ok = await checkQuality(r.file);
      expect(ok.reasons.map((x) => `${r.path}: ${x.message}`)).toEqual([]);
    }
    const one = rows[0]!.file;
    const dark = await sharp(one).linear(0.04, 0).jpeg({ quality: 95 }).toBuffer();
    expect((await checkQuality(dark, { name: 'dark' })).reasons.map((x) => x.code)).toContain('too_dark');
    const bright = await sharp(one).linear(3, 0).jpeg({ quality: 95 }).toBuffer();
    expect((await checkQuality(bright, { name: 'bright' })).reasons.map((x) => x.code)).toContain('overexposed');
    const blurred = await sharp(one).blur(8).jpeg({ quality: 95 }).toBuffer();
    expect((await checkQuality(blurred, { name: 'blurred' })).reasons.map((x) => x.code)).toContain('out_of_focus');
    const tiny = await sharp(one).resize(100, 100).jpeg({ quality: 95 }).toBuffer();
    expect((await checkQuality(tiny, { name: 'tiny' })).reasons.map((x) => x.code)).toContain('too_small');
  });

  it('decodes at a bounded size and keeps the original size', async () => {
    const big = await sharp(readLabelledFolder(fixtures)[0]!.file).resize(2000, 2000).jpeg().toBuffer();
    const img = await decodeForGate(big, { name: 'big' });
    expect(Math.max(img.width, img.height)).toBeLessThanOrEqual(512);
    expect([img.originalWidth, img.originalHeight]).toEqual([2000, 2000]);
  });
});
