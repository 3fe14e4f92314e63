/**
 * The three adaptation methods. Each keeps the head's hidden layers as shipped and changes at
 * most the output layer and the calibration, so every case's mean last-hidden activations are
 * computed once (cached per head and case) and each fit is a small float64 logistic regression.
 *
 * Every method returns its result as a full head (same config) plus temperature and offset, so
 * the classifier runs an adapted model exactly as the shipped one: mean logit over the TTA views,
 * then p = sigmoid(logit / T + bias). The adapted head keeps the shipped temperature and output
 * bias and puts the change into the malignant output column and the calibration offset.
 */
import { type FusionHead, type HeadArrays } from '../head.ts';
import { calibrate } from '../manifest.ts';
import { fitPlatt } from '../operating-rules.ts';
import { fitAnchoredLogistic } from './anchored-logistic.ts';
import { headParts, partsOf, type HeadParts } from './member-logits.ts';
import { AdaptationDataError, type AdaptationMethod, type AdaptedModel, type AdaptSample, type BaseModel, type FitOptions } from './types.ts';

/**
 * Prior spread of a refit's logit change OFF the shipped direction, in logit units, summed over
 * its features: l2 = features / SD². With SD = 1 the members fit (4 features) pays l2 = 4 and the
 * last-layer fit (256 units) l2 = 256 per squared logit of change at a feature's typical size, so
 * with a few hundred cases the last layer stays close to the shipped weights unless the local
 * cases consistently disagree, and the members may drift by about half a logit each.
 */
export const OFF_ANCHOR_LOGIT_SD = 1;

/** The default L2 pull of a method with `features` refitted weights. */
export function defaultL2(features: number): number {
  return features / OFF_ANCHOR_LOGIT_SD ** 2;
}

const partsByHead = new WeakMap<FusionHead, HeadParts>();
const hiddenByHead = new WeakMap<FusionHead, WeakMap<AdaptSample, Float64Array>>();

/** The base head's split, computed once per head. */
export function baseParts(head: FusionHead): HeadParts {
  let parts = partsByHead.get(head);
  if (!parts) partsByHead.set(head, (parts = headParts(head)));
  return parts;
}

/** A case's mean last-hidden activations under the base head, computed once per (head, case). */
export function meanHiddenOf(head: FusionHead, sample: AdaptSample): Float64Array {
  let cache = hiddenByHead.get(head);
  if (!cache) hiddenByHead.set(head, (cache = new WeakMap()));
  let h = cache.get(sample);
  if (!h) cache.set(sample, (h = baseParts(head).meanHidden(sample)));
  return h;
}

/** The shipped model's calibrated probability of a case. */
export function shippedProbability(base: BaseModel, sample: AdaptSample): number {
  return calibrate(baseParts(base.head).logit(meanHiddenOf(base.head, sample)), base.temperature, base.calibrationBias);
}

/** A fitted method in the activations' terms: the adapted model and its probability of given activations. */
export interface HiddenFit {
  readonly model: AdaptedModel;
  probability(hidden: ArrayLike<number>): number;
}

function checkLabels(labels: readonly number[]): void {
  const melanoma = labels.filter((y) => y === 1).length;
  if (melanoma === 0 || melanoma === labels.length) {
    throw new AdaptationDataError(`adaptation needs both melanoma and benign cases; these have ${melanoma} melanoma and ${labels.length - melanoma} benign`);
  }
}

/** Head arrays whose logit direction is `direction` (shipped temperature scale) and everything else shipped. */
function withDirection(arrays: HeadArrays, direction: Float64Array): HeadArrays {
  const { output } = arrays;
  const kernel = Float32Array.from(output.kernel);
  for (let j = 0; j < output.fanIn; j++) kernel[j * 2 + 1] = kernel[j * 2]! + direction[j]!;
  return { ...arrays, output: { ...output, kernel, bias: Float32Array.from(output.bias) } };
}

/**
 * Fits a method on cases given as mean activations (cross-validation calls this with cached
 * activations; fitMethod is the same on cases).
 */
export function fitOnHidden(method: AdaptationMethod, hidden: readonly Float64Array[], labels: readonly (0 | 1)[], base: BaseModel, options: FitOptions = {}): HiddenFit {
  checkLabels(labels);
  const parts = baseParts(base.head);
  const arrays = base.head.arrays();
  const t0 = base.temperature;
  if (!(t0 > 0)) throw new AdaptationDataError(`the base model's temperature must be positive, not ${t0}`);
  if (method === 'recalibrate') {
    const { temperature, bias } = fitPlatt(hidden.map((h) => parts.logit(h)), labels);
    return {
      model: { method, config: base.head.config, head: arrays, temperature, calibrationBias: bias },
      probability: (h) => calibrate(parts.logit(h), temperature, bias),
    };
  }
  let direction: Float64Array; // calibrated-logit weights per hidden unit
  let intercept: number;
  let memberWeights: number[] | undefined;
  if (method === 'members') {
    const rows = hidden.map((h) => parts.contributions(h));
    const anchor = new Float64Array(parts.members.length).fill(1);
    const fit = fitAnchoredLogistic(rows, labels, anchor, options.l2 ?? defaultL2(anchor.length));
    direction = new Float64Array(parts.hiddenWidth);
    parts.members.forEach(([start, end], k) => {
      for (let j = start; j < end; j++) direction[j] = fit.weights[k]! * parts.direction[j]!;
    });
    intercept = fit.intercept;
    memberWeights = Array.from(fit.weights, (u) => u * t0);
  } else if (method === 'last_layer') {
    const fit = fitAnchoredLogistic(hidden, labels, parts.direction, options.l2 ?? defaultL2(parts.hiddenWidth));
    direction = fit.weights;
    intercept = fit.intercept;
  } else {
    throw new AdaptationDataError(`unknown adaptation method ${String(method)}`);
  }
  // p = sigmoid(direction · h + intercept) = calibrate(T0·direction · h + b_out, T0, intercept − b_out / T0).
  const headDirection = direction.map((v) => v * t0);
  const calibrationBias = intercept - parts.bias / t0;
  return {
    model: {
      method,
      config: base.head.config,
      head: withDirection(arrays, headDirection),
      temperature: t0,
      calibrationBias,
      ...(memberWeights ? { memberWeights } : {}),
    },
    probability: (h) => {
      let s = intercept;
      for (let j = 0; j < direction.length; j++) s += direction[j]! * h[j]!;
      return 1 / (1 + Math.exp(-s));
    },
  };
}

/** Fits `method` on the training cases. Deterministic: the same cases give the same model. */
export function fitMethod(method: AdaptationMethod, train: readonly AdaptSample[], base: BaseModel, options: FitOptions = {}): AdaptedModel {
  return fitOnHidden(
    method,
    train.map((s) => meanHiddenOf(base.head, s)),
    train.map((s) => s.label),
    base,
    options,
  ).model;
}

const partsByModel = new WeakMap<AdaptedModel, HeadParts>();

/** An adapted model's calibrated probability of a case, by the classifier's rule (mean logit over views, then calibrate). */
export function scoreAdapted(model: AdaptedModel, sample: AdaptSample): number {
  let parts = partsByModel.get(model);
  if (!parts) partsByModel.set(model, (parts = partsOf(model.head, [[0, model.head.output.fanIn]])));
  return calibrate(parts.logit(parts.meanHidden(sample)), model.temperature, model.calibrationBias);
}
