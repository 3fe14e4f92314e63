/**
 * The adaptation methods on synthetic cases with a known shift: each must recover it, run as a
 * normal head (mean logit over views, then calibrate), and reduce to the shipped model's ranking
 * when its L2 pull is huge.
 */
import { describe, expect, it } from 'vitest';
import { AdaptationDataError, fitMethod, headParts, scoreAdapted, shippedProbability, type AdaptedModel, type AdaptSample } from '../../electron/model/adaptation/index.ts';
import { FusionHead } from '../../electron/model/head.ts';
import { calibrate } from '../../electron/model/manifest.ts';
import { auc } from '../../electron/model/metrics.ts';
import { casesFromLogit, toyBase, toyCases, WIDTH } from '../helpers/adaptation-synthetic.ts';

const labelsOf = (cases: readonly AdaptSample[]): number[] => cases.map((c) => c.label);
const scores = (model: AdaptedModel, cases: readonly AdaptSample[]): number[] => cases.map((c) => scoreAdapted(model, c));

/** The classifier's rule on an adapted model's arrays: a real FusionHead, mean logit over views, calibrate. */
function classifierProbability(model: AdaptedModel, sample: AdaptSample): number {
  const head = FusionHead.fromArrays(model.config, model.head);
  let sum = 0;
  for (let v = 0; v < sample.views; v++) sum += head.logitFromPooled(sample.pooled.subarray(v * WIDTH, (v + 1) * WIDTH));
  return calibrate(sum / sample.views, model.temperature, model.calibrationBias);
}

describe('headParts', () => {
  it('splits the toy late-fusion head into four members whose contributions add up to the logit', () => {
    const base = toyBase();
    const parts = headParts(base.head);
    expect(parts.members).toEqual([[0, 2], [2, 4], [4, 6], [6, 8]]);
    const [sample] = toyCases({ seed: 3, melanoma: 1, benign: 0, signal: new Array(WIDTH).fill(1), views: 1 });
    const h = parts.meanHidden(sample!);
    const sum = parts.contributions(h).reduce((a, b) => a + b, 0);
    expect(parts.logit(h)).toBeCloseTo(sum + parts.bias, 10);
    expect(parts.logit(h)).toBeCloseTo(base.head.logitFromPooled(sample!.pooled), 5);
  });

  it('reads fusion-v2 layout: four 64-unit members of the 256 hidden units', async () => {
    const head = await FusionHead.load('models/fusion-v2');
    expect(headParts(head).members).toEqual([[0, 64], [64, 128], [128, 192], [192, 256]]);
  });

  it('rejects a case whose pooled length does not match its views', () => {
    const base = toyBase();
    expect(() => fitMethod('recalibrate', [{ pooled: new Float32Array(5), views: 1, label: 1 }, { pooled: new Float32Array(8), views: 1, label: 0 }], base)).toThrow(AdaptationDataError);
  });
});

describe('recalibrate', () => {
  it('recovers a shifted prior and keeps the ranking', () => {
    const base = toyBase(1.5, 0.3);
    // Local truth: same ranking, probabilities sigmoid(logit / 1.5 + 0.3 - 2): a rarer disease here.
    const cases = casesFromLogit(11, 4000, base, 1 / 1.5, 0.3 - 2);
    const model = fitMethod('recalibrate', cases, base);
    expect(model.temperature).toBeGreaterThan(1.5 * 0.85);
    expect(model.temperature).toBeLessThan(1.5 * 1.15);
    expect(model.calibrationBias).toBeGreaterThan(0.3 - 2 - 0.3);
    expect(model.calibrationBias).toBeLessThan(0.3 - 2 + 0.3);
    const p = scores(model, cases);
    const shipped = cases.map((c) => shippedProbability(base, c));
    const prevalence = labelsOf(cases).reduce((a, b) => a + b, 0) / cases.length;
    expect(p.reduce((a, b) => a + b, 0) / p.length).toBeCloseTo(prevalence, 2);
    expect(shipped.reduce((a, b) => a + b, 0) / p.length).toBeGreaterThan(prevalence + 0.1);
    expect(auc(p, labelsOf(cases))).toBeCloseTo(auc(shipped, labelsOf(cases)), 12);
    expect(model.head.output).toBe(base.head.arrays().output);
  });
});

