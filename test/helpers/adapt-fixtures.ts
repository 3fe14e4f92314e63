/**
 * Fixtures for the clinic-adaptation tests: the shipped fusion-v2 model folder (real manifest,
 * head, input-gate statistics, Grad-CAM baseline) classifying through the real classifier with
 * stand-in backbones, so no backbone weights are needed. The stand-in turns each view's mean
 * colour into spatially constant feature maps around the head's own standardisation (mean + std x
 * a seeded projection of the colour), so different colours give different pooled vectors and the
 * real head scores them. Plus: coloured image files and a store seeded with confirmed cases.
 */
import sharp from 'sharp';
import { join } from 'node:path';
import type { Backbones } from '../../electron/model/backbones.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { readHeadFile, type HeadArrays } from '../../electron/model/head.ts';
import { loadManifest } from '../../electron/model/manifest.ts';
import { manifestSha256, writeModelFolder, type LocalModelSpec } from '../../electron/adaptation/local-model.ts';
import { createRegistry } from '../../electron/adaptation/registry.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import type { ConfirmedDiagnosis } from '../../common/domain.ts';
import { persistClassification, predictionInput, type Store } from '../../electron/store/index.ts';
import { modelsDir } from '../../electron/util/paths.ts';
import { seededRandom } from '../../electron/util/random.ts';
import { readFileSync } from 'node:fs';

export const SHIPPED_DIR = modelsDir('fusion-v2');

/**
 * Makes fusion-v2 "the shipped model" for this test process and the host processes it forks
 * (DERMAFUSE_MODEL_DIR), whatever models/current.json names: the stand-in features are built for
 * its four-member head. Returns the restore function.
 */
export function pinShippedModel(): () => void {
  const before = process.env.DERMAFUSE_MODEL_DIR;
  process.env.DERMAFUSE_MODEL_DIR = SHIPPED_DIR;
  return () => {
    if (before === undefined) delete process.env.DERMAFUSE_MODEL_DIR;
    else process.env.DERMAFUSE_MODEL_DIR = before;
  };
}

/** Stand-in backbones for fusion-v2 (mixed5-7 at 17x17x768, MobileNetV2 at 7x7x1280). */
export async function standInBackbones(modelDir = SHIPPED_DIR): Promise<Backbones> {
  const { weights } = await readHeadFile(modelDir);
  const mean = weights.get('norm/mean')!.data;
  const std = weights.get('norm/std')!.data;
  const r = seededRandom(7);
  const projection = Float32Array.from({ length: mean.length * 3 }, () => (2 * r() - 1) * 0.8);
  const meanColour = (x: Float32Array, size: number, item: number): [number, number, number] => {
    const cells = size * size;
    const base = item * cells * 3;
    const sum = [0, 0, 0];
    for (let p = 0; p < cells; p++) for (let c = 0; c < 3; c++) sum[c]! += x[base + p * 3 + c]!;
    return sum.map((s) => (s / cells - 128) / 64) as [number, number, number];
  };
  const value = (channel: number, u: readonly number[]): number =>
    mean[channel]! + std[channel]! * Math.tanh(projection[channel * 3]! * u[0]! + projection[channel * 3 + 1]! * u[1]! + projection[channel * 3 + 2]! * u[2]!);
  const constantMap = (batch: number, side: number, channels: number, offset: number, colours: readonly (readonly number[])[]): FeatureMap => {
    const data = new Float32Array(batch * side * side * channels);
    for (let b = 0; b < batch; b++) {
      const values = Float32Array.from({ length: channels }, (_, k) => value(offset + k, colours[b]!));
      for (let p = 0; p < side * side; p++) data.set(values, (b * side * side + p) * channels);
    }
    return { data, shape: [batch, side, side, channels] };
  };
  const layers = ['mixed5', 'mixed6', 'mixed7'];
  const standIn = {
    executionProvider: 'stand-in',
    inceptionLayers: layers,
    async run(inception: Float32Array, mobilenet: Float32Array, batch: number) {
      const colours = Array.from({ length: batch }, (_, b) => meanColour(inception, 299, b));
      const mobColours = Array.from({ length: batch }, (_, b) => meanColour(mobilenet, 224, b));
      return {
        inception: Object.fromEntries(layers.map((l, i) => [l, constantMap(batch, 17, 768, i * 768, colours)])),
        mobilenet: constantMap(batch, 7, 1280, 3 * 768, mobColours),
      };
    },
    async dispose() {},
  };
  return standIn as unknown as Backbones;
}

/** The real classifier on a model folder (manifest, head, gate statistics, CAM baseline) with stand-in backbones. */
export async function standInClassifier(modelDir = SHIPPED_DIR): Promise<FusionClassifier> {
  return createClassifier({ modelDir, backbones: await standInBackbones(SHIPPED_DIR) });
}

