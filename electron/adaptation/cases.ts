/**
 * The confirmed cases an adaptation learns from, each with the pooled vectors the base model's
 * head reads (per test-time view) and the unit cross-validation must keep on one side of a split
 * (patient, else lesion, else image). Two sources:
 *   - the clinical store: reviews carrying a confirmed diagnosis, joined to the prediction of the
 *     base model (whose stored features are used; missing ones are backfilled first);
 *   - a labels CSV (`path,label[,patient][,lesion]`, paths relative to the CSV): each image is run
 *     through the base model's classifier once for its pooled vectors.
 * Only melanoma and benign take part; other malignant diagnoses are counted and kept out, as in
 * training. Inputs adaptation cannot use stop it with an AdaptationInputError in plain words.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseCsv } from '../model/datasets.ts';
import type { PooledFeatures } from '../model/pooled-features.ts';
import type { Classifier } from '../model/types.ts';
import type { ConfirmedCase, Store } from '../store/index.ts';

export class AdaptationInputError extends Error {
  override readonly name = 'AdaptationInputError';
}

export interface AdaptationCase {
  /** Stable id recorded in the local model's manifest: `image:<id>` (store) or the CSV path. */
  readonly id: string;
  /** The unit kept on one side of every split: `patient:…`, else `lesion:…`, else `image:…`. */
  readonly group: string;
  /** The lesion, when known: two images of one lesion must agree on the diagnosis. */
  readonly lesion: string | null;
  readonly label: 0 | 1;
  readonly features: PooledFeatures;
}

export interface CaseSet {
  readonly source: 'store' | 'labels';
  readonly cases: readonly AdaptationCase[];
  /** Confirmed or listed cases left out, with why (other malignant diagnoses, other labels, no prediction). */
  readonly excluded: readonly { readonly id: string; readonly reason: string }[];
  readonly counts: { readonly melanoma: number; readonly benign: number; readonly excluded: number };
}

export interface Progress {
  readonly phase: 'backfill' | 'features' | 'cross-validation' | 'fit' | 'write';
  readonly done: number;
  readonly total: number;
}
export type ProgressListener = (progress: Progress) => void;

/** Throws AbortError-like when the caller gave up (checked between images and between steps). */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AdaptationInputError('adaptation cancelled');
}

const LABELS: Record<string, 0 | 1> = { melanoma: 1, malignant: 1, benign: 0 };

/** 1 melanoma, 0 benign, undefined for labels adaptation keeps out (e.g. other_malignant). */
export function adaptationLabel(label: string): 0 | 1 | undefined {
  return LABELS[label.trim().toLowerCase()];
}

const listed = (items: readonly string[], max = 5): string => `${items.slice(0, max).join(', ')}${items.length > max ? ` and ${items.length - max} more` : ''}`;

/**
 * The checks every case set must pass before any fitting: one label per lesion (and per image),
 * and both classes present. Returns the counts.
 */
export function checkCases(cases: readonly AdaptationCase[], what: string): { melanoma: number; benign: number } {
  const byLesion = new Map<string, Map<0 | 1, string[]>>();
  for (const c of cases) {
    for (const key of [c.lesion ? `lesion ${c.lesion}` : null, c.id.startsWith('image:') ? c.id.replace(':', ' ') : `image ${c.id}`]) {
      if (!key) continue;
      const labels = byLesion.get(key) ?? new Map<0 | 1, string[]>();
      labels.set(c.label, [...(labels.get(c.label) ?? []), c.id]);
      byLesion.set(key, labels);
    }
  }
  const conflicts = [...byLesion].filter(([, labels]) => labels.size > 1);
  if (conflicts.length > 0) {
    const lines = conflicts.slice(0, 5).map(([key, labels]) => `${key}: melanoma (${listed(labels.get(1)!, 3)}) and benign (${listed(labels.get(0)!, 3)})`);
    throw new AdaptationInputError(
      `conflicting confirmed diagnoses for the same lesion in ${what}: ${lines.join('; ')}${conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : ''}. Correct the diagnosis (or the lesion) before adapting.`,
    );
  }
  const melanoma = cases.filter((c) => c.label === 1).length;
  const benign = cases.length - melanoma;
  if (melanoma === 0 || benign === 0) {
    throw new AdaptationInputError(
      `${what} has ${melanoma} confirmed melanoma and ${benign} confirmed benign cases: adaptation needs both classes (it compares how the model ranks melanomas above benign lesions).`,
    );
  }
  return { melanoma, benign };
}

