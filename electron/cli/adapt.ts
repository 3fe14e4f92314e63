/**
 * `dermafuse adapt --db FILE [--out DIR] [--json] [--method auto|recalibrate|members|last_layer] [--seed N] [--report FILE.pdf]`
 * `dermafuse adapt --labels CSV --out DIR [...]`
 *
 * Adapts the shipped model to a clinic's confirmed cases: from the store (reviews with a confirmed
 * diagnosis, their predictions' stored features; older predictions' features are computed first)
 * or from a labels CSV (`path,label[,patient][,lesion]`, each image run through the model once).
 * Prints the cross-validated comparison of the shipped model and each method on the same folds,
 * the choice with its reasons, and writes the local model folder (loadable with
 * `DERMAFUSE_MODEL_DIR=DIR dermafuse classify`). With --db and no --out the folder becomes a new
 * local version in the store's data folder, registered but not adopted: adoption is the app's
 * explicit step. Nothing is written when the shipped model should stay.
 */
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { backfillFeatures } from '../adaptation/backfill.ts';
import { AdaptationInputError, casesFromLabels, casesFromStore, type CaseSet, type Progress } from '../adaptation/cases.ts';
import { writeFileAtomic } from '../adaptation/files.ts';
import { LocalModelError } from '../adaptation/local-model.ts';
import { createRegistry } from '../adaptation/registry.ts';
import { loadBaseModel, METHOD_REQUESTS, runAdaptation, writeLocalModel, writeModelFolderAt, type MethodRequest, type WrittenModel } from '../adaptation/run.ts';
import { comparisonRows, type AdaptationSummary } from '../adaptation/summary.ts';
import { createClassifier } from '../model/classifier.ts';
import type { ExecutionProviderChoice } from '../model/runtime.ts';
import type { Classifier } from '../model/types.ts';
import { ManifestError, shippedModelDir } from '../model/manifest.ts';
import { isTimeZone } from '../report/document.ts';
import { renderAdaptationReport } from '../report/adaptation-report.ts';
import { modelNameOf } from '../report/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { providerOf } from './model-options.ts';
import { progressBar, type ProgressBar } from './progress.ts';

export interface AdaptCliOptions {
  readonly db?: string;
  readonly labels?: string;
  readonly out?: string;
  readonly json?: boolean;
  readonly method?: string;
  readonly seed?: string;
  readonly report?: string;
  readonly model?: string;
  readonly provider?: string;
  readonly clinic?: string;
  readonly timeZone?: string;
  /** Fewer bootstrap resamples / repeats for quick looks (and tests). */
  readonly repeats?: string;
  readonly iterations?: string;
}

export interface AdaptOutcome {
  readonly summary: AdaptationSummary;
  /** The folder written, or null when the shipped model stays. */
  readonly written: (WrittenModel & { readonly registered: boolean }) | null;
  readonly report: string | null;
}

/** Bad command-line use, reported like bad input (one line, exit code 1). */
export class AdaptUsageError extends Error {
  override readonly name = 'AdaptUsageError';
}

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new AdaptUsageError(`--${name} expects a whole number, got "${raw}"`);
  return Number(raw);
}

function checkUsage(o: AdaptCliOptions): void {
  if ((o.db === undefined) === (o.labels === undefined)) throw new AdaptUsageError('give either --db FILE (confirmed cases in the store) or --labels CSV (with --out DIR)');
  if (o.labels !== undefined && !o.out) throw new AdaptUsageError('--labels needs --out DIR: where to write the local model folder');
  if (o.out && existsSync(o.out)) throw new AdaptUsageError(`--out ${resolve(o.out)} already exists: name a new folder`);
  if (o.report && !o.report.toLowerCase().endsWith('.pdf')) throw new AdaptUsageError(`--report must name a .pdf file, got "${o.report}"`);
  if (o.timeZone !== undefined && !isTimeZone(o.timeZone)) throw new AdaptUsageError(`--time-zone expects an IANA zone such as Europe/Warsaw or UTC, got "${o.timeZone}"`);
  if (o.db !== undefined && !existsSync(o.db)) throw new AdaptUsageError(`no database at ${resolve(o.db)}`);
}

