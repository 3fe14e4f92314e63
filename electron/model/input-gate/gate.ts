/**
 * The input gate: the model says when it cannot judge an image.
 *
 * Two stages, both explainable by a named reason:
 * 1. before the model: quality checks on the decoded pixels (quality.ts; thresholds.json);
 * 2. after the backbones: an out-of-distribution score from the model's own pooled features
 *    (ood.ts; the model version's ood-stats.json/.bin).
 *
 * The result has the same shape for both stages, so the classifier, store, UI and CLI can treat a
 * refusal uniformly: `{ verdict: 'ok' | 'refused', reasons: [{code, message, value, threshold}], scores }`.
 * Stage 1 alone (`checkQuality`) is cheap and needs no model; `gateFeatures` adds stage 2 from
 * what the classifier already computes (pooled vectors of the identity view, the head's logits).
 */
import rawThresholds from './thresholds.json' with { type: 'json' };
import { decodeForGate } from './decode.ts';
import { judgeOod, oodScores, type OodScores, type OodStats } from './ood.ts';
import { judgeQuality, measureQuality, type GateReason, type QualityScores } from './quality.ts';
import { parseThresholds, qualityRules, type ThresholdsFile } from './thresholds.ts';

export type { GateReason, GateReasonCode, QualityScores } from './quality.ts';

export interface GateScores {
  readonly quality: QualityScores;
  readonly ood?: OodScores;
}

export interface GateResult {
  readonly verdict: 'ok' | 'refused';
  readonly reasons: GateReason[];
  readonly scores: GateScores;
}

/**
 * What the classifier attaches to every result (Classification.gate) and the store keeps: the
 * verdict, the reasons, the scores, which gate judged (`version`) and whether the
 * out-of-distribution stage ran (a model without statistics gets the quality checks only).
 */
export interface ModelGateResult extends GateResult {
  readonly version: string;
  readonly oodChecked: boolean;
}

/** Bump when what the gate measures or how it decides changes (not for new thresholds or statistics: those are in `version`). */
export const GATE_FORMAT = 1;

/**
 * The gate that judged: the code's format, the quality thresholds' measurement date and the
 * model's OOD statistics (model version and the .bin's sha256 prefix), or `ood:none`.
 */
export function gateVersion(thresholds: Pick<ThresholdsFile, 'createdAt'>, stats?: Pick<OodStats, 'header'>): string {
  const ood = stats ? `${stats.header.modelVersion}@${stats.header.binSha256.slice(0, 12)}` : 'none';
  return `gate/${GATE_FORMAT} quality:${thresholds.createdAt} ood:${ood}`;
}

/** Said with every result of a model that ships no OOD statistics. */
export { OOD_UNAVAILABLE } from '#common/gate';

let shipped: ThresholdsFile | undefined;
/** The quality thresholds shipped with the app (thresholds.json), validated once. */
export function shippedThresholds(): ThresholdsFile {
  shipped ??= parseThresholds(rawThresholds);
  return shipped;
}

/** Stage 1 on an already decoded image. */
export function checkQualityImage(img: Parameters<typeof measureQuality>[0], thresholds: ThresholdsFile = shippedThresholds()): GateResult {
  const scores = measureQuality(img);
  const q = judgeQuality(scores, qualityRules(thresholds), { width: img.originalWidth, height: img.originalHeight });
  return { verdict: q.verdict, reasons: q.reasons, scores: { quality: scores } };
}

/** Stage 1 from a file or bytes (decoded at a bounded size). Rejects with ImageInputError like preprocessing does. */
export async function checkQuality(input: string | Buffer | Uint8Array, opts: { name?: string; thresholds?: ThresholdsFile } = {}): Promise<GateResult> {
  return checkQualityImage(await decodeForGate(input, { name: opts.name }), opts.thresholds);
}

/**
 * Stage 2, appended to a stage-1 result: pooled vectors by branch name ('inception' = the taps
 * joined in the manifest's order, 'mobilenet') of the identity view, and the head's two logits
 * [z_benign, z_malignant] of the same view (for the energy score).
 */
export function gateFeatures(stage1: GateResult, stats: OodStats, pooled: Readonly<Record<string, ArrayLike<number>>>, logits?: ArrayLike<number>): GateResult {
  const ood = oodScores(stats, pooled, logits);
  const j = judgeOod(stats, ood);
  const reasons = [...stage1.reasons];
  if (j.refused) reasons.push({ code: 'out_of_distribution', message: j.message, metric: j.metric, value: j.value, threshold: j.threshold });
  return { verdict: reasons.length > 0 ? 'refused' : 'ok', reasons, scores: { ...stage1.scores, ood } };
}

/** One line for the CLI's `error` column: "too_dark: image too dark: ...; out_of_distribution: ...". */
export function reasonsLine(result: Pick<GateResult, 'reasons'>): string {
  return result.reasons.map((r) => `${r.code}: ${r.message}`).join('; ');
}
