/**
 * `dermafuse batch <folder> [--db FILE] [--patient ID] [--visit ID] [--json]`
 *
 * Classifies every image under a folder into the clinical store. Interrupting it (Ctrl-C, a
 * crash, a power cut) loses nothing: running the same command again continues where it stopped
 * and never classifies the same image twice with the same model. A bad file gets its error
 * recorded and listed in the summary; the exit code is non-zero only when nothing could be
 * classified, the model or database could not be opened, or the run was interrupted.
 */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { BatchProgress, Tier } from '#common/domain';
import { runBatch, type BatchResult } from '../batch/run-batch.ts';
import { loadCliClassifier, operatingPointOption, providerOf, type ClassifierFactory } from './model-options.ts';
import { EXECUTION_PROVIDERS } from '../model/runtime.ts';
import type { Classifier } from '../model/types.ts';
import { createRegistry, modelInForce } from '../adaptation/registry.ts';
import { openStore, type Store } from '../store/store.ts';
import { StoreError } from '../store/errors.ts';

export interface BatchCliOptions {
  readonly db?: string;
  readonly dataDir?: string;
  readonly patient?: string;
  readonly visit?: string;
  readonly json?: boolean;
  readonly cam?: boolean;
  readonly progress?: boolean;
  readonly actor?: string;
}

export interface BatchCliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborted on the first Ctrl-C. */
  readonly signal?: AbortSignal;
}

export interface BatchCliSummary {
  readonly database: string;
  readonly jobId: number;
  readonly status: string;
  readonly resumed: boolean;
  readonly modelVersion: string;
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  readonly classifiedThisRun: number;
  readonly reusedThisRun: number;
  readonly tiers: Record<Tier, number>;
  /** Classified images the input gate refused (no tier; counted apart from the tiers). */
  readonly cannotAssess: number;
  readonly errors: { path: string; error: string }[];
  readonly elapsedSec: number;
  readonly storeMsPerImage: number | null;
}

/** `--patient` takes the patient's identifier (MRN) or row id; `mrn:X` / `id:N` force one reading. */
export function findPatient(store: Store, ref: string): number {
  const byMrn = (mrn: string) => store.patients.getByIdentifier(mrn)?.id ?? null;
  const byId = (id: string) => (/^\d+$/.test(id) ? (store.patients.get(Number(id))?.id ?? null) : null);
  let found: number | null;
  if (ref.startsWith('mrn:')) found = byMrn(ref.slice(4));
  else if (ref.startsWith('id:')) found = byId(ref.slice(3));
  else {
    const a = byMrn(ref);
    const b = byId(ref);
    if (a !== null && b !== null && a !== b) {
      throw new StoreError('invalid', `--patient ${ref} matches identifier ${ref} and row id ${ref} of different patients: write mrn:${ref} or id:${ref}`);
    }
    found = a ?? b;
  }
  if (found === null) throw new StoreError('not_found', `no patient with identifier or id ${JSON.stringify(ref)}`);
  return found;
}

function parseVisit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new StoreError('invalid', `--visit must be a visit id (a positive integer), got ${JSON.stringify(value)}`);
  return Number(value);
}

function openFor(options: BatchCliOptions): Store {
  return options.db ? openStore({ file: options.db, actor: options.actor }) : openStore({ dataDir: options.dataDir ?? null, actor: options.actor });
}

/**
 * Fails fast on a wrong --patient / --visit, before the model takes seconds to load. Returns the
 * model in force for this data folder (the clinic's adopted local version, else the shipped one),
 * which the batch uses unless --model names another, as the app would.
 */
export function checkDestination(options: BatchCliOptions): ReturnType<typeof modelInForce> {
  const store = openFor(options);
  try {
    const patientId = options.patient !== undefined ? findPatient(store, options.patient) : null;
    const visitId = options.visit !== undefined ? parseVisit(options.visit) : null;
    store.images.resolvePlacement({ patientId, visitId });
    return modelInForce(createRegistry(store.dataDir, store));
  } finally {
    store.close();
  }
}

/** The command's work, apart from argument parsing, so tests can inject a classifier and streams. */
export async function runBatchCli(folder: string, options: BatchCliOptions, classifier: Classifier, io: BatchCliIo): Promise<BatchCliSummary> {
  const store = openFor(options);
  try {
    const patientId = options.patient !== undefined ? findPatient(store, options.patient) : null;
    const visitId = options.visit !== undefined ? parseVisit(options.visit) : null;
    const showBar = options.progress ?? Boolean(io.stderr.isTTY);
    const bar = showBar
      ? new SingleBar({
          stream: io.stderr,
          format: 'batch [{bar}] {value}/{total} | {failed} failed | {rate} img/s | ETA {etaText} | {current}',
          hideCursor: false,
          clearOnComplete: true,
          etaBuffer: 20,
        })
      : undefined;
    let started = false;
    const onProgress = (p: BatchProgress): void => {
      if (!bar) return;
      const payload = {
        failed: p.failed,
        rate: p.ratePerSec.toFixed(1),
        etaText: p.etaSec === null ? '…' : `${Math.round(p.etaSec)} s`,
        current: p.current ? p.current.slice(-40) : '',
      };
      if (!started) {
        bar.start(p.total, p.done + p.failed, payload);
        started = true;
      }
      bar.setTotal(p.total);
      bar.update(p.done + p.failed, payload);
    };
    let result: BatchResult;
    try {
      result = await runBatch({ store, classifier, root: folder, patientId, visitId, signal: io.signal, onProgress, classifyOptions: { cam: options.cam ?? true } });
    } finally {
      bar?.stop();
    }
    const errors = store.batches
      .listItems(result.job.id, { status: 'error', pageSize: 500 })
      .items.map((i) => ({ path: i.path, error: i.error ?? '' }));
    return {
      database: store.file,
      jobId: result.job.id,
      status: result.job.status,
      resumed: result.resumed,
      modelVersion: result.job.modelVersion,
      total: result.job.total,
      done: result.job.done,
      failed: result.job.failed,
      classifiedThisRun: result.classified,
      reusedThisRun: result.reused,
      ...(({ cannot_assess, ...tiers }) => ({ tiers, cannotAssess: cannot_assess }))(store.batches.triageCounts(result.job.id)),
      errors,
      elapsedSec: Math.round(result.elapsedMs) / 1000,
      storeMsPerImage: result.storeMsPerItem === null ? null : Math.round(result.storeMsPerItem * 100) / 100,
    };
  } finally {
    store.close();
  }
}