/** A progress bar per phase on stderr (only when it is a terminal and the output is not JSON). */
function progressReporter(enabled: boolean): { update: (p: Progress) => void; stop: () => void } {
  let bar: ProgressBar | null = null;
  let phase: string | null = null;
  const stop = (): void => {
    bar?.stop();
    bar = null;
  };
  if (!enabled) return { update: () => undefined, stop };
  return {
    update: (p) => {
      if (p.phase !== phase) {
        stop();
        phase = p.phase;
        bar = progressBar(p.phase.padEnd(16), true, p.total, p.done);
      } else bar?.update(p.done);
    },
    stop,
  };
}

export interface AdaptDeps {
  readonly showProgress?: boolean;
  /** Loads the base model's classifier (default: createClassifier with its backbones); used only when images must be read. */
  readonly loadClassifier?: (modelDir: string, executionProvider: ExecutionProviderChoice | undefined) => Promise<Classifier>;
}

export async function runAdapt(options: AdaptCliOptions, deps: AdaptDeps = {}): Promise<AdaptOutcome> {
  checkUsage(options);
  const method = (options.method ?? 'auto') as MethodRequest;
  if (!METHOD_REQUESTS.includes(method)) throw new AdaptUsageError(`--method must be one of ${METHOD_REQUESTS.join(', ')}, got "${options.method}"`);
  const seed = positiveInt('seed', options.seed);
  const repeats = positiveInt('repeats', options.repeats);
  const iterations = positiveInt('iterations', options.iterations);
  const executionProvider = providerOf(options as Record<string, unknown>);
  const base = await loadBaseModel(options.model ? resolve(options.model) : shippedModelDir());
  const progress = progressReporter(deps.showProgress ?? false);
  const load = deps.loadClassifier ?? ((modelDir, provider) => createClassifier({ modelDir, executionProvider: provider }));

  // The backbones load only when images must be read (a labels file, or a backfill).
  let classifier: Classifier | null = null;
  const classifierOf = async (): Promise<Classifier> => (classifier ??= await load(base.dir, executionProvider));
  let store: Store | null = null;
  try {
    let cases: CaseSet;
    if (options.labels !== undefined) {
      cases = await casesFromLabels(options.labels, { classifier: classifierOf, onProgress: progress.update });
    } else {
      store = openStore({ file: options.db! });
      const s = store;
      cases = await casesFromStore(s, {
        modelVersion: base.manifest.version,
        backfill: async () =>
          (
            await backfillFeatures(s, await classifierOf(), {
              modelVersion: base.manifest.version,
              onProgress: (b) => progress.update({ phase: 'backfill', done: b.handled, total: b.total }),
            })
          ).failed,
      });
    }
    const result = await runAdaptation({
      cases,
      base,
      method,
      onProgress: progress.update,
      ...(seed !== undefined ? { seed } : {}),
      ...(repeats !== undefined ? { repeats } : {}),
      ...(iterations !== undefined ? { bootstrapIterations: iterations } : {}),
    });
    let written: AdaptOutcome['written'] = null;
    if (result.model) {
      if (options.out) written = { ...(await writeModelFolderAt(result, resolve(options.out))), registered: false };
      else if (store) written = { ...(await writeLocalModel(result, createRegistry(store.dataDir, store), store.actor(), progress.update)), registered: true };
    }
    let report: string | null = null;
    if (options.report) {
      report = resolve(options.report);
      const rendered = await renderAdaptationReport({
        context: {
          clinicName: options.clinic ?? (store ? store.settings.getAll().clinicName : ''),
          generatedAt: new Date(),
          modelName: modelNameOf(base.manifest),
          modelVersion: written?.version ?? base.manifest.version,
          ...(options.timeZone ? { timeZone: options.timeZone } : {}),
        },
        summary: result.summary,
        localVersion: written?.version ?? null,
        adopted: null,
      });
      writeFileAtomic(report, rendered.pdf);
    }
    return { summary: result.summary, written, report };
  } finally {
    progress.stop();
    store?.close();
    if (classifier) await (classifier as Classifier).dispose();
  }
}

