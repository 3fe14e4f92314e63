/**
 * Gives predictions made before features were kept (or by a path that kept none) their pooled
 * feature vectors: the stored image bytes are read back, checked against their content hash and
 * run through the same model without Grad-CAM, and only the features are written. The stored
 * prediction is never touched.
 *
 * Resumable: each image's features are their own commit and the work list is "predictions of this
 * model without features", so a run that is stopped or killed picks up where it stopped. A re-run
 * whose probability does not match the stored one (other preprocessing, other weights under the
 * same version) is reported as failed rather than stored: features that did not produce the
 * stored prediction would teach adaptation the wrong thing.
 */
import { readFile } from 'node:fs/promises';
import type { Classifier } from '../model/types.ts';
import type { MissingFeatures, Store } from '../store/index.ts';
import { sha256HexAsync } from '../util/hash.ts';

/** Largest |p re-run − p stored| accepted as the same prediction (execution providers differ in the last digits). */
export const BACKFILL_P_TOLERANCE = 0.01;

/** Predictions read from the store per query. */
const PAGE = 64;

export interface BackfillProgress {
  /** Predictions handled so far (stored + failed) out of total. */
  readonly handled: number;
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  readonly predictionId: number;
}

export interface BackfillOptions {
  /** Which model's predictions to complete; default (and it must be) the classifier's model. */
  readonly modelVersion?: string;
  readonly onProgress?: (progress: BackfillProgress) => void;
  /** Stops between images; what was stored stays stored. */
  readonly signal?: AbortSignal;
}

export interface BackfillResult {
  /** Predictions whose features were stored by this run. */
  readonly done: number;
  readonly failed: readonly { readonly predictionId: number; readonly reason: string }[];
  /** Predictions that lacked features when the run started. */
  readonly total: number;
  /** True when the signal stopped the run before the list was through. */
  readonly aborted: boolean;
}

export type BackfillClassifier = Pick<Classifier, 'modelVersion' | 'classifyBuffer'>;

export async function backfillFeatures(store: Store, classifier: BackfillClassifier, options: BackfillOptions = {}): Promise<BackfillResult> {
  const modelVersion = options.modelVersion ?? classifier.modelVersion;
  if (modelVersion !== classifier.modelVersion) {
    throw new Error(`cannot backfill features of model ${modelVersion} with model ${classifier.modelVersion}: the vectors would belong to another head`);
  }
  const total = store.features.countMissing(modelVersion);
  const failed: { predictionId: number; reason: string }[] = [];
  let done = 0;
  let after = 0;
  for (;;) {
    const page = store.features.missingFor(modelVersion, PAGE, after);
    if (page.length === 0) break;
    for (const missing of page) {
      if (options.signal?.aborted) return { done, failed, total, aborted: true };
      after = missing.predictionId;
      try {
        await backfillOne(store, classifier, missing);
        done++;
      } catch (error) {
        failed.push({ predictionId: missing.predictionId, reason: error instanceof Error ? error.message : String(error) });
      }
      options.onProgress?.({ handled: done + failed.length, total, done, failed: failed.length, predictionId: missing.predictionId });
    }
  }
  return { done, failed, total, aborted: false };
}

async function backfillOne(store: Store, classifier: BackfillClassifier, missing: MissingFeatures): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(store.imagePath(missing.sha256));
  } catch (error) {
    throw new Error(`image ${missing.imageId} (${missing.originalName}): stored file cannot be read: ${(error as Error).message}`);
  }
  if ((await sha256HexAsync(bytes)) !== missing.sha256) throw new Error(`image ${missing.imageId} (${missing.originalName}): stored file no longer matches its sha256`);
  const { classification } = await classifier.classifyBuffer(bytes, missing.originalName, { cam: false });
  if (!classification.pooled) throw new Error(`model ${classifier.modelVersion} gives no pooled features`);
  const drift = Math.abs(classification.pMalignant - missing.pMalignant);
  if (!(drift <= BACKFILL_P_TOLERANCE)) {
    throw new Error(
      `image ${missing.imageId} (${missing.originalName}): re-run gives p = ${classification.pMalignant.toFixed(4)}, the stored prediction ${missing.pMalignant.toFixed(4)}; features not stored`,
    );
  }
  store.features.put(missing.predictionId, classification.pooled);
}