/** Every case's features must be what the base head reads: its pooled width and its test-time views, in order. */
export function checkFeatures(cases: readonly AdaptationCase[], width: number, views: readonly string[]): void {
  const bad = cases.filter((c) => c.features.width !== width || c.features.views.join() !== views.join());
  if (bad.length > 0) {
    const f = bad[0]!.features;
    throw new AdaptationInputError(
      `${bad.length} case(s) have stored features the base model cannot read (${listed(bad.map((c) => c.id))}): width ${f.width} with views ${f.views.join('+')}, the model needs width ${width} with views ${views.join('+')}`,
    );
  }
}

interface CsvRow {
  readonly path: string;
  readonly file: string;
  readonly label: string;
  readonly patient: string;
  readonly lesion: string;
}

function readLabelsCsv(csv: string): CsvRow[] {
  if (!existsSync(csv)) throw new AdaptationInputError(`no labels file at ${csv}`);
  const [header, ...rows] = parseCsv(readFileSync(csv, 'utf8').replace(/^\uFEFF/, ''));
  if (!header) throw new AdaptationInputError(`${csv} is empty`);
  const names = header.map((h) => h.trim().toLowerCase());
  const at = (name: string): number => names.indexOf(name);
  if (at('path') < 0 || at('label') < 0) throw new AdaptationInputError(`${csv} must have the columns path,label[,patient][,lesion] (found: ${names.join(', ')})`);
  const cell = (cells: string[], name: string): string => (at(name) >= 0 ? (cells[at(name)] ?? '').trim() : '');
  return rows.map((cells) => {
    const path = cell(cells, 'path');
    return { path, file: resolve(dirname(csv), path), label: cell(cells, 'label'), patient: cell(cells, 'patient'), lesion: cell(cells, 'lesion') };
  });
}

