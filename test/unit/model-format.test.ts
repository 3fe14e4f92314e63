/** How the model screen words an adaptation comparison and the audit log names local models (pure helpers). */
import { describe, expect, it } from 'vitest';
import { AdaptationComparison, type ModelFigures } from '#common/ipc';
import { auditActionLabel, auditTarget } from '../../renderer/src/lib/audit-format.ts';
import { comparisonColumns, comparisonRows, pct, rocPath, tooFewCasesNotice } from '../../renderer/src/lib/model-format.ts';

const figures = (auc: number, brier: number): ModelFigures => ({
  auc,
  aucCi: [auc - 0.05, Math.min(1, auc + 0.05)],
  threshold: 0.2,
  sensitivity: 0.95,
  specificity: 0.6125,
  brier,
  ece: 0.0349,
  tiers: { low: 0.5, review: 0.3, high: 0.2 },
  roc: [
    { fpr: 0, tpr: 0 },
    { fpr: 0.5, tpr: 0.9 },
    { fpr: 1, tpr: 1 },
  ],
});

const comparison = AdaptationComparison.parse({
  base: { version: 'fusion-v2' },
  cases: { total: 42, melanoma: 12, benign: 30, excluded: [] },
  validation: { folds: 5, repeats: 5, groupedBy: 'patient' },
  shipped: figures(0.8, 0.2),
  methods: [
    { ...figures(0.8, 0.15), method: 'recalibrate', deltaAuc: 0, deltaAucCi: [-0.01, 0.01] },
    { ...figures(0.82, 0.14), method: 'members', deltaAuc: 0.02, deltaAucCi: [-0.004, 0.041] },
  ],
  chosen: 'recalibrate',
  reasons: ['Only 12 confirmed melanoma'],
  tooFewCases: true,
  minimumPerClass: 30,
  candidate: 'fusion-v2+local-1',
  createdAt: '2026-02-01T10:00:00.000Z',
});

describe('model screen helpers', () => {
  it('puts the shipped model first and marks the chosen method', () => {
    const columns = comparisonColumns(comparison);
    expect(columns.map((c) => [c.key, c.label, c.chosen])).toEqual([
      ['shipped', 'Shipped (fusion-v2)', false],
      ['recalibrate', 'Recalibration', true],
      ['members', 'Member re-weighting', false],
    ]);
  });

  it('formats each row for every column: CIs, signed AUC changes, percentages', () => {
    const rows = new Map(comparisonRows(comparisonColumns(comparison)).map((r) => [r.key, r.cells]));
    expect(rows.get('auc')).toEqual(['0.800 (0.750 to 0.850)', '0.800 (0.750 to 0.850)', '0.820 (0.770 to 0.870)']);
    expect(rows.get('delta-auc')).toEqual(['—', '+0.000 (−0.010 to +0.010)', '+0.020 (−0.004 to +0.041)']);
    expect(rows.get('specificity')).toEqual(['61.3%', '61.3%', '61.3%']);
    expect(rows.get('brier')).toEqual(['0.200', '0.150', '0.140']);
    expect(rows.get('ece')![0]).toBe('3.5%');
    expect([...rows.keys()]).toEqual(['auc', 'delta-auc', 'threshold', 'sensitivity', 'specificity', 'brier', 'ece', 'tier-low', 'tier-review', 'tier-high']);
    expect(pct(0.9995)).toBe('100.0%');
  });

  it('says which class is short of the minimum, and nothing when none is', () => {
    expect(tooFewCasesNotice(comparison)).toBe('Only 12 confirmed melanomas (fewer than 30): recalibration at most is offered, and every figure below is uncertain.');
    expect(tooFewCasesNotice({ ...comparison, cases: { ...comparison.cases, melanoma: 1, benign: 2 } })).toMatch(/^Only 1 confirmed melanoma and 2 confirmed benign lesions \(fewer than 30\)/);
    expect(tooFewCasesNotice({ ...comparison, cases: { ...comparison.cases, melanoma: 30, benign: 30 } })).toBeNull();
  });

  it('draws a ROC curve from the bottom-left to the top-right of the plot', () => {
    expect(rocPath(comparison.shipped.roc, 100, 10)).toBe('M10.0,90.0 L50.0,18.0 L90.0,10.0');
  });

  it('names local models by version in the audit log and links them to the model screen', () => {
    const adopt = { action: 'model.adopt', entity: 'local_models', entityId: null, detail: JSON.stringify({ version: 'fusion-v2+local-1', previous: null }) };
    expect(auditActionLabel(adopt)).toBe('Local model adopted');
    expect(auditTarget(adopt)).toEqual({ label: 'Local model fusion-v2+local-1', href: '#/model' });
    const rollback = { action: 'model.rollback', entity: 'local_models', entityId: null, detail: JSON.stringify({ from: 'fusion-v2+local-1', to: 'shipped' }) };
    expect(auditActionLabel(rollback)).toBe('Local model rolled back');
    expect(auditTarget(rollback).label).toBe('Local model fusion-v2+local-1');
  });
});
