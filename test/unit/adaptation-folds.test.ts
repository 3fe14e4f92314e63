/** Grouped, stratified, seeded folds: no patient/lesion on both sides, both classes in every fold, reproducible. */
import { describe, expect, it } from 'vitest';
import { groupedStratifiedFolds } from '../../electron/model/adaptation/index.ts';
import { seededRandom } from '../../electron/util/random.ts';

/** 60 melanoma groups and 140 benign groups of 1-4 images each. */
function items(seed: number): { group: string; label: 0 | 1 }[] {
  const random = seededRandom(seed);
  const out: { group: string; label: 0 | 1 }[] = [];
  for (let g = 0; g < 200; g++) {
    const label: 0 | 1 = g < 60 ? 1 : 0;
    const size = 1 + Math.floor(random() * 4);
    for (let i = 0; i < size; i++) out.push({ group: `lesion-${g}`, label });
  }
  return out;
}

describe('groupedStratifiedFolds', () => {
  const data = items(1);
  const splits = groupedStratifiedFolds(data, 5, 3, 42);

  it('tests every item exactly once per repeat, and never puts a group on both sides', () => {
    expect(splits).toHaveLength(15);
    for (let repeat = 0; repeat < 3; repeat++) {
      const tested = splits.filter((s) => s.repeat === repeat).flatMap((s) => s.test);
      expect([...tested].sort((a, b) => a - b)).toEqual(data.map((_, i) => i));
    }
    for (const s of splits) {
      expect(s.train.length + s.test.length).toBe(data.length);
      const testGroups = new Set(s.test.map((i) => data[i]!.group));
      expect(s.train.some((i) => testGroups.has(data[i]!.group))).toBe(false);
    }
  });

  it('stratifies: each fold tests about a fifth of each class', () => {
    const melanoma = data.filter((d) => d.label === 1).length;
    const benign = data.length - melanoma;
    for (const s of splits) {
      const m = s.test.filter((i) => data[i]!.label === 1).length;
      const b = s.test.length - m;
      // Groups have at most 4 images, so greedy dealing stays within one group of even.
      expect(Math.abs(m - melanoma / 5)).toBeLessThanOrEqual(4);
      expect(Math.abs(b - benign / 5)).toBeLessThanOrEqual(4);
    }
  });

  it('is deterministic for a seed, and repeats differ', () => {
    expect(groupedStratifiedFolds(data, 5, 3, 42)).toEqual(splits);
    expect(groupedStratifiedFolds(data, 5, 3, 43)).not.toEqual(splits);
    const first = (repeat: number): readonly number[] => splits.find((s) => s.repeat === repeat && s.fold === 0)!.test;
    expect(first(1)).not.toEqual(first(0));
  });

  it('depends on the groups, not on the order the items are listed in', () => {
    const reversed = [...data].reverse();
    const a = groupedStratifiedFolds(reversed, 5, 1, 7).map((s) => new Set(s.test.map((i) => reversed[i]!.group)));
    const b = groupedStratifiedFolds(data, 5, 1, 7).map((s) => new Set(s.test.map((i) => data[i]!.group)));
    expect(a).toEqual(b);
  });

  it('lowers k to the number of groups of the rarer class', () => {
    const few = [...data.filter((d) => d.label === 0), { group: 'm-a', label: 1 as const }, { group: 'm-b', label: 1 as const }, { group: 'm-c', label: 1 as const }];
    const s = groupedStratifiedFolds(few, 5, 1, 1);
    expect(s).toHaveLength(3);
    for (const split of s) expect(split.test.filter((i) => few[i]!.label === 1)).toHaveLength(1);
  });

  it('keeps a patient with both a melanoma and a benign lesion whole, and still stratifies', () => {
    // 40 patients with one melanoma lesion and 1-3 benign ones, 20 melanoma-only, 120 benign-only.
    const random = seededRandom(9);
    const mixed: { group: string; label: 0 | 1 }[] = [];
    for (let g = 0; g < 180; g++) {
      const melanomas = g < 60 ? 1 + Math.floor(random() * 2) : 0;
      const benigns = g < 20 ? 0 : 1 + Math.floor(random() * 3);
      for (let i = 0; i < melanomas; i++) mixed.push({ group: `patient-${g}`, label: 1 });
      for (let i = 0; i < benigns; i++) mixed.push({ group: `patient-${g}`, label: 0 });
    }
    const folds = groupedStratifiedFolds(mixed, 5, 3, 11);
    expect(folds).toHaveLength(15);
    expect(groupedStratifiedFolds([...mixed].reverse(), 5, 3, 11).map((s) => s.test.map((i) => mixed.length - 1 - i).sort((a, b) => a - b))).toEqual(
      folds.map((s) => [...s.test].sort((a, b) => a - b)),
    );
    const melanoma = mixed.filter((d) => d.label === 1).length;
    const benign = mixed.length - melanoma;
    for (const s of folds) {
      const testGroups = new Set(s.test.map((i) => mixed[i]!.group));
      expect(s.train.some((i) => testGroups.has(mixed[i]!.group))).toBe(false);
      const m = s.test.filter((i) => mixed[i]!.label === 1).length;
      // Within one group of even: a patient holds at most 2 melanomas and 3 benign lesions.
      expect(Math.abs(m - melanoma / 5)).toBeLessThanOrEqual(2);
      expect(Math.abs(s.test.length - m - benign / 5)).toBeLessThanOrEqual(3);
    }
  });

  it('gives every fold both classes when the only benign cases sit beside melanomas', () => {
    // Dealing by melanoma count alone would put b and c together, leaving a's fold with no benign case.
    const few = [
      ...Array.from({ length: 4 }, () => ({ group: 'a', label: 1 as const })),
      { group: 'b', label: 1 as const },
      { group: 'b', label: 0 as const },
      { group: 'c', label: 1 as const },
      { group: 'c', label: 0 as const },
    ];
    for (let seed = 0; seed < 20; seed++) {
      const s = groupedStratifiedFolds(few, 5, 2, seed);
      expect(s).toHaveLength(4);
      for (const split of s) {
        expect(split.test.some((i) => few[i]!.label === 1)).toBe(true);
        expect(split.test.some((i) => few[i]!.label === 0)).toBe(true);
      }
    }
  });

  it('refuses a class with no cases, or with a single group', () => {
    const benignOnly = data.filter((d) => d.label === 0);
    expect(() => groupedStratifiedFolds(benignOnly, 5, 1, 1)).toThrow(/0 melanoma/);
    const oneMelanoma = [...benignOnly, { group: 'm', label: 1 as const }, { group: 'm', label: 1 as const }];
    expect(() => groupedStratifiedFolds(oneMelanoma, 5, 1, 1)).toThrow(/at least 2 patients\/lesions of each class/);
  });
});
