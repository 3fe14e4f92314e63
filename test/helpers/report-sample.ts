/**
 * Synthetic report data around real image files, for the report tests and the benchmark: the
 * documents can be exercised without a database or a trained model. Predictions are seeded
 * pseudo-random; the "Grad-CAM" overlay is a smooth blob composited with sharp, standing in for
 * the real overlay PNG the store keeps.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import sharp from 'sharp';
import type { BatchItem, BatchJob, ImageRecord, Lesion, Patient, Prediction, Review, Visit } from '#common/domain';
import type { Tier } from '../../electron/model/types.ts';
import type { BatchReportData, LesionReportData, ReportContext, ReportImage, VisitReportData } from '../../electron/report/types.ts';
import { seededRandom as mulberry32 } from '../../electron/util/random.ts';

const ANCHORS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (ANCHORS.length - 1);
  const i = Math.min(ANCHORS.length - 2, Math.floor(x));
  const f = x - i;
  const a = ANCHORS[i]!;
  const b = ANCHORS[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** A PNG the size of the original with a heat blob over its centre, like a Grad-CAM overlay. */
export async function syntheticOverlay(original: Buffer, seed = 1): Promise<Buffer> {
  const img = sharp(original).rotate();
  const { width = 1, height = 1 } = await img.metadata();
  // Work on a small grid and let sharp upscale: the overlay only needs to look smooth.
  const gw = 64;
  const gh = Math.max(1, Math.round((64 * height) / width));
  const heat = Buffer.alloc(gw * gh * 4);
  const rnd = mulberry32(seed);
  const cx = 0.35 + 0.3 * rnd();
  const cy = 0.35 + 0.3 * rnd();
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const d2 = (x / gw - cx) ** 2 + (y / gh - cy) ** 2;
      const v = Math.exp(-d2 / 0.04);
      const [r, g, b] = viridis(v);
      const o = (y * gw + x) * 4;
      heat[o] = r;
      heat[o + 1] = g;
      heat[o + 2] = b;
      heat[o + 3] = Math.round(110 + 100 * v);
    }
  }
  const layer = await sharp(heat, { raw: { width: gw, height: gh, channels: 4 } })
    .resize(width, height, { fit: 'fill' })
    .png()
    .toBuffer();
  return img.composite([{ input: layer }]).png().toBuffer();
}


const AT = '2026-11-28T08:00:00.000Z';
const THRESHOLD = 0.35;

export function tierOf(p: number): Tier {
  return p >= 0.6 ? 'high' : p >= 0.2 ? 'review' : 'low';
}

export function sampleContext(overrides: Partial<ReportContext> = {}): ReportContext {
  return {
    clinicName: 'Klinika Dermatologiczna Świętej Łucji',
    generatedAt: new Date('2026-11-28T09:15:00.000Z'),
    modelName: 'dermafuse fusion (InceptionV3 + MobileNetV2)',
    modelVersion: '1.0.0',
    tierCutoffs: { review: 0.2, high: 0.6 },
    ...overrides,
  };
}

