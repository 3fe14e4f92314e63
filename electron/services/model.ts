/**
 * The classifier, loaded in the background: its status for `app.info` and the window's
 * `model.status` event, and the one way services wait for it. Which model it loads comes from
 * `source()`: the clinic's adopted local version, else the shipped model. A local model that
 * cannot be used (modified after it was created, unreadable) never leaves the workstation without
 * a model: the shipped one loads instead and `status().localNotice` says why. `reload()` swaps
 * models after an adoption or a rollback.
 */
import type { Settings } from '#common/domain';
import { INTENDED_USE, type ModelStatus } from '#common/ipc';
import type { z } from 'zod';
import { ServiceError, type EventHub } from '../ipc/handlers.ts';
import type { Classifier } from '../model/types.ts';
import type { ChannelsOf } from './types.ts';

/** `model.dir`: the folder of the model to load; null: the shipped model. */
export type LoadClassifier = (settings: Settings, model: { dir: string | null }) => Promise<Classifier>;

/** The model folder to load (null: shipped) and, when the adopted local model cannot be used, why. */
export interface ModelSource {
  readonly dir: string | null;
  readonly notice: string | null;
}

export interface ModelService {
  /** Resolves when the first load has finished or failed (status() says which). */
  readonly ready: Promise<void>;
  /** The loaded classifier (waiting for a load in progress); rejects with `unavailable` when none could be loaded. */
  require(): Promise<Classifier>;
  current(): Classifier | null;
  /**
   * `notice`: what the clinician should know about a loaded model (a forced provider fell back to
   * the CPU). `localNotice`: the adopted local model could not be used, so the shipped one runs.
   */
  status(): { status: z.infer<typeof ModelStatus>; error: string | null; notice: string | null; localNotice: string | null };
  /** The local model folder the loaded classifier came from; null: the shipped model (or none loaded). */
  loadedFrom(): string | null;
  /** Loads the model `source()` names now, then disposes the previous one. */
  reload(): Promise<void>;
  /** A second classifier of another model folder (null: shipped), apart from the one in use; the caller disposes it. */
  loadApart(dir: string | null): Promise<Classifier>;
  dispose(): Promise<void>;
}

async function defaultClassifier(settings: Settings, model: { dir: string | null }): Promise<Classifier> {
  const { createClassifier } = await import('../model/classifier.ts');
  return createClassifier({
    ...(model.dir ? { modelDir: model.dir } : {}),
    executionProvider: settings.executionProvider,
    operatingPoint: settings.thresholdPreset,
  });
}

