import { describe, expect, it } from 'vitest';
import {
  averageViewMaps,
  branchCam,
  fuseBranchCams,
  normaliseMap,
  resizeBilinear,
} from '../../electron/model/gradcam.ts';
import type { HeadConfig } from '../../electron/model/head.ts';
import { randomHead } from '../helpers/random-head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { transformGrid, type View } from '../../electron/model/views.ts';
import { seededRandom as rng } from '../../electron/util/random.ts';


function noiseMap(h: number, w: number, c: number, seed: number, scale = 0.2): FeatureMap {
  const r = rng(seed);
  const data = new Float32Array(h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = r() * scale;
  return { data, shape: [1, h, w, c] };
}

const inRegion = (y: number, x: number): boolean => y >= 1 && y <= 2 && x >= 4 && x <= 5;

/**
 * Plant the channels that push the head towards "malignant" (positive gradient) strongly in one
 * region of a noise map: the logit then depends on that region, and Grad-CAM must find it.
 */
function plantEvidence(map: FeatureMap, grad: FeatureMap, region: (y: number, x: number) => boolean): FeatureMap {
  const [, h, w, c] = map.shape;
  const data = Float32Array.from(map.data);
  const meanGrad = new Float64Array(c);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) meanGrad[k]! += grad.data[p * c + k]!;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!region(y, x)) continue;
      for (let k = 0; k < c; k++) if (meanGrad[k]! > 0) data[(y * w + x) * c + k]! += 3;
    }
  }
  return { data, shape: map.shape };
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function regionMeans(cam: { data: Float32Array; width: number; height: number }, region: (y: number, x: number) => boolean) {
  let inside = 0;
  let nIn = 0;
  let outside = 0;
  let nOut = 0;
  for (let y = 0; y < cam.height; y++) {
    for (let x = 0; x < cam.width; x++) {
      const v = cam.data[y * cam.width + x]!;
      if (region(y, x)) {
        inside += v;
        nIn++;
      } else {
        outside += v;
        nOut++;
      }
    }
  }
  return { inside: inside / nIn, outside: outside / nOut };
}

const config = (over: Partial<HeadConfig> = {}): HeadConfig => ({
  branches: ['inception', 'mobilenet'],
  inceptionChannels: 24,
  mobilenetChannels: 16,
  pooling: 'avg',
  hidden: [8],
  dropout: 0,
  ...over,
});

describe('Grad-CAM on the fusion head', () => {
  for (const pooling of ['avg', 'avg+max'] as const) {
    for (const method of ['gradcam', 'gradcam++'] as const) {
      it(`${method} (${pooling} pooling) peaks where the malignant evidence was planted`, () => {
        const head = randomHead(config({ pooling }), 11);
        const inc0 = noiseMap(7, 7, 24, 1);
        const mob0 = noiseMap(7, 7, 16, 2);
        const g0 = head.logitWithGradients(inc0, mob0);
        const inc = plantEvidence(inc0, g0.inception, inRegion);
        const mob = plantEvidence(mob0, g0.mobilenet, inRegion);
        const g = head.logitWithGradients(inc, mob);
        // The planted channels raised the malignant logit: the region is what drives it.
        expect(g.logit).toBeGreaterThan(g0.logit);
        for (const [fm, grad] of [[inc, g.inception], [mob, g.mobilenet]] as const) {
          const cam = branchCam(fm, grad, 0, { method });
          const peak = argmax(cam.data);
          expect(inRegion(Math.floor(peak / cam.width), peak % cam.width)).toBe(true);
          const { inside, outside } = regionMeans(cam, inRegion);
          expect(inside).toBeGreaterThan(3 * outside + 1e-6);
        }
      });
    }
  }

  it('the benign target does not light up the malignant evidence', () => {
    const head = randomHead(config(), 5);
    const inc0 = noiseMap(7, 7, 24, 3);
    const mob0 = noiseMap(7, 7, 16, 4);
    const g0 = head.logitWithGradients(inc0, mob0);
    const inc = plantEvidence(inc0, g0.inception, inRegion);
    const g = head.logitWithGradients(inc, mob0);
    const mal = branchCam(inc, g.inception, 0, { target: 'malignant' });
    const ben = branchCam(inc, g.inception, 0, { target: 'benign' });
    const malMeans = regionMeans(mal, inRegion);
    const benMeans = regionMeans(ben, inRegion);
    expect(benMeans.inside).toBeLessThan(malMeans.inside / 3);
    expect(Math.sign(ben.contribution)).toBe(-Math.sign(mal.contribution));
  });

  it('contributions of a linear head add up to the logit change from zero maps (gradient x input is exact)', () => {
    const head = randomHead(config({ hidden: [] }), 9);
    const inc = noiseMap(5, 5, 24, 7, 1);
    const mob = noiseMap(3, 3, 16, 8, 1);
    const g = head.logitWithGradients(inc, mob);
    const zero = head.logits(
      { data: new Float32Array(inc.data.length), shape: inc.shape },
      { data: new Float32Array(mob.data.length), shape: mob.shape },
    )[0]!;
    const total = branchCam(inc, g.inception).contribution + branchCam(mob, g.mobilenet).contribution;
    expect(total).toBeCloseTo(g.logit - zero, 4);
  });

  it('picks the requested batch item and rejects mismatched shapes', () => {
    const a = noiseMap(2, 2, 3, 1);
    const b = noiseMap(2, 2, 3, 2);
    const both: FeatureMap = { data: Float32Array.from([...a.data, ...b.data]), shape: [2, 2, 2, 3] };
    const grads: FeatureMap = { data: new Float32Array(24).fill(1), shape: [2, 2, 2, 3] };
    const second = branchCam(both, grads, 1);
    const alone = branchCam(b, { data: new Float32Array(12).fill(1), shape: [1, 2, 2, 3] });
    expect(Array.from(second.data)).toEqual(Array.from(alone.data));
    expect(() => branchCam(a, { data: new Float32Array(8), shape: [1, 2, 2, 2] })).toThrow(/differ in shape/);
    expect(() => branchCam(a, a, 1)).toThrow(RangeError);
  });
});

