import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { averagePool, FusionHead } from '../../electron/model/head.ts';
import { checkQualityImage, gateFeatures, reasonsLine } from '../../electron/model/input-gate/gate.ts';
import {
  branchScore,
  decodeOodStats,
  encodeOodStats,
  energyScore,
  loadOodStats,
  OOD_BIN,
  OOD_JSON,
  oodScores,
  quadraticForm,
  type BranchStats,
  type OodStatsHeader,
} from '../../electron/model/input-gate/ood.ts';

/** d = 3, k = 2: the subspace is the first two axes, identity scale, precision diag(1, 1/4). */
const tiny: BranchStats & { shrinkage: number; explainedVariance: number } = {
  name: 'inception',
  width: 3,
  k: 2,
  mu: Float32Array.from([1, 1, 1]),
  scale: Float32Array.from([1, 1, 2]),
  basis: Float32Array.from([1, 0, 0, 1, 0, 0]),
  classMeans: Float32Array.from([0, 0, 2, 0]),
  classes: ['benign', 'malignant'],
  precision: Float32Array.from([1, 0, 0, 0.25]),
  residualMean: 0.5,
  shrinkage: 0.1,
  explainedVariance: 0.9,
};

const header = (): Omit<OodStatsHeader, 'branches' | 'binSha256'> => ({
  format: 'dermafuse-ood-stats/1',
  modelVersion: 'test',
  createdAt: '2026-12-06T00:00:00Z',
  view: 'identity',
  binFile: OOD_BIN,
  training: { n: 10, bySource: { a: 10 }, command: 'test' },
  use: 'mahalanobis',
  mahalanobis: { threshold: 3, percentile: 99.5, validation: { n: 10, bySource: { a: 10 } } },
  energy: { threshold: -1, percentile: 99.5, validation: { n: 10, bySource: { a: 10 } } },
});

describe('input gate: Mahalanobis and energy arithmetic', () => {
  it('computes x^T A x', () => {
    expect(quadraticForm([2, 1, 1, 3], [1, 2])).toBe(2 + 2 + 2 + 12);
  });

  it('scores a branch: nearest class mean under the precision, plus the relative residual', () => {
    // x = mu + (3, 2, 2*1): z = (3, 2, 1); p = (3, 2); residual ||(0,0,1)||^2 / 0.5 = 2.
    const s = branchScore(tiny, [4, 3, 3]);
    // benign (0,0): 9 + 4/4 = 10; malignant (2,0): 1 + 1 = 2 -> min 2.
    expect(s.d2).toBeCloseTo(2, 9);
    expect(s.residual).toBeCloseTo(2, 9);
    expect(s.score).toBeCloseTo(2 / 2 + 2, 9);
    expect(branchScore(tiny, [1, 1, 1])).toEqual({ d2: 0, residual: 0, score: 0 });
    expect(() => branchScore(tiny, [1, 1])).toThrow(RangeError);
  });

  it('energy is -log sum exp of the logits, stable for large values', () => {
    expect(energyScore([0, 0])).toBeCloseTo(-Math.log(2), 12);
    expect(energyScore([1000, 1000])).toBeCloseTo(-1000 - Math.log(2), 9);
    expect(energyScore([2, -1], 2)).toBeCloseTo(-2 * Math.log(Math.exp(1) + Math.exp(-0.5)), 12);
    // A confident in-distribution image (large max logit) has lower energy than a flat one.
    expect(energyScore([5, -5])).toBeLessThan(energyScore([0.1, -0.1]));
  });

  it('average-pools one item of a NHWC map', () => {
    const map = { data: Float32Array.from([1, 10, 3, 30, 5, 50, 7, 70, /* item 1 */ 0, 0, 0, 0, 0, 0, 0, 4]), shape: [2, 2, 2, 2] as const };
    expect(Array.from(averagePool(map, 0))).toEqual([4, 40]);
    expect(Array.from(averagePool(map, 1))).toEqual([0, 1]);
  });

  it("takes the energy score's two logits from the runtime head (standardise -> dense+ReLU -> dense)", () => {
    const head = FusionHead.fromArrays(
      { branches: ['inception'], inceptionChannels: 2, mobilenetChannels: 0, pooling: 'avg', hidden: [2], dropout: 0 },
      {
        mean: Float32Array.from([1, 0]),
        std: Float32Array.from([2, 1]),
        layers: [{ kernel: Float32Array.from([1, -1, 1, 1]), bias: Float32Array.from([0, 0]), fanIn: 2, fanOut: 2 }],
        output: { kernel: Float32Array.from([1, 0, 0, 1]), bias: Float32Array.from([0.5, -0.5]), fanIn: 2, fanOut: 2 },
      },
    );
    // x = ((3-1)/2, 2) = (1, 2); hidden = relu(1+2, -1+2) = (3, 1); out = (3.5, 0.5)
    expect(head.classLogitsFromPooled([3, 2])).toEqual([3.5, 0.5]);
    // The same pass from a feature map: a 1x1 map pools to itself; the difference is logits()'s value.
    const map = { data: Float32Array.from([3, 2]), shape: [1, 1, 1, 2] as const };
    expect(head.classLogits(map, null)).toEqual([3.5, 0.5]);
    expect(head.logits(map, null)[0]).toBeCloseTo(-3, 6);
  });
});

