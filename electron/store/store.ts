import type Database from 'better-sqlite3';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { LesionTimelineEntry, PredictionListQuery, PredictionPage } from '#common/domain';
import { AuditLog } from './audit.ts';
import type { RepoContext } from './context.ts';
import { DATABASE_FILE_NAME, IMAGES_DIR_NAME, OVERLAYS_DIR_NAME, resolveDataDir } from './data-dir.ts';
import { openDatabase } from './database.ts';
import { ContentStore } from './image-store.ts';
import { BatchesRepo } from './repositories/batches.ts';
import { confirmedCases, type ConfirmedCase } from './repositories/confirmed-cases.ts';
import { countImagesWithoutPrediction, imagesWithoutPrediction, type UnpredictedImage } from './repositories/unpredicted-images.ts';
import { FeaturesRepo } from './repositories/features.ts';
import { ImagesRepo } from './repositories/images.ts';
import { LesionsRepo } from './repositories/lesions.ts';
import { OverlaysRepo } from './repositories/overlays.ts';
import { PatientsRepo } from './repositories/patients.ts';
import { PredictionsRepo } from './repositories/predictions.ts';
import { ReviewsRepo } from './repositories/reviews.ts';
import { SettingsRepo } from './repositories/settings.ts';
import { lesionTimeline } from './repositories/timeline.ts';
import { VisitsRepo } from './repositories/visits.ts';

export type OpenStoreOptions = (
  | {
      /** A database file; images and overlays go to `images/` and `overlays/` beside it unless told otherwise. */
      readonly file: string;
      readonly imagesDir?: string;
      readonly overlaysDir?: string;
    }
  | {
      /** The data folder (from the user's setting); omitted or null means the platform default. */
      readonly dataDir?: string | null;
    }
) & {
  /** Who the audit log names for changes made through this store; setActor() changes it later. */
  readonly actor?: string;
};

export interface Store {
  readonly db: Database.Database;
  readonly file: string;
  readonly dataDir: string;
  readonly imagesDir: string;
  readonly overlaysDir: string;
  /** Content-addressed image files. */
  readonly blobs: ContentStore;
  readonly patients: PatientsRepo;
  readonly visits: VisitsRepo;
  readonly lesions: LesionsRepo;
  readonly images: ImagesRepo;
  readonly predictions: PredictionsRepo;
  readonly overlays: OverlaysRepo;
  readonly reviews: ReviewsRepo;
  readonly audit: AuditLog;
  readonly settings: SettingsRepo;
  readonly batches: BatchesRepo;
  /** The pooled feature vectors kept with each prediction (clinic adaptation). */
  readonly features: FeaturesRepo;
  /** Each image's newest confirmed diagnosis with its prediction by `modelVersion` (clinic adaptation). */
  confirmedCases(modelVersion: string): ConfirmedCase[];
  /** How many images some model classified but `modelVersion` has not (they await reclassification after a model change). */
  countImagesWithoutPrediction(modelVersion: string): number;
  /** The next `limit` such images after image id `afterId`, in id order. */
  imagesWithoutPrediction(modelVersion: string, afterId: number, limit: number): UnpredictedImage[];
  /** A page of predictions with image, patient, visit and latest review. */
  listPredictions(query?: PredictionListQuery): PredictionPage;
  /** A lesion's images across visits (oldest first) with their latest prediction, overlays and review. */
  lesionTimeline(lesionId: number): LesionTimelineEntry[];
  /** Where the stored bytes of an image live (for the app's image protocol); throws on a malformed hash. */
  imagePath(sha256: string): string;
  /**
   * Which model's predictions the reads show (an image's prediction, the worklist, timelines, visit
   * summaries): the model in use, set by the app when its classifier (re)loads. An image this model
   * has not classified shows its newest prediction by any model; null (the default) always shows the newest.
   */
  preferModelVersion(version: string | null): void;
  preferredModelVersion(): string | null;
  /** Runs fn in one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T;
  actor(): string;
  setActor(actor: string): void;
  close(): void;
}

function defaultActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Opens (creating and migrating as needed) the clinical store. */
export function openStore(options: OpenStoreOptions = {}): Store {
  let file: string;
  let dataDir: string;
  let imagesDir: string;
  let overlaysDir: string;
  if ('file' in options) {
    file = options.file === ':memory:' ? ':memory:' : resolve(options.file);
    if (file === ':memory:' && !options.imagesDir) throw new Error('an in-memory store needs an imagesDir');
    dataDir = file === ':memory:' ? resolve(options.imagesDir as string, '..') : dirname(file);
    imagesDir = resolve(options.imagesDir ?? join(dataDir, IMAGES_DIR_NAME));
    overlaysDir = resolve(options.overlaysDir ?? join(dirname(imagesDir), OVERLAYS_DIR_NAME));
  } else {
    dataDir = resolve(resolveDataDir(options.dataDir));
    file = join(dataDir, DATABASE_FILE_NAME);
    imagesDir = join(dataDir, IMAGES_DIR_NAME);
    overlaysDir = join(dataDir, OVERLAYS_DIR_NAME);
  }

  const db = openDatabase(file);
  let actor = options.actor ?? defaultActor();
  let preferredModel: string | null = null;
  const audit = new AuditLog(db);
  const ctx: RepoContext = { db, audit, actor: () => actor, preferredModelVersion: () => preferredModel };
  const blobs = new ContentStore(imagesDir);
  const overlays = new OverlaysRepo(ctx, new ContentStore(overlaysDir));
  const predictions = new PredictionsRepo(ctx, overlays);

  return {
    db,
    file,
    dataDir,
    imagesDir,
    overlaysDir,
    blobs,
    patients: new PatientsRepo(ctx),
    visits: new VisitsRepo(ctx),
    lesions: new LesionsRepo(ctx),
    images: new ImagesRepo(ctx, blobs),
    predictions,
    overlays,
    reviews: new ReviewsRepo(ctx),
    audit,
    settings: new SettingsRepo(ctx, dataDir),
    batches: new BatchesRepo(ctx),
    features: new FeaturesRepo(ctx),
    confirmedCases: (modelVersion) => confirmedCases(ctx, modelVersion),
    countImagesWithoutPrediction: (modelVersion) => countImagesWithoutPrediction(db, modelVersion),
    imagesWithoutPrediction: (modelVersion, afterId, limit) => imagesWithoutPrediction(db, modelVersion, afterId, limit),
    listPredictions: (query) => predictions.list(query),
    lesionTimeline: (lesionId) => lesionTimeline(ctx, lesionId),
    imagePath: (sha256) => blobs.pathOf(sha256),
    preferModelVersion: (version) => {
      preferredModel = version;
    },
    preferredModelVersion: () => preferredModel,
    transaction: (fn) => db.transaction(fn)(),
    actor: () => actor,
    setActor: (next) => {
      if (!next.trim()) throw new Error('actor must not be empty');
      actor = next;
    },
    close: () => {
      if (!db.open) return;
      // Lets SQLite refresh its planner statistics where they went stale; cheap when nothing did.
      db.pragma('optimize');
      db.close();
    },
  };
}
