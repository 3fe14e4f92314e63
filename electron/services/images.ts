/** A visit's images: import (classify, then persist), details, lesion links, reviews, the worklist. */
import type { ImageRecord } from '#common/domain';
import type { ImageSummary } from '#common/ipc';
import { ServiceError } from '../ipc/handlers.ts';
import type { ClassifyOptions } from '../model/types.ts';
import { persistClassification, type Store } from '../store/index.ts';
import type { ModelService } from './model.ts';
import type { ChannelsOf } from './types.ts';

const CAMS: ClassifyOptions = { cam: true };

/** One tile of a visit's grid: the image with the prediction it shows (by the model in use if it has one), newest review and lesion. */
export function imageSummary(store: Store, image: ImageRecord): ImageSummary {
  return {
    image,
    prediction: store.predictions.latestForImage(image.id),
    review: store.reviews.latestForImage(image.id),
    lesion: image.lesionId === null ? null : store.lesions.get(image.lesionId),
  };
}

export function imageChannels(store: Store, model: ModelService): ChannelsOf<'images.list' | 'images.get' | 'images.import' | 'images.assignLesion'> {
  return {
    async 'images.list'({ visitId }) {
      store.visits.require(visitId);
      return store.images.listForVisit(visitId).map((image) => imageSummary(store, image));
    },
    async 'images.get'({ id }) {
      const image = store.images.require(id);
      const prediction = store.predictions.latestForImage(id);
      const visit = image.visitId === null ? null : store.visits.get(image.visitId);
      const patientId = store.images.patientIdOf(id);
      return {
        image,
        prediction,
        overlays: prediction ? store.overlays.listForPrediction(prediction.id) : [],
        reviews: store.reviews.listForImage(id),
        visit,
        lesion: image.lesionId === null ? null : store.lesions.get(image.lesionId),
        patient: patientId === null ? null : store.patients.get(patientId),
      };
    },
    async 'images.import'({ visitId, lesionId, files }) {
      store.images.resolvePlacement({ visitId, lesionId }); // a wrong visit or lesion fails before any work
      const classifier = await model.require();
      const imported: ImageSummary[] = [];
      const failed: { name: string; error: string }[] = [];
      for (const file of files) {
        try {
          const bytes = Buffer.from(file.dataBase64, 'base64');
          if (bytes.length === 0) throw new ServiceError('invalid_input', `${file.name}: the file is empty`);
          // Classify first: a file the model cannot read leaves nothing behind in the store.
          const result = await classifier.classifyBuffer(bytes, file.name, CAMS);
          const { image } = await persistClassification(
            store,
            { bytes, originalName: file.name, originalPath: file.path ?? file.name },
            { result },
            { placement: { visitId, lesionId }, audit: { source: 'import' } },
          );
          imported.push(imageSummary(store, image));
        } catch (err) {
          failed.push({ name: file.name, error: err instanceof Error ? err.message : String(err) });
        }
      }
      return { imported, failed };
    },
    async 'images.assignLesion'({ imageId, lesionId }) {
      return imageSummary(store, store.images.assignLesion(imageId, lesionId));
    },
  };
}

export function reviewChannels(store: Store): ChannelsOf<'reviews.create' | 'predictions.list' | 'predictions.showAnyway'> {
  return {
    async 'reviews.create'(input) {
      store.images.require(input.imageId);
      return store.reviews.create(input);
    },
    async 'predictions.list'({ page, pageSize, tier, sort }) {
      return store.listPredictions({ page, pageSize, sort, ...(tier ? { tier } : {}) });
    },
    async 'predictions.showAnyway'({ id, clinician }) {
      return store.predictions.showAnyway(id, clinician);
    },
  };
}
