/**
 * The classification pipeline every caller uses (CLI, batch service, IPC handlers):
 * preprocess → backbones on all test-time views in one batch → head → calibration (temperature
 * and Platt offset) → threshold / tier / uncertainty → optional Grad-CAM maps and overlays.
 *
 * Aggregation over test-time views: the head's logits are averaged over the views and calibrated
 * once (p = sigmoid(mean logit / T + bias)); the uncertainty is the standard deviation of the per-view
 * calibrated probabilities. With a single view the uncertainty is 0 by construction.
 *
 * Input gate (input-gate/): the quality checks read the whole image from the same decode as the
 * backbones' inputs (PreparedImage.oriented); the out-of-distribution score reads the identity
 * view's average-pooled vectors (head.ts's pooling) and the head's two logits. The probability is
 * computed either way, so that a clinician may ask to see it; Classification.gate says whether it
 * may be shown as a result.
 *
 * Grad-CAM: for each view, the head's gradient w.r.t. each branch feature map gives a branch map
 * (gradcam.ts); maps are turned back to the image's orientation, averaged over views, fused by
 * each branch's positive contribution to the logit, and placed back on the original image.
 */
import { dirname, extname } from 'node:path';
import { Backbones, INCEPTION_INPUT_SIZE, MOBILENET_INPUT_SIZE } from './backbones.ts';
import {
  averageViewMaps,
  branchCam,
  fuseBranchCams,
  normaliseMap,
  type BranchCam,
  type CamMethod,
  type CamTarget,
  type NormalisedMap,
} from './gradcam.ts';
import { expectedMeta, loadCamBaseline, type CamBaseline } from './cam-baseline.ts';
import { concatChannels } from './feature-maps.ts';
import { concatArrays } from '../util/typed-arrays.ts';
import { averagePool, FusionHead, type Branch } from './head.ts';
import { pooledFeatures, type PooledFeatures } from './pooled-features.ts';
import { GATE_MAX_SIDE } from './input-gate/decode.ts';
import { checkQualityImage, gateFeatures, gateVersion, shippedThresholds, type ModelGateResult } from './input-gate/gate.ts';
import { loadOodStats, type OodStats } from './input-gate/ood.ts';
import { calibrate, loadManifest, manifestPath, shippedGraphs, shippedModelDir, thresholdFor, tierOf, type ModelManifest } from './manifest.ts';
import type { OperatingPoint } from '#common/domain';
import { overlayPng, rawMapPng } from './overlay.ts';
import type { ColormapName } from '#common/colormap';
import { decodeOriented, prepareBuffer, prepareImage, type PreprocessOptions } from './preprocess.ts';
import type { ExecutionProviderChoice } from './runtime.ts';
import type {
  BackendInfo,
  CamImages,
  CamKind,
  Classification,
  Classifier,
  GateResult,
  ClassifyOptions,
  ClassifyResult,
  FeatureMap,
  PreparedImage,
} from './types.ts';
import { VIEWS, applyView, type View } from './views.ts';

export interface ClassifierOptions {
  /** Folder holding manifest.json; default: the shipped model (models/current.json). */
  readonly modelDir?: string;
  readonly executionProvider?: ExecutionProviderChoice;
  /** Use this manifest and head instead of reading them from modelDir (development, tests, sanity checks). */
  readonly manifest?: ModelManifest;
  readonly head?: FusionHead;
  /** Reuse already loaded backbones (they must match the manifest's layers and scaling); not disposed by this classifier. */
  readonly backbones?: Backbones;
  /**
   * Reference feature maps for Grad-CAM (cam-baseline.ts). Default: cam-baseline.json/.bin beside
   * the manifest when present; null: none (plain Grad-CAM).
   */
  readonly camBaseline?: CamBaseline | null;
  /** Which of the manifest's presets labels images (default 'sensitive', the manifest's own threshold). */
  readonly operatingPoint?: OperatingPoint;
  /**
   * The input gate's out-of-distribution statistics. Default: those the manifest names
   * (inputGate.oodStats, checked against its sha256); null, or a manifest naming none: the gate
   * runs its quality checks only and says the OOD check is unavailable.
   */
  readonly oodStats?: OodStats | null;
}

