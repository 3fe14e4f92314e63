/**
 * Reclassifying stored images with the model in use, only when a clinician asks (a model change
 * never rewrites results by itself). Each image gets a new prediction beside its old one, filed
 * on the same image record by the same function the import and the batch use, so a run that is
 * stopped or killed simply has fewer images left: it restarts where it stopped.
 *
 * Why not the folder batch: the batch walks files on disk and files what it finds under one
 * destination, while these images already have their records (patient, visit, lesion) and their
 * bytes in the content store.
 */
import { readFile } from 'node:fs/promises';
import type { ReclassifyState } from '#common/ipc';
import { ServiceError, type EventHub } from '../ipc/handlers.ts';
import { persistClassification, type Store } from '../store/index.ts';
import type { ModelService } from './model.ts';
import type { ChannelsOf } from './types.ts';

const PAGE = 32;

export interface Reclassifier {
  readonly channels: ChannelsOf<'model.reclassify.start' | 'model.reclassify.cancel'>;
  /** The offer and the progress of a run, for `model.versions`. */
  state(): ReclassifyState;
  running(): boolean;
  /** Stops a run after the image in flight (shutdown, model change). */
  stop(): Promise<void>;
}

export function createReclassifier(store: Store, model: ModelService, events: EventHub, log: (message: string) => void): Reclassifier {
  let run: { controller: AbortController; done: Promise<void>; modelVersion: string; total: number; handled: number; failed: number } | null = null;
  let last: { done: number; failed: number; total: number; modelVersion: string; error: string | null } | null = null;

  const pendingFor = (version: string | null): number => (version ? store.countImagesWithoutPrediction(version) : 0);

  function state(): ReclassifyState {
    const version = model.current()?.modelVersion ?? null;
    if (run) {
      // Counted down rather than re-queried after every image.
      return { pending: Math.max(0, run.total - run.handled), running: true, done: run.handled - run.failed, failed: run.failed, total: run.total, modelVersion: run.modelVersion, error: null };
    }
    const finished = last && last.modelVersion === version ? last : null;
    return { pending: pendingFor(version), running: false, done: finished?.done ?? 0, failed: finished?.failed ?? 0, total: finished?.total ?? 0, modelVersion: version, error: finished?.error ?? null };
  }

  async function work(current: NonNullable<typeof run>, signal: AbortSignal): Promise<void> {
    const classifier = await model.require();
    let afterId = 0;
    let error: string | null = null;
    try {
      for (;;) {
        const page = store.imagesWithoutPrediction(current.modelVersion, afterId, PAGE);
        if (page.length === 0 || signal.aborted) break;
        for (const image of page) {
          if (signal.aborted) break;
          afterId = image.id;
          try {
            const bytes = await readFile(store.imagePath(image.sha256));
            const result = await classifier.classifyBuffer(bytes, image.originalName, { cam: true });
            await persistClassification(
              store,
              { bytes, sha256: image.sha256, originalPath: image.originalPath, originalName: image.originalName },
              { result },
              { placement: { patientId: image.patientId, visitId: image.visitId, lesionId: image.lesionId }, audit: { source: 'reclassify' } },
            );
          } catch (err) {
            current.failed++;
            log(`dermafuse: reclassifying image ${image.id} failed: ${err instanceof Error ? err.message : String(err)}`);
          }
          current.handled++;
          events.emit('reclassify.progress', state());
        }
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (!error && current.failed > 0) error = `${current.failed} image(s) could not be reclassified (see the log); they keep their earlier result`;
    last = { done: current.handled - current.failed, failed: current.failed, total: current.total, modelVersion: current.modelVersion, error };
  }

  return {
    channels: {
      async 'model.reclassify.start'() {
        if (run) return state();
        const classifier = await model.require();
        const total = pendingFor(classifier.modelVersion);
        if (total === 0) return state();
        const controller = new AbortController();
        const current = { controller, done: Promise.resolve(), modelVersion: classifier.modelVersion, total, handled: 0, failed: 0 };
        run = current;
        current.done = work(current, controller.signal).finally(() => {
          run = null;
          events.emit('reclassify.progress', state());
        });
        events.emit('reclassify.progress', state());
        return state();
      },
      async 'model.reclassify.cancel'() {
        if (!run) throw new ServiceError('conflict', 'no reclassification is running');
        const current = run;
        current.controller.abort();
        await current.done;
        return state();
      },
    },
    state,
    running: () => run !== null,
    async stop() {
      const current = run;
      current?.controller.abort();
      await current?.done;
    },
  };
}