export function samplePatient(overrides: Partial<Patient> = {}): Patient {
  return {
    id: 1,
    identifier: 'MRN-004217',
    name: 'Łukasz Żółć',
    dateOfBirth: '1961-04-17',
    sex: 'male',
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

export function sampleVisit(overrides: Partial<Visit> = {}): Visit {
  return { id: 1, patientId: 1, date: '2026-11-28', clinician: 'Dr Anna Kowalska', notes: '', createdAt: AT, ...overrides };
}

function sha(i: number): string {
  return i.toString(16).padStart(64, '0');
}

export function sampleImageRecord(i: number, file: string, overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id: i + 1,
    sha256: sha(i + 1),
    originalName: basename(file),
    originalPath: file,
    capturedAt: null,
    importedAt: AT,
    visitId: 1,
    lesionId: null,
    width: 0,
    height: 0,
    byteSize: 0,
    ...overrides,
  };
}

export function samplePrediction(i: number, p: number, overrides: Partial<Prediction> = {}): Prediction {
  return {
    id: i + 1,
    imageId: i + 1,
    modelVersion: '1.0.0',
    pMalignantRaw: p,
    pMalignant: p,
    threshold: THRESHOLD,
    label: p >= THRESHOLD ? 'malignant' : 'benign',
    tier: tierOf(p),
    uncertainty: 0.01 + 0.08 * p * (1 - p),
    backend: 'onnxruntime:cpu + tfjs:cpu',
    timingMs: 120,
    createdAt: AT,
    gate: null,
    ...overrides,
  };
}

/** A prediction the input gate refused; `shownAnyway` gives the clinician who asked to see it. */
export function refusedPrediction(i: number, p: number, shownAnyway: string | null = null): Prediction {
  return samplePrediction(i, p, {
    gate: {
      verdict: 'refused',
      reasons: [
        { code: 'too_dark', message: 'image too dark: luminance 4% of range in its brightest part (95th percentile; needs at least 44%)', metric: 'lumaP95', value: 0.04, threshold: 0.443 },
        { code: 'out_of_distribution', message: 'image unlike the dermoscopy images the model was trained on: distance 56.75 (mahalanobis; 99.5% of validation images are at most 6.93)', metric: 'mahalanobis', value: 56.75, threshold: 6.93 },
      ],
      scores: { quality: { lumaP95: 0.04 }, ood: { mahalanobis: 56.75, branches: {} } },
      version: 'gate/1 test',
      oodChecked: true,
      shownAnyway: shownAnyway ? { by: shownAnyway, at: '2026-11-28T08:10:00.000Z' } : null,
    },
  });
}

export function sampleReview(i: number, overrides: Partial<Review> = {}): Review {
  return {
    id: i + 1,
    imageId: i + 1,
    predictionId: i + 1,
    clinician: 'Dr Anna Kowalska',
    verdict: 'agree',
    finalDiagnosis: '',
    note: '',
    confirmedDiagnosis: null,
    confirmationBasis: null,
    confirmedOn: null,
    createdAt: AT,
    ...overrides,
  };
}

async function imageRecordFor(i: number, file: string, bytes: Buffer, extra: Partial<ImageRecord> = {}): Promise<ImageRecord> {
  const meta = await sharp(bytes).metadata().catch(() => ({ width: 0, height: 0 }));
  return sampleImageRecord(i, file, { width: meta.width ?? 0, height: meta.height ?? 0, byteSize: bytes.length, ...extra });
}

/** A visit with one report image per file; probabilities from the seed. */
export async function sampleVisitData(files: readonly string[], seed = 7, overrides: Partial<VisitReportData> = {}): Promise<VisitReportData> {
  const rnd = mulberry32(seed);
  const images: ReportImage[] = [];
  for (const [i, file] of files.entries()) {
    const bytes = await readFile(file);
    const p = rnd();
    images.push({
      image: await imageRecordFor(i, file, bytes),
      prediction: samplePrediction(i, p),
      review: i % 2 === 0 ? sampleReview(i, { verdict: p > 0.5 ? 'agree' : 'disagree' }) : null,
      original: bytes,
      overlay: await syntheticOverlay(bytes, seed + i),
    });
  }
  return { context: sampleContext(), patient: samplePatient(), visit: sampleVisit(), images, ...overrides };
}

/**
 * A finished batch over the files, where every `errorEvery`-th file failed, plus one file still
 * pending. Images load lazily as the store would serve them.
 */
export async function sampleBatchData(files: readonly string[], seed = 11, errorEvery = 17): Promise<BatchReportData> {
  const rnd = mulberry32(seed);
  const rows: BatchReportData['rows'][number][] = [];
  let failed = 0;
  for (const [i, file] of files.entries()) {
    const failedHere = errorEvery > 0 && i % errorEvery === errorEvery - 1;
    const pendingHere = i === files.length - 1 && files.length > 2;
    const item: BatchItem = {
      id: i + 1,
      jobId: 1,
      path: file,
      status: failedHere ? 'error' : pendingHere ? 'pending' : 'done',
      imageId: failedHere || pendingHere ? null : i + 1,
      predictionId: failedHere || pendingHere ? null : i + 1,
      error: failedHere ? `decode_failed: ${basename(file)}: VipsJpeg: premature end of JPEG image` : null,
    };
    if (failedHere) failed++;
    const p = rnd();
    const classified = item.status === 'done';
    rows.push({
      item,
      image: classified ? sampleImageRecord(i, file) : null,
      prediction: classified ? samplePrediction(i, p) : null,
      review: classified && i % 5 === 0 ? sampleReview(i) : null,
      original: classified ? () => readFile(file) : null,
      overlay: classified ? async () => syntheticOverlay(await readFile(file), seed + i) : null,
    });
  }
  const job: BatchJob = {
    id: 1,
    root: commonFolder(files),
    patientId: 1,
    visitId: 1,
    modelVersion: '1.0.0',
    status: 'done',
    total: files.length,
    done: files.length - failed - (files.length > 2 ? 1 : 0),
    failed,
    createdAt: AT,
    finishedAt: '2026-11-28T08:04:12.000Z',
  };
  return { context: sampleContext(), job, patient: samplePatient(), visit: sampleVisit(), rows };
}

function commonFolder(files: readonly string[]): string {
  if (files.length === 0) return '/';
  let parts = files[0]!.split('/').slice(0, -1);
  for (const f of files) {
    const other = f.split('/');
    let i = 0;
    while (i < parts.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join('/') || '/';
}

/** One lesion photographed at successive visits, its risk rising over time. */
export async function sampleLesionData(files: readonly string[], seed = 5): Promise<LesionReportData> {
  const lesion: Lesion = { id: 3, patientId: 1, bodySite: 'left scapula', label: 'pigmented lesion, 6 mm', createdAt: AT };
  const rnd = mulberry32(seed);
  const entries: LesionReportData['entries'][number][] = [];
  for (const [i, file] of files.entries()) {
    const bytes = await readFile(file);
    const month = String(1 + ((i * 3) % 12)).padStart(2, '0');
    const year = 2024 + Math.floor((i * 3) / 12);
    const date = `${year}-${month}-1${i % 10}`;
    const visit = sampleVisit({ id: 10 + i, date, clinician: i % 2 ? 'Dr 山田太郎' : 'Dr Anna Kowalska' });
    const p = Math.min(0.97, 0.08 + (0.8 * i) / Math.max(1, files.length - 1) + 0.08 * (rnd() - 0.5));
    entries.push({
      image: await imageRecordFor(i, file, bytes, { visitId: visit.id, lesionId: lesion.id }),
      prediction: samplePrediction(i, Math.max(0.01, p)),
      review: i === files.length - 1 ? sampleReview(i, { finalDiagnosis: 'excision advised', note: 'Asymmetry increased since last visit.' }) : null,
      original: bytes,
      overlay: await syntheticOverlay(bytes, seed + i),
      visit,
      lesion,
    });
  }
  return { context: sampleContext(), patient: samplePatient(), lesion, entries };
}
