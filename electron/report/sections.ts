/** Pieces of wording shared by the three reports. */
import type { Patient, Review } from '#common/domain';
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
  if (review.note.trim() !== '') parts.push(`Note: ${isolate(review.note)}`);
  return parts.join('\n');
}

export function tierExplanation(context: ReportContext): string | null {
  const c = context.tierCutoffs;
  if (!c) return null;
  return `low below ${c.review.toFixed(2)}; review from ${c.review.toFixed(2)}; high from ${c.high.toFixed(2)} (calibrated probability)`;
}

export type CountKey = Tier | 'error' | 'pending';

export function tierCounts(statuses: readonly CountKey[]): Record<CountKey, number> {
  const counts: Record<CountKey, number> = { high: 0, review: 0, low: 0, error: 0, pending: 0 };
  for (const s of statuses) counts[s]++;
  return counts;
}