/** Extra knobs beyond the shared ClassifyOptions; all optional. */
export interface CamOptions extends ClassifyOptions {
  readonly camMethod?: CamMethod;
  /** 'predicted' explains whichever class was predicted. Default 'malignant'. */
  readonly camTarget?: CamTarget | 'predicted';
  /** Which overlays to render; default fused, InceptionV3, MobileNetV2 (those the head uses). */
  readonly camKinds?: readonly CamKind[];
  /** Longest side of the overlay PNG; the original is downscaled (never upscaled) to it. Default 1024. */
  readonly overlayMaxSide?: number;
  readonly colormap?: ColormapName;
  /** Subtract the model's reference feature maps (default true when the model ships them). */
  readonly camBaseline?: boolean;
}

/** A rendered map with what the UI and reports need to interpret it. Structurally a CamImages. */
export interface CamResult extends CamImages {
  /** The map on the model's square crop, [0,1]. */
  readonly map: NormalisedMap;
  /** True when nothing pointed towards the target class (the overlay then shows no colour). */
  readonly empty: boolean;
  /** For branch maps: the weight the branch got in the fused map. */
  readonly fusionWeight?: number;
}

export interface ExplainedResult extends ClassifyResult {
  readonly cams?: readonly CamResult[];
}

/** Maps on the crop grid without any rendering: what faithfulness tests and the bench need. */
export interface CamMaps {
  readonly maps: Partial<Record<CamKind, NormalisedMap>>;
  readonly weights: Partial<Record<CamKind, number>>;
  readonly contributions: Partial<Record<CamKind, number>>;
  readonly target: CamTarget;
}

export interface ScoredViews {
  /** Pre-softmax malignant logit per view (z_mal - z_ben). */
  readonly logits: Float32Array;
  readonly views: readonly View[];
  readonly features: { inception: FeatureMap; mobilenet: FeatureMap };
  /** The head's pooled input per view, the vectors the logits were computed from. */
  readonly pooled: PooledFeatures;
}

/** Size of the grid the fused map is built on (over the model's crop); finer than both branch grids. */
export const FUSED_GRID = 68;

const BRANCH_KIND: Record<Branch, Exclude<CamKind, 'fused'>> = { inception: 'inception_v3', mobilenet: 'mobilenet_v2' };

function parseViews(names: readonly string[]): View[] {
  return names.map((n) => {
    if (!(VIEWS as readonly string[]).includes(n)) throw new Error(`manifest tta view '${n}' is not one of ${VIEWS.join(', ')}`);
    return n as View;
  });
}

/** One item of a batched feature map, as a batch-1 map (a view of the same memory). */
function item(map: FeatureMap, i: number): FeatureMap {
  const [, h, w, c] = map.shape;
  const size = h * w * c;
  return { data: map.data.subarray(i * size, (i + 1) * size), shape: [1, h, w, c] };
}

/** Mean logit over views, calibrated once; uncertainty = std of per-view calibrated probabilities. */
export function aggregateViews(logits: ArrayLike<number>, temperature: number, bias = 0): { pRaw: number; p: number; uncertainty: number; meanLogit: number } {
  const n = logits.length;
  if (n === 0) throw new Error('no views to aggregate');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += logits[i]!;
  const meanLogit = sum / n;
  const perView = Array.from({ length: n }, (_, i) => calibrate(logits[i]!, temperature, bias));
  const mean = perView.reduce((a, b) => a + b, 0) / n;
  const variance = perView.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  return { pRaw: calibrate(meanLogit, 1), p: calibrate(meanLogit, temperature, bias), uncertainty: Math.sqrt(variance), meanLogit };
}

