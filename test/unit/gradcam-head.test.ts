import { describe, expect, it } from 'vitest';
import { AnalyticHead } from '../../electron/model/gradcam-head.ts';
import { FusionHead, pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { seededRandom as rng } from '../../electron/util/random.ts';


function map(n: number, h: number, w: number, c: number, seed: number): FeatureMap {
  const r = rng(seed);
  return { data: Float32Array.from({ length: n * h * w * c }, () => r() * 3), shape: [n, h, w, c] };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const configs: Array<[string, HeadConfig]> = [
  ['avg, two hidden layers', { branches: ['inception', 'mobilenet'], inceptionChannels: 12, mobilenetChannels: 9, pooling: 'avg', hidden: [8, 5], dropout: 0.2 }],
  ['avg+max, one hidden layer', { branches: ['inception', 'mobilenet'], inceptionChannels: 12, mobilenetChannels: 9, pooling: 'avg+max', hidden: [7], dropout: 0 }],
  ['logistic regression', { branches: ['inception', 'mobilenet'], inceptionChannels: 12, mobilenetChannels: 9, pooling: 'avg', hidden: [], dropout: 0 }],
  ['MobileNetV2 only', { branches: ['mobilenet'], inceptionChannels: 12, mobilenetChannels: 9, pooling: 'avg+max', hidden: [4], dropout: 0 }],
];

describe('analytic head = tfjs FusionHead', () => {
  for (const [name, config] of configs) {
    it(`${name}: same logits and same feature-map gradients`, () => {
      const head = FusionHead.create(config, 21);
      try {
        // Non-trivial standardisation, as a trained head has.
        const width = pooledWidth(config);
        const r = rng(5);
        head.setNormalisation(Float32Array.from({ length: width }, () => r()), Float32Array.from({ length: width }, () => 0.5 + r()));
        const analytic = AnalyticHead.from(head);
        const inc = map(3, 5, 5, 12, 1);
        const mob = map(3, 3, 3, 9, 2);
        const expected = head.logits(inc, mob);
        const got = analytic.logits(inc, mob);
        expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
        expect(new Set(Array.from(got).map((v) => v.toFixed(3))).size).toBe(3); // items differ: a real check

        const inc1 = map(1, 5, 5, 12, 3);
        const mob1 = map(1, 3, 3, 9, 4);
        const ref = head.logitWithGradients(inc1, mob1);
        const mine = analytic.logitWithGradients(inc1, mob1);
        expect(mine.logit).toBeCloseTo(ref.logit, 4);
        expect(maxAbsDiff(mine.inception.data, ref.inception.data)).toBeLessThan(1e-5);
        expect(maxAbsDiff(mine.mobilenet.data, ref.mobilenet.data)).toBeLessThan(1e-5);
        expect(Math.max(...Array.from(mine.mobilenet.data, Math.abs))).toBeGreaterThan(1e-4);
      } finally {
        head.dispose();
      }
    });
  }

  it('takes the gradient of any batch item', () => {
    const config = configs[0]![1];
    const head = FusionHead.create(config, 2);
    try {
      const analytic = AnalyticHead.from(head);
      const inc = map(2, 5, 5, 12, 8);
      const mob = map(2, 3, 3, 9, 9);
      const second = analytic.logitWithGradients(inc, mob, 1);
      const alone = head.logitWithGradients(
        { data: inc.data.slice(5 * 5 * 12), shape: [1, 5, 5, 12] },
        { data: mob.data.slice(3 * 3 * 9), shape: [1, 3, 3, 9] },
      );
      expect(second.logit).toBeCloseTo(alone.logit, 4);
      expect(maxAbsDiff(second.inception.data, alone.inception.data)).toBeLessThan(1e-5);
    } finally {
      head.dispose();
    }
  });
});
