import { describe, expect, it } from 'vitest';
import { chooseOperatingPoint, chooseOperatingPointBySource, DEFAULT_TARGETS, MIN_SOURCE_CASES_PER_CLASS } from '../../electron/model/operating-rules.ts';
import { thresholdMetrics } from '../../electron/model/metrics.ts';
import { seededRandom } from '../../electron/util/random.ts';

/** One source's validation slice: melanoma scores shifted up by `separation`. */
function source(name: string, melanoma: number, benign: number, separation: number, seed: number): { p: number[]; y: number[]; s: string[] } {
  const r = seededRandom(seed);
  const p: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < melanoma + benign; i++) {
    const m = i < melanoma ? 1 : 0;
    p.push(1 / (1 + Math.exp(-(r() * 4 - 2 + m * separation))));
    y.push(m);
  }
  return { p, y, s: p.map(() => name) };
}

function join(...parts: { p: number[]; y: number[]; s: string[] }[]): { p: number[]; y: number[]; s: string[] } {
  return { p: parts.flatMap((x) => x.p), y: parts.flatMap((x) => x.y), s: parts.flatMap((x) => x.s) };
}

describe('chooseOperatingPointBySource', () => {
  // A large, easy source and a small, hard one: pooled cut-offs follow the large one.
  const big = source('big', 400, 2000, 3, 1);
  const small = source('small', 60, 240, 1, 2);
  const all = join(big, small);

  it('reaches the sensitivity targets on every source where the pooled rule misses the smaller one', () => {
    const pooled = chooseOperatingPoint(all.p, all.y);
    const bySource = chooseOperatingPointBySource(all.p, all.y, all.s);
    expect(thresholdMetrics(small.p, small.y, pooled.threshold).sensitivity).toBeLessThan(DEFAULT_TARGETS.sensitivity);
    for (const part of [big, small]) {
      expect(thresholdMetrics(part.p, part.y, bySource.threshold).sensitivity).toBeGreaterThanOrEqual(DEFAULT_TARGETS.sensitivity);
      expect(thresholdMetrics(part.p, part.y, bySource.reviewAt).sensitivity).toBeGreaterThanOrEqual(DEFAULT_TARGETS.reviewSensitivity);
      expect(1 - thresholdMetrics(part.p, part.y, bySource.highAt).specificity).toBeLessThanOrEqual(1 - DEFAULT_TARGETS.highSpecificity + 1e-9);
    }
    expect(bySource.reviewAt).toBeLessThanOrEqual(bySource.threshold);
    expect(bySource.threshold).toBeLessThanOrEqual(bySource.highAt);
  });

  it('skips a source with too few images of a class, and falls back to the pooled rule when none is left', () => {
    const tiny = source('tiny', MIN_SOURCE_CASES_PER_CLASS - 1, 200, -2, 3);
    expect(chooseOperatingPointBySource(join(big, tiny).p, join(big, tiny).y, join(big, tiny).s)).toEqual(chooseOperatingPoint(big.p, big.y));
    expect(chooseOperatingPointBySource(tiny.p, tiny.y, tiny.s)).toEqual(chooseOperatingPoint(tiny.p, tiny.y));
  });
});
