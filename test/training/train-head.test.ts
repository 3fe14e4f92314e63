import { describe, expect, it } from 'vitest';
import { auc, seededRandom } from '../../electron/model/metrics.ts';
import { classBalanceWeights, fitNormalisation, predictPooled, trainHead } from '../../training/head/train-head.ts';
import type { HeadConfig } from '../../electron/model/head.ts';

const config: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 4, mobilenetChannels: 2, pooling: 'avg', hidden: [8], dropout: 0.2 };

/** Imbalanced synthetic data: the label depends on two of six features, with noise. */
function synthetic(rows: number, seed: number) {
  const random = seededRandom(seed);
  const x = new Float32Array(rows * 6);
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < 6; k++) x[r * 6 + k] = (random() - 0.5) * 4 + (k === 5 ? 100 : 0);
    y.push(x[r * 6]! + 0.5 * x[r * 6 + 4]! + (random() - 0.5) > 1.2 ? 1 : 0);
  }
  return { x, y };
}

describe('normalisation and class weights', () => {
  it('computes mean/std per column and leaves constant columns unscaled', () => {
    const { mean, std } = fitNormalisation(Float32Array.from([1, 5, 3, 5]), 2, 2);
    expect(Array.from(mean)).toEqual([2, 5]);
    expect(std[0]).toBeCloseTo(Math.SQRT2, 6);
    expect(std[1]).toBe(1);
  });
  it('gives each class half of the total weight', () => {
    classBalanceWeights([1, 0, 0, 0]).forEach((w, i) => expect(w).toBeCloseTo([2, 2 / 3, 2 / 3, 2 / 3][i]!, 6));
    expect(() => classBalanceWeights([0, 0])).toThrow(/both classes/);
  });
});

describe('trainHead', () => {
  it('learns a held-out separable signal, deterministically for a seed', async () => {
    const train = synthetic(1500, 1);
    const test = synthetic(500, 2);
    const settings = { epochs: 15, batchSize: 64, learningRate: 3e-3, l2: 1e-4, seed: 7 };
    const a = await trainHead(config, train.x, train.y, settings);
    expect(a.losses.at(-1)!).toBeLessThan(a.losses[0]!);
    const testAuc = auc(predictPooled(a.head, test.x, 500), test.y);
    expect(testAuc).toBeGreaterThan(0.9);
    const b = await trainHead(config, train.x, train.y, settings);
    expect(Array.from(predictPooled(b.head, test.x, 5))).toEqual(Array.from(predictPooled(a.head, test.x, 5)));
    a.head.dispose();
    b.head.dispose();
  });
});
