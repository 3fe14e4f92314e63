/**
 * THE contract between the renderer and the services: every channel's name, the schema of its
 * request and of its response, and the events the services push. The services host (handlers),
 * main, preload, renderer (api.ts) and the HTTP test bridge all import this one module, so a channel
 * cannot drift between them. It imports zod and the domain records only: it runs in the browser.
 */
import { z } from 'zod';
import {
  AdaptationMethod,
  AuditEntry,
  BatchJob,
  BatchProgress,
  BatchStatus,
  ExecutionProvider,
  Id,
  ImageRecord,
  Lesion,
  LesionInput,
  MethodRequest,
  OperatingPoint,
  Overlay,
  Patient,
  PatientInput,
  pageOf,
  Prediction,
  PredictionPage,
  PredictionSort,
  Review,
  ReviewInput,
  Settings,
  Tier,
  Visit,
  VisitInput,
} from './domain.ts';

/**
 * A patch of an input record: every field optional, and no defaults filled in (a default would
 * silently overwrite what the clinician did not touch).
 */
function patchOf<S extends z.ZodRawShape>(input: z.ZodObject<S>) {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(input.shape)) {
    const bare = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : (field as z.ZodType);
    shape[key] = bare.optional();
  }
  return z.strictObject(shape) as unknown as z.ZodObject<{ [K in keyof S]: z.ZodOptional<z.ZodType<z.output<S[K]>, z.input<S[K]>>> }>;
}

const Empty = z.strictObject({});
const ById = z.strictObject({ id: Id });

/** An absolute path on the clinician's machine (POSIX, drive letter or UNC). */
const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(p), 'must be an absolute folder path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL characters');

/** Image bytes travel as base64 so the same payload crosses Electron IPC and JSON over HTTP. */
export const MAX_IMPORT_FILE_BYTES = 40 * 1024 * 1024;
export const MAX_IMPORT_FILES = 100;
const ImportFile = z.strictObject({
  name: z.string().min(1).max(255),
  /** Where the file came from, when the shell can tell (recorded for provenance, never read). */
  path: z.string().max(4096).nullable().default(null),
  dataBase64: z.base64().max(Math.ceil(MAX_IMPORT_FILE_BYTES / 3) * 4, 'file is larger than 40 MB'),
});

// ---------------------------------------------------------------- composite responses

/** One tile of a visit's grid: the image with its newest prediction and newest review. */
export const ImageSummary = z.object({
  image: ImageRecord,
  prediction: Prediction.nullable(),
  review: Review.nullable(),
  lesion: Lesion.nullable(),
});
export type ImageSummary = z.infer<typeof ImageSummary>;

export const ImageDetail = z.object({
  image: ImageRecord,
  prediction: Prediction.nullable(),
  overlays: z.array(Overlay),
  reviews: z.array(Review),
  visit: Visit.nullable(),
  lesion: Lesion.nullable(),
  patient: Patient.nullable(),
});
export type ImageDetail = z.infer<typeof ImageDetail>;

export const VisitSummary = Visit.extend({
  imageCount: z.number().int().nonnegative(),
  /** Highest calibrated probability among the visit's images, null when none is classified. */
  maxPMalignant: z.number().min(0).max(1).nullable(),
  highCount: z.number().int().nonnegative(),
  /** Images the input gate refused (no tier) and nobody asked to see anyway; counted apart from the tiers. */
  cannotAssessCount: z.number().int().nonnegative(),
});
export type VisitSummary = z.infer<typeof VisitSummary>;

export const FollowUpPoint = z.object({
  visit: Visit.nullable(),
  image: ImageRecord,
  prediction: Prediction.nullable(),
  review: Review.nullable(),
});
export const FollowUp = z.object({
  lesion: Lesion,
  patient: Patient,
  /** Oldest first: visit date, else capture time, else import time. */
  points: z.array(FollowUpPoint),
});
export type FollowUp = z.infer<typeof FollowUp>;

