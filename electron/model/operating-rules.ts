/**
 * Post-hoc calibration and operating points, fitted on held-out probabilities only (the model
 * factory's validation set; the clinic's out-of-fold predictions when a model is adapted): Platt scaling
 * of the head's logit (a temperature and an offset, p = sigmoid(logit / T + bias); temperature
 * scaling alone is its special case bias = 0), the threshold for a target sensitivity, the
 * three-tier cut-offs and the three threshold presets. The app applies the result with
 * electron/model/manifest.ts `calibrate`. Training and clinic adaptation share these rules, so a
 * locally adapted model's cut-offs mean what the shipped model's mean.
 */
import type { OperatingPoint as OperatingPointName } from '#common/domain';
import type { NamedOperatingPoint } from './manifest.ts';
import { rocCurve, thresholdForSensitivity, thresholdMetrics, type Labels, type Scores } from './metrics.ts';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Mean binary cross-entropy of sigmoid(logit / T). */
export function negativeLogLikelihood(logits: Scores, labels: Labels, temperature: number): number {
  return plattNll(logits, labels, 1 / temperature, 0);
}

/**
 * The temperature minimising validation NLL; golden-section search on log T over [1/20, 20]
 * (the NLL is unimodal in T for a fixed set of logits in practice).
 */
export function fitTemperature(logits: Scores, labels: Labels): number {
  if (logits.length === 0) throw new Error('fitTemperature needs data');
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  const f = (logT: number): number => negativeLogLikelihood(logits, labels, Math.exp(logT));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let fa = f(a);
  let fb = f(b);
  for (let i = 0; i < 100 && hi - lo > 1e-6; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = f(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Platt scaling: the temperature and offset minimising validation NLL of sigmoid(z / T + bias),
 * by Newton's method on the convex 2-parameter logistic loss (slope a = 1/T, intercept), started
 * from temperature scaling. Falls back to the temperature alone (bias 0) if the fitted slope is
 * not positive, which would invert the model's ranking.
 */
export function fitPlatt(logits: Scores, labels: Labels): { temperature: number; bias: number } {
  const t0 = fitTemperature(logits, labels);
  const nll = (a: number, b: number): number => plattNll(logits, labels, a, b);
  let a = 1 / t0;
  let b = 0;
  let loss = nll(a, b);
  for (let iter = 0; iter < 50; iter++) {
    let ga = 0;
    let gb = 0;
    let haa = 0;
    let hab = 0;
    let hbb = 0;
    for (let i = 0; i < logits.length; i++) {
      const z = logits[i]!;
      const p = sigmoid(a * z + b);
      const r = p - (labels[i] === 1 ? 1 : 0);
      const w = Math.max(p * (1 - p), 1e-12);
      ga += r * z;
      gb += r;
      haa += w * z * z;
      hab += w * z;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    let step = 1;
    let next = nll(a - da, b - db);
    while (next > loss && step > 1e-6) {
      step /= 2;
      next = nll(a - step * da, b - step * db);
    }
    if (next > loss) break;
    a -= step * da;
    b -= step * db;
    const improved = loss - next;
    loss = next;
    if (improved < 1e-12) break;
  }
  return a > 0 ? { temperature: 1 / a, bias: b } : { temperature: t0, bias: 0 };
}

/** Mean binary cross-entropy of sigmoid(a * logit + b); log-sigmoid form avoids overflow for large |z|. */
function plattNll(logits: Scores, labels: Labels, a: number, b: number): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const z = a * logits[i]! + b;
    const logSigmoid = -Math.max(-z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
    const logOneMinus = -Math.max(z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
    sum -= labels[i] === 1 ? logSigmoid : logOneMinus;
  }
  return sum / logits.length;
}

export function applyTemperature(logits: Scores, temperature: number): Float64Array {
  return Float64Array.from(Array.from(logits), (z) => sigmoid(z / temperature));
}

export interface OperatingPoint {
  threshold: number;
  reviewAt: number;
  highAt: number;
}

export interface OperatingPointTargets {
  /** Sensitivity the operating threshold must reach on validation data. */
  sensitivity: number;
  /** Below reviewAt: 'low'. Chosen so this much of validation melanoma is at or above it. */
  reviewSensitivity: number;
  /** At or above highAt: 'high'. Chosen so this much of validation benign is below it. */
  highSpecificity: number;
}

export const DEFAULT_TARGETS: OperatingPointTargets = { sensitivity: 0.9, reviewSensitivity: 0.97, highSpecificity: 0.95 };

/**
 * Operating threshold and tier cut-offs from calibrated validation probabilities. The cut-offs
 * are ordered reviewAt <= threshold <= highAt so a 'low' image is never labelled malignant and a
 * 'high' image always is.
 */
export function chooseOperatingPoint(probabilities: Scores, labels: Labels, targets: OperatingPointTargets = DEFAULT_TARGETS): OperatingPoint {
  const threshold = thresholdForSensitivity(probabilities, labels, targets.sensitivity);
  const reviewAt = Math.min(threshold, thresholdForSensitivity(probabilities, labels, targets.reviewSensitivity));
  let highAt = threshold;
  for (const p of rocCurve(probabilities, labels)) {
    // Walk down from the top; the last threshold that still keeps specificity is the lowest valid.
    if (1 - p.fpr >= targets.highSpecificity && Number.isFinite(p.threshold)) highAt = Math.max(threshold, p.threshold);
    else if (1 - p.fpr < targets.highSpecificity) break;
  }
  return { threshold, reviewAt, highAt };
}

/** A validation source sets cut-offs of its own only with at least this many images of each class. */
export const MIN_SOURCE_CASES_PER_CLASS = 30;

/**
 * The same rules applied to each validation source on its own, keeping the most cautious result:
 * the lowest threshold and review cut-off (each source reaches the sensitivity targets) and the
 * highest 'high' cut-off (each source keeps the specificity target). Pooled validation data is
 * dominated by its largest source, so pooled cut-offs can miss the targets on a smaller source
 * that resembles a new clinic's images more. Sources with too few images of a class are skipped;
 * with none left, the pooled rule applies.
 */
export function chooseOperatingPointBySource(probabilities: Scores, labels: Labels, sources: readonly string[], targets: OperatingPointTargets = DEFAULT_TARGETS): OperatingPoint {
  if (sources.length !== labels.length) throw new Error(`${sources.length} sources for ${labels.length} labels`);
  const points: OperatingPoint[] = [];
  for (const source of new Set(sources)) {
    const idx = sources.flatMap((s, i) => (s === source ? [i] : []));
    const sub = { p: idx.map((i) => probabilities[i]!), y: idx.map((i) => labels[i]!) };
    const melanoma = sub.y.filter((y) => y === 1).length;
    if (melanoma < MIN_SOURCE_CASES_PER_CLASS || sub.y.length - melanoma < MIN_SOURCE_CASES_PER_CLASS) continue;
    points.push(chooseOperatingPoint(sub.p, sub.y, targets));
  }
  if (points.length === 0) return chooseOperatingPoint(probabilities, labels, targets);
  return {
    threshold: Math.min(...points.map((p) => p.threshold)),
    reviewAt: Math.min(...points.map((p) => p.reviewAt)),
    highAt: Math.max(...points.map((p) => p.highAt)),
  };
}

/** Specificity the 'specific' preset must keep on validation data. */
export const SPECIFIC_PRESET_SPECIFICITY = 0.9;

/**
 * The three presets a clinic can choose, all from calibrated VALIDATION probabilities:
 * 'sensitive' is the shipped rule (sensitivity >= targets.sensitivity), 'balanced' maximises
 * Youden's J (sensitivity + specificity - 1), 'specific' is the lowest threshold keeping
 * specificity >= SPECIFIC_PRESET_SPECIFICITY (so it misses as few melanomas as that allows).
 */
export function chooseOperatingPoints(
  probabilities: Scores,
  labels: Labels,
  targets: OperatingPointTargets = DEFAULT_TARGETS,
): Record<OperatingPointName, NamedOperatingPoint> {
  const at = (threshold: number): NamedOperatingPoint => {
    const m = thresholdMetrics(probabilities, labels, threshold);
    return { threshold, valSensitivity: m.sensitivity, valSpecificity: m.specificity };
  };
  const roc = rocCurve(probabilities, labels).filter((p) => Number.isFinite(p.threshold));
  let balanced = roc[0]!;
  // Walking down from the top, a tie keeps the higher threshold (fewer referrals for the same J).
  for (const p of roc) if (p.tpr - p.fpr > balanced.tpr - balanced.fpr) balanced = p;
  let specific = roc[0]!;
  for (const p of roc) {
    if (1 - p.fpr >= SPECIFIC_PRESET_SPECIFICITY) specific = p;
    else break;
  }
  return {
    sensitive: at(thresholdForSensitivity(probabilities, labels, targets.sensitivity)),
    balanced: at(balanced.threshold),
    specific: at(specific.threshold),
  };
}
