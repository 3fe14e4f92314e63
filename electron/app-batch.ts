/**
 * Folder batches for the app, on top of the batch service (electron/batch): the service owns the
 * resumable job state in the database; this forwards its progress as contract events, maps its
 * failures to typed errors, and creates the service once the model has loaded.
 */
import { stat } from 'node:fs/promises';
import { BatchService } from './batch/index.ts';
import type { BatchJob } from '#common/domain';
import type { ParsedRequestOf } from '#common/ipc';
import { ServiceError, type EventHub } from './ipc/handlers.ts';
import type { Classifier } from './model/types.ts';
import type { Store } from './store/index.ts';

export interface BatchRunner {
  start(request: ParsedRequestOf<'batch.start'>): Promise<BatchJob>;
  cancel(jobId: number): boolean;
  stopAll(): Promise<void>;
}

export interface BatchRunnerDeps {
  store: Store;
  model: () => Promise<Classifier>;
  events: EventHub;
  log: (message: string) => void;
}

export function createBatchRunner({ store, model, events, log }: BatchRunnerDeps): BatchRunner {
  let service: BatchService | null = null;

  function finished(jobId: number, error: string | null): void {
    const job = store.batches.getJob(jobId);
    if (!job) return;
    events.emit('batch.finished', { jobId, status: error && job.status === 'running' ? 'failed' : job.status, done: job.done, failed: job.failed, total: job.total, error });
  }

  async function ready(): Promise<BatchService> {
    if (service) return service;
    const created = new BatchService(store, await model());
    created.on('progress', (progress) => events.emit('batch.progress', progress));
    created.on('finished', (result) => finished(result.job.id, null));
    created.on('error', ({ jobId, message }) => {
      log(`dermafuse: batch ${jobId} failed: ${message}`);
      finished(jobId, message);
    });
    service = created;
    return created;
  }

  return {
    async start({ root, patientId, visitId }) {
      const info = await stat(root).catch(() => null);
      if (!info) throw new ServiceError('invalid_input', `${root}: no such folder`);
      if (!info.isDirectory() && !info.isFile()) throw new ServiceError('invalid_input', `${root}: not a folder`);
      const { job } = (await ready()).start({ root, patientId, visitId });
      return store.batches.getJob(job.id) ?? job;
    },
    cancel(jobId) {
      return service?.cancel(jobId) ?? false;
    },
    async stopAll() {
      await service?.stopAll();
    },
  };
}