const now = (): number => performance.now();
const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Runs one task at a time: the backbones already use every core, interleaving only thrashes. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class FusionClassifier implements Classifier {
  readonly modelVersion: string;
  readonly manifest: ModelManifest;
  readonly head: FusionHead;
  readonly views: readonly View[];
  readonly backend: BackendInfo;
  private readonly backbones: Backbones;
  private readonly ownsBackbones: boolean;
  /** InceptionV3 taps the head reads, joined along channels in this order. */
  readonly inceptionLayers: readonly string[];
  private readonly preprocess: PreprocessOptions;
  private readonly queue = new SerialQueue();
  private disposed = false;
  private preset: OperatingPoint = 'sensitive';

  /** Reference maps subtracted in Grad-CAM, when the model ships them. */
  readonly camBaseline: CamBaseline | undefined;
  /** The input gate's out-of-distribution statistics, when the model ships them. */
  readonly oodStats: OodStats | undefined;
  /** Names the gate that judges this classifier's images (stored with each result). */
  readonly gateVersion: string;

  constructor(
    manifest: ModelManifest,
    head: FusionHead,
    backbones: Backbones,
    ownsBackbones: boolean,
    camBaseline?: CamBaseline,
    oodStats?: OodStats,
  ) {
    this.camBaseline = camBaseline;
    this.oodStats = oodStats;
    this.gateVersion = gateVersion(shippedThresholds(), oodStats);
    this.manifest = manifest;
    this.modelVersion = manifest.version;
    this.head = head;
    this.backbones = backbones;
    this.ownsBackbones = ownsBackbones;
    this.views = parseViews(manifest.tta);
    this.inceptionLayers = inceptionLayersOf(manifest, head);
    const missing = this.inceptionLayers.filter((l) => !backbones.inceptionLayers.includes(l));
    if (missing.length > 0) {
      throw new Error(`head needs InceptionV3 layer ${missing.join(', ')}, backbones output ${backbones.inceptionLayers.join(', ')}`);
    }
    if (oodStats) checkOodStats(oodStats, manifest, head);
    this.preprocess = { colorConstancy: manifest.preprocess.colorConstancy, orientedMaxSide: GATE_MAX_SIDE };
    this.backend = { backbones: backbones.executionProvider, head: 'analytic-js' };
  }

  /** The preset now labelling images; switching needs no reload (only the threshold changes). */
  get operatingPoint(): OperatingPoint {
    return this.preset;
  }

  /** The threshold the label uses: the chosen preset's, or the manifest's single one when it has no presets. */
  get threshold(): number {
    return thresholdFor(this.manifest, this.preset);
  }

  get operatingPoints(): ModelManifest['operatingPoints'] {
    return this.manifest.operatingPoints;
  }

  setOperatingPoint(preset: OperatingPoint): void {
    this.preset = preset;
  }

  /** The InceptionV3 branch map the head reads: its taps joined along channels. */
  inceptionMap(taps: Record<string, FeatureMap>): FeatureMap {
    return concatChannels(this.inceptionLayers.map((l) => taps[l]!));
  }

  /** The branches the head actually reads (a single-branch baseline has no map for the other). */
  get branches(): readonly Branch[] {
    return this.head.config.branches;
  }

  private check(): void {
    if (this.disposed) throw new Error('classifier used after dispose()');
  }

  /** Decode and prepare one image with the model's preprocessing. Rejects with ImageInputError. */
  prepareFile(file: string): Promise<PreparedImage> {
    return prepareImage(file, this.preprocess);
  }

  prepareBytes(bytes: Buffer, name: string): Promise<PreparedImage> {
    return prepareBuffer(bytes, name, this.preprocess);
  }

  /** Backbones and head on the given views of a prepared image, batched. */
  async scoreViews(prepared: PreparedImage, views: readonly View[] = this.views): Promise<ScoredViews & { backbonesMs: number; headMs: number }> {
    this.check();
    return this.queue.run(async () => {
      const inc = concatArrays(views.map((v) => applyView(prepared.inception, INCEPTION_INPUT_SIZE, v)), Float32Array);
      const mob = concatArrays(views.map((v) => applyView(prepared.mobilenet, MOBILENET_INPUT_SIZE, v)), Float32Array);
      const t0 = now();
      const out = await this.backbones.run(inc, mob, views.length);
      const t1 = now();
      const inception = this.inceptionMap(out.inception);
      // Pool once per view: the logits and the stored features come from the same vectors.
      const vectors = views.map((_, i) => this.head.pooledInput(inception, out.mobilenet, i));
      const logits = Float32Array.from(vectors, (v) => this.head.logitFromPooled(v));
      const t2 = now();
      return { logits, views, features: { inception, mobilenet: out.mobilenet }, pooled: pooledFeatures(views, vectors), backbonesMs: t1 - t0, headMs: t2 - t1 };
    });
  }

  /**
   * Grad-CAM maps on the model's crop from already computed view features: per view and branch,
   * un-flipped and averaged over views, then fused (see gradcam.ts for the fusion rule).
   */
  camMaps(scored: ScoredViews, target: CamTarget, method: CamMethod = 'gradcam', useBaseline = true): CamMaps {
    const baseline = useBaseline ? this.camBaseline : undefined;
    const perBranch = new Map<Branch, { data: Float32Array; width: number; height: number; view: View }[]>();
    const contributions = new Map<Branch, number>();
    scored.views.forEach((view, i) => {
      const inc = item(scored.features.inception, i);
      const mob = item(scored.features.mobilenet, i);
      const g = this.head.logitWithGradients(scored.features.inception, scored.features.mobilenet, i);
      for (const branch of this.branches) {
        const cam = branchCam(branch === 'inception' ? inc : mob, branch === 'inception' ? g.inception : g.mobilenet, 0, {
          method,
          target,
          baseline: baseline ? (branch === 'inception' ? baseline.inception : baseline.mobilenet) : undefined,
        });
        const list = perBranch.get(branch) ?? [];
        list.push({ data: cam.data, width: cam.width, height: cam.height, view });
        perBranch.set(branch, list);
        contributions.set(branch, (contributions.get(branch) ?? 0) + cam.contribution / scored.views.length);
      }
    });
    const maps: Partial<Record<CamKind, NormalisedMap>> = {};
    const contribByKind: Partial<Record<CamKind, number>> = {};
    const fuseInput: { kind: CamKind; cam: BranchCam }[] = [];
    for (const branch of this.branches) {
      const avg = averageViewMaps(perBranch.get(branch)!);
      const kind = BRANCH_KIND[branch];
      maps[kind] = normaliseMap(avg.width, avg.height, avg.data);
      contribByKind[kind] = contributions.get(branch)!;
      fuseInput.push({ kind, cam: { ...avg, contribution: contributions.get(branch)! } });
    }
    const fused = fuseBranchCams(fuseInput, FUSED_GRID);
    maps.fused = fused.map;
    return { maps, weights: fused.weights, contributions: contribByKind, target };
  }

  private classification(scored: ScoredViews, timingsMs: Record<string, number>): Classification {
    const { p, pRaw, uncertainty } = aggregateViews(scored.logits, this.manifest.temperature, this.manifest.calibrationBias);
    const threshold = this.threshold;
    return {
      pMalignant: p,
      pMalignantRaw: pRaw,
      label: p >= threshold ? 'malignant' : 'benign',
      tier: tierOf(p, this.manifest.tiers),
      uncertainty,
      threshold,
      modelVersion: this.modelVersion,
      backend: this.backend,
      timingsMs,
      pooled: scored.pooled,
    };
  }

  private async run(
    prepare: () => Promise<PreparedImage>,
    original: string | Buffer,
    name: string,
    options: CamOptions,
  ): Promise<ExplainedResult> {
    this.check();
    const t0 = now();
    const prepared = await prepare();
    const t1 = now();
    const scored = await this.scoreViews(prepared);
    const timings: Record<string, number> = { preprocess_ms: round(t1 - t0), backbones_ms: round(scored.backbonesMs), head_ms: round(scored.headMs) };
    const tg = now();
    const gate = this.judge(prepared, scored);
    timings.gate_ms = round(now() - tg);
    let classification: Classification = { ...this.classification(scored, timings), gate: gateRecord(gate) };
    let cams: CamResult[] | undefined;
    if (options.cam) {
      const t2 = now();
      const target: CamTarget =
        options.camTarget === 'predicted' ? (classification.label === 'malignant' ? 'malignant' : 'benign') : (options.camTarget ?? 'malignant');
      const maps = this.camMaps(scored, target, options.camMethod, options.camBaseline ?? true);
      const t3 = now();
      cams = await this.render(maps, prepared, original, name, options);
      timings.gradcam_ms = round(t3 - t2);
      timings.overlay_ms = round(now() - t3);
    }
    timings.total_ms = round(now() - t0);
    classification = { ...classification, timingsMs: timings };
    return { file: prepared.file, width: prepared.width, height: prepared.height, classification, ...(cams ? { cams } : {}) };
  }

  /**
   * The input gate on an image already prepared and scored: the quality checks on the whole
   * image, then (when the model ships statistics) the OOD score of the identity view's pooled
   * features. A model without statistics, or without an identity view among its test-time views,
   * gets the quality checks only (`oodChecked: false`).
   */
  judge(prepared: PreparedImage, scored: ScoredViews): ModelGateResult {
    if (!prepared.oriented) throw new Error('the input gate needs the oriented image (prepare with orientedMaxSide)');
    const stage1 = checkQualityImage(prepared.oriented);
    const identity = scored.views.indexOf('identity');
    if (!this.oodStats || identity < 0) return { ...stage1, version: this.gateVersion, oodChecked: false };
    const { inception, mobilenet } = scored.features;
    const pooled = { inception: averagePool(inception, identity), mobilenet: averagePool(mobilenet, identity) };
    const gated = gateFeatures(stage1, this.oodStats, pooled, this.head.classLogits(inception, mobilenet, identity));
    return { ...gated, version: this.gateVersion, oodChecked: true };
  }

  /** Colour overlays on the (downscaled) original and raw grey maps for the requested kinds. */
  async render(maps: CamMaps, prepared: PreparedImage, original: string | Buffer, name: string, options: CamOptions = {}): Promise<CamResult[]> {
    const kinds = (options.camKinds ?? (['fused', 'inception_v3', 'mobilenet_v2'] as const)).filter((k) => maps.maps[k]);
    const image = await decodeOriented(original, { name, maxSide: options.overlayMaxSide ?? 1024 });
    if (image.originalWidth !== prepared.width || image.originalHeight !== prepared.height) {
      // The file changed between the two reads: refuse rather than draw a map on the wrong picture.
      throw new Error(`${name}: image changed while it was being classified`);
    }
    return Promise.all(
      kinds.map(async (kind): Promise<CamResult> => {
        const map = maps.maps[kind]!;
        const [overlay, raw] = await Promise.all([
          overlayPng(image, map, prepared.crop, prepared.width, prepared.height, { opacity: options.camOpacity, colormap: options.colormap }),
          rawMapPng(map, prepared.crop, prepared.width, prepared.height),
        ]);
        return { kind, overlayPng: overlay, mapPng: raw, map, empty: map.empty, ...(kind !== 'fused' ? { fusionWeight: maps.weights[kind] ?? 0 } : {}) };
      }),
    );
  }

  classifyFile(file: string, options: CamOptions = {}): Promise<ExplainedResult> {
    return this.run(() => this.prepareFile(file), file, file, options);
  }

  classifyBuffer(bytes: Buffer, name: string, options: CamOptions = {}): Promise<ExplainedResult> {
    return this.run(() => this.prepareBytes(bytes, name), bytes, name, options);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue.run(async () => {
      if (this.ownsBackbones) await this.backbones.dispose();
    });
  }
}

