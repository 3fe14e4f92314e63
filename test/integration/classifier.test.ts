/**
 * The whole pipeline on real images with the real native backbones and a randomly initialised
 * head (the trained head is not needed for these properties): calibration/tier bookkeeping,
 * the app's head = the training library's head on real feature maps, flip-equivariance of the TTA-averaged maps (which only holds when
 * each view's map is un-flipped correctly), overlays on the original geometry, bad input.
 */
import sharp from 'sharp';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../electron/util/paths.ts';
import { CAM_BASELINE_FORMAT, MeanMapAccumulator, expectedMeta, saveCamBaseline } from '../../electron/model/cam-baseline.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { TfjsHead } from '../../training/head/tfjs-head.ts';
import { calibrate, tierOf, type ModelManifest } from '../../electron/model/manifest.ts';
import { ImageInputError } from '../../electron/model/types.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const fixtures = sharedDir('data', 'fixtures');
const weights = sharedDir('models', 'coral_tf2_mobilenet_v2_1.0_224_ptq.tflite');
const available = existsSync(join(fixtures, 'labels.csv')) && existsSync(weights);
if (!available) console.warn(`classifier integration tests skipped: needs ${fixtures} and ${weights} (the shared data/weights folder)`);

const manifest: ModelManifest = testManifest({ temperature: 1.7, tta: ['identity', 'hflip'] });

const headConfig = { branches: ['inception', 'mobilenet'] as const, inceptionChannels: 768, mobilenetChannels: 1280, pooling: 'avg' as const, hidden: [32], dropout: 0, inceptionLayer: 'mixed6' };

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

function hflipMap(data: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = data[y * w + (w - 1 - x)]!;
  return out;
}

