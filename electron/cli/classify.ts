/**
 * `dermafuse classify <file-or-folder>... [--csv FILE] [--json] [--cam DIR]`
 *
 * One row per image: path,p_malignant,label,tier,uncertainty,error. Folders are walked
 * recursively; a file that cannot be classified gets its error and the rest go on. The exit code
 * is non-zero only when nothing at all could be classified (or the model could not be loaded).
 *
 * The input gate (electron/model/input-gate/): an image the model cannot judge (too dark,
 * overexposed, out of focus, too small, mostly uniform, unlike the dermoscopy images it was
 * trained on) keeps its row, with empty p_malignant, label, tier and uncertainty and `error` set to
 * `code: reason` entries ("too_dark: image too dark: ..."; several joined by "; "). With
 * --allow-unassessable the values are filled in and `error` starts with the flag
 * `outside_validated_range`, then the same entries. Such an image counts as classified for the
 * exit code (the model ran; it said it cannot judge), so the exit status is as before the gate.
 *
 * With --cam, each classified image gets `<name>.cam.png` (fused overlay on the original) and
 * `<name>.map.png` (raw grey map). An image that fails gets neither, and any overlay of the same
 * name left from an earlier run is deleted, so the folder never shows a stale map as if current.
 */
import { SingleBar } from 'cli-progress';
import type { Tier } from '#common/domain';
import type { Command } from 'commander';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative } from 'node:path';
import { isWalkError, walkImageFiles, type WalkEntry } from '../util/image-files.ts';
import { mapLimit } from '../util/map-limit.ts';
import { loadCliClassifier, operatingPointOption, providerOf } from './model-options.ts';
import type { CamOptions, CamResult, ExplainedResult } from '../model/classifier.ts';
import type { CamMethod } from '../model/gradcam.ts';
import { EXECUTION_PROVIDERS, type ExecutionProviderChoice } from '../model/runtime.ts';
import { ImageInputError, type CamKind, type Classifier, type GateResult } from '../model/types.ts';
import { OOD_UNAVAILABLE, reasonsLine } from '../model/input-gate/gate.ts';

/** The flag that starts `error` when --allow-unassessable gave the values of a refused image. */
export const OUTSIDE_RANGE_FLAG = 'outside_validated_range';
/** error_code (JSON) of a row whose image the input gate refused. */
export const CANNOT_ASSESS_CODE = 'cannot_assess';

export interface ClassifyCliOptions {
  readonly csv?: string;
  readonly json?: boolean;
  readonly cam?: string;
  readonly camOpacity?: number;
  readonly camMethod?: CamMethod;
  /** Also write per-branch overlays (<name>.inception_v3.cam.png, ...). */
  readonly camBranches?: boolean;
  readonly model?: string;
  readonly provider?: ExecutionProviderChoice;
  /** Show a progress bar on stderr; default: when stderr is a terminal and there is more than one file. */
  readonly progress?: boolean;
  /** Give the values of images the input gate refused too, flagged `outside_validated_range` in `error`. */
  readonly allowUnassessable?: boolean;
}

export interface ClassifyRow {
  readonly path: string;
  readonly p_malignant: number | null;
  readonly p_malignant_raw: number | null;
  readonly label: 'malignant' | 'benign' | null;
  readonly tier: Tier | null;
  readonly uncertainty: number | null;
  readonly threshold: number | null;
  readonly error: string | null;
  readonly error_code: string | null;
  /** Overlay files; `empty` = nothing in the image pushed towards melanoma, so the overlay has no colour. */
  readonly cam?: { readonly overlay: string; readonly map: string; readonly empty: boolean } | null;
  readonly timings_ms?: Readonly<Record<string, number>>;
  /** The input gate's verdict (JSON output): reasons with measured values and limits, and which gate judged. */
  readonly gate?: { readonly verdict: 'ok' | 'refused'; readonly reasons: GateResult['reasons']; readonly version: string; readonly oodChecked: boolean } | null;
}

export interface ClassifySummary {
  readonly rows: ClassifyRow[];
  /** Images the model ran on, including those the input gate refused. */
  readonly classified: number;
  /** Of those, images the input gate refused (no result unless allowUnassessable). */
  readonly unassessable: number;
  readonly failed: number;
  readonly modelVersion: string;
  readonly backend: { backbones: string; head: string } | null;
}

export interface ClassifyIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const CSV_COLUMNS = ['path', 'p_malignant', 'label', 'tier', 'uncertainty', 'error'] as const;

function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'number' ? String(Number(value.toFixed(6))) : value;
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly ClassifyRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  return lines.join('\n') + '\n';
}

/** The path as the user will recognise it: relative to the working folder when inside it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** `<name>` for the overlay files: the file's base name, made unique in walk order. */
function camNames(files: readonly string[]): Map<string, string> {
  const used = new Set<string>();
  const names = new Map<string, string>();
  for (const f of files) {
    const stem = basename(f, extname(f)) || 'image';
    let name = stem;
    for (let i = 2; used.has(name.toLowerCase()); i++) name = `${stem}-${i}`;
    used.add(name.toLowerCase());
    names.set(f, name);
  }
  return names;
}

