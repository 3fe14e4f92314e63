/**
 * The contract's view of an adaptation (AdaptationComparison), built from what the adaptation
 * workflow reports: a fresh run's summary, or the record a local model's manifest keeps of the
 * run it was made from. Pure; the figures are the workflow's, only reshaped for the screen.
 */
import { AdaptationComparison, type AdaptationMethod, type MethodFigures, type ModelFigures } from '#common/ipc';
import type { AdaptationSummary, CandidateSummary } from '../adaptation/index.ts';
import { MIN_CASES_PER_CLASS } from '../model/adaptation/index.ts';
import type { ModelManifest } from '../model/manifest.ts';

/** How cross-validation keeps cases apart: a patient (even one with both a melanoma and a benign lesion) stays on one side. */
const GROUPED_BY = 'patient, else lesion, else image';

/** What the comparison needs of a summary; a manifest's record carries the same under other names. */
export type ComparisonSource = Pick<AdaptationSummary, 'base' | 'method' | 'createdAt' | 'candidates' | 'requested'> & {
  readonly reasons: readonly string[];
  readonly cases: Pick<AdaptationSummary['cases'], 'count' | 'melanoma' | 'benign' | 'excludedReasons'>;
  readonly cv: Pick<AdaptationSummary['cv'], 'k' | 'repeats'>;
};

function figures(c: CandidateSummary): ModelFigures {
  return {
    auc: c.auc,
    aucCi: [c.aucCi[0], c.aucCi[1]],
    threshold: c.operating.threshold,
    sensitivity: c.operating.sensitivity,
    specificity: c.operating.specificity,
    brier: c.brier,
    ece: c.ece,
    tiers: { low: c.operating.tiers.low, review: c.operating.tiers.review, high: c.operating.tiers.high },
    roc: c.roc.map((p) => ({ fpr: p.fpr, tpr: p.tpr })),
  };
}

/** `candidate`: the local version written for the chosen method (null when the shipped model stays). */
export function comparisonOf(source: ComparisonSource, candidate: string | null): AdaptationComparison {
  const shipped = source.candidates.find((c) => c.method === 'shipped');
  if (!shipped) throw new Error('the adaptation reported no figures for the shipped model');
  const methods: MethodFigures[] = source.candidates
    .filter((c): c is CandidateSummary & { method: AdaptationMethod } => c.method !== 'shipped')
    .map((c) => ({ ...figures(c), method: c.method, deltaAuc: c.deltaAuc, deltaAucCi: [c.deltaAucCi[0], c.deltaAucCi[1]] }));
  const { count, melanoma, benign, excludedReasons } = source.cases;
  return {
    base: { version: source.base.version },
    cases: { total: count, melanoma, benign, excluded: Object.entries(excludedReasons).map(([reason, n]) => ({ reason, count: n })) },
    validation: { folds: source.cv.k, repeats: source.cv.repeats, groupedBy: GROUPED_BY },
    shipped: figures(shipped),
    methods,
    chosen: source.method,
    requested: source.requested,
    reasons: [...source.reasons],
    tooFewCases: melanoma < MIN_CASES_PER_CLASS || benign < MIN_CASES_PER_CLASS,
    minimumPerClass: MIN_CASES_PER_CLASS,
    candidate,
    createdAt: source.createdAt,
  };
}

export function comparisonOfSummary(summary: AdaptationSummary, candidate: string | null): AdaptationComparison {
  return comparisonOf({ ...summary, reasons: summary.choice.reasons }, candidate);
}

/**
 * The comparison a local model was chosen on, from its manifest; null when the record is not
 * one this version of the app can read (the version is still listed, without figures).
 */
export function comparisonOfManifest(manifest: ModelManifest): AdaptationComparison | null {
  const record = manifest.adaptation;
  if (!record) return null;
  // run.ts stores the summary's cv and candidates under adaptation.cv; checked below by the contract's schema.
  const cv = record.cv as Partial<Pick<AdaptationSummary['cv'], 'k' | 'repeats'>> & { candidates?: readonly CandidateSummary[]; choice?: { method?: string } };
  // The manifest keeps the automatic choice beside the method written: when they differ, the method was asked for.
  const requested = cv.choice?.method !== undefined && cv.choice.method !== record.method ? record.method : 'auto';
  try {
    const built = comparisonOf(
      {
        base: record.base,
        method: record.method,
        requested,
        createdAt: record.createdAt,
        candidates: cv.candidates ?? [],
        reasons: record.reasons,
        cases: { count: record.cases.count, melanoma: record.cases.melanoma, benign: record.cases.benign, excludedReasons: {} },
        cv: { k: cv.k ?? Number.NaN, repeats: cv.repeats ?? Number.NaN },
      },
      manifest.version,
    );
    const parsed = AdaptationComparison.safeParse(built);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
