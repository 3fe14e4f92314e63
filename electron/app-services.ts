/**
 * The composition root of the workstation: opens the store, loads the classifier in the
 * background, and implements every channel of the contract on top of the store, the classifier,
 * the batch service and the reports. Plain Node: the Electron shell and the HTTP test bridge both
 * build on it, so the browser tests exercise exactly what the app runs.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRecord, Settings } from '#common/domain';
import { INTENDED_USE, type ImageSummary, type ResponseOf } from '#common/ipc';
import { ServiceError, createEventHub, notFound, type ChannelImplementations, type EventHub } from './ipc/handlers.ts';
import type { MediaSource } from './ipc/media.ts';
import type { Classifier, ClassifyOptions } from './model/types.ts';
import { openStore, predictionInput, type Store } from './store/index.ts';
import { readImageFacts } from './store/image-facts.ts';
import { createBatchRunner, type BatchRunner } from './app-batch.ts';
import { exportReport } from './app-reports.ts';

/** Native dialogs, where a shell provides them (the test bridge has none). */
export interface Dialogs {
  pickFolder(): Promise<string | null>;
  /** Where to save a PDF; null when the clinician cancels. */
  pickSavePath(defaultName: string): Promise<string | null>;
  /** Opens a file with the system's default application. */
  openPath(path: string): Promise<void>;
}

/** Where the data folder choice survives a restart (it cannot live in the database inside it). */
export interface BootstrapConfig {
  read(): { dataDir?: string | null };
  write(config: { dataDir: string | null }): Promise<void>;
}

export interface AppServicesOptions {
  /** Data folder; defaults to the bootstrap config, then DERMAFUSE_DATA_DIR, then the platform default. */
  dataDir?: string | null;
  appVersion?: string;
  dialogs?: Dialogs;
  bootstrap?: BootstrapConfig;
  /** Builds the classifier; defaults to the shipped model (createClassifier). Loaded in the background. */
  loadClassifier?: (settings: Settings) => Promise<Classifier>;
  /** Where exported PDFs go when there is no save dialog; default `<dataDir>/reports`. */
  reportsDir?: string;
  log?: (message: string) => void;
}

export interface AppServices {
  readonly channels: ChannelImplementations;
  readonly media: MediaSource;
  readonly events: EventHub;
  readonly store: Store;
  /** Resolves when the model has loaded or failed to (the status says which). */
  readonly modelReady: Promise<void>;
  close(): Promise<void>;
}

async function defaultClassifier(settings: Settings): Promise<Classifier> {
  const { createClassifier } = await import('./model/classifier.ts');
  return createClassifier({ executionProvider: settings.executionProvider, operatingPoint: settings.thresholdPreset });
}

const CAMS: ClassifyOptions = { cam: true };

