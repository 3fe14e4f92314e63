/**
 * The composition root of the workstation's services: opens the store, loads the classifier in
 * the background, and puts together one implementation of every channel of the contract from the
 * area modules in services/. Plain Node: it runs in the services host process (the app's utility
 * process, or a Node child process in the tests and the dev bridge).
 */
import { existsSync } from 'node:fs';
import { createRegistry } from './adaptation/registry.ts';
import { createEventHub, type ChannelImplementations, type EventHub } from './ipc/handlers.ts';
import type { MediaSource } from './ipc/media.ts';
import { openStore, type Store } from './store/index.ts';
import { createAdaptationService, modelSourceOf } from './services/adaptation.ts';
import { auditChannels } from './services/audit.ts';
import { createBatchRunner } from './services/batch.ts';
import { dialogChannels } from './services/dialogs.ts';
import { imageChannels, reviewChannels } from './services/images.ts';
import { appInfoChannel, createModelService, type LoadClassifier } from './services/model.ts';
import { lesionChannels, patientChannels, visitChannels } from './services/patients.ts';
import { createReclassifier } from './services/reclassify.ts';
import { reportChannels } from './services/reports.ts';
import { createSettingsService } from './services/settings.ts';
import type { BootstrapConfig, Dialogs } from './services/types.ts';

export type { BootstrapConfig, Dialogs } from './services/types.ts';

export interface AppServicesOptions {
  /** Data folder; defaults to the bootstrap config, then DERMAFUSE_DATA_DIR, then the platform default. */
  dataDir?: string | null;
  appVersion?: string;
  dialogs?: Dialogs;
  bootstrap?: BootstrapConfig;
  /**
   * Builds the classifier of a model folder (null: the shipped model); defaults to createClassifier.
   * Loaded in the background; the folder is the clinic's adopted local version, if any.
   */
  loadClassifier?: LoadClassifier;
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

export async function createAppServices(options: AppServicesOptions = {}): Promise<AppServices> {
  const log = options.log ?? ((m: string) => console.error(m));
  const events = createEventHub(log);
  const configured = options.dataDir ?? options.bootstrap?.read().dataDir ?? null;
  const store = openStore({ dataDir: configured, actor: 'clinician' });

  // The model reads the settings before the settings service exists: read the store directly.
  const registry = createRegistry(store.dataDir, store);
  const model = createModelService({
    load: options.loadClassifier,
    settings: () => store.settings.getAll(),
    source: modelSourceOf(registry),
    // Screens show each image's prediction by the model in use, the newest of another model only when it has none.
    inUse: (modelVersion) => store.preferModelVersion(modelVersion),
    events,
    log,
  });
  const settings = createSettingsService(store, model, options.bootstrap);
  const batches = createBatchRunner(store, model, events, log);
  const reclassifier = createReclassifier(store, model, events, log);
  const adaptation = createAdaptationService({
    store,
    model,
    registry,
    reclassifier,
    events,
    blocker: () => (batches.busy() ? 'a folder batch is running' : null),
  });

  const channels: ChannelImplementations = {
    ...appInfoChannel(model, { appVersion: options.appVersion, nativeDialogs: options.dialogs !== undefined }),
    ...settings.channels,
    ...patientChannels(store),
    ...visitChannels(store),
    ...lesionChannels(store),
    ...imageChannels(store, model),
    ...reviewChannels(store),
    ...batches.channels,
    ...reportChannels(store, { settings: settings.current, dialogs: options.dialogs, reportsDir: options.reportsDir, modelDir: () => model.loadedFrom() }),
    ...auditChannels(store),
    ...adaptation.channels,
    ...reclassifier.channels,
    ...dialogChannels(options.dialogs),
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
    modelReady: model.ready,
    async close() {
      await batches.stopAll();
      await reclassifier.stop();
      await model.dispose();
      store.close();
    },
  };
}
