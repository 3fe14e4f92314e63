/**
 * Cross-validation against the shipped model, the choice rules and the final refit: a real local
 * improvement is found and chosen, too few melanomas allow recalibration at most (on request, never
 * chosen automatically), and a method that is not clearly better is not chosen.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseMethod,
  crossValidate,
  fitFinal,
  recalibrationMap,
  scoreAdapted,
  shippedProbability,
  type CandidateCv,
  type CrossValidation,
} from '../../electron/model/adaptation/index.ts';
import { chooseOperatingPoint } from '../../electron/model/operating-rules.ts';
import { toyBase, toyCases } from '../helpers/adaptation-synthetic.ts';

const options = { k: 5, repeats: 3, seed: 5, bootstrapIterations: 300 };

describe('crossValidate', () => {
  // Member 0 carries the signal; lesions of 1-2 images.
  const base = { ...toyBase(), operating: { threshold: 0.4, reviewAt: 0.2, highAt: 0.7 } };
  const cases = toyCases({ seed: 41, melanoma: 120, benign: 200, signal: [1.5, 1.5, 0, 0, 0, 0, 0, 0], perGroup: 2 });
  const cv = crossValidate(cases, base, ['recalibrate', 'members', 'last_layer'], options);

  it('reports the shipped model first and every method on out-of-fold probabilities', () => {
    expect(cv.candidates.map((c) => c.method)).toEqual(['shipped', 'recalibrate', 'members', 'last_layer']);
    expect(cv.counts).toEqual({ melanoma: 120, benign: 200, groups: 160 });
    expect(cv.k).toBe(5);
    for (const c of cv.candidates) {
      expect(c.oofByRepeat).toHaveLength(3);
      for (const p of c.oof) expect(p > 0 && p < 1).toBe(true);
      expect(c.aucCi[0]).toBeLessThanOrEqual(c.auc);
      expect(c.aucCi[1]).toBeGreaterThanOrEqual(c.auc);
      expect(c.operating.sensitivity).toBeGreaterThanOrEqual(0.9);
      expect(c.operating.reviewAt).toBeLessThanOrEqual(c.operating.threshold);
      expect(c.operating.threshold).toBeLessThanOrEqual(c.operating.highAt);
      const { low, review, high } = c.operating.tiers;
      expect(low + review + high).toBeCloseTo(1, 12);
      expect(c.roc[0]!.tpr).toBe(0);
    }
    const shipped = cv.candidates[0]!;
    expect(shipped.deltaAuc).toBe(0);
    expect(shipped.asShipped?.threshold).toBe(0.4);
  });

  it('gives recalibration the shipped ranking figures (a monotone refit never reorders cases) and its own calibration', () => {
    const shipped = cv.candidates[0]!;
    const recalibrate = cv.candidates.find((c) => c.method === 'recalibrate')!;
    expect(recalibrate.auc).toBe(shipped.auc);
    expect(recalibrate.aucCi).toEqual(shipped.aucCi);
    expect(recalibrate.deltaAucCi).toEqual([0, 0]);
    expect(recalibrate.roc).toEqual(shipped.roc);
    expect(recalibrate.brier).not.toBe(shipped.brier);
  });

  it('finds the local improvement with a paired interval above zero, and chooses a ranking method', () => {
    const members = cv.candidates.find((c) => c.method === 'members')!;
    expect(members.deltaAuc).toBeGreaterThan(0.03);
    expect(members.deltaAucCi[0]).toBeGreaterThan(0);
    const choice = chooseMethod(cv);
    expect(['members', 'last_layer']).toContain(choice.method);
    expect(choice.allowed).toEqual(['recalibrate', 'members', 'last_layer']);
    expect(choice.reasons.at(-1)).toBe(`Chosen: ${choice.method}.`);
  });

  it('is deterministic for a seed', () => {
    const again = crossValidate(cases, base, ['members'], options);
    const a = cv.candidates.find((c) => c.method === 'members')!;
    const b = again.candidates.find((c) => c.method === 'members')!;
    expect(b.oof).toEqual(a.oof);
    expect(b.deltaAucCi).toEqual(a.deltaAucCi);
  });

  it('fitFinal refits on every case and takes its cut-offs from the out-of-fold probabilities', () => {
    const final = fitFinal('members', cases, base, cv);
    const members = cv.candidates.find((c) => c.method === 'members')!;
    const op = chooseOperatingPoint(members.oof, cases.map((c) => c.label));
    expect(final.threshold).toBe(op.threshold);
    expect(final.tiers).toEqual({ reviewAt: op.reviewAt, highAt: op.highAt });
    expect(final.operatingPoints.sensitive.threshold).toBe(op.threshold);
    expect(final.method).toBe('members');
    expect(scoreAdapted(final, cases[0]!)).toBeGreaterThan(0);
    expect(() => fitFinal('members', cases.slice(1), base, cv)).toThrow(/covered 320 cases/);
  });

  it('never makes a recalibration less cautious than the shipped cut-offs carried through it', () => {
    const final = fitFinal('recalibrate', cases, base, cv);
    const map = recalibrationMap(final, base, cases)!;
    // The map is exact: a recalibration is affine in the logit.
    for (const c of cases.slice(0, 20)) expect(map(shippedProbability(base, c))).toBeCloseTo(scoreAdapted(final, c), 9);
    const op = chooseOperatingPoint(cv.candidates.find((c) => c.method === 'recalibrate')!.oof, cases.map((c) => c.label));
    expect(final.threshold).toBe(Math.min(op.threshold, map(base.operating.threshold)));
    expect(final.tiers.reviewAt).toBe(Math.min(op.reviewAt, map(base.operating.reviewAt)));
    expect(final.tiers.reviewAt).toBeLessThanOrEqual(final.threshold);
    expect(final.operatingPoints.sensitive.threshold).toBe(final.threshold);
    // No case the shipped model keeps out of `low` falls into the recalibrated `low`.
    for (const c of cases) if (shippedProbability(base, c) >= base.operating.reviewAt) expect(scoreAdapted(final, c)).toBeGreaterThanOrEqual(final.tiers.reviewAt - 1e-12);
  });
});

describe('chooseMethod', () => {
  it('allows recalibrate at most with fewer than 30 melanomas, but never chooses it: the shipped model stays unless it is requested', () => {
    const base = toyBase();
    const cases = toyCases({ seed: 51, melanoma: 20, benign: 150, signal: [3, 3, 0, 0, 0, 0, 0, 0] });
    const cv = crossValidate(cases, base, ['recalibrate', 'members', 'last_layer'], options);
    // Even a ranking method that looks better and a recalibration that lowers the Brier score are not chosen.
    expect(cv.candidates.find((c) => c.method === 'recalibrate')!.deltaBrier).toBeLessThan(0);
    const choice = chooseMethod(cv);
    expect(choice.method).toBe('none');
    expect(choice.allowed).toEqual(['recalibrate']);
    expect(choice.reasons[0]).toMatch(/^Only 20 confirmed melanoma and 150 benign cases .*at most the probabilities can be recalibrated/);
    expect(choice.reasons.join('\n')).toMatch(/Recalibration can be requested explicitly, but it is not chosen automatically/);
    expect(choice.reasons.at(-1)).toBe('Keep the shipped model.');
  });

  /** A cross-validation result with the given figures (only what the rules read). */
  function fake(figures: Record<string, Partial<CandidateCv>>, counts = { melanoma: 100, benign: 200 }): CrossValidation {
    const candidate = (method: string, f: Partial<CandidateCv>): CandidateCv =>
      ({ method, auc: 0.8, deltaAuc: 0, deltaAucCi: [0, 0], brier: 0.15, deltaBrier: 0, ece: 0.05, ...f }) as CandidateCv;
    return {
      k: 5,
      repeats: 5,
      seed: 1,
      counts: { ...counts, groups: counts.melanoma + counts.benign },
      candidates: [candidate('shipped', {}), ...Object.entries(figures).map(([m, f]) => candidate(m, f))],
    };
  }

  it('prefers the larger clear AUC gain; ignores gains whose interval reaches zero', () => {
    const cv = fake({
      recalibrate: { brier: 0.12, deltaBrier: -0.03 },
      members: { auc: 0.83, deltaAuc: 0.03, deltaAucCi: [0.01, 0.05] },
      last_layer: { auc: 0.86, deltaAuc: 0.06, deltaAucCi: [-0.01, 0.12] },
    });
    const choice = chooseMethod(cv);
    expect(choice.method).toBe('members');
    expect(choice.reasons.join('\n')).toMatch(/last_layer: AUC 0\.860 vs 0\.800 shipped \(difference \+0\.060, 95% CI -0\.010 to \+0\.120\): not clearly better/);
  });

  it('falls back to recalibrate when it improves Brier, else keeps the shipped model', () => {
    const noGain = { members: { deltaAucCi: [-0.02, 0.02] as const }, last_layer: { deltaAucCi: [-0.03, 0.01] as const } };
    expect(chooseMethod(fake({ ...noGain, recalibrate: { brier: 0.13, deltaBrier: -0.02 } })).method).toBe('recalibrate');
    const none = chooseMethod(fake({ ...noGain, recalibrate: { brier: 0.16, deltaBrier: 0.01 } }));
    expect(none.method).toBe('none');
    expect(none.reasons.at(-1)).toBe('Keep the shipped model.');
  });

  it('applies the 30-case rule to benign cases too, using the counts given', () => {
    const cv = fake({ members: { deltaAuc: 0.1, deltaAucCi: [0.05, 0.15] }, recalibrate: { deltaBrier: 0.01 } });
    expect(chooseMethod(cv).method).toBe('members');
    const few = chooseMethod(cv, { melanoma: 100, benign: 29 });
    expect(few.method).toBe('none');
    expect(few.allowed).toEqual(['recalibrate']);
    // Recalibration that would improve the Brier score is still only offered with so few cases.
    expect(chooseMethod(fake({ recalibrate: { deltaBrier: -0.05 } }, { melanoma: 29, benign: 200 })).method).toBe('none');
  });
});
