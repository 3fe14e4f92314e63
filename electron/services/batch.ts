/**
 * Folder batches for the app, on top of the batch service (electron/batch): the service owns the
 * resumable job state in the database; this forwards its progress as contract events, maps its
 * failures to typed errors, and creates the service once the model has loaded.
 */
import { stat } from 'node:fs/promises';
import { BatchService } from '../batch/index.ts';
import { ServiceError, notFound, type EventHub } from '../ipc/handlers.ts';
import type { Classifier } from '../model/types.ts';
import type { Store } from '../store/index.ts';
import type { ModelService } from './model.ts';
import type { ChannelsOf } from './types.ts';

export interface BatchRunner {
  readonly channels: ChannelsOf<'batch.start' | 'batch.cancel' | 'batch.get' | 'batch.list'>;
  /** Whether a job is running (a model change waits for none to be). */
  busy(): boolean;
  /** Stops running jobs at an item boundary (shutdown). */
  stopAll(): Promise<void>;
}

export function createBatchRunner(store: Store, model: ModelService, events: EventHub, log: (message: string) => void): BatchRunner {
  // One batch service per loaded classifier: after a model change, new jobs use the new model.
  let service: { batch: BatchService; classifier: Classifier } | null = null;
  const running = new Set<number>();

  function finished(jobId: number, error: string | null): void {
    const job = store.batches.getJob(jobId);
    if (!job) return;
    events.emit('batch.finished', { jobId, status: error && job.status === 'running' ? 'failed' : job.status, done: job.done, failed: job.failed, total: job.total, error });
  }

  async function ready(): Promise<BatchService> {
    const classifier = await model.require();
    if (service?.classifier === classifier) return service.batch;
    if (running.size > 0) throw new ServiceError('conflict', 'the model changed while a batch is running: start this batch when it has finished');
    const created = new BatchService(store, classifier);
    created.on('progress', (progress) => events.emit('batch.progress', progress));
    created.on('finished', (result) => {
      running.delete(result.job.id);
      finished(result.job.id, null);
    });
    created.on('error', ({ jobId, message }) => {
      running.delete(jobId);
      log(`dermafuse: batch ${jobId} failed: ${message}`);
      finished(jobId, message);
    });
    service = { batch: created, classifier };
    return created;
  }

  return {
    channels: {
      async 'batch.start'({ root, patientId, visitId }) {
        const info = await stat(root).catch(() => null);
        if (!info) throw new ServiceError('invalid_input', `${root}: no such folder`);
        if (!info.isDirectory() && !info.isFile()) throw new ServiceError('invalid_input', `${root}: not a folder`);
        const { job } = (await ready()).start({ root, patientId, visitId });
        running.add(job.id);
        return store.batches.getJob(job.id) ?? job;
      },
      async 'batch.cancel'({ id }) {
        return { cancelled: service?.batch.cancel(id) ?? false };
      },
      async 'batch.get'({ id }) {
        const job = store.batches.getJob(id);
        if (!job) throw notFound('batch', id);
        const failures = store.batches
          .listItems(id, { status: 'error', pageSize: 500 })
          .items.map((item) => ({ path: item.path, error: item.error ?? 'unknown error' }));
        return { job, failures, counts: store.batches.triageCounts(id) };
      },
      async 'batch.list'({ visitId, limit }) {
        return store.batches.listJobs({ visitId, pageSize: limit }).items;
      },
    },
    busy: () => running.size > 0,
    async stopAll() {
      await service?.batch.stopAll();
    },
  };
}
