/**
 * Tables of the adaptation simulation from its stored cells: per source, k and arm, each figure's
 * mean and standard deviation across the seeded draws, plus a paired cluster bootstrap over the
 * scoring part's groups (HAM10000 lesions, ISIC ids) of the draw-averaged difference to the
 * shipped base. The bootstrap answers "is the gain larger than what the test set's sampling
 * allows"; the spread across draws answers "how much does it depend on which cases a clinic had".
 */
import { tierOf } from '../../../electron/model/manifest.ts';
import { auc, expectedCalibrationError, seededRandom, specificityAtSensitivity, thresholdMetrics } from '../../../electron/model/metrics.ts';
import { autoArm, type Arm, type ArmScores, type CellRecord, type TestPart } from './records.ts';

/** Arms as reported ('auto' is the chosen method's arm, or the shipped model when it keeps it). */
export type ReportArm = Arm | 'auto';
export const REPORT_ARMS: readonly ReportArm[] = ['shipped', 'shipped_cutoffs', 'recalibrate', 'members', 'last_layer', 'auto'];

export interface ArmFigures {
  readonly auc: number;
  /** Threshold-free: specificity where sensitivity first reaches 90% on the test part itself (the study's usual figure). */
  readonly spec90: number;
  /** At the threshold chosen on the local cases (shipped: on its own validation). */
  readonly sensitivity: number;
  readonly specificity: number;
  readonly low: number;
  readonly review: number;
  readonly high: number;
  readonly melanomaLow: number;
  readonly brier: number;
  readonly ece: number;
}

const FIGURES = ['auc', 'spec90', 'sensitivity', 'specificity', 'low', 'review', 'high', 'melanomaLow', 'brier', 'ece'] as const;

function figures(s: ArmScores, labels: readonly number[]): ArmFigures {
  const p = s.p;
  const y = labels;
  const m = thresholdMetrics(p, y, s.threshold);
  const tiers = p.map((v) => tierOf(v, { reviewAt: s.reviewAt, highAt: s.highAt }));
  const mel = y.filter((v) => v === 1).length;
  return {
    auc: auc(p, y),
    spec90: specificityAtSensitivity(p, y, 0.9),
    sensitivity: m.sensitivity,
    specificity: m.specificity,
    low: tiers.filter((t) => t === 'low').length / p.length,
    review: tiers.filter((t) => t === 'review').length / p.length,
    high: tiers.filter((t) => t === 'high').length / p.length,
    melanomaLow: tiers.filter((t, i) => t === 'low' && y[i] === 1).length / mel,
    brier: p.reduce((a, v, i) => a + (v - y[i]!) ** 2, 0) / p.length,
    ece: expectedCalibrationError(p, y),
  };
}

/** The figures the bootstrap resamples (the cheaper subset). */
function bootFigures(s: ArmScores, labels: readonly number[], rows: readonly number[]): Pick<ArmFigures, 'auc' | 'spec90' | 'sensitivity' | 'specificity'> {
  const p = rows.map((i) => s.p[i]!);
  const y = rows.map((i) => labels[i]!);
  const m = thresholdMetrics(p, y, s.threshold);
  return { auc: auc(p, y), spec90: specificityAtSensitivity(p, y, 0.9), sensitivity: m.sensitivity, specificity: m.specificity };
}

/** The arm's scores in one cell; undefined for a method arm of a cell whose cases the app refused. */
function armScores(record: CellRecord, arm: ReportArm): ArmScores | undefined {
  return record.test[arm === 'auto' ? autoArm(record) : arm];
}

export interface Spread {
  readonly mean: number;
  readonly sd: number;
}

export interface RowSummary {
  readonly source: string;
  readonly k: number;
  readonly arm: ReportArm;
  readonly draws: number;
  readonly figures: Record<(typeof FIGURES)[number], Spread>;
  /** Draw-averaged AUC minus the shipped base's, with its paired cluster-bootstrap 95% CI. */
  readonly deltaAuc: { readonly mean: number; readonly ci: readonly [number, number] };
  readonly deltaSpec90: { readonly mean: number; readonly ci: readonly [number, number] };
  /** Bootstrap 95% CI of the draw-averaged specificity at the locally chosen threshold. */
  readonly specificityCi: readonly [number, number];
  readonly sensitivityCi: readonly [number, number];
  /** auto only: how often each method was chosen. */
  readonly chosen?: Record<string, number>;
}

const spread = (v: readonly number[]): Spread => {
  const ok = v.filter((x) => Number.isFinite(x));
  const mean = ok.reduce((a, b) => a + b, 0) / ok.length;
  const sd = ok.length > 1 ? Math.sqrt(ok.reduce((a, b) => a + (b - mean) ** 2, 0) / (ok.length - 1)) : 0;
  return { mean, sd };
};

function percentile(values: number[], q: number): number {
  const ok = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return ok[Math.min(ok.length - 1, Math.max(0, Math.floor(q * ok.length)))] ?? Number.NaN;
}

