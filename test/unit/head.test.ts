import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureHeadBackend, FusionHead, headBackend, pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';

const config: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 6, mobilenetChannels: 4, pooling: 'avg+max', hidden: [5], dropout: 0.3 };

function randomMap(shape: [number, number, number, number], seed: number): FeatureMap {
  let s = seed;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 4;
  });
  return { data, shape };
}

const dir = mkdtempSync(join(tmpdir(), 'head-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FusionHead', () => {
  const inc = randomMap([1, 3, 3, 6], 1);
  const mob = randomMap([1, 2, 2, 4], 2);

  it('pools inside the head exactly like forwardPooled on hand-pooled vectors', () => {
    const head = FusionHead.create(config, 3);
    head.setNormalisation(Float32Array.from({ length: pooledWidth(config) }, (_, i) => i * 0.1), Float32Array.from({ length: pooledWidth(config) }, (_, i) => 1 + i * 0.05));
    const pooled: number[] = [];
    for (const [map, c] of [[inc, 6], [mob, 4]] as const) {
      const hw = map.shape[1] * map.shape[2];
      const avg = new Array(c).fill(0);
      const max = new Array(c).fill(-Infinity);
      for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) {
        const v = map.data[p * c + k]!;
        avg[k] += v / hw;
        max[k] = Math.max(max[k], v);
      }
      pooled.push(...avg, ...max);
    }
    const viaMaps = head.logits(inc, mob)[0]!;
    const viaPooled = head.logitPooled(tf.tensor2d([pooled])).dataSync()[0]!;
    expect(viaMaps).toBeCloseTo(viaPooled, 5);
    head.dispose();
  });

  it('returns gradients that match finite differences of the logit', () => {
    const head = FusionHead.create(config, 4);
    const { logit, inception, mobilenet } = head.logitWithGradients(inc, mob);
    expect(logit).toBeCloseTo(head.logits(inc, mob)[0]!, 5);
    expect(inception.shape).toEqual(inc.shape);
    expect(mobilenet.shape).toEqual(mob.shape);
    const eps = 1e-2;
    for (const [map, grad, which] of [[inc, inception, 0], [mob, mobilenet, 1]] as const) {
      for (const idx of [0, 7, map.data.length - 1]) {
        const plus = Float32Array.from(map.data);
        plus[idx]! += eps;
        const minus = Float32Array.from(map.data);
        minus[idx]! -= eps;
        const at = (d: Float32Array) => (which === 0 ? head.logits({ data: d, shape: map.shape }, mob) : head.logits(inc, { data: d, shape: map.shape }))[0]!;
        expect(grad.data[idx]!).toBeCloseTo((at(plus) - at(minus)) / (2 * eps), 2);
      }
    }
    head.dispose();
  });

  it('gives zero gradient to a branch a single-branch head does not use', () => {
    const head = FusionHead.create({ ...config, branches: ['mobilenet'] }, 5);
    const { mobilenet, inception } = head.logitWithGradients(inc, mob);
    expect(inception.data.every((v) => v === 0)).toBe(true);
    expect(mobilenet.data.some((v) => v !== 0)).toBe(true);
    head.dispose();
  });

  it('saves and loads to identical logits', async () => {
    const head = FusionHead.create(config, 6);
    head.setNormalisation(new Float32Array(pooledWidth(config)).fill(0.5), new Float32Array(pooledWidth(config)).fill(2));
    await head.save(dir);
    const loaded = await FusionHead.load(dir);
    expect(loaded.config).toEqual(head.config);
    expect(Array.from(loaded.logits(inc, mob))).toEqual(Array.from(head.logits(inc, mob)));
    expect(headBackend()).toBeTruthy();
    head.dispose();
    loaded.dispose();
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = FusionHead.create(config, 9);
    const b = FusionHead.create(config, 9);
    const c = FusionHead.create(config, 10);
    expect(a.logits(inc, mob)[0]).toBe(b.logits(inc, mob)[0]);
    expect(a.logits(inc, mob)[0]).not.toBe(c.logits(inc, mob)[0]);
    [a, b, c].forEach((h) => h.dispose());
  });

  it('gives the same logits and gradients on the backend ensureHeadBackend picks', async () => {
    const head = FusionHead.create(config, 12);
    const before = head.logitWithGradients(inc, mob);
    const backend = await ensureHeadBackend();
    expect(['cpu', 'wasm', 'tensorflow']).toContain(backend);
    expect(headBackend()).toBe(backend);
    const after = head.logitWithGradients(inc, mob);
    expect(after.logit).toBeCloseTo(before.logit, 4);
    after.inception.data.forEach((g, i) => expect(g).toBeCloseTo(before.inception.data[i]!, 4));
    after.mobilenet.data.forEach((g, i) => expect(g).toBeCloseTo(before.mobilenet.data[i]!, 4));
    head.dispose();
  });
});
