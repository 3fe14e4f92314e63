/** How the model screen words and lays out an adaptation comparison (pure, so it is testable without a DOM). */
import type { AdaptationComparison, AdaptationMethod, ModelFigures } from '#common/ipc';

export const METHOD_LABEL: Record<AdaptationMethod, string> = {
  recalibrate: 'Recalibration',
  members: 'Member re-weighting',
  last_layer: 'Last-layer refit',
};

/** What each method changes, in a clinician's words. */
export const METHOD_EXPLANATION: Record<AdaptationMethod, string> = {
  recalibrate: 'refits how the score is turned into a probability; the ranking of images does not change',
  members: "re-weights the four parts of the model's late fusion",
  last_layer: "refits the model's last layer, held close to the shipped weights",
};

/** A proportion as a percentage with one decimal (unlike format.percent, rounded: these are summary figures). */
export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
const interval = (ci: readonly [number, number], f: (x: number) => string): string => `${f(ci[0])} to ${f(ci[1])}`;

/** One column of the comparison table: the shipped model, or a method fitted on the clinic's cases. */
export interface ComparisonColumn {
  readonly key: 'shipped' | AdaptationMethod;
  readonly label: string;
  readonly chosen: boolean;
  readonly figures: ModelFigures;
  readonly deltaAuc: { value: number; ci: readonly [number, number] } | null;
}

export function comparisonColumns(comparison: AdaptationComparison): ComparisonColumn[] {
  return [
    { key: 'shipped', label: `Shipped (${comparison.base.version})`, chosen: false, figures: comparison.shipped, deltaAuc: null },
    ...comparison.methods.map((m) => ({
      key: m.method,
      label: METHOD_LABEL[m.method],
      chosen: comparison.chosen === m.method,
      figures: m,
      deltaAuc: { value: m.deltaAuc, ci: m.deltaAucCi },
    })),
  ];
}

/** The table's rows: a label, a hint saying what the figure means, and the cell of each column. */
export interface ComparisonRow {
  readonly key: string;
  readonly label: string;
  readonly hint: string;
  readonly cells: string[];
}

export function comparisonRows(columns: readonly ComparisonColumn[]): ComparisonRow[] {
  const row = (key: string, label: string, hint: string, cell: (c: ComparisonColumn) => string): ComparisonRow => ({ key, label, hint, cells: columns.map(cell) });
  return [
    row('auc', 'AUC (95% CI)', 'how well the model ranks melanomas above benign lesions; 0.5 is chance', (c) => `${fixed(3)(c.figures.auc)} (${interval(c.figures.aucCi, fixed(3))})`),
    row('delta-auc', 'AUC change vs shipped (95% CI)', 'paired on the same cases; an interval above 0 means a real gain', (c) => (c.deltaAuc ? `${signed(c.deltaAuc.value)} (${interval(c.deltaAuc.ci, signed)})` : '—')),
    row('threshold', 'Operating threshold', "re-chosen on the clinic's cases with the shipped model's rule", (c) => pct(c.figures.threshold)),
    row('sensitivity', 'Sensitivity', 'melanomas at or above the threshold', (c) => pct(c.figures.sensitivity)),
    row('specificity', 'Specificity', 'benign lesions below the threshold', (c) => pct(c.figures.specificity)),
    row('brier', 'Brier score', 'mean squared error of the probability; lower is better', (c) => fixed(3)(c.figures.brier)),
    row('ece', 'Calibration error (ECE)', 'gap between stated probability and observed frequency; lower is better', (c) => pct(c.figures.ece)),
    row('tier-low', 'Low-risk tier', 'share of cases', (c) => pct(c.figures.tiers.low)),
    row('tier-review', 'Review tier', 'share of cases', (c) => pct(c.figures.tiers.review)),
    row('tier-high', 'High-risk tier', 'share of cases', (c) => pct(c.figures.tiers.high)),
  ];
}

/** Why only recalibration is offered, when the clinic has too few confirmed cases of a class. */
export function tooFewCasesNotice({ cases, minimumPerClass }: Pick<AdaptationComparison, 'cases' | 'minimumPerClass'>): string | null {
  const short: string[] = [];
  if (cases.melanoma < minimumPerClass) short.push(`${cases.melanoma} confirmed melanoma${cases.melanoma === 1 ? '' : 's'}`);
  if (cases.benign < minimumPerClass) short.push(`${cases.benign} confirmed benign lesion${cases.benign === 1 ? '' : 's'}`);
  if (!short.length) return null;
  return `Only ${short.join(' and ')} (fewer than ${minimumPerClass}): recalibration at most is offered, and every figure below is uncertain.`;
}

/** An SVG path through ROC points on a square plot of `size` pixels with `pad` around it. */
export function rocPath(points: readonly { fpr: number; tpr: number }[], size: number, pad: number): string {
  const span = size - 2 * pad;
  return points.map((p, i) => `${i ? 'L' : 'M'}${(pad + p.fpr * span).toFixed(1)},${(pad + (1 - p.tpr) * span).toFixed(1)}`).join(' ');
}
