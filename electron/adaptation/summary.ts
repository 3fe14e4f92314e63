/**
 * The adaptation's findings as plain JSON: what the CLI prints (table or --json), what the local
 * model's manifest keeps (adaptation.cv) and what the PDF report reads. The cross-validation's
 * per-sample arrays stay out; ROC curves are kept thinned to what a plot needs.
 */
import type { AdaptationMethod, Candidate, CandidateCv, CrossValidation, MethodChoice } from '../model/adaptation/types.ts';
import type { RocPoint } from '../model/metrics.ts';

/** A candidate's figures without its per-case arrays (the ROC curve thinned). */
export type CandidateSummary = Omit<CandidateCv, 'oofByRepeat' | 'oof' | 'aucByRepeat' | 'roc'> & {
  readonly roc: readonly { readonly fpr: number; readonly tpr: number }[];
};

export interface AdaptationSummary {
  readonly base: { readonly version: string; readonly manifestSha256: string };
  /** 'auto' (cross-validation chooses) or the method asked for. */
  readonly requested: 'auto' | AdaptationMethod;
  /** The method of the local model; null: keep the shipped model (nothing written). */
  readonly method: AdaptationMethod | null;
  readonly choice: { readonly method: AdaptationMethod | 'none'; readonly reasons: readonly string[]; readonly allowed: readonly AdaptationMethod[] };
  readonly cases: {
    readonly source: 'store' | 'labels';
    readonly count: number;
    readonly melanoma: number;
    readonly benign: number;
    readonly groups: number;
    readonly excluded: number;
    /** Why cases were left out, with how many each. */
    readonly excludedReasons: Readonly<Record<string, number>>;
  };
  readonly cv: { readonly k: number; readonly repeats: number; readonly seed: number };
  /** Shipped first, then each method compared. */
  readonly candidates: readonly CandidateSummary[];
  readonly createdAt: string;
}

/** At most `max` points of a ROC curve, always keeping its ends (plots and manifests need no more). */
export function thinRoc(points: readonly RocPoint[], max = 101): { fpr: number; tpr: number }[] {
  const finite = points.filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  if (finite.length <= max) return finite.map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
  const step = (finite.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => finite[Math.round(i * step)]!).map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
}

export function summariseCandidate(c: CandidateCv): CandidateSummary {
  return {
    method: c.method,
    auc: c.auc,
    aucCi: [c.aucCi[0], c.aucCi[1]],
    deltaAuc: c.deltaAuc,
    deltaAucCi: [c.deltaAucCi[0], c.deltaAucCi[1]],
    brier: c.brier,
    deltaBrier: c.deltaBrier,
    deltaBrierCi: [c.deltaBrierCi[0], c.deltaBrierCi[1]],
    ece: c.ece,
    operating: c.operating,
    ...(c.asShipped ? { asShipped: c.asShipped } : {}),
    roc: thinRoc(c.roc),
  };
}

export function summariseChoice(choice: MethodChoice): AdaptationSummary['choice'] {
  return { method: choice.method, reasons: [...choice.reasons], allowed: [...choice.allowed] };
}

export function summariseCv(cv: CrossValidation): Pick<AdaptationSummary, 'cv' | 'candidates'> {
  return { cv: { k: cv.k, repeats: cv.repeats, seed: cv.seed }, candidates: cv.candidates.map(summariseCandidate) };
}

/** The candidate of a summary by name. */
export function candidate(summary: Pick<AdaptationSummary, 'candidates'>, method: Candidate): CandidateSummary | undefined {
  return summary.candidates.find((c) => c.method === method);
}

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(3)}` : 'n/a');

/** The rows of the comparison table: label, then one cell per candidate (the CLI and the report print the same figures). */
export function comparisonRows(candidates: readonly CandidateSummary[]): { header: string[]; rows: string[][] } {
  const header = ['', ...candidates.map((c) => (c.method === 'shipped' ? 'shipped' : c.method))];
  const row = (label: string, cell: (c: CandidateSummary) => string): string[] => [label, ...candidates.map(cell)];
  return {
    header,
    rows: [
      row('AUC (95% CI)', (c) => `${f3(c.auc)} (${f3(c.aucCi[0])}-${f3(c.aucCi[1])})`),
      row('AUC vs shipped (95% CI)', (c) => (c.method === 'shipped' ? '-' : `${signed(c.deltaAuc)} (${signed(c.deltaAucCi[0])} to ${signed(c.deltaAucCi[1])})`)),
      row('sensitivity at threshold', (c) => pct(c.operating.sensitivity)),
      row('specificity at threshold', (c) => pct(c.operating.specificity)),
      row('threshold', (c) => f3(c.operating.threshold)),
      row('Brier score', (c) => f3(c.brier)),
      row('Brier vs shipped (95% CI)', (c) => (c.method === 'shipped' ? '-' : `${signed(c.deltaBrier)} (${signed(c.deltaBrierCi[0])} to ${signed(c.deltaBrierCi[1])})`)),
      row('calibration error (ECE)', (c) => f3(c.ece)),
      row('tiers low / review / high', (c) => `${pct(c.operating.tiers.low)} / ${pct(c.operating.tiers.review)} / ${pct(c.operating.tiers.high)}`),
      row('melanomas in low tier', (c) => pct(c.operating.melanomaInLow)),
    ],
  };
}
