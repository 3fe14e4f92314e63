/**
 * The clinic's model versions for the app: which model is in use, adapting the shipped model to
 * the store's confirmed cases (electron/adaptation does the work), adopting a local version only
 * on explicit confirmation and returning to the shipped one, both under the clinician's name in
 * the audit log (the registry writes it). Also which model folder the classifier loads.
 */
import type { ModelVersion, ModelVersions } from '#common/ipc';
import {
  AdaptationInputError,
  backfillFeatures,
  casesFromStore,
  LocalModelError,
  loadBaseModel,
  modelInForce,
  runAdaptation,
  writeLocalModel,
  type ModelRegistry,
  type Progress,
  type RegistryState,
} from '../adaptation/index.ts';
import { notFound, ServiceError, type EventHub } from '../ipc/handlers.ts';
import { loadManifest, ManifestError, shippedModelDir } from '../model/manifest.ts';
import type { Classifier } from '../model/types.ts';
import type { Store } from '../store/index.ts';
import { comparisonOfManifest, comparisonOfSummary } from './model-comparison.ts';
import type { ModelService, ModelSource } from './model.ts';
import type { Reclassifier } from './reclassify.ts';
import type { ChannelsOf } from './types.ts';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The model service's source: the model in force (adaptation/registry.ts), read anew at each load. */
export function modelSourceOf(registry: ModelRegistry): () => ModelSource {
  return () => modelInForce(registry);
}

export interface AdaptationServiceOptions {
  readonly store: Store;
  readonly model: ModelService;
  readonly registry: ModelRegistry;
  readonly reclassifier: Reclassifier;
  readonly events: EventHub;
  /** Why the model cannot change right now (a batch is running), or null. */
  readonly blocker: () => string | null;
}

export interface AdaptationService {
  readonly channels: ChannelsOf<'model.versions' | 'model.adaptation.run' | 'model.adopt' | 'model.rollback'>;
}

/** The workflow's typed errors, as the contract's codes. */
function asServiceError(err: unknown): unknown {
  if (err instanceof AdaptationInputError) return new ServiceError('invalid_input', err.message);
  if (err instanceof LocalModelError) return new ServiceError('conflict', err.message);
  if (err instanceof ManifestError) return new ServiceError('unavailable', err.message);
  return err;
}

export function createAdaptationService(options: AdaptationServiceOptions): AdaptationService {
  const { store, model, registry, reclassifier, events } = options;
  let adapting = false;

  /** The shipped model's version: the loaded classifier's when it is the shipped one, else its manifest's. */
  function shipped(): { version: string; createdAt: string | null } | null {
    const classifier = model.current();
    let manifest: { version: string; createdAt: string } | null = null;
    try {
      manifest = loadManifest(shippedModelDir());
    } catch {
      manifest = null;
    }
    if (classifier && model.loadedFrom() === null) return { version: classifier.modelVersion, createdAt: manifest?.version === classifier.modelVersion ? manifest.createdAt : null };
    return manifest ? { version: manifest.version, createdAt: manifest.createdAt } : null;
  }

  function versions(): ModelVersions {
    const classifier = model.current();
    const localInUse = model.loadedFrom() !== null;
    let state: RegistryState = { active: null, versions: [] };
    let registryProblem: string | null = null;
    try {
      state = registry.read();
    } catch (err) {
      registryProblem = messageOf(err);
    }
    const base = shipped();
    const list: ModelVersion[] = [];
    if (base) {
      list.push({
        version: base.version,
        kind: 'shipped',
        active: state.active === null,
        inUse: classifier !== null && !localInUse,
        createdAt: base.createdAt,
        adoptedBy: null,
        adoptedAt: null,
        comparison: null,
      });
    }
    const locals = [...state.versions].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const v of locals) {
      let comparison = null;
      try {
        comparison = comparisonOfManifest(loadManifest(registry.folderOf(v.version)));
      } catch {
        comparison = null; // a folder that cannot be read is still listed; activeModelDir() says why when it matters
      }
      list.push({
        version: v.version,
        kind: 'local',
        active: state.active === v.version,
        inUse: localInUse && classifier?.modelVersion === v.version,
        createdAt: v.createdAt,
        adoptedBy: v.adoptedBy ?? null,
        adoptedAt: v.adoptedAt ?? null,
        comparison,
      });
    }
    return { versions: list, notice: model.status().localNotice ?? registryProblem, reclassify: reclassifier.state() };
  }

  /** A model change waits for work that uses the model in use. */
  function requireIdle(): void {
    const why = options.blocker() ?? (reclassifier.running() ? 'images are being reclassified' : adapting ? 'an adaptation is running' : null);
    if (why) throw new ServiceError('conflict', `the model cannot change now: ${why}. Try again when it has finished.`);
  }

  function progress(p: Progress): void {
    if (p.phase === 'features') return; // labels CSVs only
    events.emit('adaptation.progress', { stage: p.phase, done: p.done, total: p.total });
  }

  return {
    channels: {
      async 'model.versions'() {
        return versions();
      },

      async 'model.adaptation.run'({ clinician, method }) {
        if (adapting) throw new ServiceError('conflict', 'an adaptation is already running');
        adapting = true;
        // The shipped model's classifier when it had to be loaded beside a local one in use (disposed below).
        const loaded: { apart: Classifier | null } = { apart: null };
        try {
          // Always the shipped model: a local version is never adapted again (its base is pinned in its manifest).
          const base = await loadBaseModel(shippedModelDir());
          const modelVersion = base.manifest.version;
          const cases = await casesFromStore(store, {
            modelVersion,
            backfill: async () => {
              // Older cases' features are computed by the base model itself, loaded apart when a local one is in use.
              const inUse = await model.require();
              const classifier = inUse.modelVersion === modelVersion ? inUse : (loaded.apart = await model.loadApart(null));
              const result = await backfillFeatures(store, classifier, { modelVersion, onProgress: (p) => progress({ phase: 'backfill', done: p.handled, total: p.total }) });
              return result.failed;
            },
          });
          // A method the cases do not allow is refused there (AdaptationInputError: invalid_input, with the reason).
          const result = await runAdaptation({ cases, base, method, onProgress: progress });
          const written = result.model ? await writeLocalModel(result, registry, clinician, progress) : null;
          return comparisonOfSummary(result.summary, written?.version ?? null);
        } catch (err) {
          throw asServiceError(err);
        } finally {
          adapting = false;
          await loaded.apart?.dispose();
        }
      },

      async 'model.adopt'({ version, clinician }) {
        requireIdle();
        if (!registry.read().versions.some((v) => v.version === version)) throw notFound('local model', version);
        try {
          registry.adopt(version, clinician);
        } catch (err) {
          throw asServiceError(err);
        }
        await model.reload();
        return versions();
      },

      async 'model.rollback'({ clinician }) {
        requireIdle();
        try {
          registry.rollback(clinician);
        } catch (err) {
          throw asServiceError(err);
        }
        if (model.loadedFrom() !== null || model.status().localNotice !== null) await model.reload();
        return versions();
      },
    },
  };
}