describe('map utilities', () => {
  it('normalises to max 1 and flags an all-zero map as empty', () => {
    const n = normaliseMap(2, 1, Float32Array.from([2, 4]));
    expect(Array.from(n.data)).toEqual([0.5, 1]);
    expect(n.empty).toBe(false);
    const z = normaliseMap(2, 1, new Float32Array(2));
    expect(z.empty).toBe(true);
    expect(Array.from(z.data)).toEqual([0, 0]);
  });

  it('bilinear resize keeps constants and puts a cell peak over that cell', () => {
    const c = resizeBilinear(new Float32Array(49).fill(0.25), 7, 7, 50, 30);
    expect(c.every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
    const m = new Float32Array(49);
    m[2 * 7 + 5] = 1; // row 2, column 5
    const big = resizeBilinear(m, 7, 7, 224, 224);
    const p = argmax(big);
    const y = Math.floor(p / 224);
    const x = p % 224;
    // Cell (2,5) covers rows 64..95 and columns 160..191 of a 224 grid.
    expect(y).toBeGreaterThanOrEqual(64);
    expect(y).toBeLessThan(96);
    expect(x).toBeGreaterThanOrEqual(160);
    expect(x).toBeLessThan(192);
  });

  it('fuses by positive contribution: a branch that argued against the target gets no weight', () => {
    const peakA = new Float32Array(9);
    peakA[0] = 1;
    const peakB = new Float32Array(9);
    peakB[8] = 1;
    const fused = fuseBranchCams(
      [
        { kind: 'inception_v3', cam: { width: 3, height: 3, data: peakA, contribution: 2 } },
        { kind: 'mobilenet_v2', cam: { width: 3, height: 3, data: peakB, contribution: -1 } },
      ],
      3,
    );
    expect(fused.weights).toEqual({ inception_v3: 1, mobilenet_v2: 0 });
    expect(argmax(fused.map.data)).toBe(0);
    const mixed = fuseBranchCams(
      [
        { kind: 'inception_v3', cam: { width: 3, height: 3, data: peakA, contribution: 1 } },
        { kind: 'mobilenet_v2', cam: { width: 3, height: 3, data: peakB, contribution: 3 } },
      ],
      3,
    );
    expect(mixed.weights.inception_v3).toBeCloseTo(0.25);
    expect(mixed.weights.mobilenet_v2).toBeCloseTo(0.75);
    expect(argmax(mixed.map.data)).toBe(8);
    expect(mixed.map.data[0]).toBeCloseTo(1 / 3);
  });

  it('un-flips test-time views before averaging, so every view agrees on where the evidence is', () => {
    // A scene with evidence at row 1, column 5 of a 7x7 grid; each view's feature map is the
    // scene seen through that view, and a linear head that counts channel 0 explains it.
    const scene = new Float32Array(49).fill(0.05);
    scene[1 * 7 + 5] = 1;
    const views: View[] = ['identity', 'hflip', 'vflip', 'rot90', 'rot180', 'rot270'];
    const perView = views.map((view) => {
      const seen = transformGrid(scene, 7, 7, 1, view);
      const fm: FeatureMap = { data: seen.data, shape: [1, 7, 7, 1] };
      const cam = branchCam(fm, { data: new Float32Array(49).fill(1 / 49), shape: [1, 7, 7, 1] });
      return { data: cam.data, width: 7, height: 7, view };
    });
    // Without un-flipping the views disagree (the hflip map peaks at column 1).
    expect(argmax(perView[1]!.data)).toBe(1 * 7 + 1);
    const avg = averageViewMaps(perView);
    expect(argmax(avg.data)).toBe(1 * 7 + 5);
    const identity = perView[0]!.data;
    for (let i = 0; i < 49; i++) expect(avg.data[i]).toBeCloseTo(identity[i]!, 6);
  });
});
