/**
 * The clinical records of the workstation, defined once as zod schemas. The store returns these
 * shapes, the IPC contract validates them at the boundary, the renderer and the reports read them.
 * Ids are SQLite integer row ids; timestamps are ISO-8601 strings (UTC) so they survive JSON.
 */
import { z } from 'zod';

export const Id = z.number().int().positive();
export type Id = z.infer<typeof Id>;

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const IsoDateTime = z.string().datetime({ offset: true });
/** Free text typed by users: stored verbatim, bounded so a paste cannot bloat the database. */
const Text = (max: number) => z.string().max(max);

export const Sex = z.enum(['female', 'male', 'other', 'unknown']);

export const PatientInput = z.object({
  identifier: Text(64).min(1), // MRN or clinic identifier
  name: Text(200).min(1),
  dateOfBirth: IsoDate.nullable().default(null),
  sex: Sex.default('unknown'),
});
export type PatientInput = z.infer<typeof PatientInput>;
export const Patient = PatientInput.extend({ id: Id, createdAt: IsoDateTime, updatedAt: IsoDateTime });
export type Patient = z.infer<typeof Patient>;

export const VisitInput = z.object({
  patientId: Id,
  date: IsoDate,
  clinician: Text(200).default(''),
  notes: Text(10_000).default(''),
});
export type VisitInput = z.infer<typeof VisitInput>;
export const Visit = VisitInput.extend({ id: Id, createdAt: IsoDateTime });
export type Visit = z.infer<typeof Visit>;

export const LesionInput = z.object({
  patientId: Id,
  bodySite: Text(200).default(''),
  label: Text(200).default(''), // the clinician's name for it, e.g. "left scapula, 6 mm"
});
export type LesionInput = z.infer<typeof LesionInput>;
export const Lesion = LesionInput.extend({ id: Id, createdAt: IsoDateTime });
export type Lesion = z.infer<typeof Lesion>;

