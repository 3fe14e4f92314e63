/**
 * Scoring protocol items: melanoma-vs-benign metrics per evaluation set (bootstrap CIs resample
 * HAM10000 lesions as clusters), and what the model does with the other malignant lesions.
 */
import { calibrate, tierOf, type ModelManifest } from '../../electron/model/manifest.ts';
import type { ProtocolItem } from '../data/protocol.ts';
import { evaluateScores, type EvaluationReport } from '../../electron/model/metrics.ts';

export interface SetReport extends EvaluationReport {
  /** Items of the set that had no score (features missing); never silently counted as negatives. */
  readonly unscored: number;
  /** What the tiers do with the set, when the cut-offs are known (see `triageYield`). */
  readonly triage?: TriageYield;
}

/** How much work the tiers take off a clinician, and what they miss. */
export interface TriageYield {
  /** Share of benign lesions sent to 'low' (the work saved). */
  readonly benignLow: number;
  /** Share of melanomas sent to 'low' (the misses the tiers would reassure). */
  readonly melanomaLow: number;
  /** Share of all images left in 'review'. */
  readonly review: number;
}

export function triageYield(probabilities: readonly number[], labels: readonly number[], tiers: ModelManifest['tiers']): TriageYield {
  const tier = probabilities.map((p) => tierOf(p, tiers));
  const share = (keep: (i: number) => boolean, hit: (i: number) => boolean): number => {
    const idx = tier.map((_, i) => i).filter(keep);
    return idx.length ? idx.filter(hit).length / idx.length : Number.NaN;
  };
  return {
    benignLow: share((i) => labels[i] === 0, (i) => tier[i] === 'low'),
    melanomaLow: share((i) => labels[i] === 1, (i) => tier[i] === 'low'),
    review: share(() => true, (i) => tier[i] === 'review'),
  };
}

/** Melanoma vs benign metrics of each evaluation set present in `items`, at `threshold`. */
export function evaluateSets(
  items: readonly ProtocolItem[],
  logits: ReadonlyMap<string, number>,
  temperature: number,
  threshold: number,
  options: { iterations?: number; seed?: number; bias?: number; tiers?: ModelManifest['tiers'] } = {},
): Record<string, SetReport> {
  const bySet = new Map<string, ProtocolItem[]>();
  for (const item of items) {
    if (item.label === 'other_malignant') continue;
    bySet.set(item.evalSet, [...(bySet.get(item.evalSet) ?? []), item]);
  }
  const out: Record<string, SetReport> = {};
  for (const [set, members] of [...bySet.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const scored = members.filter((m) => logits.has(m.id));
    if (scored.length === 0) continue;
    const p = scored.map((m) => calibrate(logits.get(m.id)!, temperature, options.bias));
    const y = scored.map((m) => (m.label === 'malignant' ? 1 : 0));
    out[set] = {
      ...evaluateScores(p, y, threshold, { ...options, groups: scored.map((m) => m.group) }),
      unscored: members.length - scored.length,
      ...(options.tiers ? { triage: triageYield(p, y, options.tiers) } : {}),
    };
  }
  return out;
}

export interface OtherMalignantReport {
  readonly n: number;
  /** Fraction of these lesions at or above the operating threshold (flagged as melanoma). */
  readonly flagged: number;
  readonly tiers: Record<'low' | 'review' | 'high', number>;
  readonly medianP: number;
  readonly byDiagnosis: Record<string, { n: number; flagged: number; medianP: number }>;
}

/** Scores on basal cell carcinoma / actinic keratosis / SCC, which are not melanoma. */
export function otherMalignantReport(
  items: readonly ProtocolItem[],
  logits: ReadonlyMap<string, number>,
  manifest: Pick<ModelManifest, 'temperature' | 'calibrationBias' | 'threshold' | 'tiers'>,
): OtherMalignantReport | undefined {
  const scored = items.filter((i) => i.label === 'other_malignant' && logits.has(i.id));
  if (scored.length === 0) return undefined;
  const p = scored.map((i) => calibrate(logits.get(i.id)!, manifest.temperature, manifest.calibrationBias));
  const median = (v: number[]): number => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const tiers = { low: 0, review: 0, high: 0 };
  p.forEach((v) => tiers[tierOf(v, manifest.tiers)]++);
  const byDiagnosis: OtherMalignantReport['byDiagnosis'] = {};
  const diagnoses = [...new Set(scored.map((i) => i.diagnosis))];
  for (const d of diagnoses) {
    const ps = p.filter((_, k) => scored[k]!.diagnosis === d);
    byDiagnosis[d] = { n: ps.length, flagged: ps.filter((v) => v >= manifest.threshold).length / ps.length, medianP: median(ps) };
  }
  return { n: scored.length, flagged: p.filter((v) => v >= manifest.threshold).length / p.length, tiers, medianP: median(p), byDiagnosis };
}

/** A short text table of set reports, for logs and the model card. */
export function formatSetTable(reports: Record<string, SetReport>): string {
  const f = (v: number, d = 3): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const lines = [
    '| set | n (mel) | AUC [95% CI] | sens | spec | spec@90%sens | ECE | benign in low | melanoma in low | in review |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [set, r] of Object.entries(reports)) {
    const t = r.triage;
    lines.push(
      `| ${set} | ${r.n} (${r.positives}) | ${f(r.auc)} [${f(r.aucCi[0])}, ${f(r.aucCi[1])}] | ${f(r.sensitivity)} | ${f(r.specificity)} | ${f(r.specificityAt90Sensitivity)} | ${f(r.ece)} | ` +
        `${t ? f(t.benignLow) : '-'} | ${t ? f(t.melanomaLow) : '-'} | ${t ? f(t.review) : '-'} |`,
    );
  }
  return lines.join('\n');
}
