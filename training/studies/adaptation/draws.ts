/**
 * Which confirmed cases a simulated clinic adapts with: seeded draws of k images from the held-out
 * source's adaptation pool, never touching its scoring part.
 *
 * - The pool is the source's non-test images; any pool image whose group (HAM10000 lesion, ISIC id)
 *   also appears in the scoring part is dropped, so no lesion is adapted on and scored.
 * - Draws are class-stratified at the pool's melanoma prevalence (a clinic confirming consecutive
 *   cases sees roughly its own case mix; stratifying removes the extra spread of draws that happen
 *   to hold almost no melanoma). At least one case of each class is drawn.
 * - Whole groups are drawn: a lesion's images are adapted on together or not at all, as the app's
 *   grouped cross-validation assumes. A group that would overshoot a class quota is skipped, so
 *   a draw has exactly k images whenever the pool allows it.
 */
import { seededRandom } from '../../../electron/util/random.ts';

export interface PoolCase {
  readonly id: string;
  /** Lesion (HAM10000) or ISIC id: the unit kept together. */
  readonly group: string;
  /** 1 melanoma, 0 benign. */
  readonly label: 0 | 1;
}

/** Pool cases whose group is not in the scoring part (defensive: the protocol already splits by group). */
export function adaptationPool<T extends { readonly group: string }>(candidates: readonly T[], scoring: readonly { readonly group: string }[]): T[] {
  const scored = new Set(scoring.map((s) => s.group));
  return candidates.filter((c) => !scored.has(c.group));
}

/** Groups of the pool by label; throws when one group holds both classes (its cases cannot be drawn whole into one class quota). */
function groupsByLabel<T extends PoolCase>(pool: readonly T[]): Record<0 | 1, T[][]> {
  const groups = new Map<string, T[]>();
  for (const c of pool) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  const out: Record<0 | 1, T[][]> = { 0: [], 1: [] };
  // Sorted by group name so the draw depends on the seed only, not on the pool's order.
  for (const [group, members] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const label = members[0]!.label;
    if (members.some((m) => m.label !== label)) throw new Error(`group ${group} mixes melanoma and benign cases`);
    out[label].push(members.sort((a, b) => a.id.localeCompare(b.id)));
  }
  return out;
}

/** Number of melanomas in a draw of k at the pool's prevalence (at least one of each class). */
export function melanomaQuota(k: number, pool: readonly PoolCase[]): number {
  const prevalence = pool.filter((c) => c.label === 1).length / pool.length;
  return Math.min(k - 1, Math.max(1, Math.round(k * prevalence)));
}

/** A seeded, class-stratified draw of k pool cases made of whole groups. */
export function drawCases<T extends PoolCase>(pool: readonly T[], k: number, seed: number): T[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`a draw needs at least 2 cases, asked for ${k}`);
  const byLabel = groupsByLabel(pool);
  const melanoma = melanomaQuota(k, pool);
  const quota: Record<0 | 1, number> = { 1: melanoma, 0: k - melanoma };
  const drawn: T[] = [];
  for (const label of [1, 0] as const) {
    const random = seededRandom(seed * 2 + label);
    const groups = [...byLabel[label]];
    for (let i = groups.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [groups[i], groups[j]] = [groups[j]!, groups[i]!];
    }
    let taken = 0;
    for (const g of groups) {
      if (taken === quota[label]) break;
      if (taken + g.length > quota[label]) continue;
      drawn.push(...g);
      taken += g.length;
    }
    if (taken < quota[label]) {
      const available = byLabel[label].reduce((s, g) => s + g.length, 0);
      throw new Error(`the pool cannot give ${quota[label]} ${label ? 'melanoma' : 'benign'} cases in whole groups (it has ${available})`);
    }
  }
  return drawn;
}

/** A stable seed for one (source, k, draw) cell, so a resumed run redraws exactly the same cases. */
export function drawSeed(source: string, k: number, draw: number): number {
  let h = 2166136261;
  for (const ch of `${source}|${k}|${draw}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}