/** A provider forced by Settings or $DERMAFUSE_EP that cannot start (no GPU driver, no CUDA libraries) falls back to the CPU with a notice. */
async function startClassifier(load: LoadClassifier, settings: Settings, dir: string | null): Promise<{ value: Classifier; notice: string | null }> {
  const { startWithCpuFallback } = await import('../model/runtime.ts');
  return startWithCpuFallback(settings.executionProvider, (executionProvider) => load({ ...settings, executionProvider }, { dir }));
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createModelService(options: {
  load?: LoadClassifier;
  settings: () => Settings;
  /** Which model to load; default: the shipped model. Read at every (re)load. */
  source?: () => ModelSource;
  /** Told the version of each classifier put in use, before `model.status` announces it (the store shows its predictions first). */
  inUse?: (modelVersion: string) => void;
  events: EventHub;
  log: (message: string) => void;
}): ModelService {
  const load = options.load ?? defaultClassifier;
  let classifier: Classifier | null = null;
  let status: z.infer<typeof ModelStatus> = 'loading';
  let error: string | null = null;
  let notice: string | null = null;
  let localNotice: string | null = null;
  let loadedFrom: string | null = null;

  /** The adopted local model, else (or when it fails to load) the shipped one. */
  async function loadChosen(): Promise<{ value: Classifier; notice: string | null; localNotice: string | null; dir: string | null }> {
    let source: ModelSource;
    try {
      source = options.source?.() ?? { dir: null, notice: null };
    } catch (err) {
      source = { dir: null, notice: `the clinic's local model could not be read, so the shipped model is in use: ${messageOf(err)}` };
    }
    if (source.dir === null) return { ...(await startClassifier(load, options.settings(), null)), localNotice: source.notice, dir: null };
    try {
      return { ...(await startClassifier(load, options.settings(), source.dir)), localNotice: null, dir: source.dir };
    } catch (err) {
      const why = `the clinic's local model could not be loaded, so the shipped model is in use: ${messageOf(err)}`;
      options.log(`dermafuse: ${why}`);
      return { ...(await startClassifier(load, options.settings(), null)), localNotice: why, dir: null };
    }
  }

  let loading: Promise<void> = Promise.resolve();
  function start(): Promise<void> {
    status = 'loading';
    const previous = classifier;
    loading = loadChosen().then(
      async (loaded) => {
        classifier = loaded.value;
        notice = loaded.notice;
        localNotice = loaded.localNotice;
        loadedFrom = loaded.dir;
        error = null;
        options.inUse?.(loaded.value.modelVersion);
        if (loaded.notice) options.log(`dermafuse: ${loaded.notice}`);
        // The preset may have changed while the model was loading.
        loaded.value.setOperatingPoint?.(options.settings().thresholdPreset);
        status = 'ready';
        options.events.emit('model.status', { status: 'ready', modelVersion: loaded.value.modelVersion, error: null });
        if (previous && previous !== loaded.value) await previous.dispose().catch((err: unknown) => options.log(`dermafuse: disposing the previous model failed: ${messageOf(err)}`));
      },
      (err: unknown) => {
        // A failed reload keeps the model that was running: the workstation goes on classifying.
        if (previous) {
          status = 'ready';
          options.log(`dermafuse: the model could not be reloaded, the previous one stays in use: ${messageOf(err)}`);
          options.events.emit('model.status', { status: 'ready', modelVersion: previous.modelVersion, error: null });
          throw err;
        }
        status = 'unavailable';
        error = messageOf(err);
        options.log(`dermafuse: the model could not be loaded: ${error}`);
        options.events.emit('model.status', { status: 'unavailable', modelVersion: null, error });
      },
    );
    return loading;
  }

  const ready = start();
  return {
    ready,
    async require() {
      await loading.catch(() => undefined);
      if (!classifier) throw new ServiceError('unavailable', `the model is not available: ${error ?? 'unknown error'}`);
      return classifier;
    },
    current: () => classifier,
    status: () => ({ status, error, notice, localNotice }),
    loadedFrom: () => loadedFrom,
    async reload() {
      await loading.catch(() => undefined);
      if (classifier) options.events.emit('model.status', { status: 'loading', modelVersion: classifier.modelVersion, error: null });
      await start();
    },
    async loadApart(dir) {
      return (await startClassifier(load, options.settings(), dir)).value;
    },
    async dispose() {
      await loading.catch(() => undefined);
      await classifier?.dispose();
    },
  };
}

export function appInfoChannel(model: ModelService, shell: { appVersion?: string; nativeDialogs: boolean }): ChannelsOf<'app.info'> {
  return {
    async 'app.info'() {
      const classifier = model.current();
      const { status, error, notice, localNotice } = model.status();
      const { availableProviders } = await import('../model/runtime.ts');
      return {
        appVersion: shell.appVersion ?? '0.0.0',
        modelVersion: classifier?.modelVersion ?? null,
        modelStatus: status,
        modelError: error,
        intendedUse: INTENDED_USE,
        nativeDialogs: shell.nativeDialogs,
        executionProviders: await availableProviders(),
        modelNotice: notice,
        localModelNotice: localNotice,
        ...(classifier?.operatingPoints ? { operatingPoints: classifier.operatingPoints } : {}),
      };
    },
  };
}
