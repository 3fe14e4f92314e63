/** The clinical store: one import for the app, CLI, batch and reports. */
export { openStore, type Store, type OpenStoreOptions } from './store.ts';
export { StoreError, type StoreErrorCode } from './errors.ts';
export { defaultDataDir, resolveDataDir, DATABASE_FILE_NAME } from './data-dir.ts';
export { ContentStore, ImageStore } from './image-store.ts';
export type { Page, PageQuery } from './paging.ts';
export type { ImagePlacement, ImageFile } from './repositories/images.ts';
export { predictionInput, type PredictionInput } from './repositories/predictions.ts';
export { overlaysFromCams, type OverlayInput, type StoredOverlay } from './repositories/overlays.ts';
export type { PatientListQuery } from './repositories/patients.ts';
export type { NewJob, ScannedPath } from './repositories/batches.ts';
export type { MissingFeatures } from './repositories/features.ts';
export type { ConfirmedCase } from './repositories/confirmed-cases.ts';
export { schemaVersion, migrate } from './migrate.ts';
export { persistClassification, type IncomingImage, type PredictionSource, type PersistTarget } from './persist.ts';
