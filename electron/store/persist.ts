/**
 * Records one image and its prediction: the files first (image bytes, the Grad-CAM pack), then
 * every row in one immediate transaction (image, prediction, its pooled features, overlays, audit,
 * and the batch item when there is one). A crash between the two leaves only unreferenced content-addressed files,
 * never a row without its bytes. Import, batch and the batch's reuse of a known image all use it.
 */
import { basename } from 'node:path';
import type { ImageRecord, Prediction } from '#common/domain';
import type { ClassifyResult } from '../model/types.ts';
import { readImageFacts } from './image-facts.ts';
import type { ImagePlacement } from './repositories/images.ts';
import { overlaysFromCams } from './repositories/overlays.ts';
import { predictionInput } from './repositories/predictions.ts';
import type { Store } from './store.ts';

export interface IncomingImage {
  readonly bytes: Buffer;
  readonly sha256?: string;
  /** Where the file came from (provenance only); its base name is the original name. */
  readonly originalPath: string;
  readonly originalName?: string;
}

/** A fresh classification, or an existing prediction of the same bytes by the same model to copy. */
export type PredictionSource = { readonly result: ClassifyResult } | { readonly copyOf: Prediction };

export interface PersistTarget {
  readonly placement: ImagePlacement;
  /** Extra detail for the prediction's audit entry. */
  readonly audit: Record<string, unknown>;
  /** A batch item that settles in the same transaction. */
  readonly batchItemId?: number;
}

export async function persistClassification(
  store: Store,
  incoming: IncomingImage,
  source: PredictionSource,
  target: PersistTarget,
): Promise<{ image: ImageRecord; prediction: Prediction }> {
  const placement = store.images.resolvePlacement(target.placement);
  const result = 'result' in source ? source.result : null;
  const copyOf = 'copyOf' in source ? source.copyOf : null;
  const copied = copyOf ? store.images.require(copyOf.imageId) : null;
  const modelVersion = result ? result.classification.modelVersion : copyOf!.modelVersion;
  const [blob, facts, overlays] = await Promise.all([
    store.blobs.putBytes(incoming.bytes, incoming.sha256),
    readImageFacts(incoming.bytes, incoming.originalPath).catch(() => null),
    result ? store.overlays.writePackAsync(overlaysFromCams(result.cams)) : [],
  ]);
  const sha256 = blob.sha256;
  return store.db
    .transaction(() => {
      const { image } = store.images.record(
        {
          sha256,
          originalName: incoming.originalName ?? basename(incoming.originalPath),
          originalPath: incoming.originalPath,
          capturedAt: facts?.capturedAt ?? copied?.capturedAt ?? null,
          width: result?.width ?? copied!.width,
          height: result?.height ?? copied!.height,
          byteSize: incoming.bytes.byteLength,
        },
        placement,
      );
      const prediction =
        store.predictions.forImage(image.id, modelVersion) ??
        (result
          ? store.predictions.create({ ...predictionInput(image.id, result.classification), overlays }, target.audit)
          : store.predictions.copyTo(copyOf!, image.id, target.audit));
      // The head's pooled vectors commit with the prediction (clinic adaptation refits on them); a
      // copy shares its source's, and a prediction that had none gets them from a fresh result.
      if (!store.features.has(prediction.id)) {
        const pooled = result?.classification.pooled;
        if (pooled) store.features.put(prediction.id, pooled);
        else if (copyOf) store.features.copy(copyOf.id, prediction.id);
      }
      if (target.batchItemId !== undefined) store.batches.completeItem(target.batchItemId, { sha256, imageId: image.id, predictionId: prediction.id });
      return { image, prediction };
    })
    .immediate();
}
