/** Display helpers shared by screens; pure functions. */
import type { Prediction, Tier } from '#common/domain';
import { cannotAssess, CANNOT_ASSESS, shortReasons, type Triage } from '#common/gate';

export type { Tier };

export const TIER_LABEL: Record<Tier, string> = { low: 'Low risk', review: 'Review', high: 'High risk' };
export const TRIAGE_LABEL: Record<Triage, string> = { ...TIER_LABEL, cannot_assess: CANNOT_ASSESS };

/**
 * Sort key for "highest risk first": by probability; then the images the input gate refused, all
 * together (ordering them by a probability nobody may see would show it); unclassified images last.
 */
export function riskKey(p: Prediction | null): number {
  if (!p) return -1;
  return cannotAssess(p) ? -0.5 : p.pMalignant;
}

/** What a screen reader says for a tile: "high risk 42%", "cannot assess: image too dark", "not classified". */
export function riskWords(p: Prediction | null): string {
  if (!p) return 'not classified';
  if (cannotAssess(p)) return `${CANNOT_ASSESS.toLowerCase()}: ${shortReasons(p.gate!.reasons)}`;
  return `${p.tier} risk ${Math.round(p.pMalignant * 100)}%${p.gate?.verdict === 'refused' ? ", outside the model's validated range" : ''}`;
}

/** Truncates rather than rounds, so a value just under a tier cut-off never prints as the cut-off. */
export function percent(p: number, digits = 0): string {
  const scale = 10 ** digits;
  return `${(Math.floor(p * 100 * scale + 1e-9) / scale).toFixed(digits)}%`;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T00:00:00`) : new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function todayIso(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function formatEta(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '—';
  if (sec < 60) return `${Math.round(sec)} s`;
  return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
}

export function age(dateOfBirth: string | null): string {
  if (!dateOfBirth) return '';
  const dob = new Date(`${dateOfBirth}T00:00:00`);
  const now = new Date();
  let years = now.getFullYear() - dob.getFullYear();
  if (now.getMonth() < dob.getMonth() || (now.getMonth() === dob.getMonth() && now.getDate() < dob.getDate())) years--;
  return years >= 0 ? `${years} y` : '';
}