export const ImageRecord = z.object({
  id: Id,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  originalName: z.string(),
  originalPath: z.string(),
  capturedAt: IsoDateTime.nullable(),
  importedAt: IsoDateTime,
  visitId: Id.nullable(),
  lesionId: Id.nullable(),
  width: z.number().int().nonnegative(),
  height: z.number().int().nonnegative(),
  byteSize: z.number().int().nonnegative(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

export const Tier = z.enum(['low', 'review', 'high']);
export type Tier = z.infer<typeof Tier>;

/** The model's threshold presets: each is chosen on validation images (see the model card). */
export const OperatingPoint = z.enum(['sensitive', 'balanced', 'specific']);
export type OperatingPoint = z.infer<typeof OperatingPoint>;

/** onnxruntime execution providers; 'auto' takes the first accelerator this installation can start, else the CPU. */
export const ExecutionProvider = z.enum(['auto', 'cpu', 'cuda', 'dml', 'coreml']);
export type ExecutionProvider = z.infer<typeof ExecutionProvider>;

/** Why the input gate refused an image (electron/model/input-gate/): five image-quality checks and the model's out-of-distribution score. */
export const GateReasonCode = z.enum(['too_dark', 'overexposed', 'out_of_focus', 'too_small', 'uniform', 'out_of_distribution']);
export type GateReasonCode = z.infer<typeof GateReasonCode>;
export const GateReason = z.object({
  code: GateReasonCode,
  /** For people, with the measured value and the limit: "image too dark: luminance 4% of range ...". */
  message: z.string(),
  metric: z.string(),
  value: z.number(),
  threshold: z.number(),
});
export type GateReason = z.infer<typeof GateReason>;
export const GateScores = z.object({
  /** The quality measurements (lumaP95, laplacianVar, ...), in the units of the thresholds. */
  quality: z.record(z.string(), z.number()),
  /** The out-of-distribution scores; absent when the model ships no statistics for them. */
  ood: z
    .object({
      mahalanobis: z.number(),
      energy: z.number().optional(),
      branches: z.record(z.string(), z.object({ d2: z.number(), residual: z.number(), score: z.number() })),
    })
    .optional(),
});
/** The gate's judgement of one image, as the classifier produced it. */
export const GateResult = z.object({
  verdict: z.enum(['ok', 'refused']),
  reasons: z.array(GateReason),
  scores: GateScores,
  /** Which gate judged: code format, quality thresholds, the model's OOD statistics. */
  version: z.string(),
  /** False when the model has no OOD statistics: only the quality checks ran. */
  oodChecked: z.boolean(),
});
export type GateResult = z.infer<typeof GateResult>;
/** A clinician asked to see the probability of a refused image: who and when (audited). */
export const ShownAnyway = z.object({ by: z.string(), at: IsoDateTime });
export type ShownAnyway = z.infer<typeof ShownAnyway>;
export const PredictionGate = GateResult.extend({ shownAnyway: ShownAnyway.nullable() });
export type PredictionGate = z.infer<typeof PredictionGate>;

export const Prediction = z.object({
  id: Id,
  imageId: Id,
  modelVersion: z.string(),
  pMalignantRaw: z.number().min(0).max(1),
  pMalignant: z.number().min(0).max(1),
  threshold: z.number().min(0).max(1),
  label: z.enum(['benign', 'malignant']),
  tier: Tier,
  uncertainty: z.number().nonnegative(),
  backend: z.string(), // e.g. "onnxruntime:cpu + head:analytic-js"
  timingMs: z.number().nonnegative(),
  createdAt: IsoDateTime,
  /**
   * The input gate's verdict; null for a prediction made before the gate existed. A refused
   * image has no tier for the clinician ("Cannot assess") unless it was shown anyway, and then
   * it is outside the model's validated range (common/gate.ts says which applies).
   */
  gate: PredictionGate.nullable(),
});
export type Prediction = z.infer<typeof Prediction>;

export const OverlayKind = z.enum(['fused', 'inception_v3', 'mobilenet_v2']);
export const OverlayFormat = z.enum(['overlay', 'map']); // colour overlay on the original, or raw grey map
export const Overlay = z.object({
  id: Id,
  predictionId: Id,
  kind: OverlayKind,
  format: OverlayFormat,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type Overlay = z.infer<typeof Overlay>;

export const ReviewVerdict = z.enum(['agree', 'disagree']);
/** True for a YYYY-MM-DD that names a real day (the pattern alone lets 2026-02-30 through). */
function isCalendarDate(date: string): boolean {
  const t = Date.parse(`${date}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === date;
}
/**
 * A diagnosis confirmed after the review (not the clinician's impression). Only melanoma and
 * benign feed clinic adaptation; other_malignant is recorded but kept out, as in training.
 */
export const ConfirmedDiagnosis = z.enum(['melanoma', 'benign', 'other_malignant']);
export type ConfirmedDiagnosis = z.infer<typeof ConfirmedDiagnosis>;
/** What the confirmation rests on. */
export const ConfirmationBasis = z.enum(['histopathology', 'clinical_follow_up', 'expert_consensus']);
export type ConfirmationBasis = z.infer<typeof ConfirmationBasis>;
export const CONFIRMED_DIAGNOSIS_LABEL: Record<ConfirmedDiagnosis, string> = { melanoma: 'Melanoma', benign: 'Benign', other_malignant: 'Other malignancy' };
export const CONFIRMATION_BASIS_LABEL: Record<ConfirmationBasis, string> = {
  histopathology: 'Histopathology',
  clinical_follow_up: 'Clinical follow-up',
  expert_consensus: 'Expert consensus',
};
/** "melanoma (histopathology, 2026-11-30)", or null when the review carries no confirmed diagnosis. */
export function confirmationInWords(r: { readonly confirmedDiagnosis: ConfirmedDiagnosis | null; readonly confirmationBasis: ConfirmationBasis | null; readonly confirmedOn: string | null }): string | null {
  if (!r.confirmedDiagnosis) return null;
  const how = [r.confirmationBasis ? CONFIRMATION_BASIS_LABEL[r.confirmationBasis].toLowerCase() : null, r.confirmedOn].filter((x) => x !== null);
  return `${CONFIRMED_DIAGNOSIS_LABEL[r.confirmedDiagnosis].toLowerCase()}${how.length > 0 ? ` (${how.join(', ')})` : ''}`;
}
export const ReviewInput = z
  .object({
    imageId: Id,
    predictionId: Id.nullable().default(null),
    clinician: Text(200).min(1),
    verdict: ReviewVerdict,
    finalDiagnosis: Text(500).default(''),
    note: Text(10_000).default(''),
    /** The confirmed diagnosis, its basis and date: all three or none (null = not confirmed). */
    confirmedDiagnosis: ConfirmedDiagnosis.nullable().default(null),
    confirmationBasis: ConfirmationBasis.nullable().default(null),
    confirmedOn: IsoDate.nullable().default(null),
  })
  .superRefine((r, ctx) => {
    const given = [r.confirmedDiagnosis, r.confirmationBasis, r.confirmedOn].filter((v) => v !== null).length;
    if (given !== 0 && given !== 3) {
      ctx.addIssue({ code: 'custom', path: ['confirmedDiagnosis'], message: 'a confirmed diagnosis needs its basis and date (all three, or none)' });
    }
    if (r.confirmedOn !== null && !isCalendarDate(r.confirmedOn)) {
      ctx.addIssue({ code: 'custom', path: ['confirmedOn'], message: `${r.confirmedOn} is not a calendar date` });
    }
  });
export type ReviewInput = z.infer<typeof ReviewInput>;
export const Review = ReviewInput.extend({ id: Id, createdAt: IsoDateTime });
export type Review = z.infer<typeof Review>;

/**
 * How a clinic's local model differs from the shipped one (electron/model/adaptation/methods.ts):
 * recalibrate = Platt refit of the probabilities (ranking unchanged); members = re-weighted
 * late-fusion members; last_layer = the head's output layer refitted, pulled toward the shipped weights.
 */
export const AdaptationMethod = z.enum(['recalibrate', 'members', 'last_layer']);
export type AdaptationMethod = z.infer<typeof AdaptationMethod>;
/** Which adaptation to run: 'auto' lets cross-validation choose (possibly none), else that method if the cases allow it. */
export const MethodRequest = z.enum(['auto', ...AdaptationMethod.options]);
export type MethodRequest = z.infer<typeof MethodRequest>;

export const AuditEntry = z.object({
  id: Id,
  at: IsoDateTime,
  actor: z.string(),
  action: z.string(), // e.g. "patient.create", "prediction.create", "review.create"
  entity: z.string(), // table name
  entityId: z.number().int().nullable(),
  detail: z.string(), // JSON of what changed
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const BatchStatus = z.enum(['pending', 'running', 'done', 'cancelled', 'failed']);
export const BatchJob = z.object({
  id: Id,
  root: z.string(),
  patientId: Id.nullable(),
  visitId: Id.nullable(),
  modelVersion: z.string(),
  status: BatchStatus,
  total: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  createdAt: IsoDateTime,
  finishedAt: IsoDateTime.nullable(),
});
export type BatchJob = z.infer<typeof BatchJob>;

export const BatchItemStatus = z.enum(['pending', 'done', 'error']);
export const BatchItem = z.object({
  id: Id,
  jobId: Id,
  path: z.string(),
  status: BatchItemStatus,
  imageId: Id.nullable(),
  predictionId: Id.nullable(),
  error: z.string().nullable(),
});
export type BatchItem = z.infer<typeof BatchItem>;

export const BatchProgress = z.object({
  jobId: Id,
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  ratePerSec: z.number().nonnegative(),
  etaSec: z.number().nonnegative().nullable(),
  current: z.string().nullable(),
});
export type BatchProgress = z.infer<typeof BatchProgress>;

/** What a results list shows per row: one prediction joined with its image and patient. */
export const PredictionRow = z.object({
  prediction: Prediction,
  image: ImageRecord,
  patient: Patient.nullable(),
  visit: Visit.nullable(),
  review: Review.nullable(),
});
export type PredictionRow = z.infer<typeof PredictionRow>;

export const Settings = z.object({
  dataDir: z.string(),
  clinicName: Text(200).default(''),
  thresholdPreset: OperatingPoint.default('sensitive'),
  executionProvider: ExecutionProvider.default('auto'),
  acknowledgedIntendedUse: z.boolean().default(false),
});
export type Settings = z.infer<typeof Settings>;

// --- Queries and composite reads that the store answers. ---

export const PredictionSort = z.enum(['newest', 'oldest', 'risk_desc', 'risk_asc']);
export type PredictionSort = z.infer<typeof PredictionSort>;

export const PredictionListQuery = z.object({
  page: z.number().int().positive().default(1),
  pageSize: z.number().int().min(1).max(500).default(50),
  patientId: Id.optional(),
  visitId: Id.optional(),
  lesionId: Id.optional(),
  jobId: Id.optional(),
  /** A tier, or the images the gate refused and nobody asked to see anyway. */
  tier: z.union([Tier, z.literal('cannot_assess')]).optional(),
  sort: PredictionSort.default('newest'),
});
export type PredictionListQuery = z.input<typeof PredictionListQuery>;

/** One page of any list: `items` in order, `total` across all pages. */
export const pageOf = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int().nonnegative(), page: z.number().int().positive(), pageSize: z.number().int().positive() });
export const PredictionPage = pageOf(PredictionRow);
export type PredictionPage = z.infer<typeof PredictionPage>;

/** One image of a lesion's follow-up, with its latest prediction and review. */
export const LesionTimelineEntry = z.object({
  image: ImageRecord,
  visit: Visit.nullable(),
  prediction: Prediction.nullable(),
  overlays: z.array(Overlay),
  review: Review.nullable(),
});
export type LesionTimelineEntry = z.infer<typeof LesionTimelineEntry>;