export function formatAdapt(outcome: AdaptOutcome): string {
  const s = outcome.summary;
  const { header, rows } = comparisonRows(s.candidates);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const excluded = Object.entries(s.cases.excludedReasons).map(([why, n]) => `${n} ${why}`);
  const out = [
    `base model ${s.base.version}; ${s.cases.count} confirmed cases (${s.cases.melanoma} melanoma, ${s.cases.benign} benign, ${s.cases.groups} groups) from ${s.cases.source === 'store' ? 'the store' : 'the labels file'}`,
    ...(excluded.length ? [`left out: ${excluded.join('; ')}`] : []),
    `cross-validation: ${s.cv.k}-fold x ${s.cv.repeats} repeats (seed ${s.cv.seed}), every figure out-of-fold on the same folds`,
    '',
    line(header),
    ...rows.map(line),
    '',
    ...s.choice.reasons.map((r) => `- ${r}`),
  ];
  if (outcome.written) {
    out.push(
      '',
      `local model ${outcome.written.version} (${s.method}) written to ${outcome.written.folder}`,
      outcome.written.registered
        ? 'registered in the store, not adopted: adopt it in the app (Model screen) to use it'
        : `use it with: DERMAFUSE_MODEL_DIR=${outcome.written.folder} dermafuse classify ...`,
    );
  } else out.push('', 'no local model written: the shipped model stays');
  if (outcome.report) out.push(`report: ${outcome.report}`);
  return out.join('\n');
}

export function registerAdapt(program: Command): void {
  program
    .command('adapt')
    .description('adapt the model to the clinic\u2019s confirmed cases (store or labels CSV), compare it with the shipped model by cross-validation and write a local model folder (never adopted here)')
    .option('--db <file>', 'the clinic\u2019s database (confirmed diagnoses in reviews)')
    .option('--labels <csv>', 'labels file: path,label[,patient][,lesion]; paths relative to it; label melanoma|malignant|benign')
    .option('--out <dir>', 'write the local model folder here (required with --labels; default with --db: a new local version in the store\u2019s data folder)')
    .addOption(new Option('--method <method>', 'adaptation method; auto lets cross-validation choose').choices([...METHOD_REQUESTS]).default('auto'))
    .option('--seed <n>', 'seed of the cross-validation folds and bootstrap')
    .option('--repeats <n>', 'cross-validation repeats (default 5)')
    .option('--iterations <n>', 'bootstrap resamples for the intervals (default 1000)')
    .option('--report <file.pdf>', 'also write the one-page comparison report')
    .option('--clinic <name>', 'clinic name for the report header')
    .option('--time-zone <zone>', 'IANA time zone for printed times (default UTC)')
    .option('--model <dir>', 'base model folder (default: the shipped model)')
    .option('--provider <name>', 'execution provider for reading images')
    .option('--json', 'machine-readable output')
    .action(async (opts: AdaptCliOptions) => {
      try {
        const outcome = await runAdapt(opts, { showProgress: !opts.json && Boolean(process.stderr.isTTY) });
        process.stdout.write((opts.json ? JSON.stringify(outcome, null, 2) : formatAdapt(outcome)) + '\n');
        process.exitCode = 0;
      } catch (error) {
        const known = error instanceof AdaptationInputError || error instanceof AdaptUsageError || error instanceof LocalModelError || error instanceof ManifestError;
        process.stderr.write(`dermafuse adapt: ${(error as Error).message}\n`);
        if (!known && process.env.DERMAFUSE_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
        process.exitCode = known ? 1 : 2;
      }
    });
}