export const ImportFailure = z.object({ name: z.string(), error: z.string() });
export const ImportResult = z.object({ imported: z.array(ImageSummary), failed: z.array(ImportFailure) });
export type ImportResult = z.infer<typeof ImportResult>;

export const BatchFailure = z.object({ path: z.string(), error: z.string() });
export const BatchDetail = z.object({
  job: BatchJob,
  failures: z.array(BatchFailure),
  /** The job's classified images per tier, and those the input gate refused ("Cannot assess"), counted apart. */
  counts: z.object({ high: z.number().int().nonnegative(), review: z.number().int().nonnegative(), low: z.number().int().nonnegative(), cannot_assess: z.number().int().nonnegative() }),
});
export type BatchDetail = z.infer<typeof BatchDetail>;

export const ModelStatus = z.enum(['ready', 'loading', 'unavailable']);
export const AppInfo = z.object({
  appVersion: z.string(),
  modelVersion: z.string().nullable(),
  modelStatus: ModelStatus,
  modelError: z.string().nullable(),
  intendedUse: z.string(),
  /** Whether the shell can show native dialogs (folder picker, save-as); the test bridge cannot. */
  nativeDialogs: z.boolean(),
  /** Validation sensitivity/specificity of each threshold preset, when the loaded model has presets. */
  operatingPoints: z.record(OperatingPoint, z.object({ threshold: z.number(), valSensitivity: z.number(), valSpecificity: z.number() })).optional(),
  /** The execution providers this installation can start (probed), the only ones Settings offers. */
  executionProviders: z.array(ExecutionProvider).min(1),
  /** Something the clinician should know about the loaded model, e.g. that a forced GPU fell back to the CPU. */
  modelNotice: z.string().nullable(),
  /** The clinic's adopted local model could not be used (e.g. it was modified), so the shipped model runs: why. */
  localModelNotice: z.string().nullable().default(null),
});
export type AppInfo = z.infer<typeof AppInfo>;

// ---------------------------------------------------------------- clinic adaptation

export { AdaptationMethod, MethodRequest };

const Share = z.number().min(0).max(1);
const Interval = z.tuple([z.number(), z.number()]);

/** One model's cross-validated figures on the clinic's confirmed cases (out-of-fold predictions). */
export const ModelFigures = z.object({
  auc: z.number().min(0).max(1),
  /** 95% bootstrap interval over patients (else lesions, else images). */
  aucCi: Interval,
  /** The operating point re-chosen on out-of-fold predictions with the shipped model's rules. */
  threshold: Share,
  sensitivity: Share,
  specificity: Share,
  brier: z.number().min(0).max(1),
  /** Expected calibration error. */
  ece: z.number().min(0).max(1),
  /** Share of cases in each tier, cut-offs re-chosen with the shipped model's rules. */
  tiers: z.object({ low: Share, review: Share, high: Share }),
  /** ROC curve of the pooled out-of-fold predictions, (0,0) to (1,1). */
  roc: z.array(z.object({ fpr: Share, tpr: Share })).max(5000),
});
export type ModelFigures = z.infer<typeof ModelFigures>;

export const MethodFigures = ModelFigures.extend({
  method: AdaptationMethod,
  /** AUC of this method minus the shipped model's on the same folds, with its paired interval. */
  deltaAuc: z.number(),
  deltaAucCi: Interval,
});
export type MethodFigures = z.infer<typeof MethodFigures>;