export interface LabelsCasesOptions {
  /**
   * The base model's classifier (its classification must carry `pooled`, as FusionClassifier's
   * does), or a loader called once the listed files have been checked.
   */
  readonly classifier: Classifier | (() => Promise<Classifier>);
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/**
 * Cases from a labels CSV. Every listed image must exist (checked before any is classified, so a
 * typo fails in a second, not after an hour); the same path listed twice counts once.
 */
export async function casesFromLabels(csvFile: string, options: LabelsCasesOptions): Promise<CaseSet> {
  const csv = resolve(csvFile);
  const rows = readLabelsCsv(csv);
  const excluded: { id: string; reason: string }[] = [];
  const usable: (CsvRow & { target: 0 | 1 })[] = [];
  const seen = new Map<string, 0 | 1>();
  for (const row of rows) {
    if (!row.path) throw new AdaptationInputError(`${csv}: a row has an empty path`);
    const target = adaptationLabel(row.label);
    if (target === undefined) {
      excluded.push({ id: row.path, reason: `label '${row.label || '(empty)'}' is neither melanoma nor benign` });
      continue;
    }
    const before = seen.get(row.file);
    if (before !== undefined) {
      if (before !== target) throw new AdaptationInputError(`conflicting labels in ${csv}: ${row.path} is listed as both melanoma and benign`);
      continue;
    }
    seen.set(row.file, target);
    usable.push({ ...row, target });
  }
  const missing = usable.filter((r) => !existsSync(r.file)).map((r) => r.path);
  if (missing.length > 0) throw new AdaptationInputError(`${missing.length} image(s) listed in ${csv} do not exist: ${listed(missing)}`);
  const groupOf = (r: CsvRow): string => (r.patient ? `patient:${r.patient}` : r.lesion ? `lesion:${r.lesion}` : `image:${r.path}`);
  // Lesion names are often numbered per patient ("1", "2"), so a lesion is known by both.
  const lesionOf = (r: CsvRow): string | null => (r.lesion ? (r.patient ? `${r.lesion} of patient ${r.patient}` : r.lesion) : null);
  // Conflicts and missing classes are found before the slow part.
  checkCases(
    usable.map((r) => ({ id: r.path, group: groupOf(r), lesion: lesionOf(r), label: r.target, features: { width: 0, views: [], data: new Float32Array() } })),
    csv,
  );

  const classifier = typeof options.classifier === 'function' ? await options.classifier() : options.classifier;
  const cases: AdaptationCase[] = [];
  for (const [i, row] of usable.entries()) {
    checkAborted(options.signal);
    let pooled: PooledFeatures | undefined;
    try {
      pooled = (await classifier.classifyFile(row.file)).classification.pooled;
    } catch (error) {
      throw new AdaptationInputError(`cannot read ${row.path}: ${(error as Error).message}`);
    }
    if (!pooled) throw new AdaptationInputError(`the classifier for model ${classifier.modelVersion} does not report its pooled features: it cannot be adapted`);
    cases.push({ id: row.path, group: groupOf(row), lesion: lesionOf(row), label: row.target, features: pooled });
    options.onProgress?.({ phase: 'features', done: i + 1, total: usable.length });
  }
  const counts = checkCases(cases, csv);
  return { source: 'labels', cases, excluded, counts: { ...counts, excluded: excluded.length } };
}

export interface StoreCasesOptions {
  /** The model being adapted: cases are joined to its predictions and their stored features. */
  readonly modelVersion: string;
  /**
   * Fills in the features of predictions stored before features were kept (backfill.ts); called
   * only when some confirmed case lacks them. Returns the predictions it could not fill, with why.
   */
  readonly backfill?: () => Promise<readonly { readonly predictionId: number; readonly reason: string }[]>;
  readonly signal?: AbortSignal;
}

/** Cases from the store's confirmed diagnoses (see the module comment). */
export async function casesFromStore(store: Pick<Store, 'confirmedCases' | 'features'>, options: StoreCasesOptions): Promise<CaseSet> {
  const confirmed = store.confirmedCases(options.modelVersion);
  const excluded: { id: string; reason: string }[] = [];
  const usable: (ConfirmedCase & { predictionId: number; target: 0 | 1 })[] = [];
  for (const c of confirmed) {
    const id = `image:${c.imageId}`;
    const target = adaptationLabel(c.diagnosis);
    if (target === undefined) excluded.push({ id, reason: `confirmed ${c.diagnosis.replace('_', ' ')}: kept out (the model separates melanoma from benign lesions)` });
    else if (c.predictionId === null) excluded.push({ id, reason: `never classified by model ${options.modelVersion}` });
    else usable.push({ ...c, predictionId: c.predictionId, target });
  }
  const where = `the confirmed cases of model ${options.modelVersion}`;
  const groupOf = (c: ConfirmedCase): string => (c.patientId !== null ? `patient:${c.patientId}` : c.lesionId !== null ? `lesion:${c.lesionId}` : `image:${c.imageId}`);
  const asCase = (c: (typeof usable)[number], features: PooledFeatures): AdaptationCase => ({
    id: `image:${c.imageId}`,
    group: groupOf(c),
    lesion: c.lesionId === null ? null : String(c.lesionId),
    label: c.target,
    features,
  });
  checkCases(
    usable.map((c) => asCase(c, { width: 0, views: [], data: new Float32Array() })),
    where,
  );

  const lacking = usable.filter((c) => !store.features.has(c.predictionId));
  if (lacking.length > 0) {
    if (!options.backfill) throw new AdaptationInputError(`${lacking.length} confirmed case(s) have no stored features and no model was given to compute them`);
    checkAborted(options.signal);
    const failed = new Map((await options.backfill()).map((f) => [f.predictionId, f.reason]));
    const still = lacking.filter((c) => !store.features.has(c.predictionId));
    if (still.length > 0) {
      const why = still.map((c) => `image ${c.imageId}: ${failed.get(c.predictionId) ?? 'features not computed'}`);
      throw new AdaptationInputError(`${still.length} confirmed case(s) could not be read again to compute their features: ${listed(why)}. Restore the images or remove their confirmed diagnosis.`);
    }
  }
  const cases = usable.map((c) => asCase(c, store.features.get(c.predictionId)!));
  const counts = checkCases(cases, where);
  return { source: 'store', cases, excluded, counts: { ...counts, excluded: excluded.length } };
}
