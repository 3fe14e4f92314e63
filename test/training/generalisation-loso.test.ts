import { describe, expect, it } from 'vitest';
import type { ProtocolItem, Source } from '../../training/data/protocol.ts';
import { foldOf, pairedDifference, scoredSet, setMetrics } from '../../training/studies/generalisation/loso.ts';
import { seededRandom } from '../../electron/model/metrics.ts';

function item(source: Source, n: number, role: ProtocolItem['role'], evalSet: string, label: ProtocolItem['label'] = 'benign', group = `${source}-${n}`): ProtocolItem {
  return { id: `${source}:${n}`, source, file: `/x/${n}.jpg`, isicId: `ISIC_${n}`, group, label, diagnosis: '', role, evalSet, sha256: n.toString(16).padStart(64, '0') };
}

describe('foldOf', () => {
  // The standard protocol: HAM has train/val/test slices, ISIC 2017 train/val(test), ISIC 9 train/val.
  const standard = {
    items: [
      item('ham10000', 1, 'train', 'train'),
      item('ham10000', 2, 'val', 'val:ham10000'),
      item('ham10000', 3, 'test', 'test:ham10000'),
      item('isic2017', 4, 'train', 'train'),
      item('isic2017', 5, 'val', 'val:isic2017'),
      item('isic2017', 6, 'test', 'test:isic2017'),
      item('isic9', 7, 'train', 'train'),
      item('isic9', 8, 'val', 'val:isic9'),
    ],
  };
  const heldOut = (s: Source) => ({ items: standard.items.map((i) => (i.source === s ? { ...i, role: 'test' as const, evalSet: `loso:${s}` } : i)) });

  it('tests HAM10000 on its lesion-disjoint test slice only, and never trains on any final test set', () => {
    const f = foldOf(heldOut('ham10000'), standard, 'ham10000');
    expect(f.test.map((i) => i.id)).toEqual(['ham10000:3']);
    expect(f.train.map((i) => i.id).sort()).toEqual(['isic2017:4', 'isic2017:5', 'isic9:7', 'isic9:8']);
  });

  it('tests ISIC 2017 on its official val split', () => {
    const f = foldOf(heldOut('isic2017'), standard, 'isic2017');
    expect(f.test.map((i) => i.id)).toEqual(['isic2017:6']);
    expect(f.train.map((i) => i.id).sort()).toEqual(['ham10000:1', 'ham10000:2', 'isic9:7', 'isic9:8']);
  });

  it('tests the 9-class set on all its kept images', () => {
    const f = foldOf(heldOut('isic9'), standard, 'isic9');
    expect(f.test.map((i) => i.id).sort()).toEqual(['isic9:7', 'isic9:8']);
    expect(f.train.every((i) => i.source !== 'isic9' && !i.evalSet.startsWith('test:'))).toBe(true);
  });
});

describe('scoring', () => {
  it('scores melanoma vs benign only, skipping other malignant and unscored items', () => {
    const items = [item('isic9', 1, 'test', 'loso:isic9', 'malignant'), item('isic9', 2, 'test', 'loso:isic9', 'other_malignant'), item('isic9', 3, 'test', 'loso:isic9'), item('isic9', 4, 'test', 'loso:isic9')];
    const set = scoredSet(items, new Map([['isic9:1', 2], ['isic9:2', 5], ['isic9:3', -1]]));
    expect(set).toEqual({ scores: [2, -1], labels: [1, 0], groups: ['isic9-1', 'isic9-3'], ids: ['isic9:1', 'isic9:3'] });
  });

  function noisy(n: number, signal: number, seed: number) {
    const random = seededRandom(seed);
    const labels = Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const noise = labels.map(() => random() * 2 - 1);
    return { labels, noise, scores: (s: number) => labels.map((y, i) => y * s + noise[i]!) };
  }

  it('gives AUC and specificity at 90% sensitivity with intervals that contain them', () => {
    const d = noisy(400, 1, 3);
    const s = d.scores(1);
    const m = setMetrics({ scores: s, labels: d.labels, groups: d.labels.map((_, i) => `g${i}`), ids: d.labels.map((_, i) => `i${i}`) }, 300);
    expect(m.n).toBe(400);
    expect(m.melanoma).toBe(100);
    expect(m.auc).toBeGreaterThan(0.7);
    expect(m.aucCi[0]).toBeLessThanOrEqual(m.auc);
    expect(m.aucCi[1]).toBeGreaterThanOrEqual(m.auc);
    expect(m.spec90Ci[0]).toBeLessThanOrEqual(m.spec90);
  });

  it('paired difference: zero for identical scorings, clearly positive for a better one, matched by id', () => {
    const d = noisy(400, 1, 5);
    const ids = d.labels.map((_, i) => `i${i}`);
    const groups = ids;
    const weak = { scores: d.scores(0.3), labels: d.labels, groups, ids };
    const strong = { scores: d.scores(1.5), labels: d.labels, groups, ids };
    const same = pairedDifference(weak, weak, undefined, 200);
    expect(same.diff).toBe(0);
    expect(same.ci).toEqual([0, 0]);
    const better = pairedDifference(strong, weak, undefined, 200);
    expect(better.diff).toBeGreaterThan(0.1);
    expect(better.ci[0]).toBeGreaterThan(0);
    // Order of b's rows must not matter: it is matched by id.
    const rev = { scores: [...weak.scores].reverse(), labels: [...weak.labels].reverse(), groups: [...groups].reverse(), ids: [...ids].reverse() };
    expect(pairedDifference(strong, rev, undefined, 200).diff).toBeCloseTo(better.diff, 12);
  });
});

describe('per-domain standardisation', () => {
  it('standardises only the given rows, each column to mean 0 and std 1', async () => {
    const { standardiseRows } = await import('../../training/studies/generalisation/loso-run.ts');
    const x = Float32Array.from([1, 10, 3, 30, 5, 50, 100, 100]);
    standardiseRows(x, 2, [0, 1, 2]);
    expect(Array.from(x.subarray(0, 6)).map((v) => +v.toFixed(6))).toEqual([-1, -1, 0, 0, 1, 1]);
    expect(Array.from(x.subarray(6))).toEqual([100, 100]);
  });
});
