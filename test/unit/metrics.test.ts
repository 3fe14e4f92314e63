import { describe, expect, it } from 'vitest';
import {
  auc,
  bootstrapCi,
  confusion,
  expectedCalibrationError,
  rocCurve,
  seededRandom,
  specificityAtSensitivity,
  thresholdForSensitivity,
  thresholdMetrics,
} from '../../electron/model/metrics.ts';
import { applyTemperature, chooseOperatingPoint, fitPlatt, fitTemperature, negativeLogLikelihood } from '../../electron/model/operating-rules.ts';

// Hand-computed cases: each expected value below was worked out on paper from the definitions.
const s6 = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2];
const y6 = [1, 1, 0, 1, 0, 0];

describe('auc', () => {
  it('matches hand-computed pair counts', () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    // 8 of 9 positive-negative pairs ordered correctly.
    expect(auc(s6, y6)).toBeCloseTo(8 / 9, 12);
  });
  it('counts ties as one half', () => {
    expect(auc([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])).toBeCloseTo(0.875, 12);
  });
  it('is NaN with a single class and 0 when perfectly inverted', () => {
    expect(auc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(auc([0.9, 0.1], [0, 1])).toBe(0);
  });
});

describe('threshold metrics', () => {
  it('computes the confusion matrix with score >= threshold as positive', () => {
    expect(confusion(s6, y6, 0.5)).toEqual({ tp: 3, fp: 1, tn: 2, fn: 0 });
    expect(confusion(s6, y6, 0.7)).toEqual({ tp: 2, fp: 1, tn: 2, fn: 1 });
  });
  it('derives every rate from the confusion matrix', () => {
    const m = thresholdMetrics(s6, y6, 0.5);
    expect(m.sensitivity).toBe(1);
    expect(m.specificity).toBeCloseTo(2 / 3, 12);
    expect(m.ppv).toBeCloseTo(3 / 4, 12);
    expect(m.npv).toBe(1);
    expect(m.accuracy).toBeCloseTo(5 / 6, 12);
    expect(m.balancedAccuracy).toBeCloseTo(5 / 6, 12);
    expect(m.f1).toBeCloseTo(6 / 7, 12);
  });
  it('finds the threshold for a target sensitivity and the specificity there', () => {
    expect(thresholdForSensitivity(s6, y6, 0.9)).toBe(0.6);
    expect(thresholdForSensitivity(s6, y6, 0.6)).toBe(0.8);
    expect(specificityAtSensitivity(s6, y6, 0.9)).toBeCloseTo(2 / 3, 12);
    expect(specificityAtSensitivity(s6, y6, 0.5)).toBe(1);
  });
  it('traces the ROC curve from (0,0) to (1,1)', () => {
    const roc = rocCurve(s6, y6);
    expect(roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(roc.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    expect(roc[3]).toMatchObject({ threshold: 0.7, fpr: 1 / 3, tpr: 2 / 3 });
  });
});

describe('expected calibration error', () => {
  it('weights |observed - predicted| by bin size', () => {
    // bins: [0,.1): p .05 y 0 -> .05; [.1,.2): p .15 y 1 -> .85; [.9,1]: mean p .935, y 1 -> .065
    expect(expectedCalibrationError([0.05, 0.15, 0.95, 0.92], [0, 1, 1, 1])).toBeCloseTo(0.05 / 4 + 0.85 / 4 + 0.065 / 2, 12);
    expect(expectedCalibrationError([1, 0], [1, 0])).toBe(0);
  });
});

describe('bootstrapCi', () => {
  const random = seededRandom(7);
  const labels = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const scores = labels.map((y) => y * 0.8 + random());

  it('brackets the point estimate and is reproducible for a seed', () => {
    const ci = bootstrapCi(scores, labels, auc, { iterations: 300, seed: 1 });
    const point = auc(scores, labels);
    expect(ci[0]).toBeLessThan(point);
    expect(ci[1]).toBeGreaterThan(point);
    expect(bootstrapCi(scores, labels, auc, { iterations: 300, seed: 1 })).toEqual(ci);
    expect(bootstrapCi(scores, labels, auc, { iterations: 300, seed: 2 })).not.toEqual(ci);
  });
  it('resamples whole groups: duplicating every item within its group leaves the interval unchanged', () => {
    const ci = bootstrapCi(scores, labels, auc, { iterations: 200, seed: 3 });
    const dupScores = scores.flatMap((s) => [s, s]);
    const dupLabels = labels.flatMap((l) => [l, l]);
    const groups = scores.flatMap((_, i) => [`g${i}`, `g${i}`]);
    const grouped = bootstrapCi(dupScores, dupLabels, auc, { iterations: 200, seed: 3, groups });
    expect(grouped[0]).toBeCloseTo(ci[0], 12);
    expect(grouped[1]).toBeCloseTo(ci[1], 12);
  });
});

/** 20,000 logits uniform on [-spread/2, spread/2], each labelled 1 with probability sigmoid(trueLogit(z)). */
function sampleCalibrationData(seed: number, spread: number, trueLogit: (z: number) => number): { logits: number[]; labels: number[] } {
  const random = seededRandom(seed);
  const logits: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const z = (random() - 0.5) * spread;
    logits.push(z);
    labels.push(random() < 1 / (1 + Math.exp(-trueLogit(z))) ? 1 : 0);
  }
  return { logits, labels };
}

describe('temperature scaling', () => {
  it('recovers the temperature that generated the labels', () => {
    const { logits, labels } = sampleCalibrationData(11, 16, (z) => z / 2.5);
    const t = fitTemperature(logits, labels);
    expect(t).toBeGreaterThan(2.3);
    expect(t).toBeLessThan(2.7);
    expect(negativeLogLikelihood(logits, labels, t)).toBeLessThanOrEqual(negativeLogLikelihood(logits, labels, 1));
    const p = applyTemperature([0, 2 * t], t);
    expect(p[0]).toBe(0.5);
    expect(p[1]).toBeCloseTo(1 / (1 + Math.exp(-2)), 12);
  });
});

describe('Platt scaling', () => {
  it('recovers the temperature and offset that generated the labels, and beats temperature alone', () => {
    const { logits, labels } = sampleCalibrationData(12, 8, (z) => z / 0.5 - 2);
    const { temperature, bias } = fitPlatt(logits, labels);
    expect(temperature).toBeGreaterThan(0.45);
    expect(temperature).toBeLessThan(0.55);
    expect(bias).toBeGreaterThan(-2.2);
    expect(bias).toBeLessThan(-1.8);
    const t = fitTemperature(logits, labels);
    const nll = (a: number, b: number): number => logits.reduce((s, z, i) => {
      const p = 1 / (1 + Math.exp(-(z * a + b)));
      return s - Math.log(labels[i] === 1 ? p : 1 - p);
    }, 0);
    expect(nll(1 / temperature, bias)).toBeLessThan(nll(1 / t, 0));
  });

  it('never inverts the ranking: scores unrelated to the labels keep a positive slope or fall back to T alone', () => {
    const random = seededRandom(13);
    const logits = Array.from({ length: 500 }, () => random() * 4 - 2);
    const labels = logits.map((z) => (z < 0 ? 1 : 0)); // anti-correlated on purpose
    const { temperature } = fitPlatt(logits, labels);
    expect(temperature).toBeGreaterThan(0);
  });
});

describe('chooseOperatingPoint', () => {
  it('orders reviewAt <= threshold <= highAt and meets the targets on the data it saw', () => {
    const random = seededRandom(5);
    const labels = Array.from({ length: 1000 }, () => (random() < 0.2 ? 1 : 0));
    const p = labels.map((y) => Math.min(1, Math.max(0, 0.3 * y + random() * 0.7)));
    const op = chooseOperatingPoint(p, labels);
    expect(op.reviewAt).toBeLessThanOrEqual(op.threshold);
    expect(op.threshold).toBeLessThanOrEqual(op.highAt);
    expect(thresholdMetrics(p, labels, op.threshold).sensitivity).toBeGreaterThanOrEqual(0.9);
    expect(thresholdMetrics(p, labels, op.reviewAt).sensitivity).toBeGreaterThanOrEqual(0.97);
    expect(thresholdMetrics(p, labels, op.highAt).specificity).toBeGreaterThanOrEqual(0.95);
  });
});