/** Write via a temporary file and rename, so a killed run never leaves a half-written PNG. */
async function writeAtomic(file: string, bytes: Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}

function camFile(dir: string, name: string, kind: CamKind, suffix: 'cam' | 'map'): string {
  return join(dir, kind === 'fused' ? `${name}.${suffix}.png` : `${name}.${kind}.${suffix}.png`);
}

async function removeStale(dir: string, name: string): Promise<void> {
  const kinds: CamKind[] = ['fused', 'inception_v3', 'mobilenet_v2'];
  await Promise.all(kinds.flatMap((k) => (['cam', 'map'] as const).map((s) => rm(camFile(dir, name, k, s), { force: true }))));
}

function errorRow(path: string, message: string, code: string): ClassifyRow {
  return { path, p_malignant: null, p_malignant_raw: null, label: null, tier: null, uncertainty: null, threshold: null, error: message, error_code: code };
}

function describeError(error: unknown, file: string): { message: string; code: string } {
  if (error instanceof ImageInputError) {
    // The message starts with the file name; the row already says which file it is.
    const detail = error.message.startsWith(`${error.file}: `) ? error.message.slice(error.file.length + 2) : error.message;
    return { message: `${error.code}: ${detail}`, code: error.code };
  }
  const msg = error instanceof Error ? error.message : String(error);
  return { message: `failed: ${msg.replace(file, '').replace(/^:\s*/, '').split('\n')[0]}`, code: 'failed' };
}

/**
 * The command's work, separated from argument parsing so tests can drive it with their own
 * classifier. Never throws for a bad image; throws only for unusable options or output paths.
 */
export async function runClassify(
  inputs: readonly string[],
  options: ClassifyCliOptions,
  classifier: Classifier,
  io: ClassifyIo,
): Promise<ClassifySummary> {
  const entries: WalkEntry[] = [];
  for await (const e of walkImageFiles([...inputs])) entries.push(e);
  const names = camNames(entries.map((e) => e.file));
  if (options.cam) await mkdir(options.cam, { recursive: true });

  const showBar = options.progress ?? (Boolean(io.stderr.isTTY) && entries.length > 1);
  const bar = showBar
    ? new SingleBar({ stream: io.stderr, format: 'classify [{bar}] {value}/{total} | {rate} img/s | ETA {eta_formatted}', hideCursor: false, clearOnComplete: true })
    : undefined;
  const started = performance.now();
  bar?.start(entries.length, 0, { rate: '0.0' });

  const camOptions: CamOptions = {
    cam: Boolean(options.cam),
    camOpacity: options.camOpacity,
    camMethod: options.camMethod,
    camKinds: options.camBranches ? ['fused', 'inception_v3', 'mobilenet_v2'] : ['fused'],
  };
  const rows: (ClassifyRow | undefined)[] = new Array(entries.length);
  const refusedRows = new Set<number>();
  let backend: ClassifySummary['backend'] = null;
  let done = 0;

  const handle = async (i: number): Promise<void> => {
    const entry = entries[i]!;
    const path = displayPath(entry.file);
    const name = names.get(entry.file)!;
    if (isWalkError(entry)) {
      rows[i] = errorRow(path, entry.error, entry.code);
      if (options.cam) await removeStale(options.cam, name);
      return;
    }
    let result: ExplainedResult;
    try {
      result = (await classifier.classifyFile(entry.file, camOptions)) as ExplainedResult;
    } catch (error) {
      const { message, code } = describeError(error, entry.file);
      rows[i] = errorRow(path, message, code);
      if (options.cam) await removeStale(options.cam, name);
      return;
    }
    const c = result.classification;
    backend = c.backend;
    const gate: ClassifyRow['gate'] = c.gate ? { verdict: c.gate.verdict, reasons: c.gate.reasons, version: c.gate.version, oodChecked: c.gate.oodChecked } : null;
    if (c.gate?.verdict === 'refused') {
      refusedRows.add(i);
      if (!options.allowUnassessable) {
        // No probability, no tier and no map: the model says it cannot judge this image.
        rows[i] = { ...errorRow(path, reasonsLine(c.gate), CANNOT_ASSESS_CODE), ...(options.cam ? { cam: null } : {}), timings_ms: c.timingsMs, gate };
        if (options.cam) await removeStale(options.cam, name);
        return;
      }
    }
    let cam: ClassifyRow['cam'] = null;
    if (options.cam) {
      await removeStale(options.cam, name);
      const cams = (result.cams ?? []) as readonly CamResult[];
      for (const k of cams) {
        await writeAtomic(camFile(options.cam, name, k.kind, 'cam'), k.overlayPng);
        await writeAtomic(camFile(options.cam, name, k.kind, 'map'), k.mapPng);
      }
      const fused = cams.find((k) => k.kind === 'fused');
      if (fused) cam = { overlay: camFile(options.cam, name, 'fused', 'cam'), map: camFile(options.cam, name, 'fused', 'map'), empty: fused.empty };
    }
    rows[i] = {
      path,
      p_malignant: c.pMalignant,
      p_malignant_raw: c.pMalignantRaw,
      label: c.label,
      tier: c.tier,
      uncertainty: c.uncertainty,
      threshold: c.threshold,
      error: c.gate?.verdict === 'refused' ? `${OUTSIDE_RANGE_FLAG}; ${reasonsLine(c.gate)}` : null,
      error_code: c.gate?.verdict === 'refused' ? OUTSIDE_RANGE_FLAG : null,
      ...(options.cam ? { cam } : {}),
      timings_ms: c.timingsMs,
      gate,
    };
  };

  // Two images in flight: the next one decodes while the classifier (which runs one image's
  // backbones at a time) works on the current one. Rows keep the walk order.
  await mapLimit(entries, 2, async (_, i) => {
    await handle(i);
    done++;
    const seconds = (performance.now() - started) / 1000;
    bar?.update(done, { rate: (done / Math.max(seconds, 1e-3)).toFixed(1) });
  });
  bar?.stop();
  const finished = rows.map((r, i) => r ?? errorRow(displayPath(entries[i]!.file), 'failed: not processed', 'failed'));
  if (finished.some((r) => r.gate && !r.gate.oodChecked)) io.stderr.write(`note: ${OOD_UNAVAILABLE} (model ${classifier.modelVersion})\n`);
  const classified = finished.filter((r, i) => r.error === null || refusedRows.has(i)).length;
  return { rows: finished, classified, unassessable: refusedRows.size, failed: finished.length - classified, modelVersion: classifier.modelVersion, backend };
}

