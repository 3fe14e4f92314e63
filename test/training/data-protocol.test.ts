import { describe, expect, it } from 'vitest';
import { splitGroups } from '../../training/data/protocol.ts';
import { parseCsv, binaryTarget } from '../../electron/model/datasets.ts';
import { hamming, nearDuplicatePairs, type PerceptualHash } from '../../training/data/near-duplicates.ts';

describe('splitGroups', () => {
  const groups = new Map<string, string>();
  for (let i = 0; i < 200; i++) groups.set(`L${i}`, i < 40 ? 'malignant' : 'benign');

  it('assigns every group once, stratified by label, reproducibly', () => {
    const a = splitGroups(groups, { test: 0.15, val: 0.15 }, 1);
    expect(a.size).toBe(200);
    const count = (role: string, label: string) => [...a].filter(([g, r]) => r === role && groups.get(g) === label).length;
    expect(count('test', 'malignant')).toBe(6);
    expect(count('val', 'malignant')).toBe(6);
    expect(count('test', 'benign')).toBe(24);
    expect(splitGroups(groups, { test: 0.15, val: 0.15 }, 1)).toEqual(a);
    expect(splitGroups(groups, { test: 0.15, val: 0.15 }, 2)).not.toEqual(a);
  });
});

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, commas in fields and CRLF', () => {
    expect(parseCsv('path,label\r\n"a, b.jpg",benign\r\n"say ""hi"".png",malignant\n')).toEqual([
      ['path', 'label'],
      ['a, b.jpg', 'benign'],
      ['say "hi".png', 'malignant'],
    ]);
  });
  it('maps labels to melanoma targets', () => {
    expect([binaryTarget('malignant'), binaryTarget('benign'), binaryTarget('other_malignant')]).toEqual([1, 0, undefined]);
  });
});

describe('near duplicates', () => {
  const grey = (seed: number) => {
    const g = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * seed));
    const norm = Math.hypot(...g);
    return g.map((v) => v / norm);
  };
  const h = (bits: number[], seed: number): PerceptualHash => ({ ahash: Uint32Array.from(bits), grey: grey(seed) });

  it('needs both a close hash and a high correlation', () => {
    const a = h([0, 0, 0, 0, 0, 0, 0, 0], 1);
    const b = h([1, 0, 0, 0, 0, 0, 0, 0], 1); // 1 bit apart, same thumbnail
    const c = h([0, 0, 0, 0, 0, 0, 0, 0], 2); // same hash, different thumbnail
    const d = h([0xffffffff, 0xffffffff, 0, 0, 0, 0, 0, 0], 1); // 64 bits apart
    expect(hamming(a.ahash, d.ahash)).toBe(64);
    expect(nearDuplicatePairs([a, b, c, d])).toEqual([[0, 1]]);
  });
});
