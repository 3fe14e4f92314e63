/**
 * THE contract between the renderer and the services: every channel's name, the schema of its
 * request and of its response, and the events the services push. The services host (handlers),
 * main, preload, renderer (api.ts) and the HTTP test bridge all import this one module, so a channel
 * cannot drift between them. It imports zod and the domain records only: it runs in the browser.
 */
import { z } from 'zod';
import {
  AuditEntry,
  BatchJob,
  BatchProgress,
  BatchStatus,
  ExecutionProvider,
  Id,
  ImageRecord,
  Lesion,
  LesionInput,
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
});
export type AppInfo = z.infer<typeof AppInfo>;

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
