/**
 * Quality thresholds as data: thresholds.json (beside this file) holds, for every check, each
 * metric's limit and the measurement that chose it (per-source pass rates, quantile, sample
 * size). `training/scripts/input-gate.ts measure` rewrites it; nothing here is tuned by hand.
 *
 * Selection rule (selectThreshold): for a `min` rule, the largest limit such that in EVERY source
 * at least `targetPass` of the images are >= the limit (the minimum over sources of each source's
 * (1 - targetPass) quantile); for `max`, symmetrically. The file's targetPass is the share of
 * every source that passes all checks together: each of the five checks gets a fifth of the
 * refusal budget, and a check with two metrics gives each half of its own, so that the checks
 * together still keep at least targetPass of every source.
 */
import { z } from 'zod';
import { QUALITY_CODES, QUALITY_METRICS, type QualityCode, type QualityMetric, type QualityThresholds } from './quality.ts';

export const THRESHOLDS_FORMAT = 'dermafuse-input-gate-thresholds/1';

const Metric = z.enum(QUALITY_METRICS as [QualityMetric, ...QualityMetric[]]);
const Rule = z
  .object({
    metric: Metric,
    min: z.number().optional(),
    max: z.number().optional(),
    /** How the limit was chosen: the share of each source that had to pass this rule. */
    targetPass: z.number().min(0).max(1),
    /** Per source: n, the share passing this rule, the quantile that limited it. */
    measured: z.record(z.string(), z.object({ n: z.number().int(), pass: z.number(), quantile: z.number() })),
  })
  .refine((r) => (r.min === undefined) !== (r.max === undefined), 'each rule has exactly one of min / max');

export const ThresholdsFile = z.object({
  format: z.literal(THRESHOLDS_FORMAT),
  createdAt: z.string(),
  /** The command and data that produced the file. */
  measuredOn: z.object({ command: z.string(), dataDir: z.string(), sources: z.array(z.string()), images: z.number().int() }),
  /** The share of every source that had to pass all checks together. */
  targetPass: z.number().min(0).max(1),
  checks: z.object(Object.fromEntries(QUALITY_CODES.map((c) => [c, z.array(Rule).min(1)])) as Record<QualityCode, z.ZodArray<typeof Rule>>),
  /** Per source and check: the share of images passing the whole check, and overall refusals. */
  passRates: z.record(z.string(), z.record(z.string(), z.number())),
});
export type ThresholdsFile = z.infer<typeof ThresholdsFile>;

export function parseThresholds(raw: unknown): ThresholdsFile {
  const parsed = ThresholdsFile.safeParse(raw);
  if (!parsed.success) throw new Error(`input-gate thresholds are invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The rules alone, in the shape judgeQuality takes. */
export function qualityRules(file: ThresholdsFile): QualityThresholds {
  return Object.fromEntries(QUALITY_CODES.map((c) => [c, file.checks[c].map((r) => ({ metric: r.metric, min: r.min, max: r.max }))])) as unknown as QualityThresholds;
}

/**
 * The q-quantile of values (0 <= q <= 1) by the "lower" rule: the largest value v in the sample
 * with at most q * n values strictly below it, so that >= (1 - q) of the sample is >= v.
 */
export function lowerQuantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) throw new Error('quantile of an empty sample');
  const k = Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)));
  return sorted[k]!;
}

/** Share of values passing `value >= min` or `value <= max`. */
export function passShare(values: ArrayLike<number>, rule: { min?: number; max?: number }): number {
  let pass = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((rule.min === undefined || v >= rule.min) && (rule.max === undefined || v <= rule.max)) pass++;
  }
  return values.length === 0 ? 1 : pass / values.length;
}

/**
 * The limit of one rule from per-source samples: every source keeps at least `targetPass` of
 * its images (ties at the limit pass, so the kept share can only be higher).
 */
export function selectThreshold(bySource: Readonly<Record<string, ArrayLike<number>>>, side: 'min' | 'max', targetPass: number): { limit: number; measured: Record<string, { n: number; pass: number; quantile: number }> } {
  const sources = Object.keys(bySource);
  if (sources.length === 0) throw new Error('no sources to choose a threshold on');
  const quantiles: Record<string, number> = {};
  for (const s of sources) {
    const v = bySource[s]!;
    quantiles[s] = side === 'min' ? lowerQuantile(v, 1 - targetPass) : -lowerQuantile(Array.from(v, (x) => -x), 1 - targetPass);
  }
  const limit = side === 'min' ? Math.min(...Object.values(quantiles)) : Math.max(...Object.values(quantiles));
  const measured = Object.fromEntries(
    sources.map((s) => [s, { n: bySource[s]!.length, pass: passShare(bySource[s]!, side === 'min' ? { min: limit } : { max: limit }), quantile: quantiles[s]! }]),
  );
  return { limit, measured };
}
