/**
 * What the report documents print: plain records from the domain plus image bytes. No database
 * here; `from-store.ts` builds these from the store, tests build them by hand.
 */
import type {
  BatchItem,
  BatchJob,
  ImageRecord,
  Lesion,
  Patient,
  Prediction,
  Review,
  Visit,
} from '#common/domain';

/**
 * Image bytes (JPEG, PNG, WebP, TIFF), or a loader called when the document needs them, so a
 * 200-image batch never holds every original in memory at once. Null: nothing to show.
 */
export type ImageSource = Buffer | (() => Promise<Buffer | null>) | null;

export interface ReportContext {
  /** Printed in every page header; from the clinic-name setting. */
  readonly clinicName: string;
  readonly generatedAt: Date;
  /** e.g. "dermafuse fusion (InceptionV3 + MobileNetV2)". */
  readonly modelName: string;
  /** The shipped model version in force when the report was made. */
  readonly modelVersion: string;
  /** Tier cut-offs of that model, when known, to explain what the tiers mean. */
  readonly tierCutoffs?: { readonly review: number; readonly high: number };
  /** IANA time zone for printed times (e.g. "Europe/Warsaw"); default UTC. */
  readonly timeZone?: string;
  /** Folder with the report fonts; defaults to resources/fonts. */
  readonly fontsDir?: string;
}

/** One image with what the workstation found about it. */
export interface ReportImage {
  readonly image: ImageRecord;
  readonly prediction: Prediction | null;
  readonly review: Review | null;
  readonly original: ImageSource;
  /** The fused Grad-CAM overlay on the original geometry. */
  readonly overlay: ImageSource;
  readonly lesion?: Lesion | null;
}

export interface VisitReportData {
  readonly context: ReportContext;
  readonly patient: Patient;
  readonly visit: Visit;
  readonly images: readonly ReportImage[];
}

/** One file of a batch: classified, failed (error set) or not reached yet (pending). */
export interface BatchReportRow {
  readonly item: BatchItem;
  readonly image: ImageRecord | null;
  readonly prediction: Prediction | null;
  readonly review: Review | null;
  readonly original: ImageSource;
  readonly overlay: ImageSource;
}

export interface BatchReportData {
  readonly context: ReportContext;
  readonly job: BatchJob;
  readonly patient: Patient | null;
  readonly visit: Visit | null;
  readonly rows: readonly BatchReportRow[];
}

/** One image of the lesion, with the visit it was taken at (when it belongs to one). */
export interface LesionReportEntry extends ReportImage {
  readonly visit: Visit | null;
}

export interface LesionReportData {
  readonly context: ReportContext;
  readonly patient: Patient;
  readonly lesion: Lesion;
  readonly entries: readonly LesionReportEntry[];
}

export const INTENDED_USE =
  'Intended use: dermafuse is decision support for clinicians trained in dermoscopy. Its output is ' +
  'not a diagnosis and must not replace clinical judgement or histopathology. dermafuse is not a ' +
  'certified medical device.';

export const INTENDED_USE_SHORT = 'Decision support only: not a diagnosis, not a certified medical device.';
