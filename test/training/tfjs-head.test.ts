/**
 * The training head (training/head/tfjs-head.ts): pooling, autodiff gradients, seeds, saving, and
 * the backend ensureHeadBackend picks. The backend is a process-wide choice that the first test to
 * touch tfjs fixes for the whole file, so it is checked in fresh Node processes.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import { TfjsHead } from '../../training/head/tfjs-head.ts';
import { finiteDifference, seededMap } from '../helpers/random-head.ts';

const config: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 6, mobilenetChannels: 4, pooling: 'avg+max', hidden: [5], dropout: 0.3 };

const dir = mkdtempSync(join(tmpdir(), 'tfjs-head-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TfjsHead', () => {
  const inc = seededMap([1, 3, 3, 6], 1);
  const mob = seededMap([1, 2, 2, 4], 2);

  it('pools inside the head exactly like forwardPooled on hand-pooled vectors', () => {
    const head = TfjsHead.create(config, 3);
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
    const head = TfjsHead.create(config, 4);
    const { logit, inception, mobilenet } = head.logitWithGradients(inc, mob);
    expect(logit).toBeCloseTo(head.logits(inc, mob)[0]!, 5);
    const eps = 1e-2;
    for (const [branch, grad] of [['inception', inception], ['mobilenet', mobilenet]] as const) {
      for (const idx of [0, 7, grad.data.length - 1]) {
        expect(grad.data[idx]!).toBeCloseTo(finiteDifference((i, m) => head.logits(i, m), inc, mob, branch, idx, eps), 2);
      }
    }
    head.dispose();
  });

  it('saves and loads to identical weights and logits', async () => {
    const head = TfjsHead.create(config, 6);
    head.setNormalisation(new Float32Array(pooledWidth(config)).fill(0.5), new Float32Array(pooledWidth(config)).fill(2));
    await head.save(dir);
    const loaded = await TfjsHead.load(dir);
    expect(loaded.config).toEqual(head.config);
    expect(loaded.weightArrays()).toEqual(head.weightArrays());
    expect(Array.from(loaded.logits(inc, mob))).toEqual(Array.from(head.logits(inc, mob)));
    head.dispose();
    loaded.dispose();
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = TfjsHead.create(config, 9);
    const b = TfjsHead.create(config, 9);
    const c = TfjsHead.create(config, 10);
    expect(a.logits(inc, mob)[0]).toBe(b.logits(inc, mob)[0]);
    expect(a.logits(inc, mob)[0]).not.toBe(c.logits(inc, mob)[0]);
    [a, b, c].forEach((h) => h.dispose());
  });
});

const run = promisify(execFile);
const tfjsHeadModule = resolve(import.meta.dirname, '../../training/head/tfjs-head.ts');
const helperModule = resolve(import.meta.dirname, '../helpers/random-head.ts');

/** In a fresh process: the backend ensureHeadBackend settles on, and the head's logit and gradients on it. */
async function probe(forced: string | undefined): Promise<{ backend: string; tfBackend: string; logit: number; inception: number[]; mobilenet: number[] }> {
  const code = `
    const { TfjsHead, ensureHeadBackend } = await import(${JSON.stringify(tfjsHeadModule)});
    const tf = await import('@tensorflow/tfjs');
    const backend = await ensureHeadBackend();
    const head = TfjsHead.create(${JSON.stringify(config)}, 12);
    const { seededMap } = await import(${JSON.stringify(helperModule)});
    const g = head.logitWithGradients(seededMap([1, 3, 3, 6], 1), seededMap([1, 2, 2, 4], 2));
    process.stdout.write('\\n' + JSON.stringify({ backend, tfBackend: tf.getBackend(), logit: g.logit, inception: Array.from(g.inception.data), mobilenet: Array.from(g.mobilenet.data) }));
  `;
  const env = { ...process.env };
  delete env.DERMAFUSE_HEAD_BACKEND;
  if (forced) env.DERMAFUSE_HEAD_BACKEND = forced;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env, cwd: resolve(import.meta.dirname, '../..') });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('ensureHeadBackend (fresh processes)', () => {
  it('runs the head on the backend DERMAFUSE_HEAD_BACKEND forces, with the same results on each', async () => {
    const cpu = await probe('cpu');
    const wasm = await probe('wasm');
    expect([cpu.backend, cpu.tfBackend]).toEqual(['cpu', 'cpu']);
    expect([wasm.backend, wasm.tfBackend]).toEqual(['wasm', 'wasm']);
    expect(Math.abs(wasm.logit - cpu.logit)).toBeLessThan(1e-5);
    for (const k of ['inception', 'mobilenet'] as const) {
      expect(wasm[k]).toHaveLength(cpu[k].length);
      wasm[k].forEach((g, i) => expect(Math.abs(g - cpu[k][i]!)).toBeLessThan(1e-5));
    }
  }, 60_000);

  it('picks an accelerated backend when none is forced (the WebAssembly one is a dependency)', async () => {
    const picked = await probe(undefined);
    expect(['wasm', 'tensorflow']).toContain(picked.backend);
    expect(picked.tfBackend).toBe(picked.backend);
  }, 60_000);
});
