/**
 * The adaptation simulation's draws (training/studies/adaptation/draws.ts): seeded, k cases from
 * the adaptation pool only, class-stratified at the pool's prevalence, whole groups.
 */
import { describe, expect, it } from 'vitest';
import { adaptationPool, drawCases, drawSeed, melanomaQuota, type PoolCase } from '../../training/studies/adaptation/draws.ts';

/** A pool of lesions with 1-3 images each, about 20% melanoma, plus a scoring part sharing some lesion ids. */
function fixture(): { candidates: PoolCase[]; scoring: PoolCase[] } {
  const candidates: PoolCase[] = [];
  for (let g = 0; g < 300; g++) {
    const label = g % 5 === 0 ? 1 : 0;
    const images = 1 + (g % 3);
    for (let i = 0; i < images; i++) candidates.push({ id: `img-${g}-${i}`, group: `lesion-${g}`, label });
  }
  // Lesions 0..9 also have images in the scoring part: the pool must lose them.
  const scoring = Array.from({ length: 10 }, (_, g) => ({ id: `test-${g}`, group: `lesion-${g}`, label: (g % 5 === 0 ? 1 : 0) as 0 | 1 }));
  for (let g = 1000; g < 1050; g++) scoring.push({ id: `test-${g}`, group: `lesion-${g}`, label: 0 });
  return { candidates, scoring };
}

describe('adaptation simulation draws', () => {
  const { candidates, scoring } = fixture();
  const pool = adaptationPool(candidates, scoring);

  it('drops pool cases whose group is in the scoring part', () => {
    const scoredGroups = new Set(scoring.map((s) => s.group));
    expect(pool.length).toBeLessThan(candidates.length);
    expect(pool.some((c) => scoredGroups.has(c.group))).toBe(false);
    expect(candidates.filter((c) => !scoredGroups.has(c.group))).toEqual(pool);
  });

  it.each([25, 50, 100, 200])('draws exactly k = %i pool cases, stratified at the pool prevalence', (k) => {
    const drawn = drawCases(pool, k, drawSeed('src', k, 0));
    expect(drawn).toHaveLength(k);
    expect(new Set(drawn.map((c) => c.id)).size).toBe(k);
    const poolIds = new Set(pool.map((c) => c.id));
    expect(drawn.every((c) => poolIds.has(c.id))).toBe(true);
    const scoredGroups = new Set(scoring.map((s) => s.group));
    expect(drawn.some((c) => scoredGroups.has(c.group))).toBe(false);
    expect(drawn.filter((c) => c.label === 1)).toHaveLength(melanomaQuota(k, pool));
    const prevalence = pool.filter((c) => c.label === 1).length / pool.length;
    expect(melanomaQuota(k, pool)).toBe(Math.round(k * prevalence));
  });

  it('keeps every group whole: a drawn lesion brings all its pool images', () => {
    const drawn = drawCases(pool, 100, 7);
    const drawnGroups = new Set(drawn.map((c) => c.group));
    for (const g of drawnGroups) {
      expect(drawn.filter((c) => c.group === g).length).toBe(pool.filter((c) => c.group === g).length);
    }
    expect(drawnGroups.size).toBeLessThan(100);
  });

  it('is seeded: the same seed gives the same cases, another seed other cases', () => {
    const ids = (seed: number): string[] => drawCases(pool, 50, seed).map((c) => c.id);
    expect(ids(drawSeed('ham10000', 50, 1))).toEqual(ids(drawSeed('ham10000', 50, 1)));
    expect(ids(drawSeed('ham10000', 50, 1))).not.toEqual(ids(drawSeed('ham10000', 50, 2)));
    expect(drawSeed('ham10000', 50, 1)).not.toBe(drawSeed('isic2017', 50, 1));
    // The pool's order does not matter, only its content and the seed.
    expect(drawCases([...pool].reverse(), 50, 3).map((c) => c.id).sort()).toEqual(drawCases(pool, 50, 3).map((c) => c.id).sort());
  });

  it('draws at least one case of each class, and refuses what the pool cannot give', () => {
    const rare = [...pool.filter((c) => c.label === 0), { id: 'mel', group: 'mel', label: 1 as const }];
    expect(drawCases(rare, 25, 1).filter((c) => c.label === 1)).toHaveLength(1);
    expect(() => drawCases(pool, pool.length + 1, 1)).toThrow(/cannot give/);
    expect(() => drawCases([...pool, { id: 'x', group: 'lesion-20', label: 0 }], 25, 1)).toThrow(/mixes melanoma and benign/);
  });
});