describe('input gate: OOD statistics file', () => {
  it('round-trips through encode/decode and scores through oodScores', () => {
    const mob = { ...tiny, name: 'mobilenet' };
    const { header: h, bin } = encodeOodStats(header(), [tiny, mob]);
    expect(bin.byteLength).toBe(4 * 2 * (3 + 3 + 6 + 4 + 4));
    const stats = decodeOodStats(h, bin);
    expect(Array.from(stats.branches[1]!.precision)).toEqual([1, 0, 0, 0.25]);
    const s = oodScores(stats, { inception: [4, 3, 3], mobilenet: [1, 1, 1] }, [0, 0]);
    expect(s.mahalanobis).toBeCloseTo((3 + 0) / 2, 9);
    expect(s.energy).toBeCloseTo(-Math.log(2), 12);
  });

  it('divides each branch score by its validation scale when the statistics record one', () => {
    // The long-tailed branch (scale 10) must not drown the other (scale 0.5).
    const mob = { ...tiny, name: 'mobilenet', validationScale: 10 };
    const { header: h, bin } = encodeOodStats(header(), [{ ...tiny, validationScale: 0.5 }, mob]);
    expect(h.branches.map((b) => b.validationScale)).toEqual([0.5, 10]);
    const stats = decodeOodStats(h, bin);
    const s = oodScores(stats, { inception: [4, 3, 3], mobilenet: [4, 3, 3] });
    expect(s.branches.inception!.score).toBeCloseTo(3, 9);
    expect(s.mahalanobis).toBeCloseTo((3 / 0.5 + 3 / 10) / 2, 9);
  });

  it('loads from a folder and refuses a .bin whose sha256 does not match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dermafuse-ood-'));
    try {
      const { header: h, bin } = encodeOodStats(header(), [tiny]);
      await writeFile(join(dir, OOD_JSON), JSON.stringify(h));
      await writeFile(join(dir, OOD_BIN), bin);
      expect(loadOodStats(dir).branches[0]!.residualMean).toBe(0.5);
      const bad = Buffer.from(bin);
      bad[0] = bad[0]! ^ 1;
      await writeFile(join(dir, OOD_BIN), bad);
      expect(() => loadOodStats(dir)).toThrow(/sha256/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('adds out_of_distribution to the gate result above the threshold only', () => {
    const { header: h, bin } = encodeOodStats(header(), [tiny]);
    const stats = decodeOodStats(h, bin);
    const rgb = new Uint8Array(256 * 256 * 3);
    for (let i = 0; i < 256 * 256; i++) rgb.fill(Math.round(150 + 60 * Math.sin((i % 256) * 0.5) * Math.cos(Math.floor(i / 256) * 0.4)), 3 * i, 3 * i + 3);
    const card = { rgb, width: 256, height: 256, originalWidth: 256, originalHeight: 256 };
    const stage1 = checkQualityImage(card);
    expect(stage1.verdict).toBe('ok');
    const near = gateFeatures(stage1, stats, { inception: [1, 1, 1] });
    expect(near.verdict).toBe('ok');
    const far = gateFeatures(stage1, stats, { inception: [10, 1, 1] });
    expect(far.verdict).toBe('refused');
    expect(far.reasons[0]!.code).toBe('out_of_distribution');
    // z = (9, 0, 0): nearest class mean (2, 0) gives d2 = 49, residual 0, score 49 / k.
    expect(far.reasons[0]!.value).toBeCloseTo(49 / 2, 9);
    expect(reasonsLine(far)).toMatch(/^out_of_distribution: image unlike the dermoscopy images the model was trained on/);
  });
});
