/**
 * The manifest of a shipped model version (models/<version>/manifest.json): everything needed to
 * rebuild the exact classification pipeline (backbone sources, taps, preprocessing, head file,
 * calibration, operating point, tiers) plus the evidence for it (metrics, training data summary).
 * Validated with zod so a hand-edited or truncated manifest fails loudly at load, not mid-batch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { OperatingPoint, type Tier } from '#common/domain';
import { modelsDir } from '../util/paths.ts';
import { ADAPTATION_METHODS, type AdaptationMethod } from './adaptation/types.ts';
import { ModelGraphEntry, type ModelGraphRef } from './model-graph.ts';

export const InceptionScaling = z.enum(['unit', 'symmetric']);
export type InceptionScaling = z.infer<typeof InceptionScaling>;

const BinaryMetrics = z
  .object({
    n: z.number().int(),
    positives: z.number().int(),
    auc: z.number(),
    aucCi: z.tuple([z.number(), z.number()]),
  })
  .catchall(z.unknown());

/** One preset's threshold with the sensitivity and specificity it had on validation data. */
export const NamedOperatingPoint = z.object({
  threshold: z.number().min(0).max(1),
  valSensitivity: z.number().min(0).max(1),
  valSpecificity: z.number().min(0).max(1),
});
export type NamedOperatingPoint = z.infer<typeof NamedOperatingPoint>;

/**
 * The operating-point presets a clinic can choose between (Settings.thresholdPreset): the one
 * definition in common/domain.ts, under the name the model code and the CLI have used.
 */