export async function createAppServices(options: AppServicesOptions = {}): Promise<AppServices> {
  const log = options.log ?? ((m: string) => console.error(m));
  const events = createEventHub(log);
  const configured = options.dataDir ?? options.bootstrap?.read().dataDir ?? null;
  const store = openStore({ dataDir: configured, actor: 'clinician' });
  let pendingDataDir: string | null = null;
  // Only files this session wrote may be opened on the renderer's request.
  const exported = new Set<string>();

  // ------------------------------------------------------------------ model, loaded in the background
  let classifier: Classifier | null = null;
  let modelStatus: 'loading' | 'ready' | 'unavailable' = 'loading';
  let modelError: string | null = null;
  const loading = (options.loadClassifier ?? defaultClassifier)(store.settings.getAll()).then(
    (c) => {
      classifier = c;
      // The preset may have changed while the model was loading.
      c.setOperatingPoint?.(store.settings.getAll().thresholdPreset);
      modelStatus = 'ready';
      events.emit('model.status', { status: 'ready', modelVersion: c.modelVersion, error: null });
    },
    (err: unknown) => {
      modelStatus = 'unavailable';
      modelError = err instanceof Error ? err.message : String(err);
      log(`dermafuse: the model could not be loaded: ${modelError}`);
      events.emit('model.status', { status: 'unavailable', modelVersion: null, error: modelError });
    },
  );
  async function model(): Promise<Classifier> {
    await loading;
    if (!classifier) throw new ServiceError('unavailable', `the model is not available: ${modelError ?? 'unknown error'}`);
    return classifier;
  }

  const batches: BatchRunner = createBatchRunner({ store, model, events, log });

  // ------------------------------------------------------------------ reads shared by several channels
  function summary(image: ImageRecord): ImageSummary {
    return {
      image,
      prediction: store.predictions.latestForImage(image.id),
      review: store.reviews.latestForImage(image.id),
      lesion: image.lesionId === null ? null : store.lesions.get(image.lesionId),
    };
  }

  function settings(): Settings {
    const current = store.settings.getAll();
    return pendingDataDir === null ? current : { ...current, dataDir: pendingDataDir };
  }

  const channels: ChannelImplementations = {
    async 'app.info'() {
      return {
        appVersion: options.appVersion ?? '0.0.0',
        modelVersion: classifier?.modelVersion ?? null,
        modelStatus,
        modelError,
        intendedUse: INTENDED_USE,
        nativeDialogs: options.dialogs !== undefined,
        ...(classifier?.operatingPoints ? { operatingPoints: classifier.operatingPoints } : {}),
      };
    },

    async 'settings.get'() {
      return settings();
    },

    async 'settings.update'(patch) {
      const { dataDir, ...stored } = patch;
      if (dataDir !== undefined && dataDir !== settings().dataDir) {
        if (!options.bootstrap) throw new ServiceError('unavailable', 'the data folder cannot be changed here');
        await options.bootstrap.write({ dataDir: dataDir.trim() === '' ? null : dataDir });
        pendingDataDir = dataDir;
      }
      store.settings.update(stored);
      // Only the threshold depends on the preset, so it applies at once, without a reload.
      if (stored.thresholdPreset !== undefined) classifier?.setOperatingPoint?.(stored.thresholdPreset);
      return settings();
    },

    async 'patients.list'({ query, page, pageSize }) {
      return store.patients.list({ search: query, page, pageSize });
    },
    async 'patients.get'({ id }) {
      return store.patients.require(id);
    },
    async 'patients.create'(input) {
      return store.patients.create(input);
    },
    async 'patients.update'({ id, patch }) {
      return store.patients.update(id, patch);
    },

    async 'visits.list'({ patientId }) {
      store.patients.require(patientId);
      return store.visits.listForPatient(patientId).map((visit) => {
        const images = store.images.listForVisit(visit.id);
        const predictions = images.map((i) => store.predictions.latestForImage(i.id)).filter((p) => p !== null);
        return {
          ...visit,
          imageCount: images.length,
          maxPMalignant: predictions.length ? Math.max(...predictions.map((p) => p.pMalignant)) : null,
          highCount: predictions.filter((p) => p.tier === 'high').length,
        };
      });
    },
    async 'visits.get'({ id }) {
      return store.visits.require(id);
    },
    async 'visits.create'(input) {
      return store.visits.create(input);
    },
    async 'visits.update'({ id, patch }) {
      return store.visits.update(id, patch);
    },

    async 'lesions.list'({ patientId }) {
      store.patients.require(patientId);
      return store.lesions.listForPatient(patientId);
    },
    async 'lesions.create'(input) {
      return store.lesions.create(input);
    },
    async 'lesions.update'({ id, patch }) {
      return store.lesions.update(id, patch);
    },
    async 'lesions.followUp'({ id }) {
      const lesion = store.lesions.require(id);
      const patient = store.patients.require(lesion.patientId);
      const points = store.lesionTimeline(id).map(({ image, visit, prediction, review }) => ({ image, visit, prediction, review }));
      return { lesion, patient, points };
    },

    async 'images.list'({ visitId }) {
      store.visits.require(visitId);
      return store.images.listForVisit(visitId).map(summary);
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
      const classify = await model();
      const imported: ImageSummary[] = [];
      const failed: { name: string; error: string }[] = [];
      for (const file of files) {
        try {
          const bytes = Buffer.from(file.dataBase64, 'base64');
          if (bytes.length === 0) throw new ServiceError('invalid_input', `${file.name}: the file is empty`);
          // Classify first: a file the model cannot read leaves nothing behind in the store.
          const result = await classify.classifyBuffer(bytes, file.name, CAMS);
          const facts = await readImageFacts(bytes, file.name);
          const blob = await store.blobs.putBytes(bytes);
          const image = store.transaction(() => {
            const { image } = store.images.record(
              { sha256: blob.sha256, originalName: file.name, originalPath: file.path ?? file.name, capturedAt: facts.capturedAt, width: facts.width, height: facts.height, byteSize: blob.byteSize },
              { visitId, lesionId },
            );
            if (!store.predictions.forImage(image.id, result.classification.modelVersion)) {
              store.predictions.create(predictionInput(image.id, result.classification, result.cams), { source: 'import' });
            }
            return image;
          });
          imported.push(summary(image));
        } catch (err) {
          failed.push({ name: file.name, error: err instanceof Error ? err.message : String(err) });
        }
      }
      return { imported, failed };
    },
    async 'images.assignLesion'({ imageId, lesionId }) {
      return summary(store.images.assignLesion(imageId, lesionId));
    },

    async 'reviews.create'(input) {
      store.images.require(input.imageId);
      return store.reviews.create(input);
    },

    async 'predictions.list'({ page, pageSize, tier, sort }) {
      return store.listPredictions({ page, pageSize, sort, ...(tier ? { tier } : {}) });
    },

    async 'batch.start'(request) {
      return batches.start(request);
    },
    async 'batch.cancel'({ id }) {
      return { cancelled: batches.cancel(id) };
    },
    async 'batch.get'({ id }) {
      const job = store.batches.getJob(id);
      if (!job) throw notFound('batch', id);
      const failures = store.batches
        .listItems(id, { status: 'error', pageSize: 500 })
        .items.map((item) => ({ path: item.path, error: item.error ?? 'unknown error' }));
      return { job, failures };
    },
    async 'batch.list'({ visitId, limit }) {
      const jobs = store.batches.listJobs({ pageSize: 500 }).items;
      return jobs.filter((j) => visitId === null || j.visitId === visitId).sort((a, b) => b.id - a.id).slice(0, limit);
    },

    async 'reports.export'({ kind, id }): Promise<ResponseOf<'reports.export'>> {
      const pdf = await exportReport(store, { kind, id, settings: settings() });
      let path: string | null;
      if (options.dialogs) {
        path = await options.dialogs.pickSavePath(pdf.suggestedName);
        if (path === null) return { path: null, byteSize: 0, pages: 0 };
      } else {
        const dir = options.reportsDir ?? join(store.dataDir, 'reports');
        await mkdir(dir, { recursive: true });
        path = join(dir, pdf.suggestedName);
      }
      await writeFile(path, pdf.bytes);
      exported.add(path);
      return { path, byteSize: pdf.bytes.length, pages: pdf.pages };
    },

    async 'reports.open'({ path }) {
      if (!exported.has(path)) throw new ServiceError('invalid_request', 'only a report exported in this session can be opened');
      if (!options.dialogs) return { opened: false };
      await options.dialogs.openPath(path);
      return { opened: true };
    },

    async 'audit.list'({ entity, entityId, limit, offset }) {
      return store.audit.list({ entity: entity ?? undefined, entityId: entityId ?? undefined, pageSize: limit, offset }).items;
    },

    async 'dialog.pickFolder'() {
      return { path: options.dialogs ? await options.dialogs.pickFolder() : null };
    },
  };

  const media: MediaSource = {
    async imageFile(sha256) {
      const path = store.imagePath(sha256);
      return existsSync(path) ? path : null;
    },
    async overlayPng(id) {
      return store.overlays.png(id);
    },
  };

  return {
    channels,
    media,
    events,
    store,
    modelReady: loading,
    async close() {
      await batches.stopAll();
      await loading;
      await classifier?.dispose();
      store.close();
    },
  };
}
