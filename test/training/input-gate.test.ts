import { describe, expect, it } from 'vitest';
import { FusionHead } from '../../electron/model/head.ts';
import { branchScore } from '../../electron/model/input-gate/ood.ts';
import type { QualityScores } from '../../electron/model/input-gate/quality.ts';
import { lowerQuantile, passShare, selectThreshold } from '../../electron/model/input-gate/thresholds.ts';
import { seededRandom } from '../../electron/model/metrics.ts';
import { chooseThresholds, type ScoredImage } from '../../training/studies/input-gate/quality-measure.ts';
import { buildOodStats, sourceAwareThreshold } from '../../training/studies/input-gate/build-ood-stats.ts';
import { decodeOodStats, oodScores } from '../../electron/model/input-gate/ood.ts';
import { fitBranch, ledoitWolf, percentile, spdInverse, symmetricEigen, topPrincipal } from '../../training/studies/input-gate/ood-stats.ts';

const gauss = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

describe('input gate: threshold selection', () => {
  it('takes the lower quantile so that at least the target share passes', () => {
    const v = Array.from({ length: 1000 }, (_, i) => i);
    expect(lowerQuantile(v, 0.005)).toBe(5);
    expect(passShare(v, { min: 5 })).toBe(0.995);
    expect(passShare(v, { max: 994 })).toBe(0.995);
  });

  it('keeps >= target in every source: the loosest source quantile wins', () => {
    const a = Array.from({ length: 200 }, (_, i) => 100 + i); // 100..299
    const b = Array.from({ length: 400 }, (_, i) => 50 + i / 2); // 50..249.5
    const min = selectThreshold({ a, b }, 'min', 0.99);
    expect(min.limit).toBe(Math.min(lowerQuantile(a, 0.01), lowerQuantile(b, 0.01)));
    for (const m of Object.values(min.measured)) expect(m.pass).toBeGreaterThanOrEqual(0.99);
    const max = selectThreshold({ a, b }, 'max', 0.99);
    expect(max.limit).toBe(297);
    for (const m of Object.values(max.measured)) expect(m.pass).toBeGreaterThanOrEqual(0.99);
  });

  it('splits the refusal budget over the checks and a two-rule check over its rules, so all checks together keep the target', () => {
    const r = seededRandom(3);
    const images: ScoredImage[] = ['s1', 's2'].flatMap((source) =>
      Array.from({ length: 2000 }, (_, i) => {
        const scores: QualityScores = { lumaP95: 0.5 + 0.4 * r(), lumaP5: 0.3 * r(), lumaMean: 0.5, clippedFraction: 0.2 * r(), laplacianVar: 10 + 100 * r(), shortSide: 150 + (i % 100), greyStd: 5 + 40 * r(), edgeDensity: 0.5 * r() };
        return { source, path: `${i}.jpg`, label: 'benign', scores };
      }),
    );
    const file = chooseThresholds(images, 0.99, { command: 'test', dataDir: 'x', sources: ['s1', 's2'], images: images.length });
    // 1% over five checks: 0.2% each; uniform's two rules 0.1% each.
    expect(file.checks.too_dark[0]!.targetPass).toBeCloseTo(0.998, 12);
    file.checks.uniform.forEach((u) => expect(u.targetPass).toBeCloseTo(0.999, 12));
    for (const s of ['s1', 's2', 'all']) {
      for (const c of ['too_dark', 'overexposed', 'out_of_focus', 'too_small', 'uniform']) expect(file.passRates[s]![c]).toBeGreaterThanOrEqual(0.998);
      expect(file.passRates[s]!.all).toBeGreaterThanOrEqual(0.99);
    }
    // 150..249, 20 images each: 0.2% of each source's 2000 is 4 images, fewer than the 20 at 150, so all pass.
    expect(file.checks.too_small[0]!.min).toBe(150);
    // Against a per-check 1% (the whole budget spent by every check), the checks together would refuse more.
    const perCheck = chooseThresholds(images, 1 - 0.01 * 5, { command: 'test', dataDir: 'x', sources: ['s1', 's2'], images: images.length });
    expect(perCheck.checks.too_dark[0]!.targetPass).toBeCloseTo(0.99, 12);
    expect(perCheck.passRates.all!.all!).toBeLessThan(file.passRates.all!.all!);
  });
});

