/**
 * The app's head (electron/model/head.ts) on its own: reading head.json + head.weights.bin written
 * byte by byte here (no training library involved), the forward pass against a hand computation,
 * the gradient against finite differences, and loud failures on damaged files.
 * test/training/head-parity.test.ts holds it to the training library's head.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FusionHead, HEAD_FORMAT, HeadError, type HeadConfig } from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { finiteDifference, randomHead, seededMap } from '../helpers/random-head.ts';

const root = mkdtempSync(join(tmpdir(), 'head-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a head folder the way the saved format describes it: specs in order, float32 little-endian, concatenated. */
function writeHead(name: string, config: HeadConfig, weights: [string, number[], number[]][], edit: (meta: Record<string, unknown>) => void = () => {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const values = weights.flatMap(([, , v]) => v);
  const bin = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => bin.writeFloatLE(v, 4 * i));
  writeFileSync(join(dir, 'head.weights.bin'), bin);
  const meta: Record<string, unknown> = {
    format: HEAD_FORMAT,
    config,
    weightsFile: 'head.weights.bin',
    weightSpecs: weights.map(([n, shape]) => ({ name: n, shape, dtype: 'float32' })),
  };
  edit(meta);
  writeFileSync(join(dir, 'head.json'), JSON.stringify(meta));
  return dir;
}

// Two InceptionV3 channels and one MobileNetV2 channel, average pooling, one hidden layer of two units.
const small: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 2, mobilenetChannels: 1, pooling: 'avg', hidden: [2], dropout: 0.5 };
const smallWeights: [string, number[], number[]][] = [
  ['norm/mean', [3], [0.5, 0, 1]],
  ['norm/std', [3], [2, 1, 0.5]],
  ['dense0/kernel', [3, 2], [1, -1, 0.5, 2, -1, 0.25]],
  ['dense0/bias', [2], [0.1, -0.2]],
  ['out/kernel', [2, 2], [0.3, -0.7, 0.2, 0.9]],
  ['out/bias', [2], [0.05, -0.15]],
];

/** Hand computation of the small head's logit from its pooled input. */
function smallLogit(pooled: [number, number, number]): number {
  const x = pooled.map((v, i) => (v - [0.5, 0, 1][i]!) / [2, 1, 0.5][i]!);
  const h0 = Math.max(0, x[0]! * 1 + x[1]! * 0.5 + x[2]! * -1 + 0.1);
  const h1 = Math.max(0, x[0]! * -1 + x[1]! * 2 + x[2]! * 0.25 - 0.2);
  const z0 = h0 * 0.3 + h1 * 0.2 + 0.05;
  const z1 = h0 * -0.7 + h1 * 0.9 - 0.15;
  return z1 - z0;
}

describe('FusionHead (the app\'s head)', () => {
  it('reads the saved format and computes the logit a hand calculation gives', async () => {
    const head = await FusionHead.load(writeHead('small', small, smallWeights));
    expect(head.config).toEqual(small);
    // Two batch items on a 1x2 grid.
    const inc: FeatureMap = { data: Float32Array.from([1, 2, 3, 4, 0, -1, 2, 5]), shape: [2, 1, 2, 2] };
    const mob: FeatureMap = { data: Float32Array.from([3, 1, -2, 0]), shape: [2, 1, 2, 1] };
    const logits = head.logits(inc, mob);
    expect(logits[0]).toBeCloseTo(smallLogit([2, 3, 2]), 6);
    expect(logits[1]).toBeCloseTo(smallLogit([1, 2, -1]), 6);
    expect(logits[0]).not.toBeCloseTo(logits[1]!, 3);
  });

  it('returns gradients that match finite differences of the logit (avg and max pooling)', () => {
    const config: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 6, mobilenetChannels: 4, pooling: 'avg+max', hidden: [5], dropout: 0 };
    const head = randomHead(config, 4, { standardise: true });
    const inc = seededMap([1, 3, 3, 6], 1);
    const mob = seededMap([1, 2, 2, 4], 2);
    const { logit, inception, mobilenet } = head.logitWithGradients(inc, mob);
    expect(logit).toBeCloseTo(head.logits(inc, mob)[0]!, 5);
    expect(inception.shape).toEqual(inc.shape);
    expect(mobilenet.shape).toEqual(mob.shape);
    const eps = 1e-3;
    let nonZero = 0;
    for (const [branch, grad] of [['inception', inception], ['mobilenet', mobilenet]] as const) {
      for (let idx = 0; idx < grad.data.length; idx += 5) {
        expect(grad.data[idx]!).toBeCloseTo(finiteDifference((i, m) => head.logits(i, m), inc, mob, branch, idx, eps), 2);
        if (Math.abs(grad.data[idx]!) > 1e-3) nonZero++;
      }
    }
    expect(nonZero).toBeGreaterThan(3);
  });

  it('takes the gradient of any batch item, and none for a branch it does not read', () => {
    const config: HeadConfig = { branches: ['mobilenet'], inceptionChannels: 6, mobilenetChannels: 4, pooling: 'avg', hidden: [3], dropout: 0 };
    const head = randomHead(config, 5);
    const inc = seededMap([2, 3, 3, 6], 3);
    const mob = seededMap([2, 2, 2, 4], 4);
    const second = head.logitWithGradients(inc, mob, 1);
    const alone = head.logitWithGradients({ data: inc.data.slice(54), shape: [1, 3, 3, 6] }, { data: mob.data.slice(16), shape: [1, 2, 2, 4] });
    expect(second.logit).toBe(alone.logit);
    expect(Array.from(second.mobilenet.data)).toEqual(Array.from(alone.mobilenet.data));
    expect(second.inception.data.every((v) => v === 0)).toBe(true);
    expect(second.mobilenet.data.some((v) => v !== 0)).toBe(true);
  });

  it('refuses damaged or mismatched files with a HeadError', async () => {
    const broken: [string, string][] = [];
    const bad = async (name: string, dir: string, message: RegExp): Promise<void> => {
      await expect(FusionHead.load(dir), name).rejects.toThrow(HeadError);
      await expect(FusionHead.load(dir), name).rejects.toThrow(message);
      broken.push([name, dir]);
    };
    await bad('not a head file', writeHead('format', small, smallWeights, (m) => (m.format = 'other/1')), /not a dermafuse-head\/1 file/);
    await bad('truncated weights', writeHead('short', small, smallWeights.slice(0, -1), (m) => (m.weightSpecs = smallWeights.map(([n, shape]) => ({ name: n, shape, dtype: 'float32' })))), /weights end before out\/bias/);
    await bad('missing weight', writeHead('missing', small, smallWeights.filter(([n]) => n !== 'dense0/bias')), /lack dense0\/bias/);
    await bad('wrong shape', writeHead('shape', { ...small, hidden: [3] }, smallWeights), /dense0\/kernel has shape \[3, 2\], the config needs \[3, 3\]/);
    await bad('quantised weights', writeHead('dtype', small, smallWeights, (m) => ((m.weightSpecs as { dtype: string }[])[0]!.dtype = 'int32')), /not plain float32/);
    await bad('no folder', join(root, 'absent'), /cannot read/);
    expect(broken).toHaveLength(6);
    const head = await FusionHead.load(writeHead('ok', small, smallWeights));
    expect(() => head.logits({ data: new Float32Array(3), shape: [1, 1, 1, 3] }, { data: new Float32Array(1), shape: [1, 1, 1, 1] })).toThrow(/inception map has 3 channels, head expects 2/);
  });
});