describe('members', () => {
  // Only member 0 (units 0-1) separates the classes here; the shipped model weighs all four equally.
  const signal = [1.5, 1.5, 0, 0, 0, 0, 0, 0];
  const base = toyBase();
  const train = toyCases({ seed: 21, melanoma: 150, benign: 150, signal });
  const test = toyCases({ seed: 22, melanoma: 300, benign: 300, signal });

  it('gives the informative member more weight than the others and ranks new cases better', () => {
    const model = fitMethod('members', train, base);
    const w = model.memberWeights!;
    expect(w).toHaveLength(4);
    for (const k of [1, 2, 3]) expect(w[0]!).toBeGreaterThan(w[k]! + 0.5);
    const adapted = auc(scores(model, test), labelsOf(test));
    const shipped = auc(test.map((c) => shippedProbability(base, c)), labelsOf(test));
    expect(adapted).toBeGreaterThan(shipped + 0.03);
  });

  it('is a normal head: the classifier rule on its arrays gives scoreAdapted', () => {
    const model = fitMethod('members', train, base);
    for (const c of test.slice(0, 20)) expect(classifierProbability(model, c)).toBeCloseTo(scoreAdapted(model, c), 5);
    expect(model.config).toEqual(base.head.config);
    // Only the output layer changed.
    expect(model.head.layers).toBe(base.head.arrays().layers);
    expect(model.head.output.kernel).not.toEqual(base.head.arrays().output.kernel);
  });

  it('is deterministic', () => {
    const a = fitMethod('members', train, base);
    const b = fitMethod('members', [...train], base);
    expect(a.head.output.kernel).toEqual(b.head.output.kernel);
    expect(a.calibrationBias).toBe(b.calibrationBias);
  });
});

describe('last_layer', () => {
  // Unit 3 alone carries the signal locally.
  const signal = [0, 0, 0, 2, 0, 0, 0, 0];
  const base = toyBase();
  const train = toyCases({ seed: 31, melanoma: 200, benign: 200, signal });
  const test = toyCases({ seed: 32, melanoma: 300, benign: 300, signal });

  it('moves weight onto the informative unit and ranks new cases better', () => {
    const model = fitMethod('last_layer', train, base);
    const k = model.head.output.kernel;
    const weight = (j: number): number => k[j * 2 + 1]! - k[j * 2]!;
    for (const j of [0, 1, 2, 4, 5, 6, 7]) expect(weight(3)).toBeGreaterThan(weight(j) + 0.3);
    const adapted = auc(scores(model, test), labelsOf(test));
    const shipped = auc(test.map((c) => shippedProbability(base, c)), labelsOf(test));
    expect(adapted).toBeGreaterThan(shipped + 0.05);
    for (const c of test.slice(0, 10)) expect(classifierProbability(model, c)).toBeCloseTo(scoreAdapted(model, c), 5);
  });

  it('with a huge L2 pull keeps the shipped ranking and equals recalibrate', () => {
    const pinned = fitMethod('last_layer', train, base, { l2: 1e9 });
    const recal = fitMethod('recalibrate', train, base);
    const p = scores(pinned, test);
    const shipped = test.map((c) => shippedProbability(base, c));
    expect(auc(p, labelsOf(test))).toBeCloseTo(auc(shipped, labelsOf(test)), 6);
    const q = scores(recal, test);
    for (let i = 0; i < p.length; i++) expect(p[i]!).toBeCloseTo(q[i]!, 3);
  });

  it('members with a huge L2 pull also collapse onto recalibrate', () => {
    const pinned = fitMethod('members', train, base, { l2: 1e9 });
    const recal = fitMethod('recalibrate', train, base);
    for (const c of test.slice(0, 50)) expect(scoreAdapted(pinned, c)).toBeCloseTo(scoreAdapted(recal, c), 3);
  });
});

describe('bad training sets', () => {
  it('refuses a single class', () => {
    const base = toyBase();
    const melanomaOnly = toyCases({ seed: 1, melanoma: 40, benign: 0, signal: new Array(WIDTH).fill(1) });
    for (const m of ['recalibrate', 'members', 'last_layer'] as const) {
      expect(() => fitMethod(m, melanomaOnly, base)).toThrow(/needs both melanoma and benign cases; these have 40 melanoma and 0 benign/);
    }
  });
});