describe('input gate: fitting the OOD statistics', () => {
  it('eigen-decomposes a symmetric matrix (Jacobi)', () => {
    const a = Float64Array.from([4, 1, 0, 1, 3, 0, 0, 0, 1]);
    const { values, vectors } = symmetricEigen(a, 3);
    const expected = [(7 + Math.sqrt(5)) / 2, (7 - Math.sqrt(5)) / 2, 1];
    values.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 10));
    // A v = lambda v for each column.
    for (let j = 0; j < 3; j++) {
      for (let i = 0; i < 3; i++) {
        let av = 0;
        for (let k = 0; k < 3; k++) av += a[i * 3 + k]! * vectors[k * 3 + j]!;
        expect(av).toBeCloseTo(values[j]! * vectors[i * 3 + j]!, 10);
      }
    }
  });

  it('inverts a symmetric positive-definite matrix (Cholesky)', () => {
    const a = Float64Array.from([4, 2, 0.6, 2, 2, 0.5, 0.6, 0.5, 3]);
    const inv = spdInverse(a, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += a[i * 3 + k]! * inv[k * 3 + j]!;
        expect(s).toBeCloseTo(i === j ? 1 : 0, 10);
      }
    }
    expect(() => spdInverse(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/positive definite/);
  });

  it('Ledoit-Wolf shrinks little with many samples and much with few', () => {
    const r = seededRandom(5);
    const sample = (n: number): Float64Array => Float64Array.from({ length: n * 4 }, (_, i) => gauss(r) * [3, 1, 1, 0.5][i % 4]!);
    const many = ledoitWolf(sample(5000), 5000, 4);
    const few = ledoitWolf(sample(6), 6, 4);
    expect(many.shrinkage).toBeLessThan(0.05);
    expect(few.shrinkage).toBeGreaterThan(many.shrinkage);
    expect(many.covariance[0]).toBeCloseTo(9, 0);
    // Isotropic data: nothing to gain from the sample structure, shrinkage is (near) total.
    const iso = Float64Array.from({ length: 200 * 4 }, () => gauss(r));
    expect(ledoitWolf(iso, 200, 4).shrinkage).toBeGreaterThan(0.5);
  });

  it('finds the dominant principal directions (subspace iteration)', () => {
    const r = seededRandom(9);
    const n = 300;
    const d = 20;
    const z = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) z[i * d + j] = gauss(r) * (j === 3 ? 10 : j === 7 ? 5 : 1);
    }
    const { basis, variances } = topPrincipal(z, n, d, 2, { seed: 1 });
    expect(Math.abs(basis[3 * 2 + 0]!)).toBeGreaterThan(0.99);
    expect(Math.abs(basis[7 * 2 + 1]!)).toBeGreaterThan(0.99);
    expect(variances[0]).toBeCloseTo(100, -1);
  });

  it('gives training-like points a score near 2 and far or off-subspace points a large one', () => {
    const r = seededRandom(21);
    const n = 400;
    const d = 30;
    // Low-rank data, as pooled CNN features are: 3 latent factors spread over every channel, small noise.
    const w = Array.from({ length: 3 }, () => Array.from({ length: d }, () => gauss(r)));
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    const draw = (label: number, latentShift = 0): number[] => {
      const s = [gauss(r) + label * 1.5 + latentShift, gauss(r), gauss(r)];
      return Array.from({ length: d }, (_, j) => 5 + s[0]! * w[0]![j]! + s[1]! * w[1]![j]! + s[2]! * w[2]![j]! + 0.2 * gauss(r));
    };
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) x.set(draw(labels[i]!), i * d);
    const stats = fitBranch('test', x, n, d, labels, ['benign', 'malignant'], { k: 3, seed: 2 });
    expect(stats.classes).toEqual(['benign', 'malignant']);
    expect(stats.explainedVariance).toBeGreaterThan(0.9);
    const inScores = Array.from({ length: 300 }, (_, i) => branchScore(stats, draw(i % 2)).score);
    const median = percentile(inScores, 50);
    expect(median).toBeGreaterThan(1);
    expect(median).toBeLessThan(3);
    // Far along a modelled factor; and off the subspace (channels moved independently).
    const far = draw(0, 12);
    const off = draw(0).map((v, j) => v + (j % 2 === 0 ? 1.5 : -1.5));
    expect(branchScore(stats, far).d2).toBeGreaterThan(50);
    expect(branchScore(stats, off).residual).toBeGreaterThan(10);
    expect(branchScore(stats, far).score).toBeGreaterThan(percentile(inScores, 99.5));
    expect(branchScore(stats, off).score).toBeGreaterThan(percentile(inScores, 99.5));
  });

  it('interpolates percentiles', () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([0, 10], 99.5)).toBeCloseTo(9.95, 12);
  });
});

