/**
 * One training run of the head on cached features under the data protocol: assemble pooled
 * matrices for the chosen taps/pooling/branches, train on the protocol's training images, score
 * every other image (mean logit over the test-time views, as the classifier does).
 */
import { concatArrays } from '../../electron/util/typed-arrays.ts';
import type { ProtocolItem } from '../data/protocol.ts';
import type { BackboneGraphs } from '../features/backbone-graphs.ts';
import { FeatureStore } from '../features/feature-cache.ts';
import { inceptionSpace, INCEPTION_CHANNELS, MOBILENET_CHANNELS, mobilenetSpace } from '../features/extract.ts';
import { pooledWidth, type Branch, type HeadConfig, type Pooling } from '../../electron/model/head.ts';
import type { TfjsHead } from '../head/tfjs-head.ts';
import { composeLateFusion } from '../head/late-fusion.ts';
import type { ColorConstancy } from '../../electron/model/preprocess.ts';
import { DEFAULT_TRAIN_SETTINGS, predictPooled, trainHead, type TrainSettings } from '../head/train-head.ts';

/** The InceptionV3 taps extracted into one feature store (the store key depends on this list). */
export const EXTRACTED_LAYERS = ['mixed5', 'mixed6', 'mixed7'] as const;

export interface FeatureSpec {
  readonly branches: readonly Branch[];
  readonly inceptionLayer: string;
  /** Several InceptionV3 taps, concatenated along channels (overrides `inceptionLayer`). */
  readonly inceptionLayers?: readonly string[];
  readonly scaling: 'unit' | 'symmetric';
  readonly pooling: Pooling;
  readonly colorConstancy?: ColorConstancy;
  /** Fine-tuned backbone graphs whose features the head reads (absent: the pinned sources). */
  readonly graphs?: BackboneGraphs;
}

export interface Recipe extends FeatureSpec {
  readonly hidden: readonly number[];
  readonly dropout: number;
  readonly train: TrainSettings;
  /** How basal cell carcinoma / actinic keratosis enter training: left out, or as non-melanoma. */
  readonly otherMalignant: 'exclude' | 'benign';
  /** Views whose features train the head (identity plus any cached augmentations). */
  readonly trainViews: readonly string[];
  /** Views averaged (mean logit) at test time. */
  readonly tta: readonly string[];
  /**
   * 'early' (default): one head on the concatenated blocks. 'late': one head per block (each
   * InceptionV3 tap, MobileNetV2), trained separately, mean logit (late-fusion.ts).
   */
  readonly fusion?: 'early' | 'late';
  /** 'temperature' (default): sigmoid(z / T). 'platt': sigmoid(z / T + bias), both fitted on validation data. */
  readonly calibration?: 'temperature' | 'platt';
  /**
   * 'pooled' (default): threshold and tier cut-offs from all validation images together.
   * 'per-source': the same rules on each validation source, the most cautious cut-offs kept
   * (electron/model/operating-rules.ts chooseOperatingPointBySource).
   */
  readonly operatingPoints?: 'pooled' | 'per-source';
}

/** The InceptionV3 taps a feature spec reads, in channel-concatenation order. */
export function inceptionTaps(spec: Pick<FeatureSpec, 'inceptionLayer' | 'inceptionLayers'>): string[] {
  return spec.inceptionLayers?.length ? [...spec.inceptionLayers] : [spec.inceptionLayer];
}

/**
 * The recipe of fusion-v1, chosen on in-domain validation data (training/scripts/select-head.ts):
 * early fusion of mixed6 and MobileNetV2, a 256-unit hidden layer with dropout 0.5, L2 1e-4,
 * flip test-time augmentation. Kept to rebuild and compare against.
 */
export const FUSION_V1_RECIPE: Recipe = {
  branches: ['inception', 'mobilenet'],
  inceptionLayer: 'mixed6',
  scaling: 'unit',
  pooling: 'avg',
  colorConstancy: 'none',
  hidden: [256],
  dropout: 0.5,
  train: DEFAULT_TRAIN_SETTINGS,
  otherMalignant: 'exclude',
  trainViews: ['identity'],
  tta: ['identity', 'hflip'],
};

