import { describe, expect, it } from 'vitest';
import { triageYield } from '../../training/build/evaluation.ts';

describe('triage yield', () => {
  it('counts benign lesions sent to low, melanomas in low, and all images in review', () => {
    const tiers = { reviewAt: 0.1, highAt: 0.5 };
    // benign: low, low, review, high; melanoma: low, review, high, high
    const p = [0.01, 0.05, 0.2, 0.6, 0.09, 0.3, 0.7, 0.9];
    const y = [0, 0, 0, 0, 1, 1, 1, 1];
    expect(triageYield(p, y, tiers)).toEqual({ benignLow: 0.5, melanomaLow: 0.25, review: 0.25 });
  });

  it('gives NaN, not zero, for a class the set lacks', () => {
    const t = triageYield([0.01, 0.2], [0, 0], { reviewAt: 0.1, highAt: 0.5 });
    expect(t.melanomaLow).toBeNaN();
    expect(t.benignLow).toBe(0.5);
  });
});
