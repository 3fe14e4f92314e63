/**
 * The classifier, loaded in the background: its status for `app.info` and the window's
 * `model.status` event, and the one way services wait for it.
 */
import type { Settings } from '#common/domain';
import { INTENDED_USE, type ModelStatus } from '#common/ipc';
import type { z } from 'zod';
import { ServiceError, type EventHub } from '../ipc/handlers.ts';
import type { Classifier } from '../model/types.ts';
import type { ChannelsOf } from './types.ts';

export type LoadClassifier = (settings: Settings) => Promise<Classifier>;

export interface ModelService {
  /** Resolves when the model has loaded or failed to (status() says which). */
  readonly ready: Promise<void>;
  /** The loaded classifier; rejects with an `unavailable` error when it could not be loaded. */
  require(): Promise<Classifier>;
  current(): Classifier | null;
  /** `notice`: what the clinician should know about a loaded model (a forced provider fell back to the CPU). */
  status(): { status: z.infer<typeof ModelStatus>; error: string | null; notice: string | null };
  dispose(): Promise<void>;
}

async function defaultClassifier(settings: Settings): Promise<Classifier> {
  const { createClassifier } = await import('../model/classifier.ts');
  return createClassifier({ executionProvider: settings.executionProvider, operatingPoint: settings.thresholdPreset });
}

/** A provider forced by Settings or $DERMAFUSE_EP that cannot start (no GPU driver, no CUDA libraries) falls back to the CPU with a notice. */
async function startClassifier(load: LoadClassifier, settings: Settings): Promise<{ value: Classifier; notice: string | null }> {
  const { startWithCpuFallback } = await import('../model/runtime.ts');
  return startWithCpuFallback(settings.executionProvider, (executionProvider) => load({ ...settings, executionProvider }));
}

export function createModelService(options: {
  load?: LoadClassifier;
  settings: () => Settings;
  events: EventHub;
  log: (message: string) => void;
}): ModelService {
  let classifier: Classifier | null = null;
  let status: z.infer<typeof ModelStatus> = 'loading';
  let error: string | null = null;
  let notice: string | null = null;
  const ready = startClassifier(options.load ?? defaultClassifier, options.settings()).then(
    ({ value: c, notice: fellBack }) => {
      classifier = c;
      notice = fellBack;
      if (fellBack) options.log(`dermafuse: ${fellBack}`);
      // The preset may have changed while the model was loading.
      c.setOperatingPoint?.(options.settings().thresholdPreset);
      status = 'ready';
      options.events.emit('model.status', { status: 'ready', modelVersion: c.modelVersion, error: null });
    },
    (err: unknown) => {
      status = 'unavailable';
      error = err instanceof Error ? err.message : String(err);
      options.log(`dermafuse: the model could not be loaded: ${error}`);
      options.events.emit('model.status', { status: 'unavailable', modelVersion: null, error });
    },
  );
  return {
    ready,
    async require() {
      await ready;
      if (!classifier) throw new ServiceError('unavailable', `the model is not available: ${error ?? 'unknown error'}`);
      return classifier;
    },
    current: () => classifier,
    status: () => ({ status, error, notice }),
    async dispose() {
      await ready;
      await classifier?.dispose();
    },
  };
}

export function appInfoChannel(model: ModelService, shell: { appVersion?: string; nativeDialogs: boolean }): ChannelsOf<'app.info'> {
  return {
    async 'app.info'() {
      const classifier = model.current();
      const { status, error, notice } = model.status();
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
        ...(classifier?.operatingPoints ? { operatingPoints: classifier.operatingPoints } : {}),
      };
    },
  };
}