/** One row per arm for the cells of one (study, source, k), all scored on `test`. */
export function summariseCells(cells: readonly CellRecord[], test: TestPart, options: { iterations?: number; seed?: number } = {}): RowSummary[] {
  const { iterations = 500, seed = 20260601 } = options;
  const byGroup = new Map<string, number[]>();
  test.groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), i]));
  const clusters = [...byGroup.values()];
  // The same resamples for every arm, so differences to the shipped base are paired.
  const random = seededRandom(seed);
  const resamples = Array.from({ length: iterations }, () => clusters.flatMap(() => clusters[Math.floor(random() * clusters.length)]!));
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  // The shipped base is the same model in every cell of a source: one scoring serves all.
  const shippedBoot = resamples.map((rows) => bootFigures(cells[0]!.test.shipped, test.labels, rows));
  const shippedFull = figures(cells[0]!.test.shipped, test.labels);
  return REPORT_ARMS.map((arm): RowSummary => {
    const scored = cells.flatMap((c) => armScores(c, arm) ?? []);
    const perDraw = scored.map((s) => figures(s, test.labels));
    const boot = resamples.map((rows) => {
      const f = scored.map((s) => bootFigures(s, test.labels, rows));
      return { auc: mean(f.map((x) => x.auc)), spec90: mean(f.map((x) => x.spec90)), sensitivity: mean(f.map((x) => x.sensitivity)), specificity: mean(f.map((x) => x.specificity)) };
    });
    const deltaAuc = mean(perDraw.map((f) => f.auc)) - shippedFull.auc;
    const deltaSpec90 = mean(perDraw.map((f) => f.spec90)) - shippedFull.spec90;
    const chosen: Record<string, number> = {};
    if (arm === 'auto') for (const c of cells) chosen[c.refused ? 'refused' : c.choice.method] = (chosen[c.refused ? 'refused' : c.choice.method] ?? 0) + 1;
    return {
      source: cells[0]!.source,
      k: cells[0]!.k,
      arm,
      draws: scored.length,
      figures: Object.fromEntries(FIGURES.map((name) => [name, spread(perDraw.map((f) => f[name]))])) as RowSummary['figures'],
      deltaAuc: { mean: deltaAuc, ci: [percentile(boot.map((b, i) => b.auc - shippedBoot[i]!.auc), 0.025), percentile(boot.map((b, i) => b.auc - shippedBoot[i]!.auc), 0.975)] },
      deltaSpec90: { mean: deltaSpec90, ci: [percentile(boot.map((b, i) => b.spec90 - shippedBoot[i]!.spec90), 0.025), percentile(boot.map((b, i) => b.spec90 - shippedBoot[i]!.spec90), 0.975)] },
      specificityCi: [percentile(boot.map((b) => b.specificity), 0.025), percentile(boot.map((b) => b.specificity), 0.975)],
      sensitivityCi: [percentile(boot.map((b) => b.sensitivity), 0.025), percentile(boot.map((b) => b.sensitivity), 0.975)],
      ...(arm === 'auto' ? { chosen } : {}),
    };
  });
}

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(3)}` : 'n/a');
const pct = (v: number): string => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : 'n/a');
const ms = (s: Spread): string => `${f3(s.mean)} ± ${f3(s.sd)}`;

/** Markdown: ranking table (AUC, spec@90) and operating table (threshold from local cases, tiers, calibration). */
export function markdownTables(rows: readonly RowSummary[]): string {
  const out: string[] = [];
  out.push('| k | arm | draws | AUC mean ± SD | ΔAUC vs base [95% CI] | spec@90 mean ± SD | Δspec@90 [95% CI] | auto chose |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const chosen = r.chosen ? Object.entries(r.chosen).map(([m, n]) => `${m} ${n}`).join(', ') : '';
    out.push(`| ${r.k} | ${r.arm} | ${r.draws} | ${ms(r.figures.auc)} | ${signed(r.deltaAuc.mean)} [${signed(r.deltaAuc.ci[0])}, ${signed(r.deltaAuc.ci[1])}] | ${ms(r.figures.spec90)} | ${signed(r.deltaSpec90.mean)} [${signed(r.deltaSpec90.ci[0])}, ${signed(r.deltaSpec90.ci[1])}] | ${chosen} |`);
  }
  out.push('');
  out.push('| k | arm | sensitivity at threshold [95% CI] | specificity at threshold [95% CI] | tiers low / review / high | melanoma in low | Brier | ECE |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const g = r.figures;
    out.push(
      `| ${r.k} | ${r.arm} | ${ms(g.sensitivity)} [${f3(r.sensitivityCi[0])}, ${f3(r.sensitivityCi[1])}] | ${ms(g.specificity)} [${f3(r.specificityCi[0])}, ${f3(r.specificityCi[1])}] | ${pct(g.low.mean)} / ${pct(g.review.mean)} / ${pct(g.high.mean)} | ${pct(g.melanomaLow.mean)} | ${f3(g.brier.mean)} | ${f3(g.ece.mean)} |`,
    );
  }
  return out.join('\n');
}
