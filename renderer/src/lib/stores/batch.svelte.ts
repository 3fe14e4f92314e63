/**
 * Live state of folder batches, fed by the contract's batch events. One subscription for the
 * whole renderer so a batch keeps reporting while the clinician moves between screens.
 */
import type { BatchProgress } from '#common/domain';
import type { BatchFinished } from '#common/ipc';
import { on } from '../api.ts';

export interface LiveBatch {
  jobId: number;
  visitId: number | null;
  progress: BatchProgress | null;
  finished: BatchFinished | null;
}

class Batches {
  jobs = $state<Record<number, LiveBatch>>({});
  #listeners = new Set<(finished: BatchFinished) => void>();
  #subscribed = false;

  track(jobId: number, visitId: number | null): void {
    this.listen();
    this.jobs[jobId] ??= { jobId, visitId, progress: null, finished: null };
  }

  forVisit(visitId: number): LiveBatch[] {
    return Object.values(this.jobs).filter((j) => j.visitId === visitId);
  }

  onFinished(listener: (finished: BatchFinished) => void): () => void {
    this.listen();
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called at start-up, so no event of a batch started later is missed. */
  listen(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    on('batch.progress', (progress) => {
      const job = this.jobs[progress.jobId];
      if (job && !job.finished) job.progress = progress;
    });
    on('batch.finished', (finished) => {
      const job = this.jobs[finished.jobId];
      if (job) job.finished = finished;
      for (const listener of this.#listeners) listener(finished);
    });
  }
}

export const batches = new Batches();