describe('input gate: building a model version\'s OOD statistics', () => {
  it('fits on training vectors and puts the threshold at the validation percentile', () => {
    const r = seededRandom(33);
    const w = Array.from({ length: 2 }, () => Array.from({ length: 12 }, () => gauss(r)));
    const vec = (d: number): number[] => {
      const s = [gauss(r), gauss(r)];
      return Array.from({ length: d }, (_, j) => s[0]! * w[0]![j % 12]! + s[1]! * w[1]![(j + 5) % 12]! + 0.3 * gauss(r));
    };
    const ex = (source: string, i: number): { source: string; label: number; inception: number[]; mobilenet: number[] } => ({ source, label: i % 2, inception: vec(12), mobilenet: vec(8) });
    const train = Array.from({ length: 200 }, (_, i) => ex('a', i));
    const val = Array.from({ length: 200 }, (_, i) => ex(i < 100 ? 'a' : 'b', i));
    const head = FusionHead.fromArrays(
      { branches: ['inception', 'mobilenet'], inceptionChannels: 12, mobilenetChannels: 8, pooling: 'avg', hidden: [], dropout: 0 },
      {
        mean: new Float32Array(20),
        std: new Float32Array(20).fill(1),
        layers: [],
        output: { kernel: Float32Array.from({ length: 40 }, (_, i) => (i % 7) / 10 - 0.3), bias: Float32Array.from([0, 0]), fanIn: 20, fanOut: 2 },
      },
    );
    const built = buildOodStats(train, val, { modelVersion: 'm', head, k: 4, percentile: 99, command: 'test' });
    expect(built.header.mahalanobis.validation).toEqual({ n: 200, bySource: { a: 100, b: 100 } });
    const stats = decodeOodStats(built.header, built.bin);
    const scores = val.map((v) => oodScores(stats, { inception: v.inception, mobilenet: v.mobilenet }).mahalanobis);
    expect(scores.filter((s) => s > built.header.mahalanobis.threshold).length).toBe(2);
    // Each branch is scaled by its own validation percentile, so 1% of validation images sit above 1 per branch.
    for (const b of stats.branches) {
      const scaled = val.map((v) => oodScores(stats, { inception: v.inception, mobilenet: v.mobilenet }).branches[b.name]!.score / b.validationScale!);
      expect(scaled.filter((x) => x > 1).length).toBe(2);
    }
    expect(built.bin.byteLength).toBeLessThan(5e6);
  });

  it('takes the most permissive percentile of the sources large enough to have one', () => {
    // Source b sits further out than a; pooled, its tail would be refused far more often than 0.5%.
    const scores = [...Array.from({ length: 1000 }, (_, i) => i / 1000), ...Array.from({ length: 200 }, (_, i) => 1 + i / 200), 50];
    const sources = [...Array<string>(1000).fill('a'), ...Array<string>(200).fill('b'), 'c'];
    const t = sourceAwareThreshold(scores, sources, 99.5, 200);
    expect(Object.keys(t.bySource!)).toEqual(['a', 'b']);
    expect(t.bySource!.a).toBeCloseTo(percentile(scores.slice(0, 1000), 99.5), 12);
    expect(t.threshold).toBeCloseTo(percentile(scores.slice(1000, 1200), 99.5), 12);
    expect(scores.slice(1000, 1200).filter((s) => s > t.threshold).length).toBe(1);
    // The lone image of source c is not a percentile; pooled alone, b's tail is refused.
    expect(sourceAwareThreshold(scores, sources, 99.5, 0)).toEqual({ threshold: percentile(scores, 99.5) });
    expect(scores.slice(1000, 1200).filter((s) => s > percentile(scores, 99.5)).length).toBeGreaterThan(4);
    expect(sourceAwareThreshold(scores, sources, 99.5, 1001)).toEqual({ threshold: percentile(scores, 99.5) });
  });
});
