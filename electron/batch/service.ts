import { EventEmitter } from 'node:events';
import type { BatchItem, BatchJob, BatchProgress } from '#common/domain';
import type { Classifier, ClassifyOptions } from '../model/types.ts';
import type { Store } from '../store/store.ts';
import { prepareJob, runBatch, type BatchRequest, type BatchResult } from './run-batch.ts';

export interface BatchServiceEvents {
  progress: [BatchProgress];
  item: [BatchItem];
  finished: [BatchResult];
  error: [{ jobId: number; message: string }];
}

/**
 * The long-lived face of the batch for the app: start returns the job at once (so the UI can
 * show it), the work continues in the background with 'progress' / 'item' / 'finished' events,
 * and cancel(jobId) stops it between images. A cancelled or interrupted job continues on the
 * next start of the same folder.
 */
export class BatchService extends EventEmitter<BatchServiceEvents> {
  private readonly running = new Map<number, { controller: AbortController; done: Promise<BatchResult> }>();

  constructor(
    private readonly store: Store,
    private readonly classifier: Classifier,
    private readonly classifyOptions: ClassifyOptions = { cam: true },
  ) {
    super();
  }

  start(request: BatchRequest & { jobId?: number }): { job: BatchJob; resumed: boolean; done: Promise<BatchResult> } {
    const { job, resumed } = prepareJob(this.store, this.classifier.modelVersion, request, request.jobId);
    const active = this.running.get(job.id);
    if (active) return { job, resumed: true, done: active.done };
    const controller = new AbortController();
    const done = runBatch({
      ...request,
      jobId: job.id,
      store: this.store,
      classifier: this.classifier,
      signal: controller.signal,
      classifyOptions: this.classifyOptions,
      onProgress: (p) => this.emit('progress', p),
      onItem: (i) => this.emit('item', i),
    }).then(
      (result) => {
        this.running.delete(job.id);
        this.emit('finished', result);
        return result;
      },
      (err: unknown) => {
        this.running.delete(job.id);
        const message = err instanceof Error ? err.message : String(err);
        if (this.listenerCount('error') > 0) this.emit('error', { jobId: job.id, message });
        throw err;
      },
    );
    // The caller may only listen to events; an unobserved rejection must not kill the process.
    done.catch(() => undefined);
    this.running.set(job.id, { controller, done });
    return { job, resumed, done };
  }

  /** Stops a running job after the images in flight; returns false when it was not running. */
  cancel(jobId: number): boolean {
    const active = this.running.get(jobId);
    if (!active) return false;
    active.controller.abort();
    return true;
  }

  isRunning(jobId: number): boolean {
    return this.running.has(jobId);
  }

  /** Cancels everything and waits for the in-flight images to settle (app shutdown). */
  async stopAll(): Promise<void> {
    const all = [...this.running.values()];
    for (const r of all) r.controller.abort();
    await Promise.allSettled(all.map((r) => r.done));
  }
}
