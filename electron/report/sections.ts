/** Pieces of wording shared by the three reports. */
import { confirmationInWords, type Patient, type Prediction, type Review } from '#common/domain';
import { CANNOT_ASSESS, OUTSIDE_VALIDATED_RANGE, outsideValidatedRange, reasonsInWords, shortReasons, triageOf, type Triage } from '#common/gate';
import type { Tier } from '../model/types.ts';
import type { ReportContext } from './types.ts';
import { isolate } from './text.ts';

export function patientRows(patient: Patient): [string, string][] {
  return [
    ['Patient', patient.name],
    ['Identifier', patient.identifier],
    ['Date of birth', patient.dateOfBirth ?? 'not recorded'],
    ['Sex', patient.sex],
  ];
}

export function reviewText(review: Review | null, formatTime: (iso: string) => string): string {
  if (!review) return 'No review recorded.';
  const parts = [
    `${review.verdict === 'agree' ? 'Agrees' : 'Disagrees'} with the model (${isolate(review.clinician)}, ${formatTime(review.createdAt)}).`,
  ];
  if (review.finalDiagnosis.trim() !== '') parts.push(`Final diagnosis: ${isolate(review.finalDiagnosis)}`);
  const confirmed = confirmationInWords(review);
  if (confirmed) parts.push(`Confirmed: ${confirmed}`);
  if (review.note.trim() !== '') parts.push(`Note: ${isolate(review.note)}`);
  return parts.join('\n');
}

export function tierExplanation(context: ReportContext): string | null {
  const c = context.tierCutoffs;
  if (!c) return null;
  return `low below ${c.review.toFixed(2)}; review from ${c.review.toFixed(2)}; high from ${c.high.toFixed(2)} (calibrated probability)`;
}

export type CountKey = Tier | 'error' | 'pending' | 'cannot_assess';

/** Where a prediction counts: its tier, or "cannot assess" when the input gate refused it and nobody asked to see it. */
export function statusOfPrediction(p: Prediction): Triage {
  return triageOf(p);
}

/** "Cannot assess — image too dark: ...; image out of focus: ..." */
export function cannotAssessText(p: Prediction): string {
  return `${CANNOT_ASSESS} \u2014 ${reasonsInWords(p.gate?.reasons ?? [])}`;
}

/** The mark on a probability a clinician asked to see although the input gate refused the image; null otherwise. */
export function outsideRangeText(p: Prediction, formatTime: (iso: string) => string, short = false): string | null {
  if (!outsideValidatedRange(p)) return null;
  const s = p.gate!.shownAnyway!;
  if (short) return `Outside the model's validated range (input gate: ${shortReasons(p.gate!.reasons)}); shown anyway at the request of ${isolate(s.by)}, ${formatTime(s.at)}.`;
  return `Outside the model's validated range: the input gate refused this image (${reasonsInWords(p.gate!.reasons)}); shown anyway at the request of ${isolate(s.by)}, ${formatTime(s.at)}.`;
}

export { OUTSIDE_VALIDATED_RANGE };

export function tierCounts(statuses: readonly CountKey[]): Record<CountKey, number> {
  const counts: Record<CountKey, number> = { high: 0, review: 0, low: 0, error: 0, pending: 0, cannot_assess: 0 };
  for (const s of statuses) counts[s]++;
  return counts;
}