export async function colourImage(file: string, rgb: readonly [number, number, number]): Promise<string> {
  await sharp({ create: { width: 96, height: 80, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toFile(file);
  return file;
}

/** A colour per case: melanomas darker and redder on average, with overlap (seeded). */
export function caseColours(n: number, seed: number, melanomaShare = 0.4): { rgb: [number, number, number]; melanoma: boolean }[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const melanoma = i % Math.round(1 / melanomaShare) === 0;
    const jitter = (): number => Math.round((r() - 0.5) * 90);
    const rgb: [number, number, number] = melanoma ? [150 + jitter(), 70 + jitter(), 60 + jitter()] : [190 + jitter(), 140 + jitter(), 120 + jitter()];
    return { rgb: rgb.map((v) => Math.max(0, Math.min(255, v))) as [number, number, number], melanoma };
  });
}

export interface SeededCase {
  readonly rgb: readonly [number, number, number];
  readonly diagnosis: ConfirmedDiagnosis | null;
  /** Index of the patient (created on demand); null: an image without a patient. */
  readonly patient: number | null;
  /** Lesion key within the patient; null: no lesion. */
  readonly lesion?: string | null;
}

/**
 * Imports each case's image into the store, classifies it with `classifier` and stores the
 * prediction (with its features, or without them to exercise the backfill), then records a review
 * with the confirmed diagnosis. Returns the image ids in order.
 */
export async function seedStore(store: Store, folder: string, cases: readonly SeededCase[], classifier: FusionClassifier, options: { withFeatures?: boolean } = {}): Promise<number[]> {
  const patients = new Map<number, number>();
  const lesions = new Map<string, number>();
  const ids: number[] = [];
  for (const [i, c] of cases.entries()) {
    const file = await colourImage(join(folder, `case-${i}.png`), c.rgb);
    let patientId: number | undefined;
    if (c.patient !== null) {
      patientId = patients.get(c.patient) ?? store.patients.create({ name: `Patient ${c.patient}`, identifier: `P-${c.patient}` }).id;
      patients.set(c.patient, patientId);
    }
    let lesionId: number | undefined;
    if (c.lesion && patientId !== undefined) {
      const key = `${c.patient}/${c.lesion}`;
      lesionId = lesions.get(key) ?? store.lesions.create({ patientId, label: c.lesion }).id;
      lesions.set(key, lesionId);
    }
    const placement = { ...(patientId !== undefined ? { patientId } : {}), ...(lesionId !== undefined ? { lesionId } : {}) };
    const result = await classifier.classifyFile(file);
    let imageId: number;
    if (options.withFeatures ?? true) {
      const bytes = readFileSync(file);
      const persisted = await persistClassification(store, { bytes, originalPath: file }, { result }, { placement, audit: {} });
      imageId = persisted.image.id;
    } else {
      const image = await store.images.importFile(file, placement);
      store.predictions.create(predictionInput(image.id, result.classification));
      imageId = image.id;
    }
    if (c.diagnosis) {
      store.reviews.create({
        imageId,
        clinician: 'dr.test',
        verdict: 'agree',
        confirmedDiagnosis: c.diagnosis,
        confirmationBasis: 'histopathology',
        confirmedOn: '2026-01-15',
      });
    }
    ids.push(imageId);
  }
  return ids;
}

/** fusion-v2's head arrays, as a local model spec carries them. */
export async function shippedArrays(): Promise<{ config: Awaited<ReturnType<typeof readHeadFile>>['config']; arrays: HeadArrays }> {
  const { config, weights } = await readHeadFile(SHIPPED_DIR);
  const w = (name: string) => weights.get(name)!.data;
  return {
    config,
    arrays: {
      mean: w('norm/mean'),
      std: w('norm/std'),
      layers: [{ kernel: w('dense0/kernel'), bias: w('dense0/bias'), fanIn: config.inceptionChannels + config.mobilenetChannels, fanOut: 256 }],
      output: { kernel: w('out/kernel'), bias: w('out/bias'), fanIn: 256, fanOut: 2 },
    },
  };
}

/** A local model spec as an adaptation would produce it: fusion-v2's head with its malignant output bias moved by `shift`. */
export async function localModelSpec(shift = 0.5): Promise<LocalModelSpec> {
  const base = loadManifest(SHIPPED_DIR);
  const { config, arrays } = await shippedArrays();
  const bias = Float32Array.from(arrays.output.bias);
  bias[1]! += shift;
  return {
    base: { dir: SHIPPED_DIR, manifest: base, manifestSha256: manifestSha256(SHIPPED_DIR) },
    head: { config, arrays: { ...arrays, output: { ...arrays.output, bias } } },
    temperature: 0.9,
    calibrationBias: -1.2,
    threshold: 0.12,
    operatingPoints: {
      sensitive: { threshold: 0.12, valSensitivity: 0.9, valSpecificity: 0.6 },
      balanced: { threshold: 0.2, valSensitivity: 0.8, valSpecificity: 0.7 },
      specific: { threshold: 0.4, valSensitivity: 0.5, valSpecificity: 0.9 },
    },
    tiers: { reviewAt: 0.05, highAt: 0.45 },
    metrics: { 'cv:local': { n: 80, positives: 32, auc: 0.8, aucCi: [0.7, 0.9] } },
    adaptation: {
      method: 'last_layer',
      cases: { source: 'store', count: 80, melanoma: 32, benign: 48, ids: ['image:1', 'image:2'] },
      cv: { k: 5, repeats: 5 },
      reasons: ['Chosen: last_layer.'],
      createdAt: '2026-02-01T10:00:00.000Z',
    },
  };
}

/**
 * Writes localModelSpec(shift) as the next local version of fusion-v2 in the store's registry,
 * registers and adopts it (as a clinic would on the Model screen); returns its version.
 */
export async function adoptLocalModel(store: Store, shift: number): Promise<string> {
  const registry = createRegistry(store.dataDir, store);
  const version = registry.nextVersion('fusion-v2');
  const written = await writeModelFolder(await localModelSpec(shift), join(registry.dir, version), version);
  registry.register({ version, folder: version, manifestSha256: written.manifestSha256, baseVersion: 'fusion-v2', method: 'last_layer', createdAt: '2026-02-01T10:00:00.000Z' }, 'dr.maker');
  registry.adopt(version, 'dr.adopter');
  return version;
}