export function formatSummary(s: BatchCliSummary): string {
  const lines = [
    `batch ${s.jobId} ${s.status}${s.resumed ? ' (continued an interrupted run)' : ''}: ${s.done} of ${s.total} image(s) classified, ${s.failed} failed`,
    `  this run: ${s.classifiedThisRun} classified, ${s.reusedThisRun} already known (not classified again), ${s.elapsedSec.toFixed(1)} s`,
    `  tiers: high ${s.tiers.high}, review ${s.tiers.review}, low ${s.tiers.low}; cannot assess (input gate) ${s.cannotAssess} (model ${s.modelVersion})`,
    `  database: ${s.database}`,
  ];
  if (s.errors.length) {
    lines.push('  could not classify:');
    for (const e of s.errors.slice(0, 50)) lines.push(`    ${e.path}: ${e.error}`);
    if (s.failed > 50) lines.push(`    … and ${s.failed - 50} more (see --json)`);
  }
  if (s.status === 'cancelled') lines.push('  interrupted: run the same command again to continue.');
  return lines.join('\n') + '\n';
}

/** Exit code: 0 when something was classified (or the folder had nothing to do), 1 when all failed, 130 when interrupted. */
export function exitCodeOf(s: BatchCliSummary): number {
  if (s.status === 'cancelled') return 130;
  if (s.done === 0 && s.failed > 0) return 1;
  return 0;
}

export interface RegisterBatchDeps {
  /** Tests inject a classifier; the app's CLI loads the shipped model. */
  readonly createClassifier?: ClassifierFactory;
}

export function registerBatch(program: Command, deps: RegisterBatchDeps = {}): void {
  program
    .command('batch')
    .description('classify every image under a folder into the clinical database; resumable, never classifies an image twice')
    .argument('<folder>', 'folder walked recursively for image files (.jpg .jpeg .png .webp .tif .tiff)')
    .option('--db <file>', 'SQLite database file (default: dermafuse.sqlite in the data folder); images are stored in images/ beside it')
    .option('--data-dir <folder>', 'data folder holding dermafuse.sqlite and images/ (default: the platform app-data folder or $DERMAFUSE_DATA_DIR)')
    .option('--patient <id>', 'attach the images to this patient (identifier/MRN or row id; mrn:X or id:N to be explicit)')
    .option('--visit <id>', 'attach the images to this visit (row id); implies its patient')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--no-cam', 'do not compute and store Grad-CAM overlays')
    .option('--model <folder>', "model folder with manifest.json (default: the model in force for the data folder: the clinic's adopted local version, else the shipped model)")
    .option('--provider <ep>', `onnxruntime execution provider: ${EXECUTION_PROVIDERS.join(', ')}`)
    .addOption(operatingPointOption())
    .option('--actor <name>', 'name recorded in the audit log (default: the OS user)')
    .option('--no-progress', 'no progress bar')
    .action(async (folder: string, opts: Record<string, unknown>) => {
      providerOf(opts);
      const cliOptions: BatchCliOptions = {
        db: opts.db as string | undefined,
        dataDir: opts.dataDir as string | undefined,
        patient: opts.patient as string | undefined,
        visit: opts.visit as string | undefined,
        json: Boolean(opts.json),
        cam: opts.cam !== false,
        progress: opts.progress === false ? false : undefined,
        actor: opts.actor as string | undefined,
      };
      const inForce = checkDestination(cliOptions);
      if (opts.model === undefined && inForce.notice) process.stderr.write(`dermafuse batch: ${inForce.notice}\n`);
      const modelOpts = opts.model === undefined && inForce.dir ? { ...opts, model: inForce.dir } : opts;
      const classifier = await loadCliClassifier('batch', modelOpts, deps.createClassifier);
      if (!classifier) return;
      // First Ctrl-C: stop after the images in flight (the job stays resumable). Second: leave now.
      const controller = new AbortController();
      const onSigint = (): void => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('\ndermafuse batch: stopping after the current image(s); press Ctrl-C again to quit at once\n');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const summary = await runBatchCli(folder, cliOptions, classifier, { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
        if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        else process.stdout.write(formatSummary(summary));
        process.exitCode = exitCodeOf(summary);
      } finally {
        process.off('SIGINT', onSigint);
        await classifier.dispose();
      }
    });
}
