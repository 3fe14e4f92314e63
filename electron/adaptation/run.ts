/**
 * One adaptation, from confirmed cases to a local model ready to be written: cross-validate every
 * method against the shipped model on the same grouped folds (electron/model/adaptation), choose
 * by the conservative rules (or take the method asked for, when the case counts allow it), refit
 * the chosen method on every case and take its cut-offs from the out-of-fold probabilities.
 * Nothing is written here: writeLocalModel / writeModelFolderAt put the result on disk, and only
 * the registry's adopt() ever makes it the model in use.
 */
import { dirname, join } from 'node:path';
import { MethodRequest } from '#common/domain';
import {
  ADAPTATION_METHODS,
  AdaptationDataError,
  chooseMethod,
  crossValidate,
  fitFinal,
  type AdaptationMethod,
  type BaseModel,
  type CrossValidation,
  type FinalModel,
  type GroupedSample,
} from '../model/adaptation/index.ts';
import { FusionHead, pooledWidth } from '../model/head.ts';
import { loadManifest, manifestPath, type ModelManifest } from '../model/manifest.ts';
import { nowIso } from '../store/time.ts';
import { AdaptationInputError, checkAborted, checkFeatures, type CaseSet, type ProgressListener } from './cases.ts';
import { localVersionName, manifestSha256, writeModelFolder, type LocalModelSpec } from './local-model.ts';
import type { ModelRegistry } from './registry.ts';
import { summariseChoice, summariseCv, type AdaptationSummary } from './summary.ts';

export { MethodRequest };
export const METHOD_REQUESTS: readonly MethodRequest[] = MethodRequest.options;

/** The model being adapted, loaded from its folder. */
export interface BaseModelFolder {
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly manifestSha256: string;
  readonly head: FusionHead;
}

export async function loadBaseModel(dir: string): Promise<BaseModelFolder> {
  const manifest = loadManifest(dir);
  if (manifest.adaptation) {
    throw new AdaptationInputError(`${manifest.version} is itself a local model: adapt the shipped model (${manifest.adaptation.base.version}) instead`);
  }
  const headFile = manifestPath(dir, manifest.head.file);
  const head = await FusionHead.load(headFile.endsWith('.json') ? dirname(headFile) : headFile);
  return { dir, manifest, manifestSha256: manifestSha256(dir), head };
}

export interface RunAdaptationOptions {
  readonly cases: CaseSet;
  readonly base: BaseModelFolder;
  /** Default 'auto': cross-validation chooses. */
  readonly method?: MethodRequest;
  readonly seed?: number;
  readonly k?: number;
  readonly repeats?: number;
  readonly bootstrapIterations?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

export interface AdaptationResult {
  readonly summary: AdaptationSummary;
  readonly base: BaseModelFolder;
  readonly cases: CaseSet;
  readonly cv: CrossValidation;
  /** The refitted model of summary.method; null when the shipped model stays. */
  readonly final: FinalModel | null;
  /** What writeLocalModel writes; null when the shipped model stays. */
  readonly model: LocalModelSpec | null;
}

function baseModelOf(base: BaseModelFolder): BaseModel {
  const m = base.manifest;
  return {
    head: base.head,
    temperature: m.temperature,
    calibrationBias: m.calibrationBias ?? 0,
    operating: { threshold: m.threshold, reviewAt: m.tiers.reviewAt, highAt: m.tiers.highAt },
  };
}

function excludedReasons(cases: CaseSet): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of cases.excluded) {
    // Reasons name the case first at most; count them by their wording.
    out[e.reason] = (out[e.reason] ?? 0) + 1;
  }
  return out;
}

/** The cross-validated figures a manifest keeps under metrics (BinaryMetrics plus the rest). */
function cvMetrics(cv: CrossValidation, method: AdaptationMethod): ModelManifest['metrics'] {
  const n = cv.counts.melanoma + cv.counts.benign;
  const entry = (name: 'shipped' | AdaptationMethod) => {
    const c = cv.candidates.find((x) => x.method === name)!;
    return {
      n,
      positives: cv.counts.melanoma,
      auc: c.auc,
      aucCi: [c.aucCi[0], c.aucCi[1]] as [number, number],
      deltaAuc: c.deltaAuc,
      deltaAucCi: [c.deltaAucCi[0], c.deltaAucCi[1]],
      brier: c.brier,
      ece: c.ece,
      threshold: c.operating.threshold,
      sensitivity: c.operating.sensitivity,
      specificity: c.operating.specificity,
      tiers: c.operating.tiers,
      evaluation: `out-of-fold, ${cv.k}-fold x ${cv.repeats} repeats grouped by patient/lesion, seed ${cv.seed}`,
    };
  };
  return { 'cv:local': entry(method), 'cv:shipped': entry('shipped') };
}