/** What a clinic's confirmed cases say about the shipped model and each adaptation method. */
export const AdaptationComparison = z.object({
  base: z.object({ version: z.string() }),
  cases: z.object({
    total: z.number().int().nonnegative(),
    melanoma: z.number().int().nonnegative(),
    benign: z.number().int().nonnegative(),
    /** Confirmed cases left out, with why (other malignant diagnoses, no stored features, ...). */
    excluded: z.array(z.object({ reason: z.string(), count: z.number().int().positive() })),
  }),
  validation: z.object({ folds: z.number().int().positive(), repeats: z.number().int().positive(), groupedBy: z.string() }),
  shipped: ModelFigures,
  methods: z.array(MethodFigures),
  /** The method of the candidate (chosen, or requested), or null: keep the shipped model. */
  chosen: AdaptationMethod.nullable(),
  /** 'auto' when cross-validation chose; else the method the clinician asked for, which `chosen` then is. */
  requested: MethodRequest.default('auto'),
  reasons: z.array(z.string()),
  /** Fewer than `minimumPerClass` melanomas or benign lesions: recalibration at most. */
  tooFewCases: z.boolean(),
  minimumPerClass: z.number().int().positive(),
  /** The local version written for this choice, not adopted; null when the shipped model stays. */
  candidate: z.string().nullable(),
  createdAt: z.string(),
});
export type AdaptationComparison = z.infer<typeof AdaptationComparison>;

export const ModelVersion = z.object({
  version: z.string(),
  kind: z.enum(['shipped', 'local']),
  /** The version the clinic chose (the shipped one when no local version is adopted). */
  active: z.boolean(),
  /** The version the classifier runs now (differs from active when a local model failed its check). */
  inUse: z.boolean(),
  createdAt: z.string().nullable(),
  adoptedBy: z.string().nullable(),
  adoptedAt: z.string().nullable(),
  /** Local versions: how they were made and what they were compared on. */
  comparison: AdaptationComparison.nullable(),
});
export type ModelVersion = z.infer<typeof ModelVersion>;

/** Images whose current prediction came from another model than the one in use. */
export const ReclassifyState = z.object({
  /** Images without a prediction by the model in use. */
  pending: z.number().int().nonnegative(),
  running: z.boolean(),
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  modelVersion: z.string().nullable(),
  error: z.string().nullable(),
});
export type ReclassifyState = z.infer<typeof ReclassifyState>;

export const ModelVersions = z.object({
  /** Newest first after the shipped model. */
  versions: z.array(ModelVersion),
  /** E.g. that the adopted local model failed its integrity check and the shipped model runs instead. */
  notice: z.string().nullable(),
  reclassify: ReclassifyState,
});
export type ModelVersions = z.infer<typeof ModelVersions>;

/** Who acts, in the audit log: the clinician's name as typed. */
const Clinician = z.string().trim().min(1).max(200);

export const ReportKind = z.enum(['visit', 'batch', 'lesion']);
export const ReportResult = z.object({
  /** Where the PDF was written; null when the clinician cancelled the save dialog. */
  path: z.string().nullable(),
  byteSize: z.number().int().nonnegative(),
  pages: z.number().int().nonnegative(),
});
export type ReportResult = z.infer<typeof ReportResult>;

export const SettingsPatch = patchOf(Settings);

// ---------------------------------------------------------------- channels

function channel<Req extends z.ZodType, Res extends z.ZodType>(request: Req, response: Res) {
  return { request, response };
}

