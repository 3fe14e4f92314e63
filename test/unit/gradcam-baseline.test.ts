import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CAM_BASELINE_FORMAT,
  CamBaselineError,
  MeanMapAccumulator,
  loadCamBaseline,
  saveCamBaseline,
  type CamBaselineMeta,
} from '../../electron/model/cam-baseline.ts';
import { branchCam } from '../../electron/model/gradcam.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { seededRandom as rng } from '../../electron/util/random.ts';


const H = 7;
const W = 7;
const C = 4;
/**
 * Channel 0 fires on the top row of EVERY image (a padding artefact); channel 1 fires where this
 * image's lesion is. A head that reads both through average pooling (gradient w/HW per channel).
 */
function image(seed: number, lesion: [number, number]): FeatureMap {
  const r = rng(seed);
  const data = new Float32Array(H * W * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * C;
      data[p] = y === 0 ? 4 : 0.1 * r();
      data[p + 1] = y === lesion[0] && x === lesion[1] ? 2 : 0.1 * r();
      data[p + 2] = r();
      data[p + 3] = r();
    }
  }
  return { data, shape: [1, H, W, C] };
}
const grad: FeatureMap = { data: Float32Array.from({ length: H * W * C }, (_, i) => [1, 1, 0, 0][i % C]! / (H * W)), shape: [1, H, W, C] };
const argmax = (a: Float32Array): number => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);

describe('Grad-CAM against a reference map', () => {
  it('plain Grad-CAM shows the shared border artefact; with the mean map subtracted it shows the lesion', () => {
    const acc = new MeanMapAccumulator();
    for (let s = 0; s < 40; s++) acc.add(image(100 + s, [1 + (s % 5), 1 + ((s * 3) % 5)]));
    const mean = acc.mean();
    const img = image(7, [4, 5]);
    const plain = branchCam(img, grad);
    expect(Math.floor(argmax(plain.data) / W)).toBe(0); // top row wins without a reference
    const contrast = branchCam(img, grad, 0, { baseline: mean });
    expect(argmax(contrast.data)).toBe(4 * W + 5);
    // For a linear head the contribution is the logit difference from the reference image.
    const logit = (m: FeatureMap): number => {
      let s = 0;
      for (let i = 0; i < m.data.length; i++) s += grad.data[i]! * m.data[i]!;
      return s;
    };
    expect(contrast.contribution).toBeCloseTo(logit(img) - logit(mean), 5);
  });

  it('rejects a reference of another shape', () => {
    const img = image(1, [2, 2]);
    expect(() => branchCam(img, grad, 0, { baseline: { data: new Float32Array(3 * 3 * C), shape: [1, 3, 3, C] } })).toThrow(/does not match/);
  });
});

describe('cam-baseline files', () => {
  let dir: string;
  const expected = { inceptionLayer: 'mixed6', inceptionScaling: 'unit', inceptionSha256: 'aa', mobilenetSha256: 'bb', colorConstancy: 'none' };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dermafuse-cambase-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips and refuses a baseline made for other backbones or preprocessing', async () => {
    expect(await loadCamBaseline(dir, expected)).toBeUndefined();
    const inception: FeatureMap = { data: Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i / 7), shape: [1, 2, 2, 3] };
    const mobilenet: FeatureMap = { data: Float32Array.from({ length: 1 * 1 * 5 }, (_, i) => -i), shape: [1, 1, 1, 5] };
    const meta: CamBaselineMeta = {
      format: CAM_BASELINE_FORMAT,
      ...expected,
      inceptionShape: inception.shape,
      mobilenetShape: mobilenet.shape,
      images: 3,
      views: ['identity'],
      source: 'test',
      createdAt: 'now',
    };
    await saveCamBaseline(dir, { meta, inception, mobilenet });
    const back = await loadCamBaseline(dir, expected);
    expect(Array.from(back!.inception.data)).toEqual(Array.from(inception.data));
    expect(Array.from(back!.mobilenet.data)).toEqual(Array.from(mobilenet.data));
    await expect(loadCamBaseline(dir, { ...expected, colorConstancy: 'shades_of_gray' })).rejects.toBeInstanceOf(CamBaselineError);
    await writeFile(join(dir, 'cam-baseline.bin'), Buffer.alloc(8));
    await expect(loadCamBaseline(dir, expected)).rejects.toThrow(/bytes/);
  });
});
