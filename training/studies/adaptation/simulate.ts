/**
 * One simulated clinic: a base model, k confirmed local cases, the app's adaptation maths
 * (electron/model/adaptation: cross-validation on the local cases, the choice rules, every method
 * refitted on all cases with cut-offs from its out-of-fold predictions), and every arm scored on
 * the source's untouched test part.
 */
import { ADAPTATION_METHODS, AdaptationDataError, chooseMethod, crossValidate, fitFinal, scoreAdapted, shippedProbability, type AdaptedModel, type CvOptions, type GroupedSample } from '../../../electron/model/adaptation/index.ts';
import { meanHiddenOf } from '../../../electron/model/adaptation/methods.ts';
import { calibrate } from '../../../electron/model/manifest.ts';
import type { SimulationBase } from './base-models.ts';
import type { Arm, ArmScores, CellRecord } from './records.ts';

/** Test cases checked against the classifier-rule scoring in every cell (see `testProbabilities`). */
const CHECKED_CASES = 8;

/**
 * An adapted model's probabilities of the test cases. Every method keeps the base's hidden
 * layers, so the base head's cached last activations serve every cell (scoring 1,365 HAM10000
 * cases through the full head per method and cell would dominate the study's run time); the
 * first cases are also scored by the app's own rule (scoreAdapted: full forward pass per view)
 * and any disagreement stops the study.
 */
function testProbabilities(model: AdaptedModel, base: SimulationBase, test: readonly GroupedSample[]): number[] {
  const out = model.head.output;
  const bias = out.bias[1]! - out.bias[0]!;
  const w = Float64Array.from({ length: out.fanIn }, (_, j) => out.kernel[j * 2 + 1]! - out.kernel[j * 2]!);
  const p = test.map((s) => {
    const h = meanHiddenOf(base.head, s);
    let z = bias;
    for (let j = 0; j < w.length; j++) z += w[j]! * h[j]!;
    return calibrate(z, model.temperature, model.calibrationBias);
  });
  for (let i = 0; i < Math.min(CHECKED_CASES, test.length); i++) {
    const expected = scoreAdapted(model, test[i]!);
    if (Math.abs(expected - p[i]!) > 1e-9) throw new Error(`${model.method}: shortcut scoring gives ${p[i]} for test case ${i}, the classifier rule ${expected}`);
  }
  return p;
}

export interface CellInput {
  readonly study: CellRecord['study'];
  readonly source: string;
  readonly k: number;
  readonly draw: number;
  readonly seed: number;
  readonly settings: string;
  readonly base: SimulationBase;
  /** The local cases the clinic adapts with. */
  readonly cases: readonly GroupedSample[];
  /** The scoring part (the same sample objects in every cell, so the head's activations are computed once). */
  readonly test: readonly GroupedSample[];
  readonly cv: CvOptions;
}

/** Adapts with the cell's cases and scores every arm on the test part. */
export function simulateCell(input: CellInput): CellRecord {
  const t0 = performance.now();
  const { base, cases, test } = input;
  const baseP = test.map((s) => shippedProbability(base, s));
  const identity = { study: input.study, source: input.source, k: input.k, draw: input.draw, seed: input.seed, settings: input.settings };
  let cv;
  try {
    cv = crossValidate(cases, base, ADAPTATION_METHODS, { ...input.cv, seed: input.seed });
  } catch (error) {
    if (!(error instanceof AdaptationDataError)) throw error;
    // What the app answers a clinic with such cases: no adaptation, the shipped model stays.
    const melanoma = cases.filter((c) => c.label === 1).length;
    return {
      ...identity,
      cvFolds: 0,
      cvRepeats: input.cv.repeats ?? 0,
      counts: { melanoma, benign: cases.length - melanoma, groups: new Set(cases.map((c) => c.group)).size },
      choice: { method: 'none', reasons: [error.message] },
      cv: {},
      test: { shipped: { p: baseP, ...base.operating } },
      refused: error.message,
      seconds: (performance.now() - t0) / 1000,
    };
  }
  const choice = chooseMethod(cv, cv.counts);
  const shippedCv = cv.candidates.find((c) => c.method === 'shipped')!;
  const arms: Partial<Record<Arm, ArmScores>> = {
    shipped: { p: baseP, ...base.operating },
    shipped_cutoffs: { p: baseP, threshold: shippedCv.operating.threshold, reviewAt: shippedCv.operating.reviewAt, highAt: shippedCv.operating.highAt },
  };
  for (const method of ADAPTATION_METHODS) {
    const model = fitFinal(method, cases, base, cv);
    arms[method] = { p: testProbabilities(model, base, test), threshold: model.threshold, reviewAt: model.tiers.reviewAt, highAt: model.tiers.highAt };
  }
  return {
    ...identity,
    cvFolds: cv.k,
    cvRepeats: cv.repeats,
    counts: cv.counts,
    choice: { method: choice.method, reasons: [...choice.reasons] },
    cv: Object.fromEntries(cv.candidates.map((c) => [c.method, { auc: c.auc, deltaAuc: c.deltaAuc, deltaAucCi: [c.deltaAucCi[0], c.deltaAucCi[1]], brier: c.brier }])),
    test: { ...arms, shipped: arms.shipped! },
    seconds: (performance.now() - t0) / 1000,
  };
}