function parseOpacity(v: string): number {
  const x = Number(v);
  if (!(x >= 0 && x <= 1)) throw new Error(`--cam-opacity must be between 0 and 1, got ${v}`);
  return x;
}

export function registerClassify(program: Command): void {
  program
    .command('classify')
    .description('P(melanoma) for images or folders of images: one row per image (path,p_malignant,label,tier,uncertainty,error)')
    .argument('<paths...>', 'image files and/or folders (walked recursively)')
    .option('--csv <file>', 'write the rows as CSV to this file (otherwise CSV goes to stdout unless --json)')
    .option('--json', 'print the rows (with raw probability, threshold, timings, overlay paths) as JSON on stdout')
    .option('--cam <folder>', 'write Grad-CAM overlays <name>.cam.png and raw maps <name>.map.png into this folder')
    .option('--cam-opacity <0..1>', 'overlay opacity at the most salient pixel', parseOpacity, 0.6)
    .option('--cam-method <method>', 'gradcam or gradcam++', 'gradcam')
    .option('--cam-branches', 'also write per-branch overlays (<name>.inception_v3.cam.png, <name>.mobilenet_v2.cam.png)')
    .option('--model <folder>', 'model folder with manifest.json (default: the shipped model)')
    .option('--provider <ep>', `onnxruntime execution provider: ${EXECUTION_PROVIDERS.join(', ')}`)
    .addOption(operatingPointOption())
    .option('--allow-unassessable', "also give p_malignant, label, tier for images the input gate refused; `error` then starts with outside_validated_range")
    .option('--no-progress', 'no progress bar')
    .action(async (paths: string[], opts: Record<string, unknown>) => {
      const method = opts.camMethod as string;
      if (method !== 'gradcam' && method !== 'gradcam++') throw new Error(`--cam-method must be gradcam or gradcam++, got ${method}`);
      providerOf(opts);
      const classifier = await loadCliClassifier('classify', opts);
      if (!classifier) return;
      try {
        const summary = await runClassify(
          paths,
          {
            csv: opts.csv as string | undefined,
            json: Boolean(opts.json),
            cam: opts.cam as string | undefined,
            camOpacity: opts.camOpacity as number,
            camMethod: method,
            camBranches: Boolean(opts.camBranches),
            progress: opts.progress === false ? false : undefined,
            allowUnassessable: Boolean(opts.allowUnassessable),
          },
          classifier,
          { stdout: process.stdout, stderr: process.stderr },
        );
        if (opts.csv) await writeFile(opts.csv as string, toCsv(summary.rows));
        if (opts.json) {
          process.stdout.write(JSON.stringify({ modelVersion: summary.modelVersion, backend: summary.backend, rows: summary.rows }, null, 2) + '\n');
        } else if (!opts.csv) {
          process.stdout.write(toCsv(summary.rows));
        }
        const refused = summary.unassessable
          ? `, ${summary.unassessable} cannot be assessed (input gate${opts.allowUnassessable ? `; values given, flagged ${OUTSIDE_RANGE_FLAG}` : '; see error'})`
          : '';
        process.stderr.write(`classified ${summary.classified} of ${summary.rows.length} image(s)${refused}${summary.failed ? `, ${summary.failed} failed` : ''} (model ${summary.modelVersion})\n`);
        if (summary.classified === 0) process.exitCode = 1;
      } finally {
        await classifier.dispose();
      }
    });
}
