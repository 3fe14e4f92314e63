/**
 * How the input gate's verdict reads to people, everywhere (visit grid, image screen, worklist,
 * batch summaries, PDF reports, CLI): an image the gate refused has no tier, it "cannot be
 * assessed" for a reason in words, and it counts apart from low / review / high. A clinician may
 * ask to see the probability anyway; the image then returns to its tier, always marked as outside
 * the model's validated range. Browser-safe: plain functions of the domain records.
 */
import type { GateReason, Prediction, Tier } from './domain.ts';

export const CANNOT_ASSESS = 'Cannot assess';
export const OUTSIDE_VALIDATED_RANGE = "outside the model's validated range";
/** Said where a result was judged by the quality checks alone (a model without OOD statistics). */
export const OOD_UNAVAILABLE = 'out-of-distribution check unavailable for this model (it ships no input-gate statistics): only the image-quality checks ran';

/** Where an image counts: its tier, or apart from the tiers. */
export type Triage = Tier | 'cannot_assess';
export const TRIAGE_ORDER: readonly Triage[] = ['high', 'review', 'low', 'cannot_assess'];

type Gated = Pick<Prediction, 'tier' | 'gate'>;

/** The gate refused the image (whether or not it was then shown anyway). */
export function gateRefused(p: Gated): boolean {
  return p.gate?.verdict === 'refused';
}

/** Refused and not shown anyway: no probability, no tier. */
export function cannotAssess(p: Gated): boolean {
  return gateRefused(p) && !p.gate!.shownAnyway;
}

/** Refused, then shown anyway on a clinician's request: its probability is outside the validated range. */
export function outsideValidatedRange(p: Gated): boolean {
  return gateRefused(p) && p.gate!.shownAnyway !== null;
}

export function triageOf(p: Gated): Triage {
  return cannotAssess(p) ? 'cannot_assess' : p.tier;
}

/** The reasons in words, joined: "image too dark: ...; image out of focus: ...". */
export function reasonsInWords(reasons: readonly Pick<GateReason, 'message'>[]): string {
  return reasons.map((r) => r.message).join('; ');
}

/** "Cannot assess — image too dark: luminance 4% of range ..." for a refused prediction; null otherwise. */
export function cannotAssessText(p: Gated): string | null {
  if (!gateRefused(p)) return null;
  return `${CANNOT_ASSESS} — ${reasonsInWords(p.gate!.reasons)}`;
}

/** Short reasons for a tile or a table cell: each message up to its colon, without repeats ("image too dark, out of focus"). */
export function shortReasons(reasons: readonly Pick<GateReason, 'message'>[]): string {
  const heads = [...new Set(reasons.map((r) => r.message.split(':')[0]!.trim()))];
  return heads.map((h, i) => (i > 0 ? h.replace(/^image /, '') : h)).join(', ');
}

/** Count per triage group (high, review, low, cannot_assess). */
export function triageCounts(predictions: readonly (Gated | null | undefined)[]): Record<Triage, number> {
  const counts: Record<Triage, number> = { high: 0, review: 0, low: 0, cannot_assess: 0 };
  for (const p of predictions) if (p) counts[triageOf(p)]++;
  return counts;
}
