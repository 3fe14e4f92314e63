/**
 * Runs folder batches for the app: one background job per request, progress forwarded as
 * contract events, cancellation by job id. The batch service itself (electron/batch) owns the
 * resumable job state in the database; this only keeps the live handles.
 */
import type { BatchJob } from './common/domain.ts';
import { ServiceError, type EventHub } from './ipc/handlers.ts';
import type { ParsedRequestOf } from './ipc/contract.ts';
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

export function createBatchRunner(_deps: BatchRunnerDeps): BatchRunner {
  return {
    async start() {
      throw new ServiceError('unavailable', 'the batch service is not available yet');
    },
    cancel() {
      return false;
    },
    async stopAll() {},
  };
}
