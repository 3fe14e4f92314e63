/**
 * The folder batch: scan → one item per file in the database → classify each pending item →
 * write image + prediction + overlays + item status + audit in ONE transaction
 * (persistClassification, files first).
 *
 * Why it survives being killed at any moment: an item is either still 'pending' (nothing of it
 * committed; at worst its bytes already sit in the content-addressed folder, which is harmless
 * and reused) or settled with everything it produced. Re-running the same folder with the same
 * model and destination continues the newest unfinished job; bytes that already have a
 * prediction from this model are linked, never classified again.
 */
import { resolve } from 'node:path';
import type { BatchItem, BatchJob, BatchProgress } from '#common/domain';
import { isWalkError, walkImageFiles } from '../util/image-files.ts';
import type { Classifier, ClassifyOptions, ClassifyResult } from '../model/types.ts';
import { persistClassification } from '../store/persist.ts';
import { sha256HexAsync } from '../util/hash.ts';
import type { ResolvedPlacement } from '../store/repositories/images.ts';
import type { ScannedPath } from '../store/repositories/batches.ts';
import type { Store } from '../store/store.ts';
import { ProgressMeter } from './progress.ts';
import { describeItemError, readInput } from './read-input.ts';
import { mapLimit } from '../util/map-limit.ts';

export interface BatchRequest {
  /** Folder (walked recursively for image files) or a single file. */
  readonly root: string;
  readonly patientId?: number | null;
  readonly visitId?: number | null;
}

export interface RunBatchOptions extends BatchRequest {
  readonly store: Store;
  readonly classifier: Classifier;
  /** Continue this job instead of looking one up (it must match root/model/destination). */
  readonly jobId?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: BatchProgress) => void;
  /** Called after each item settles (done or error), e.g. to stream rows to the UI. */
  readonly onItem?: (item: BatchItem) => void;
  /** Grad-CAM overlays are stored with each prediction unless cam is false. */
  readonly classifyOptions?: ClassifyOptions;
  /** Images in flight at once; 2 overlaps one image's decode with the previous one's inference. */
  readonly concurrency?: number;
}

export interface BatchResult {
  readonly job: BatchJob;
  /** True when an unfinished job was continued rather than created. */
  readonly resumed: boolean;
  readonly cancelled: boolean;
  /** Images the classifier ran on in this run. */
  readonly classified: number;
  /** Items settled from an existing prediction of the same bytes and model (no classification). */
  readonly reused: number;
  /** Items that failed in this run. */
  readonly failed: number;
  readonly elapsedMs: number;
  /** Time spent in the store (hash, image copy, transaction) per settled item, this run. */
  readonly storeMsPerItem: number | null;
}

const SCAN_CHUNK = 500;

/** Finds the job to continue or creates one; validates the destination before any work. */
export function prepareJob(store: Store, modelVersion: string, request: BatchRequest, jobId?: number): { job: BatchJob; resumed: boolean; placement: ResolvedPlacement } {
  const placement = store.images.resolvePlacement({ patientId: request.patientId, visitId: request.visitId });
  const spec = { root: resolve(request.root), patientId: placement.patientId, visitId: placement.visitId, modelVersion };
  if (jobId !== undefined) {
    const job = store.batches.requireJob(jobId);
    if (job.root !== spec.root || job.modelVersion !== modelVersion || job.patientId !== spec.patientId || job.visitId !== spec.visitId) {
      throw new Error(`batch job ${jobId} was for ${job.root} with model ${job.modelVersion}; it cannot continue with different settings`);
    }
    return { job, resumed: true, placement };
  }
  const existing = store.batches.findResumable(spec);
  if (existing) return { job: existing, resumed: true, placement };
  return { job: store.batches.createJob(spec), resumed: false, placement };
}

/** Walks the root and records every path as an item (re-scans add only new paths). */
async function scan(store: Store, job: BatchJob, signal?: AbortSignal): Promise<void> {
  let chunk: ScannedPath[] = [];
  for await (const entry of walkImageFiles([job.root])) {
    chunk.push(isWalkError(entry) ? { path: entry.file, error: entry.error } : { path: entry.file });
    if (chunk.length >= SCAN_CHUNK) {
      store.batches.addItems(job.id, chunk);
      chunk = [];
    }
    if (signal?.aborted) return;
  }
  store.batches.addItems(job.id, chunk);
  store.batches.markScanComplete(job.id);
}

