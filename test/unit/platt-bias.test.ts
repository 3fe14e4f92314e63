/**
 * The Platt offset end to end: a head whose logits are centred on a 50% prior (class-balanced
 * training) on data whose real prevalence is low. electron/model/operating-rules.ts must recover the
 * offset that generated the labels, and the app (electron/model/manifest.ts `calibrate`, the
 * classifier's view aggregation) must apply it: p = sigmoid(logit / T + bias).
 */
import { describe, expect, it } from 'vitest';
import { aggregateViews } from '../../electron/model/classifier.ts';
import { calibrate } from '../../electron/model/manifest.ts';
import { seededRandom } from '../../electron/util/random.ts';
import { fitPlatt } from '../../electron/model/operating-rules.ts';

const TRUE_T = 1.6;
const TRUE_BIAS = -2.2;

/** Logits ~ uniform [-4, 4]; label 1 with probability sigmoid(z / TRUE_T + TRUE_BIAS). */
function sample(seed: number, n: number): { logits: number[]; labels: number[] } {
  const random = seededRandom(seed);
  const logits: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = (random() - 0.5) * 8;
    logits.push(z);
    labels.push(random() < 1 / (1 + Math.exp(-(z / TRUE_T + TRUE_BIAS))) ? 1 : 0);
  }
  return { logits, labels };
}

describe('Platt bias', () => {
  it('calibrate adds the bias after dividing by the temperature', () => {
    expect(calibrate(0, 2, TRUE_BIAS)).toBeCloseTo(1 / (1 + Math.exp(-TRUE_BIAS)), 12);
    expect(calibrate(3.2, 1.6, -2)).toBe(0.5);
    expect(calibrate(1, 1.6, 0)).toBe(calibrate(1, 1.6));
    expect(calibrate(1, 1.6, -0.5)).toBeLessThan(calibrate(1, 1.6));
  });

  it('is recovered by fitPlatt from labels it generated, and applying it calibrates held-out data', () => {
    const fit = sample(41, 20000);
    const { temperature, bias } = fitPlatt(fit.logits, fit.labels);
    expect(Math.abs(bias - TRUE_BIAS)).toBeLessThan(0.15);
    expect(Math.abs(temperature - TRUE_T)).toBeLessThan(0.15);

    // Held out: the mean calibrated probability matches the observed prevalence with the bias,
    // and badly overestimates it without (the logits are centred on 50%).
    const test = sample(42, 20000);
    const prevalence = test.labels.reduce((a, b) => a + b, 0) / test.labels.length;
    const meanP = (b: number): number => test.logits.reduce((s, z) => s + calibrate(z, temperature, b), 0) / test.logits.length;
    expect(prevalence).toBeLessThan(0.25);
    expect(Math.abs(meanP(bias) - prevalence)).toBeLessThan(0.01);
    expect(meanP(0) - prevalence).toBeGreaterThan(0.2);
  });

  it('is applied once to the mean logit over test-time views, and to each view for the uncertainty', () => {
    const views = [0.4, 1.8];
    const a = aggregateViews(views, TRUE_T, TRUE_BIAS);
    expect(a.meanLogit).toBeCloseTo(1.1, 12);
    expect(a.p).toBeCloseTo(calibrate(1.1, TRUE_T, TRUE_BIAS), 12);
    expect(a.pRaw).toBeCloseTo(calibrate(1.1, 1), 12); // the raw probability is the head's own, uncalibrated
    const perView = views.map((z) => calibrate(z, TRUE_T, TRUE_BIAS));
    expect(a.uncertainty).toBeCloseTo(Math.abs(perView[0]! - perView[1]!) / 2, 12);
    expect(a.p).not.toBeCloseTo(aggregateViews(views, TRUE_T).p, 3);
  });
});