export const channels = {
  'app.info': channel(Empty, AppInfo),
  'settings.get': channel(Empty, Settings),
  'settings.update': channel(SettingsPatch, Settings),

  'patients.list': channel(
    z.strictObject({
      query: z.string().max(200).default(''),
      page: z.number().int().min(1).default(1),
      pageSize: z.number().int().min(1).max(500).default(100),
    }),
    pageOf(Patient),
  ),
  'patients.get': channel(ById, Patient),
  'patients.create': channel(PatientInput.strict(), Patient),
  'patients.update': channel(z.strictObject({ id: Id, patch: patchOf(PatientInput) }), Patient),

  'visits.list': channel(z.strictObject({ patientId: Id }), z.array(VisitSummary)),
  'visits.get': channel(ById, Visit),
  'visits.create': channel(VisitInput.strict(), Visit),
  'visits.update': channel(z.strictObject({ id: Id, patch: patchOf(VisitInput.omit({ patientId: true })) }), Visit),

  'lesions.list': channel(z.strictObject({ patientId: Id }), z.array(Lesion)),
  'lesions.create': channel(LesionInput.strict(), Lesion),
  'lesions.update': channel(z.strictObject({ id: Id, patch: patchOf(LesionInput.omit({ patientId: true })) }), Lesion),
  'lesions.followUp': channel(ById, FollowUp),

  'images.list': channel(z.strictObject({ visitId: Id }), z.array(ImageSummary)),
  'images.get': channel(ById, ImageDetail),
  'images.import': channel(
    z.strictObject({
      visitId: Id,
      lesionId: Id.nullable().default(null),
      files: z.array(ImportFile).min(1).max(MAX_IMPORT_FILES),
    }),
    ImportResult,
  ),
  'images.assignLesion': channel(z.strictObject({ imageId: Id, lesionId: Id.nullable() }), ImageSummary),

  'reviews.create': channel(ReviewInput.strict(), Review),

  /**
   * "Show anyway": a clinician asks for the probability of an image the input gate refused. The
   * store records who and when (audited); the image then counts in its tier, marked as outside
   * the model's validated range.
   */
  'predictions.showAnyway': channel(z.strictObject({ id: Id, clinician: z.string().trim().min(1).max(200) }), Prediction),

  /** The worklist: every classified image across patients, riskiest first by default. */
  'predictions.list': channel(
    z.strictObject({
      page: z.number().int().min(1).default(1),
      pageSize: z.number().int().min(1).max(200).default(50),
      /** A tier, or 'cannot_assess': the images the input gate refused that nobody asked to see. */
      tier: z.union([Tier, z.literal('cannot_assess')]).nullable().default(null),
      sort: PredictionSort.default('risk_desc'),
    }),
    PredictionPage,
  ),

  'batch.start': channel(
    z.strictObject({ root: AbsolutePath, patientId: Id.nullable().default(null), visitId: Id.nullable().default(null) }),
    BatchJob,
  ),
  'batch.cancel': channel(ById, z.object({ cancelled: z.boolean() })),
  'batch.get': channel(ById, BatchDetail),
  'batch.list': channel(z.strictObject({ visitId: Id.nullable().default(null), limit: z.number().int().min(1).max(200).default(20) }), z.array(BatchJob)),

  'reports.export': channel(z.strictObject({ kind: ReportKind, id: Id }), ReportResult),
  /** Opens a report exported in this session with the system's PDF viewer (the app only). */
  'reports.open': channel(z.strictObject({ path: z.string().min(1).max(4096) }), z.object({ opened: z.boolean() })),

  'audit.list': channel(
    z.strictObject({
      entity: z.string().max(64).nullable().default(null),
      entityId: Id.nullable().default(null),
      limit: z.number().int().min(1).max(500).default(100),
      /** Entries to skip, newest first: paging for the audit screen. */
      offset: z.number().int().min(0).max(1_000_000_000).default(0),
    }),
    z.array(AuditEntry),
  ),

  /** The shipped model and the clinic's local versions, which one is in use, and images to reclassify. */
  'model.versions': channel(Empty, ModelVersions),
  /**
   * Cross-validates the adaptation methods on the store's confirmed reviews (features backfilled
   * first) and writes the chosen method as a local version, not adopted (its creation is audited
   * under the clinician's name). `method` 'auto' (default) lets cross-validation choose, which may be
   * none; a method named is run if the case counts allow it (e.g. recalibration with too few
   * melanomas), else refused as invalid_input with the reason. Progress: `adaptation.progress`.
   */
  'model.adaptation.run': channel(z.strictObject({ clinician: Clinician, method: MethodRequest.default('auto') }), AdaptationComparison),
  /** Puts a local version in use: only with the clinician's explicit confirmation and name (audited). */
  'model.adopt': channel(z.strictObject({ version: z.string().min(1).max(200), clinician: Clinician, confirmed: z.literal(true) }), ModelVersions),
  /** Returns to the shipped model (audited). */
  'model.rollback': channel(z.strictObject({ clinician: Clinician }), ModelVersions),
  /** Classifies again, with the model in use, every image it has not classified. Progress: `reclassify.progress`. */
  'model.reclassify.start': channel(Empty, ReclassifyState),
  'model.reclassify.cancel': channel(Empty, ReclassifyState),

  /** Native folder picker; answers null where the shell has none (the test bridge). */
  'dialog.pickFolder': channel(Empty, z.object({ path: z.string().nullable() })),
} as const;