/**
 * The shipped recipe (fusion-v2), chosen leave-one-source-out (models/generalisation.md):
 * late fusion of four members, one per InceptionV3 tap mixed5/mixed6/mixed7 and one for
 * MobileNetV2, each a 64-unit hidden layer with dropout 0.5 and strong L2 (0.1), mean logit.
 * Against the fusion-v1 recipe it generalised better to the source left out of training; it tied
 * the logistic-regression members (within 0.002 mean AUC) and keeps the dense-with-dropout head.
 * Inputs x/255 ('unit'), global average pooling, BCC/AK excluded from training, flip TTA (neutral
 * leave-one-source-out; kept because the uncertainty shown to clinicians is the spread over views).
 */
export const DEFAULT_RECIPE: Recipe = {
  ...FUSION_V1_RECIPE,
  inceptionLayers: ['mixed5', 'mixed6', 'mixed7'],
  fusion: 'late',
  calibration: 'platt',
  hidden: [64],
  dropout: 0.5,
  train: { ...DEFAULT_TRAIN_SETTINGS, l2: 0.1 },
};

export function headConfigOf(recipe: Recipe): HeadConfig {
  const taps = inceptionTaps(recipe);
  return {
    branches: [...recipe.branches],
    inceptionChannels: INCEPTION_CHANNELS * taps.length,
    mobilenetChannels: MOBILENET_CHANNELS,
    pooling: recipe.pooling,
    hidden: [...recipe.hidden],
    dropout: recipe.dropout,
    ...(taps.length === 1 ? { inceptionLayer: taps[0] } : { inceptionLayers: taps }),
  };
}

/** One member per input block of a late-fusion recipe: each InceptionV3 tap, then MobileNetV2. */
export function lateFusionMembers(recipe: Recipe): HeadConfig[] {
  if (recipe.pooling !== 'avg') throw new Error('late fusion supports avg pooling only');
  const base = { inceptionChannels: INCEPTION_CHANNELS, mobilenetChannels: MOBILENET_CHANNELS, pooling: recipe.pooling, hidden: [...recipe.hidden], dropout: recipe.dropout };
  return recipe.branches.flatMap((branch): HeadConfig[] =>
    branch === 'inception' ? inceptionTaps(recipe).map((layer) => ({ ...base, branches: ['inception'], inceptionLayer: layer })) : [{ ...base, branches: ['mobilenet'] }],
  );
}

const stores = new Map<string, FeatureStore>();
function store(kind: 'inception' | 'mobilenet', spec: FeatureSpec): FeatureStore {
  const graph = spec.graphs?.[kind]?.sha256;
  const key = `${kind}:${spec.scaling}:${spec.colorConstancy ?? 'none'}:${graph ?? 'pinned'}`;
  let s = stores.get(key);
  if (!s) {
    s = new FeatureStore(kind === 'inception' ? inceptionSpace(EXTRACTED_LAYERS, spec.scaling, spec.colorConstancy ?? 'none', graph) : mobilenetSpace(spec.colorConstancy ?? 'none', graph));
    stores.set(key, s);
  }
  return s;
}

/** Pooled head inputs [keys.length, width] in the head's layout (per branch: avg then max). */
export function featureMatrix(keys: readonly string[], spec: FeatureSpec, view: string): { x: Float32Array; width: number; missing: Set<number> } {
  const parts: { matrix: Float32Array; width: number }[] = [];
  const missing = new Set<number>();
  for (const branch of spec.branches) {
    // Same layout as the head's own pooling on channel-concatenated taps: every tap's avg, then every tap's max.
    const taps = inceptionTaps(spec);
    const names = branch === 'inception' ? [...taps.map((l) => `${l}/avg`), ...(spec.pooling === 'avg+max' ? taps.map((l) => `${l}/max`) : [])] : ['avg', ...(spec.pooling === 'avg+max' ? ['max'] : [])];
    const r = store(branch, spec).read(view, keys, names);
    r.missing.forEach((i) => missing.add(i));
    parts.push(r);
  }
  return { ...concatColumns(parts, keys.length), missing };
}

/** Row-major blocks [rows, width_i] side by side into one [rows, sum of widths] matrix. */
export function concatColumns(parts: readonly { matrix: Float32Array; width: number }[], rows: number): { x: Float32Array; width: number } {
  const width = parts.reduce((s, p) => s + p.width, 0);
  const x = new Float32Array(rows * width);
  for (let row = 0; row < rows; row++) {
    let o = row * width;
    for (const p of parts) {
      x.set(p.matrix.subarray(row * p.width, (row + 1) * p.width), o);
      o += p.width;
    }
  }
  return { x, width };
}

