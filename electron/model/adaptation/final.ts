/**
 * The model a clinic would adopt: the chosen method refitted on every confirmed case, with its
 * threshold, presets and tier cut-offs chosen by the shipped rules on the method's cross-validated
 * (out-of-fold) probabilities, since in-sample probabilities of the final fit would flatter it.
 *
 * A recalibration cannot rank cases better than the shipped model, so it is not allowed to make
 * the threshold or the `low` tier less cautious than the shipped model's: in simulated clinics,
 * cut-offs re-chosen on a few dozen local melanomas put 11% of test melanomas in `low` where the
 * shipped cut-offs put none (training/studies/adaptation). Its cut-offs are the lower of the
 * re-chosen ones and the shipped ones carried through the recalibration.
 */
import { thresholdMetrics } from '../metrics.ts';
import { chooseOperatingPoint, chooseOperatingPoints } from '../operating-rules.ts';
import { fitMethod, scoreAdapted, shippedProbability } from './methods.ts';
import type { AdaptationMethod, AdaptedModel, AdaptSample, BaseModel, CrossValidation, FinalModel, FitOptions } from './types.ts';

const EPS = 1e-12;
const logit = (p: number): number => {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
};

/**
 * The shipped probability -> recalibrated probability map. A recalibration is affine in the
 * logit, so logit(p_adapted) = a * logit(p_shipped) + b exactly; two cases with different shipped
 * probabilities fix a and b.
 */
export function recalibrationMap(model: AdaptedModel, base: BaseModel, samples: readonly AdaptSample[]): ((p: number) => number) | null {
  const shipped = samples.map((s) => shippedProbability(base, s));
  let lo = 0;
  let hi = 0;
  shipped.forEach((p, i) => {
    if (p < shipped[lo]!) lo = i;
    if (p > shipped[hi]!) hi = i;
  });
  const dx = logit(shipped[hi]!) - logit(shipped[lo]!);
  if (!(dx > 1e-6)) return null;
  const a = (logit(scoreAdapted(model, samples[hi]!)) - logit(scoreAdapted(model, samples[lo]!))) / dx;
  const b = logit(scoreAdapted(model, samples[lo]!)) - a * logit(shipped[lo]!);
  return (p) => 1 / (1 + Math.exp(-(a * logit(p) + b)));
}

/** `samples` must be the cases `cv` was computed on, in the same order. */
export function fitFinal(method: AdaptationMethod, samples: readonly AdaptSample[], base: BaseModel, cv: CrossValidation, options: FitOptions = {}): FinalModel {
  const result = cv.candidates.find((c) => c.method === method);
  if (!result) throw new Error(`cross-validation did not evaluate ${method}`);
  if (result.oof.length !== samples.length) throw new Error(`cross-validation covered ${result.oof.length} cases, not the ${samples.length} given`);
  const labels = samples.map((s) => s.label);
  const model = fitMethod(method, samples, base, options);
  const op = chooseOperatingPoint(result.oof, labels);
  const operatingPoints = chooseOperatingPoints(result.oof, labels);
  const map = method === 'recalibrate' && base.operating ? recalibrationMap(model, base, samples) : null;
  if (!map || !base.operating) return { ...model, threshold: op.threshold, tiers: { reviewAt: op.reviewAt, highAt: op.highAt }, operatingPoints };
  const threshold = Math.min(op.threshold, map(base.operating.threshold));
  const reviewAt = Math.min(op.reviewAt, map(base.operating.reviewAt));
  const m = thresholdMetrics(result.oof, labels, threshold);
  return {
    ...model,
    threshold,
    tiers: { reviewAt, highAt: op.highAt },
    // The default preset is the threshold itself.
    operatingPoints: { ...operatingPoints, sensitive: { threshold, valSensitivity: m.sensitivity, valSpecificity: m.specificity } },
  };
}