/** The gate's result as the domain records it (plain JSON: numbers and strings only). */
function gateRecord(g: ModelGateResult): GateResult {
  return {
    verdict: g.verdict,
    reasons: g.reasons.map((r) => ({ code: r.code, message: r.message, metric: r.metric, value: r.value, threshold: r.threshold })),
    scores: { quality: { ...g.scores.quality }, ...(g.scores.ood ? { ood: { ...g.scores.ood, branches: { ...g.scores.ood.branches } } } : {}) },
    version: g.version,
    oodChecked: g.oodChecked,
  };
}

/** The statistics must belong to this model and match the widths of its pooled vectors. */
function checkOodStats(stats: OodStats, manifest: ModelManifest, head: FusionHead): void {
  if (stats.header.modelVersion !== manifest.version) {
    throw new Error(`input-gate statistics were built for model ${stats.header.modelVersion}, not ${manifest.version}`);
  }
  const widths: Record<string, number> = { inception: head.config.inceptionChannels, mobilenet: head.config.mobilenetChannels };
  for (const b of stats.branches) {
    if (widths[b.name] !== b.width) throw new Error(`input-gate statistics for ${b.name} expect ${b.width} pooled values, model ${manifest.version} gives ${widths[b.name] ?? 'none'}`);
  }
}