describe.skipIf(!available)('classifier on real images (random head)', () => {
  let dir: string;
  let classifier: FusionClassifier;
  let melanoma: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dermafuse-classifier-'));
    const head = TfjsHead.create({ ...headConfig, branches: [...headConfig.branches] }, 17);
    await head.save(join(dir, 'model'));
    head.dispose();
    await writeFile(join(dir, 'model', 'manifest.json'), JSON.stringify(manifest));
    classifier = await createClassifier({ modelDir: join(dir, 'model') });
    const mal = join(fixtures, 'malignant');
    melanoma = join(mal, readdirSync(mal).filter((f) => f.endsWith('.jpg')).sort()[0]!);
  }, 300_000);

  afterAll(async () => {
    await classifier?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports a calibrated probability with label, tier and uncertainty that follow the manifest', async () => {
    const r = await classifier.classifyFile(melanoma);
    const c = r.classification;
    const scored = await classifier.scoreViews(await classifier.prepareFile(melanoma));
    const meanLogit = (scored.logits[0]! + scored.logits[1]!) / 2;
    expect(c.pMalignant).toBeCloseTo(calibrate(meanLogit, manifest.temperature), 6);
    expect(c.pMalignantRaw).toBeCloseTo(calibrate(meanLogit, 1), 6);
    expect(c.label).toBe(c.pMalignant >= manifest.threshold ? 'malignant' : 'benign');
    expect(c.tier).toBe(tierOf(c.pMalignant, manifest.tiers));
    const p = [calibrate(scored.logits[0]!, 1.7), calibrate(scored.logits[1]!, 1.7)];
    expect(c.uncertainty).toBeCloseTo(Math.abs(p[0]! - p[1]!) / 2, 6);
    expect(c.backend).toEqual({ backbones: 'cpu', head: 'analytic-js' });
    expect(c.modelVersion).toBe('test-random-head');
    expect(Object.keys(c.timingsMs)).toEqual(expect.arrayContaining(['preprocess_ms', 'backbones_ms', 'head_ms', 'total_ms']));
    expect(r.cams).toBeUndefined();
  });

  it('applies the manifest\'s Platt offset to the mean logit over views', async () => {
    const biased = await createClassifier({ modelDir: join(dir, 'model'), manifest: { ...manifest, calibrationBias: -1.3 } });
    try {
      const scored = await biased.scoreViews(await biased.prepareFile(melanoma));
      const meanLogit = (scored.logits[0]! + scored.logits[1]!) / 2;
      const c = (await biased.classifyFile(melanoma)).classification;
      expect(c.pMalignant).toBeCloseTo(calibrate(meanLogit, manifest.temperature, -1.3), 6);
      expect(c.pMalignant).toBeLessThan(calibrate(meanLogit, manifest.temperature));
      expect(c.pMalignantRaw).toBeCloseTo(calibrate(meanLogit, 1), 6);
    } finally {
      await biased.dispose();
    }
  }, 120_000);

  it('the app\'s head gives the training head\'s logits and gradients on real feature maps', async () => {
    const reference = await TfjsHead.load(join(dir, 'model'));
    try {
      const scored = await classifier.scoreViews(await classifier.prepareFile(melanoma));
      const { inception, mobilenet } = scored.features;
      const expected = reference.logits(inception, mobilenet);
      for (let i = 0; i < 2; i++) expect(Math.abs(scored.logits[i]! - expected[i]!)).toBeLessThan(1e-4);
      const one = (m: typeof inception): typeof inception => ({ data: m.data.subarray(0, m.data.length / m.shape[0]), shape: [1, m.shape[1], m.shape[2], m.shape[3]] });
      const mine = classifier.head.logitWithGradients(inception, mobilenet, 0);
      const ref = reference.logitWithGradients(one(inception), one(mobilenet));
      for (const branch of ['inception', 'mobilenet'] as const) {
        let d = 0;
        let scale = 0;
        for (let i = 0; i < ref[branch].data.length; i++) {
          d = Math.max(d, Math.abs(mine[branch].data[i]! - ref[branch].data[i]!));
          scale = Math.max(scale, Math.abs(ref[branch].data[i]!));
        }
        expect(scale).toBeGreaterThan(0);
        expect(d).toBeLessThan(1e-5 * Math.max(1, scale));
      }
    } finally {
      reference.dispose();
    }
  }, 120_000);

  it('a mirrored image gets the same probability and the mirrored map (views are un-flipped before averaging)', async () => {
    const mirrored = join(dir, 'mirrored.png');
    await sharp(melanoma).flop().png().toFile(mirrored);
    const a = await classifier.classifyFile(melanoma, { cam: true });
    const b = await classifier.classifyFile(mirrored, { cam: true });
    expect(Math.abs(a.classification.pMalignant - b.classification.pMalignant)).toBeLessThan(0.01);
    for (const kind of ['fused', 'inception_v3', 'mobilenet_v2'] as const) {
      const ma = a.cams!.find((k) => k.kind === kind)!.map;
      const mb = b.cams!.find((k) => k.kind === kind)!.map;
      const back = hflipMap(mb.data, mb.width, mb.height);
      expect(pearson(ma.data, back)).toBeGreaterThan(0.95);
      // and it is not trivially symmetric: unflipped, the two maps agree less
      expect(pearson(ma.data, back)).toBeGreaterThan(pearson(ma.data, mb.data));
    }
  }, 120_000);

  it('draws overlays on the original geometry; pixels the model never saw get no colour', async () => {
    // A 4:3 picture: the lesion image with white bands left and right, outside the centre crop.
    const padded = join(dir, 'padded.png');
    const meta = await sharp(melanoma).metadata();
    const side = meta.height!;
    const band = Math.round((side * 4) / 3 - meta.width!) >> 1;
    await sharp(melanoma).extend({ left: band, right: band, background: '#ffffff' }).png().toFile(padded);
    const r = await classifier.classifyFile(padded, { cam: true, camOpacity: 1 });
    expect(r.cams!.map((k) => k.kind)).toEqual(['fused', 'inception_v3', 'mobilenet_v2']);
    for (const cam of r.cams!) {
      const { data, info } = await sharp(cam.overlayPng).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([r.width, r.height]);
      expect(r.width / r.height).toBeCloseTo(4 / 3, 1);
      // Left band, well outside the crop: plain dimmed white, identical in every channel.
      for (let y = 0; y < info.height; y += 7) {
        for (let x = 0; x < band - 2; x += 3) {
          const p = (y * info.width + x) * info.channels;
          expect(data[p]).toBe(data[p + 1]);
          expect(data[p + 1]).toBe(data[p + 2]);
        }
      }
      const raw = await sharp(cam.mapPng).metadata();
      expect(raw.channels).toBe(1);
      expect(raw.width! / raw.height!).toBeCloseTo(4 / 3, 1);
    }
  }, 120_000);

  it('bad input is rejected with a typed error and no overlay', async () => {
    await expect(classifier.classifyBuffer(Buffer.from('not an image at all'), 'fake.jpg', { cam: true })).rejects.toBeInstanceOf(ImageInputError);
    await expect(classifier.classifyFile(join(dir, 'missing.jpg'), { cam: true })).rejects.toMatchObject({ code: 'not_found' });
    // And the classifier still works afterwards.
    const ok = await classifier.classifyFile(melanoma);
    expect(ok.classification.pMalignant).toBeGreaterThan(0);
  });

  it('loads the reference feature maps shipped beside the manifest and explains against them', async () => {
    expect(classifier.camBaseline).toBeUndefined(); // none in the model folder yet
    const benign = join(fixtures, 'benign', readdirSync(join(fixtures, 'benign')).sort()[1]!);
    const inc = new MeanMapAccumulator();
    const mob = new MeanMapAccumulator();
    for (const f of [benign, melanoma]) {
      const s = await classifier.scoreViews(await classifier.prepareFile(f), ['identity']);
      inc.add(s.features.inception);
      mob.add(s.features.mobilenet);
    }
    const withBaseline = join(dir, 'model-with-baseline');
    await cp(join(dir, 'model'), withBaseline, { recursive: true });
    await saveCamBaseline(withBaseline, {
      inception: inc.mean(),
      mobilenet: mob.mean(),
      meta: {
        format: CAM_BASELINE_FORMAT,
        ...expectedMeta(manifest, ['mixed6']),
        inceptionShape: inc.mean().shape,
        mobilenetShape: mob.mean().shape,
        images: 2,
        views: ['identity'],
        source: 'test',
        createdAt: 'now',
      },
    });
    const c2 = await createClassifier({ modelDir: withBaseline });
    try {
      expect(c2.camBaseline?.meta.images).toBe(2);
      const scored = await c2.scoreViews(await c2.prepareFile(melanoma));
      const a = c2.camMaps(scored, 'malignant');
      const b = c2.camMaps(scored, 'malignant', 'gradcam', false);
      expect(a.contributions.mobilenet_v2).not.toBeCloseTo(b.contributions.mobilenet_v2!, 3);
      expect(Array.from(a.maps.fused!.data)).not.toEqual(Array.from(b.maps.fused!.data));
      // The probability does not depend on how it is explained.
      const r1 = await c2.classifyFile(melanoma, { cam: true });
      const r0 = await classifier.classifyFile(melanoma);
      expect(r1.classification.pMalignant).toBeCloseTo(r0.classification.pMalignant, 9);
    } finally {
      await c2.dispose();
    }
  }, 120_000);

  it('concurrent calls give the same results as one at a time', async () => {
    const benign = join(fixtures, 'benign', readdirSync(join(fixtures, 'benign')).sort()[0]!);
    const [x, y] = await Promise.all([classifier.classifyFile(melanoma), classifier.classifyFile(benign)]);
    const x1 = await classifier.classifyFile(melanoma);
    const y1 = await classifier.classifyFile(benign);
    expect(x.classification.pMalignant).toBeCloseTo(x1.classification.pMalignant, 6);
    expect(y.classification.pMalignant).toBeCloseTo(y1.classification.pMalignant, 6);
  }, 120_000);
});