export async function runAdaptation(options: RunAdaptationOptions): Promise<AdaptationResult> {
  const { cases, base } = options;
  const requested = options.method ?? 'auto';
  if (!METHOD_REQUESTS.includes(requested)) throw new AdaptationInputError(`unknown method '${String(requested)}' (one of ${METHOD_REQUESTS.join(', ')})`);
  checkFeatures(cases.cases, pooledWidth(base.head.config), base.manifest.tta);
  checkAborted(options.signal);

  const samples: GroupedSample[] = cases.cases.map((c) => ({ pooled: c.features.data, views: c.features.views.length, label: c.label, group: c.group }));
  const model = baseModelOf(base);
  const methods = requested === 'auto' ? ADAPTATION_METHODS : [requested];
  options.onProgress?.({ phase: 'cross-validation', done: 0, total: 1 });
  let cv: CrossValidation;
  try {
    cv = crossValidate(samples, model, methods, {
      ...(options.k !== undefined ? { k: options.k } : {}),
      ...(options.repeats !== undefined ? { repeats: options.repeats } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.bootstrapIterations !== undefined ? { bootstrapIterations: options.bootstrapIterations } : {}),
    });
  } catch (error) {
    if (error instanceof AdaptationDataError) throw new AdaptationInputError(error.message);
    throw error;
  }
  options.onProgress?.({ phase: 'cross-validation', done: 1, total: 1 });
  checkAborted(options.signal);

  const choice = chooseMethod(cv);
  let method: AdaptationMethod | null;
  if (requested === 'auto') method = choice.method === 'none' ? null : choice.method;
  else if (choice.allowed.includes(requested)) method = requested;
  else throw new AdaptationInputError(`${requested} is not offered for these cases. ${choice.reasons[0] ?? ''}`.trim());
  // A method asked for against the automatic choice says so, where the choice is recorded (screen, CLI, manifest).
  const reasons =
    requested !== 'auto' && requested !== choice.method
      ? [...choice.reasons, `${requested} was requested explicitly, instead of the automatic choice (${choice.method === 'none' ? 'keep the shipped model' : choice.method}).`]
      : [...choice.reasons];

  let final: FinalModel | null = null;
  if (method) {
    options.onProgress?.({ phase: 'fit', done: 0, total: 1 });
    final = fitFinal(method, samples, model, cv);
    options.onProgress?.({ phase: 'fit', done: 1, total: 1 });
  }
  const createdAt = nowIso();
  const summary: AdaptationSummary = {
    base: { version: base.manifest.version, manifestSha256: base.manifestSha256 },
    requested,
    method,
    choice: summariseChoice({ ...choice, reasons }),
    cases: {
      source: cases.source,
      count: cases.cases.length,
      melanoma: cases.counts.melanoma,
      benign: cases.counts.benign,
      groups: cv.counts.groups,
      excluded: cases.excluded.length,
      excludedReasons: excludedReasons(cases),
    },
    ...summariseCv(cv),
    createdAt,
  };
  const spec: LocalModelSpec | null =
    method && final
      ? {
          base: { dir: base.dir, manifest: base.manifest, manifestSha256: base.manifestSha256 },
          head: { config: final.config, arrays: final.head },
          temperature: final.temperature,
          calibrationBias: final.calibrationBias,
          threshold: final.threshold,
          operatingPoints: final.operatingPoints,
          tiers: final.tiers,
          metrics: cvMetrics(cv, method),
          adaptation: {
            method,
            cases: { source: cases.source, count: cases.cases.length, melanoma: cases.counts.melanoma, benign: cases.counts.benign, ids: cases.cases.map((c) => c.id) },
            cv: { ...summary.cv, counts: cv.counts, choice: summary.choice, candidates: summary.candidates },
            reasons,
            createdAt,
          },
        }
      : null;
  return { summary, base, cases, cv, final, model: spec };
}

export interface WrittenModel {
  readonly version: string;
  readonly folder: string;
  readonly manifestSha256: string;
}

function specOf(result: AdaptationResult): LocalModelSpec {
  if (!result.model) throw new AdaptationInputError(`no local model to write: ${result.summary.choice.reasons.at(-1) ?? 'the shipped model stays'}`);
  return result.model;
}

/** Writes the result as a new local version under the registry's folder and registers it (not adopted). */
export async function writeLocalModel(result: AdaptationResult, registry: ModelRegistry, actor: string, onProgress?: ProgressListener): Promise<WrittenModel> {
  const spec = specOf(result);
  const version = registry.nextVersion(result.base.manifest.version);
  onProgress?.({ phase: 'write', done: 0, total: 1 });
  const written = await writeModelFolder(spec, join(registry.dir, version), version);
  registry.register(
    { version, folder: version, manifestSha256: written.manifestSha256, baseVersion: result.base.manifest.version, method: spec.adaptation.method, createdAt: spec.adaptation.createdAt },
    actor,
  );
  onProgress?.({ phase: 'write', done: 1, total: 1 });
  return { version, folder: written.folder, manifestSha256: written.manifestSha256 };
}

/** Writes the result as a model folder at `folder` (outside any registry), e.g. for `dermafuse adapt --out`. */
export async function writeModelFolderAt(result: AdaptationResult, folder: string, version = localVersionName(result.base.manifest.version, 1)): Promise<WrittenModel> {
  const written = await writeModelFolder(specOf(result), folder, version);
  return { version, folder: written.folder, manifestSha256: written.manifestSha256 };
}