/** The OOD statistics a manifest names, verified (sha256 of the JSON, of the .bin, model version). */
export function manifestOodStats(modelDir: string, manifest: ModelManifest): OodStats | undefined {
  const g = manifest.inputGate;
  if (!g) return undefined;
  return loadOodStats(modelDir, g.oodStats, { sha256: g.oodStatsSha256, modelVersion: manifest.version });
}

/** The InceptionV3 taps a model's head reads, in channel order (one for heads before late fusion). */
export function inceptionLayersOf(manifest: ModelManifest, head?: FusionHead): string[] {
  const listed = manifest.head.inceptionLayers ?? head?.config.inceptionLayers;
  if (listed?.length) return [...listed];
  return [manifest.head.inceptionLayer ?? head?.config.inceptionLayer ?? manifest.backbones.inception_v3.layers[0]!];
}

/** Folder of the head weights named by the manifest (the entry may name head.json or its folder). */
function headDir(modelDir: string, manifest: ModelManifest): string {
  const p = manifestPath(modelDir, manifest.head.file);
  return extname(p) ? dirname(p) : p;
}

export async function createClassifier(opts: ClassifierOptions = {}): Promise<FusionClassifier> {
  const needsDir = !opts.manifest || !opts.head;
  const modelDir = needsDir ? (opts.modelDir ?? shippedModelDir()) : opts.modelDir;
  const manifest = opts.manifest ?? loadManifest(modelDir!);
  const head = opts.head ?? (await FusionHead.load(headDir(modelDir!, manifest)));
  // The gate's statistics before the backbones: a tampered or mismatched file fails fast.
  const oodStats = opts.oodStats === null ? undefined : (opts.oodStats ?? (modelDir ? manifestOodStats(modelDir, manifest) : undefined));
  if (oodStats) checkOodStats(oodStats, manifest, head);
  if (!modelDir && !opts.backbones && (manifest.backbones.inception_v3.graph || manifest.backbones.mobilenet_v2.graph)) {
    throw new Error(`model ${manifest.version} ships its own backbone graphs: pass its folder (modelDir)`);
  }
  const backbones =
    opts.backbones ??
    (await Backbones.load({
      inceptionLayers: manifest.backbones.inception_v3.layers,
      inceptionScaling: manifest.backbones.inception_v3.scaling,
      executionProvider: opts.executionProvider,
      ...(modelDir ? { graphs: shippedGraphs(modelDir, manifest) } : {}),
    }));
  let camBaseline: CamBaseline | undefined;
  try {
    camBaseline =
      opts.camBaseline === null
        ? undefined
        : (opts.camBaseline ?? (modelDir ? await loadCamBaseline(modelDir, expectedMeta(manifest, inceptionLayersOf(manifest, head))) : undefined));
  } catch (e) {
    if (!opts.backbones) await backbones.dispose();
    throw e;
  }
  const classifier = new FusionClassifier(manifest, head, backbones, !opts.backbones, camBaseline, oodStats);
  if (opts.operatingPoint) classifier.setOperatingPoint(opts.operatingPoint);
  return classifier;
}
