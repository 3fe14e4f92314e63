/**
 * Builds report data from the clinical store. The documents never see the database: this is the
 * one place that knows which records a report needs and where their bytes live. Image bytes are
 * handed over as loaders, so a 200-image batch is read one picture at a time.
 */
import { readFile } from 'node:fs/promises';
import type { ImageRecord, Prediction } from '#common/domain';
import { loadManifest, shippedModelDir, type ModelManifest } from '../model/manifest.ts';
import type { Store } from '../store/index.ts';
import { renderBatchReport } from './batch-report.ts';
import type { RenderedReport } from './document.ts';
import { renderLesionReport } from './lesion-report.ts';
import { renderVisitReport } from './visit-report.ts';
import type {
  BatchReportData,
  BatchReportRow,
  ImageSource,
  LesionReportData,
  ReportContext,
  ReportImage,
  VisitReportData,
} from './types.ts';

export type ReportErrorCode = 'not_found';

export class ReportError extends Error {
  override readonly name = 'ReportError';
  constructor(
    readonly code: ReportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface StoreReportOptions {
  /** Overrides the clinic-name setting. */
  readonly clinicName?: string;
  readonly generatedAt?: Date;
  readonly fontsDir?: string;
  /** IANA zone for printed times; default: this machine's zone. */
  readonly timeZone?: string;
  /** Model folder whose manifest names the version and tiers in force; default: the shipped model. */
  readonly modelDir?: string;
}

const BACKBONE_NAMES = { inception: 'InceptionV3', mobilenet: 'MobileNetV2' } as const;

/** The model's name as printed: what it looks with, from its manifest (a single-branch model is no fusion). */
export function modelNameOf(manifest: Pick<ModelManifest, 'head'>): string {
  const names = manifest.head.branches.map((b) => BACKBONE_NAMES[b]);
  return names.length > 1 ? `dermafuse fusion (${names.join(' + ')})` : `dermafuse (${names[0]})`;
}

/**
 * The context printed on every page. The model in force comes from the shipped manifest; without
 * one (a development checkout before a model ships) the version of the report's own predictions
 * is printed instead, so the page never claims a model it cannot name.
 */
export function reportContextFor(store: Store, options: StoreReportOptions, predictions: readonly (Prediction | null)[]): ReportContext {
  let modelVersion: string | null = null;
  let modelName = 'dermafuse';
  let tierCutoffs: ReportContext['tierCutoffs'];
  try {
    const manifest = loadManifest(options.modelDir ?? shippedModelDir());
    modelVersion = manifest.version;
    modelName = modelNameOf(manifest);
    tierCutoffs = { review: manifest.tiers.reviewAt, high: manifest.tiers.highAt };
  } catch {
    const versions = [...new Set(predictions.filter((p): p is Prediction => p !== null).map((p) => p.modelVersion))];
    modelVersion = versions.length ? versions.join(', ') : 'unknown';
  }
  return {
    clinicName: options.clinicName ?? store.settings.getAll().clinicName,
    generatedAt: options.generatedAt ?? new Date(),
    timeZone: options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
    modelName,
    modelVersion,
    ...(tierCutoffs ? { tierCutoffs } : {}),
    ...(options.fontsDir ? { fontsDir: options.fontsDir } : {}),
  };
}

function originalOf(store: Store, image: ImageRecord): ImageSource {
  return async () => {
    try {
      return await readFile(store.imagePath(image.sha256));
    } catch {
      return null; // the page says "original image unavailable"
    }
  };
}

function overlayOf(store: Store, prediction: Prediction | null): ImageSource {
  if (!prediction) return null;
  return async () => store.overlays.find(prediction.id, 'fused', 'overlay')?.png ?? null;
}

function reportImage(store: Store, image: ImageRecord): ReportImage {
  const prediction = store.predictions.latestForImage(image.id);
  return {
    image,
    prediction,
    review: store.reviews.latestForImage(image.id),
    original: originalOf(store, image),
    overlay: overlayOf(store, prediction),
    lesion: image.lesionId === null ? null : store.lesions.get(image.lesionId),
  };
}

export async function visitReportData(store: Store, visitId: number, options: StoreReportOptions = {}): Promise<VisitReportData> {
  const visit = store.visits.get(visitId);
  if (!visit) throw new ReportError('not_found', `visit ${visitId} does not exist`);
  const patient = store.patients.get(visit.patientId);
  if (!patient) throw new ReportError('not_found', `patient ${visit.patientId} of visit ${visitId} does not exist`);
  const images = store.images.listForVisit(visitId).map((img) => reportImage(store, img));
  return { context: reportContextFor(store, options, images.map((i) => i.prediction)), patient, visit, images };
}

export async function batchReportData(store: Store, jobId: number, options: StoreReportOptions = {}): Promise<BatchReportData> {
  const job = store.batches.getJob(jobId);
  if (!job) throw new ReportError('not_found', `batch ${jobId} does not exist`);
  const rows: BatchReportRow[] = [];
  for (let page = 1; ; page++) {
    const { items, total } = store.batches.listItems(jobId, { page, pageSize: 500 });
    for (const item of items) {
      const image = item.imageId === null ? null : store.images.get(item.imageId);
      const prediction = item.predictionId === null ? null : store.predictions.get(item.predictionId);
      rows.push({
        item,
        image,
        prediction,
        review: image ? store.reviews.latestForImage(image.id) : null,
        original: image ? originalOf(store, image) : null,
        overlay: overlayOf(store, prediction),
      });
    }
    if (items.length === 0 || rows.length >= total) break;
  }
  const patient = job.patientId === null ? null : store.patients.get(job.patientId);
  const visit = job.visitId === null ? null : store.visits.get(job.visitId);
  const context = reportContextFor(store, options, rows.map((r) => r.prediction));
  return { context, job, patient, visit, rows };
}

export async function lesionReportData(store: Store, lesionId: number, options: StoreReportOptions = {}): Promise<LesionReportData> {
  const lesion = store.lesions.get(lesionId);
  if (!lesion) throw new ReportError('not_found', `lesion ${lesionId} does not exist`);
  const patient = store.patients.get(lesion.patientId);
  if (!patient) throw new ReportError('not_found', `patient ${lesion.patientId} of lesion ${lesionId} does not exist`);
  const entries = store.lesionTimeline(lesionId).map((e) => ({
    image: e.image,
    visit: e.visit,
    prediction: e.prediction,
    review: e.review,
    original: originalOf(store, e.image),
    overlay: overlayOf(store, e.prediction),
    lesion,
  }));
  return { context: reportContextFor(store, options, entries.map((e) => e.prediction)), patient, lesion, entries };
}

export type ReportKind = 'visit' | 'batch' | 'lesion';

/** Loads and renders one report: what the app's export handler and `dermafuse report` call. */
export async function renderReportFromStore(store: Store, kind: ReportKind, id: number, options: StoreReportOptions = {}): Promise<RenderedReport> {
  switch (kind) {
    case 'visit':
      return renderVisitReport(await visitReportData(store, id, options));
    case 'batch':
      return renderBatchReport(await batchReportData(store, id, options));
    case 'lesion':
      return renderLesionReport(await lesionReportData(store, id, options));
  }
}
