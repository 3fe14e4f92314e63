/**
 * Binary classification metrics for melanoma (positive) vs benign (negative). Labels are 0/1,
 * scores are probabilities (or any monotone score for the threshold-free ones).
 */
import { seededRandom } from '../util/random.ts';

export { seededRandom };

export type Labels = ArrayLike<number>;
export type Scores = ArrayLike<number>;

function check(scores: Scores, labels: Labels): void {
  if (scores.length !== labels.length) throw new Error(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
}

/** ROC AUC as the Mann-Whitney statistic; ties between a positive and a negative count one half. */
export function auc(scores: Scores, labels: Labels): number {
  check(scores, labels);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSumPositives = 0;
  // Average ranks over tied groups so ties contribute 1/2.
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        rankSumPositives += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Predicted positive when score >= threshold. */
export function confusion(scores: Scores, labels: Labels, threshold: number): Confusion {
  check(scores, labels);
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < scores.length; i++) {
    const predicted = scores[i]! >= threshold;
    if (labels[i] === 1) {
      if (predicted) c.tp++;
      else c.fn++;
    } else if (predicted) c.fp++;
    else c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b);

export interface ThresholdMetrics {
  threshold: number;
  accuracy: number;
  balancedAccuracy: number;
  sensitivity: number;
  specificity: number;
  ppv: number;
  npv: number;
  f1: number;
  confusion: Confusion;
}

export function thresholdMetrics(scores: Scores, labels: Labels, threshold: number): ThresholdMetrics {
  const c = confusion(scores, labels, threshold);
  const sensitivity = ratio(c.tp, c.tp + c.fn);
  const specificity = ratio(c.tn, c.tn + c.fp);
  const ppv = ratio(c.tp, c.tp + c.fp);
  return {
    threshold,
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
    balancedAccuracy: (sensitivity + specificity) / 2,
    sensitivity,
    specificity,
    ppv,
    npv: ratio(c.tn, c.tn + c.fn),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    confusion: c,
  };
}

export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** ROC curve from the highest threshold down; one point per distinct score plus (0,0). */
export function rocCurve(scores: Scores, labels: Labels): RocPoint[] {
  check(scores, labels);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let P = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) P++;
  const N = labels.length - P;
  const points: RocPoint[] = [{ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const s = scores[order[i]!]!;
    while (i < order.length && scores[order[i]!] === s) {
      if (labels[order[i]!] === 1) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold: s, fpr: ratio(fp, N), tpr: ratio(tp, P) });
  }
  return points;
}

/**
 * The highest threshold whose sensitivity reaches the target (predict positive when
 * score >= threshold). Chosen on validation data; applied unchanged to test data.
 */
export function thresholdForSensitivity(scores: Scores, labels: Labels, target: number): number {
  const points = rocCurve(scores, labels);
  for (const p of points) if (p.tpr >= target) return p.threshold;
  return Math.min(...Array.from(scores));
}

/** Specificity at the highest threshold that reaches the target sensitivity on the same data. */
export function specificityAtSensitivity(scores: Scores, labels: Labels, target = 0.9): number {
  const points = rocCurve(scores, labels);
  for (const p of points) if (p.tpr >= target) return 1 - p.fpr;
  return Number.NaN;
}

export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  observed: number;
}

/** Equal-width bins over [0, 1]; the last bin includes 1. */
export function reliabilityBins(probabilities: Scores, labels: Labels, bins = 10): ReliabilityBin[] {
  check(probabilities, labels);
  const sums = Array.from({ length: bins }, () => ({ count: 0, p: 0, y: 0 }));
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i]!;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    sums[b]!.count++;
    sums[b]!.p += p;
    sums[b]!.y += labels[i]!;
  }
  return sums.map((s, b) => ({
    lower: b / bins,
    upper: (b + 1) / bins,
    count: s.count,
    meanPredicted: ratio(s.p, s.count),
    observed: ratio(s.y, s.count),
  }));
}

/** Expected calibration error: bin-weighted |observed frequency - mean predicted probability|. */
export function expectedCalibrationError(probabilities: Scores, labels: Labels, bins = 10): number {
  const n = probabilities.length;
  if (n === 0) return Number.NaN;
  let ece = 0;
  for (const b of reliabilityBins(probabilities, labels, bins)) {
    if (b.count > 0) ece += (b.count / n) * Math.abs(b.observed - b.meanPredicted);
  }
  return ece;
}


export interface BootstrapOptions {
  iterations?: number;
  seed?: number;
  /** Cluster ids (e.g. HAM10000 lesion ids): resample whole clusters, since images of one lesion are not independent. */
  groups?: ArrayLike<string>;
  /** Two-sided level, default 0.95. */
  level?: number;
}

/**
 * Percentile bootstrap confidence interval of a statistic. Resamples whose statistic is NaN
 * (e.g. no positives drawn) are skipped.
 */
export function bootstrapCi(
  scores: Scores,
  labels: Labels,
  statistic: (s: number[], l: number[]) => number,
  options: BootstrapOptions = {},
): [number, number] {
  check(scores, labels);
  const { iterations = 2000, seed = 20240601, level = 0.95 } = options;
  const random = seededRandom(seed);
  const clusters: number[][] = [];
  if (options.groups) {
    const byGroup = new Map<string, number[]>();
    for (let i = 0; i < scores.length; i++) {
      const g = options.groups[i]!;
      const members = byGroup.get(g) ?? [];
      members.push(i);
      byGroup.set(g, members);
    }
    clusters.push(...byGroup.values());
  } else {
    for (let i = 0; i < scores.length; i++) clusters.push([i]);
  }
  const values: number[] = [];
  for (let it = 0; it < iterations; it++) {
    const s: number[] = [];
    const l: number[] = [];
    for (let k = 0; k < clusters.length; k++) {
      for (const i of clusters[Math.floor(random() * clusters.length)]!) {
        s.push(scores[i]!);
        l.push(labels[i]!);
      }
    }
    const v = statistic(s, l);
    if (!Number.isNaN(v)) values.push(v);
  }
  if (values.length === 0) return [Number.NaN, Number.NaN];
  values.sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  const at = (q: number): number => values[Math.min(values.length - 1, Math.max(0, Math.floor(q * values.length)))]!;
  return [at(alpha), at(1 - alpha)];
}

export interface EvaluationReport extends ThresholdMetrics {
  n: number;
  positives: number;
  auc: number;
  aucCi: [number, number];
  ece: number;
  specificityAt90Sensitivity: number;
  specificityAt90SensitivityCi: [number, number];
}

/** Everything the model card and `evaluate` report for one set at a given threshold. */
export function evaluateScores(probabilities: Scores, labels: Labels, threshold: number, options: BootstrapOptions = {}): EvaluationReport {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  return {
    n: labels.length,
    positives,
    auc: auc(probabilities, labels),
    aucCi: bootstrapCi(probabilities, labels, auc, options),
    ece: expectedCalibrationError(probabilities, labels),
    specificityAt90Sensitivity: specificityAtSensitivity(probabilities, labels, 0.9),
    specificityAt90SensitivityCi: bootstrapCi(probabilities, labels, (s, l) => specificityAtSensitivity(s, l, 0.9), { ...options, iterations: Math.min(options.iterations ?? 1000, 1000) }),
    ...thresholdMetrics(probabilities, labels, threshold),
  };
}