export async function runBatch(options: RunBatchOptions): Promise<BatchResult> {
  const { store, classifier, signal } = options;
  const started = performance.now();
  const modelVersion = classifier.modelVersion;
  const { job: found, resumed, placement } = prepareJob(store, modelVersion, options, options.jobId);
  const jobId = found.id;
  store.batches.setStatus(jobId, 'running');

  const emit = (current: string | null): void => options.onProgress?.(meter.snapshot(current));
  const countsOf = (j: BatchJob) => ({ done: j.done, failed: j.failed, total: j.total });
  const meter = new ProgressMeter(jobId, countsOf(store.batches.requireJob(jobId)));

  try {
    await scan(store, store.batches.requireJob(jobId), signal);
  } catch (err) {
    store.batches.setStatus(jobId, 'failed');
    throw err;
  }
  meter.settle(countsOf(store.batches.recount(jobId)));
  emit(null);

  const classifyOptions: ClassifyOptions = { cam: true, ...options.classifyOptions };
  const pending = store.batches.pendingItems(jobId);
  // Identical bytes appearing twice in one folder: the second waits for the first, then links.
  const inFlight = new Map<string, Promise<unknown>>();
  let classified = 0;
  let reused = 0;
  let failed = 0;
  let storeMs = 0;
  let storeItems = 0;

  const settle = (itemId: number, current: string | null): void => {
    meter.settle(countsOf(store.batches.requireJob(jobId)));
    const item = store.batches.getItem(itemId);
    if (item) options.onItem?.(item);
    emit(current);
  };

  const fail = (item: BatchItem, message: string, sha256: string | null = null): void => {
    store.batches.failItem(item.id, message, sha256);
    failed++;
  };

  /** Settles an item from a prediction that already exists for these bytes. True when it could. */
  const linkExisting = async (item: BatchItem, sha256: string, bytes: Buffer): Promise<boolean> => {
    const t0 = performance.now();
    const placed = store.images.findPlaced(sha256, placement);
    const here = placed ? store.predictions.forImage(placed.id, modelVersion) : null;
    const source = here ?? store.predictions.findBySha256(sha256, modelVersion);
    if (!source) return false;
    await persistClassification(store, { bytes, sha256, originalPath: item.path }, { copyOf: source }, { placement, audit: { jobId, itemId: item.id }, batchItemId: item.id });
    storeMs += performance.now() - t0;
    storeItems++;
    reused++;
    return true;
  };

  const processItem = async (item: BatchItem): Promise<void> => {
    let bytes: Buffer;
    try {
      bytes = await readInput(item.path);
    } catch (err) {
      fail(item, describeItemError(err, item.path));
      return;
    }
    const t0 = performance.now();
    const sha256 = await sha256HexAsync(bytes);
    storeMs += performance.now() - t0;
    while (inFlight.has(sha256)) await inFlight.get(sha256);
    // No await between the check above and the set below: a twin waits for this one.
    const work = (async () => {
      if (await linkExisting(item, sha256, bytes)) return;
      let result: ClassifyResult;
      try {
        result = await classifier.classifyBuffer(bytes, item.path, classifyOptions);
      } catch (err) {
        fail(item, describeItemError(err, item.path), sha256);
        return;
      }
      classified++;
      const t1 = performance.now();
      await persistClassification(store, { bytes, sha256, originalPath: item.path }, { result }, { placement, audit: { jobId, itemId: item.id }, batchItemId: item.id });
      storeMs += performance.now() - t1;
      storeItems++;
    })();
    inFlight.set(sha256, work);
    try {
      await work;
    } finally {
      inFlight.delete(sha256);
    }
  };

  const work = async (item: (typeof pending)[number]): Promise<void> => {
    emit(item.path);
    try {
      await processItem(item);
    } catch (err) {
      // A store failure is not the file's fault; record it if the store still can, else stop the job.
      fail(item, `store: ${err instanceof Error ? err.message : String(err)}`);
    }
    settle(item.id, null);
  };

  let outcome: BatchJob['status'] = 'done';
  try {
    const n = Math.max(1, Math.min(8, Math.floor(options.concurrency ?? 2)));
    await mapLimit(pending, n, work, signal);
    if (signal?.aborted) outcome = 'cancelled';
  } catch (err) {
    store.batches.setStatus(jobId, 'failed');
    throw err;
  }
  const job = store.batches.setStatus(jobId, outcome);
  meter.settle(countsOf(job));
  emit(null);
  return {
    job,
    resumed,
    cancelled: outcome === 'cancelled',
    classified,
    reused,
    failed,
    elapsedMs: performance.now() - started,
    storeMsPerItem: storeItems ? storeMs / storeItems : null,
  };
}
