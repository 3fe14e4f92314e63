export { runBatch, prepareJob, type BatchRequest, type BatchResult, type RunBatchOptions } from './run-batch.ts';
export { BatchService, type BatchServiceEvents } from './service.ts';