function selectRows(x: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(x.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** 1 melanoma, 0 benign, undefined when the recipe leaves the item out of training. */
export function trainingTarget(item: Pick<ProtocolItem, 'label'>, recipe: Pick<Recipe, 'otherMalignant'>): 0 | 1 | undefined {
  if (item.label === 'malignant') return 1;
  if (item.label === 'benign') return 0;
  return recipe.otherMalignant === 'benign' ? 0 : undefined;
}

export interface RunResult {
  head: TfjsHead;
  /** Mean logit over the recipe's TTA views, by item id; items lacking features are absent. */
  logits: Map<string, number>;
  /** Per-view logits by item id (for uncertainty). */
  viewLogits: Map<string, number[]>;
  trainCount: { benign: number; malignant: number; missing: number };
  losses: number[];
}

/** Trains on `train` items and scores `score` items (any roles) under one recipe. */
export async function runRecipe(recipe: Recipe, train: readonly ProtocolItem[], score: readonly ProtocolItem[]): Promise<RunResult> {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  let missingTrain = 0;
  const targets = train.map((i) => trainingTarget(i, recipe));
  const trainable = train.filter((_, k) => targets[k] !== undefined);
  const trainTargets = targets.filter((t): t is 0 | 1 => t !== undefined);

  for (const view of recipe.trainViews) {
    const m = featureMatrix(trainable.map((i) => i.sha256), recipe, view);

    const keep = trainable.map((_, k) => k).filter((k) => !m.missing.has(k));
    if (view === recipe.trainViews[0]) missingTrain = trainable.length - keep.length;
    rows.push(selectRows(m.x, m.width, keep));
    keep.forEach((k) => labels.push(trainTargets[k]!));
  }
  const x = concatArrays(rows, Float32Array);
  const { head, losses } = recipe.fusion === 'late' ? await trainLateFusion(recipe, x, labels) : await trainHead(headConfigOf(recipe), x, labels, recipe.train);

  const viewLogits = new Map<string, number[]>();
  for (const view of recipe.tta) {
    const m = featureMatrix(score.map((i) => i.sha256), recipe, view);
    const logits = predictPooled(head, m.x, score.length);
    score.forEach((item, k) => {
      if (m.missing.has(k)) return;
      viewLogits.set(item.id, [...(viewLogits.get(item.id) ?? []), logits[k]!]);
    });
  }
  const logits = new Map<string, number>();
  for (const [id, values] of viewLogits) {
    // Only items with every TTA view are scored, so a partial cache never mixes view counts.
    if (values.length === recipe.tta.length) logits.set(id, values.reduce((a, b) => a + b, 0) / values.length);
  }
  const benign = labels.filter((l) => l === 0).length;
  return { head, logits, viewLogits, trainCount: { benign, malignant: labels.length - benign, missing: missingTrain }, losses };
}

/**
 * Trains each late-fusion member on its own columns of `x` (same settings and seed for each, as
 * measured leave-one-source-out) and composes them; losses are the members' mean per epoch.
 */
async function trainLateFusion(recipe: Recipe, x: Float32Array, labels: readonly number[]): Promise<{ head: TfjsHead; losses: number[] }> {
  const rows = labels.length;
  const config = headConfigOf(recipe);
  const width = pooledWidth(config);
  const members: TfjsHead[] = [];
  const losses: number[][] = [];
  let col = 0;
  try {
    for (const config of lateFusionMembers(recipe)) {
      const w = pooledWidth(config);
      const block = new Float32Array(rows * w);
      for (let r = 0; r < rows; r++) block.set(x.subarray(r * width + col, r * width + col + w), r * w);
      col += w;
      const trained = await trainHead(config, block, labels, recipe.train);
      members.push(trained.head);
      losses.push(trained.losses);
    }
    const head = composeLateFusion(config, members);
    return { head, losses: losses[0]!.map((_, e) => losses.reduce((s, l) => s + l[e]!, 0) / losses.length) };
  } finally {
    members.forEach((m) => m.dispose());
  }
}