export type Channels = typeof channels;
export type Channel = keyof Channels;
/** What a caller sends (defaults may be omitted). */
export type RequestOf<C extends Channel> = z.input<Channels[C]['request']>;
/** What a handler receives after validation (defaults filled in). */
export type ParsedRequestOf<C extends Channel> = z.output<Channels[C]['request']>;
export type ResponseOf<C extends Channel> = z.output<Channels[C]['response']>;
export const channelNames = Object.keys(channels) as Channel[];

export function isChannel(name: unknown): name is Channel {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(channels, name);
}

// ---------------------------------------------------------------- events (main → renderer)

export const BatchFinished = z.object({
  jobId: Id,
  status: BatchStatus,
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  error: z.string().nullable(),
});
export type BatchFinished = z.infer<typeof BatchFinished>;

export const events = {
  'batch.progress': BatchProgress,
  'batch.finished': BatchFinished,
  'model.status': z.object({ status: ModelStatus, modelVersion: z.string().nullable(), error: z.string().nullable() }),
  'adaptation.progress': z.object({
    stage: z.enum(['backfill', 'cross-validation', 'fit', 'write']),
    done: z.number().int().nonnegative(),
    total: z.number().int().nonnegative(),
  }),
  'reclassify.progress': ReclassifyState,
} as const;
export type Events = typeof events;
export type EventName = keyof Events;
export type EventOf<E extends EventName> = z.output<Events[E]>;
export const eventNames = Object.keys(events) as EventName[];

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

// ---------------------------------------------------------------- result envelope

export const ApiErrorCode = z.enum([
  'invalid_request', // the payload failed the contract's schema
  'unknown_channel',
  'not_found',
  'invalid_input', // a file the services could not use (not an image, truncated, ...)
  'conflict',
  'unavailable', // e.g. the model could not be loaded
  'internal',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

export const ApiIssue = z.object({ path: z.string(), message: z.string() });
export const ApiError = z.object({ code: ApiErrorCode, message: z.string(), issues: z.array(ApiIssue).optional() });
export type ApiError = z.infer<typeof ApiError>;

/** Every call answers an envelope, never a thrown transport error, so the error's code survives IPC. */
export type ApiResult<T> = { ok: true; data: T } | { ok: false; error: ApiError };
export const ApiFailure = z.object({ ok: z.literal(false), error: ApiError });

/** The single IPC channel Electron uses; the contract's channel name travels inside. */
export const IPC_INVOKE = 'dermafuse:invoke';
export const IPC_EVENT = 'dermafuse:event';

/** The surface the preload exposes as `window.dermafuse` (and the HTTP client mimics). */
export interface DermafuseBridge {
  invoke(channel: Channel, payload: unknown): Promise<ApiResult<unknown>>;
  /** Returns an unsubscribe function. */
  on(event: EventName, listener: (payload: unknown) => void): () => void;
  /** Drag-and-dropped files' paths in the app (webUtils); absent in a plain browser. */
  pathForFile?(file: File): string;
}

export const INTENDED_USE =
  'dermafuse is decision support for trained clinicians examining dermoscopy images. It estimates the ' +
  'probability that a pigmented lesion is melanoma and shows which regions drove the estimate. It is not ' +
  'a diagnosis and not a certified medical device. Every result must be judged by a clinician together ' +
  'with the history, the examination and, where indicated, histopathology. It was trained on public ' +
  'research images and may perform worse on images from other devices, skin types or body sites.';