export { OperatingPoint as OperatingPointName };

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * What a local model version (adapted in the clinic from its confirmed cases, electron/adaptation/)
 * records about its making: the model it was adapted from (pinned by its manifest's sha256), the
 * cases it learnt from (ids and counts, never images), the method, the cross-validated figures it
 * was chosen on and the sha256 of every other file of its folder (checked before it is used).
 */
export const ManifestAdaptation = z.object({
  base: z.object({ version: z.string().min(1), manifestSha256: Sha256 }),
  method: z.enum(ADAPTATION_METHODS as [AdaptationMethod, ...AdaptationMethod[]]),
  cases: z.object({
    source: z.enum(['store', 'labels']),
    count: z.number().int().nonnegative(),
    melanoma: z.number().int().nonnegative(),
    benign: z.number().int().nonnegative(),
    ids: z.array(z.string()),
  }),
  /** The cross-validated comparison (shipped vs methods on the same folds) the choice was made on. */
  cv: z.record(z.string(), z.unknown()),
  reasons: z.array(z.string()),
  /** sha256 of each file of the folder other than manifest.json, by path relative to it. */
  files: z.record(z.string(), Sha256),
  createdAt: z.string(),
});
export type ManifestAdaptation = z.infer<typeof ManifestAdaptation>;

export const ModelManifest = z.object({
  version: z.string().min(1),
  createdAt: z.string(),
  backbones: z.object({
    inception_v3: z.object({
      source: z.string(),
      sha256: z.string(),
      layers: z.array(z.string()).min(1),
      scaling: InceptionScaling,
      /** A fine-tuned graph shipped in the model folder; absent: the pinned source, converted. */
      graph: ModelGraphEntry.optional(),
    }),
    mobilenet_v2: z.object({ source: z.string(), sha256: z.string(), graph: ModelGraphEntry.optional() }),
  }),
  preprocess: z.object({
    crop: z.string(),
    colorConstancy: z.enum(['none', 'shades_of_gray']),
  }),
  head: z
    .object({
      /** Relative to the manifest's folder. */
      file: z.string(),
      pooling: z.enum(['avg', 'avg+max']),
      branches: z.array(z.enum(['inception', 'mobilenet'])).min(1),
      inceptionLayer: z.string().optional(),
      /** Several taps joined along channels, in order (late-fusion models); overrides inceptionLayer. */
      inceptionLayers: z.array(z.string()).min(1).optional(),
      fusion: z.enum(['early', 'late']).optional(),
      hidden: z.array(z.number().int().positive()),
      dropout: z.number().min(0).max(1),
    })
    .catchall(z.unknown()),
  /** Calibrated P(melanoma) = sigmoid(logit / temperature + calibrationBias). */
  temperature: z.number().positive(),
  /**
   * Platt-scaling offset fitted with the temperature on validation data; absent (0) for models
   * calibrated by temperature alone. Class-balanced training centres the logit on a 50% prior; a
   * strongly regularised head's logits are too small for a temperature alone to move that to the
   * real prevalence.
   */
  calibrationBias: z.number().optional(),
  /** Operating threshold on the calibrated probability: label 'malignant' when p >= threshold. */
  threshold: z.number().min(0).max(1),
  /**
   * Presets chosen on validation data; optional so older manifests still load. `threshold` above
   * stays equal to `sensitive` (the default preset) for readers that know only it.
   */
  operatingPoints: z.record(OperatingPoint, NamedOperatingPoint).optional(),
  /** low: p < reviewAt; review: reviewAt <= p < highAt; high: p >= highAt. */
  tiers: z
    .object({ reviewAt: z.number().min(0).max(1), highAt: z.number().min(0).max(1) })
    .refine((t) => t.reviewAt <= t.highAt, 'tiers.reviewAt must not exceed tiers.highAt'),
  /** View names (see views.ts) averaged at test time; ['identity'] means no TTA. */
  tta: z.array(z.string()).min(1),
  /** Metrics keyed by evaluation set name (e.g. 'ham_test', 'isic2017_val'). */
  metrics: z.record(z.string(), BinaryMetrics.or(z.record(z.string(), z.unknown()))),
  training: z.record(z.string(), z.unknown()),
  /** Stored predictions on ../shared/data/fixtures, file relative to the manifest folder. */
  fixturePredictions: z.string().optional(),
  /**
   * The input gate's out-of-distribution statistics (electron/model/input-gate/ood.ts), relative to
   * the manifest's folder, and the sha256 of that JSON file (which in turn records its .bin's).
   * Absent (older manifests): the gate runs its image-quality checks only and says that the
   * out-of-distribution check is unavailable for this model.
   */
  inputGate: z
    .object({
      oodStats: z.string().min(1),
      oodStatsSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    })
    .optional(),
  /** Present only on a local model version adapted in the clinic (see ManifestAdaptation). */
  adaptation: ManifestAdaptation.optional(),
});
export type ModelManifest = z.infer<typeof ModelManifest>;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export function loadManifest(dir: string): ModelManifest {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) throw new ManifestError(`no model manifest at ${file}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ManifestError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ModelManifest.safeParse(raw);
  if (!parsed.success) {
    throw new ManifestError(`${file} is not a valid model manifest: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The model's own backbone graphs (fine-tuned), resolved against its folder. */
export function shippedGraphs(dir: string, manifest: Pick<ModelManifest, 'backbones'>): { inception?: ModelGraphRef; mobilenet?: ModelGraphRef } {
  const ref = (e: ModelGraphEntry | undefined): ModelGraphRef | undefined => (e ? { ...e, path: manifestPath(dir, e.file) } : undefined);
  const inception = ref(manifest.backbones.inception_v3.graph);
  const mobilenet = ref(manifest.backbones.mobilenet_v2.graph);
  return { ...(inception ? { inception } : {}), ...(mobilenet ? { mobilenet } : {}) };
}

/** Absolute path of a file named relative to the manifest's folder. */
export function manifestPath(dir: string, relative: string): string {
  return isAbsolute(relative) ? relative : resolve(dir, relative);
}

const CurrentPointer = z.object({ version: z.string().min(1) });

/**
 * The folder of the model the app ships: models/current.json names the version so that a new
 * version can be added beside the old one and switched atomically. DERMAFUSE_MODEL_DIR overrides.
 */
export function shippedModelDir(): string {
  const override = process.env.DERMAFUSE_MODEL_DIR;
  if (override) return resolve(override);
  const pointer = modelsDir('current.json');
  if (!existsSync(pointer)) throw new ManifestError(`no shipped model: ${pointer} is missing`);
  const parsed = CurrentPointer.safeParse(JSON.parse(readFileSync(pointer, 'utf8')));
  if (!parsed.success) throw new ManifestError(`${pointer} must be {"version": "<folder under models/>"}`);
  return modelsDir(parsed.data.version);
}

/** Tier of a calibrated probability under the manifest's cut-offs. */
export function tierOf(p: number, tiers: ModelManifest['tiers']): Tier {
  if (p >= tiers.highAt) return 'high';
  if (p >= tiers.reviewAt) return 'review';
  return 'low';
}

/** The threshold of a preset; the manifest's single threshold when it predates presets. */
export function thresholdFor(manifest: Pick<ModelManifest, 'threshold' | 'operatingPoints'>, preset: OperatingPoint = 'sensitive'): number {
  return manifest.operatingPoints?.[preset].threshold ?? manifest.threshold;
}

/** Calibrated probability from the head's logit (temperature scaling, plus the Platt offset when fitted). */
export function calibrate(logit: number, temperature: number, bias = 0): number {
  return 1 / (1 + Math.exp(-(logit / temperature + bias)));
}
