/**
 * `dermafuse report [--db FILE] (--visit ID | --batch ID | --lesion ID) --out FILE.pdf [--clinic NAME] [--json]`
 *
 * Writes the same PDF the app exports. The file appears whole or not at all (written beside the
 * target, then renamed), so a crash never leaves a truncated report that looks complete.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { isTimeZone } from '../report/document.ts';
import { renderReportFromStore, type ReportKind } from '../report/index.ts';
import { openStore } from '../store/index.ts';
import { createRegistry, modelInForce } from '../adaptation/registry.ts';
import { loadManifest, shippedModelDir } from '../model/manifest.ts';

export interface ReportCliOptions {
  readonly db?: string;
  readonly visit?: string;
  readonly batch?: string;
  readonly lesion?: string;
  readonly out: string;
  readonly clinic?: string;
  readonly timeZone?: string;
  readonly json?: boolean;
}

export interface ReportSummary {
  readonly kind: ReportKind;
  readonly id: number;
  readonly out: string;
  readonly pages: number;
  readonly bytes: number;
  readonly seconds: number;
}

export class ReportUsageError extends Error {
  override readonly name = 'ReportUsageError';
}

function parseTarget(options: ReportCliOptions): { kind: ReportKind; id: number } {
  const given = (['visit', 'batch', 'lesion'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) throw new ReportUsageError('give exactly one of --visit ID, --batch ID or --lesion ID');
  const kind = given[0]!;
  const raw = options[kind]!;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new ReportUsageError(`--${kind} expects a positive whole number, got "${raw}"`);
  }
  return { kind, id: Number(raw) };
}

async function writeWhole(out: string, bytes: Buffer): Promise<void> {
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, out);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** The version of the model in a folder (null: the shipped one); null when no manifest can be read. */
function modelVersionOf(dir: string | null): string | null {
  try {
    return loadManifest(dir ?? shippedModelDir()).version;
  } catch {
    return null;
  }
}

export async function runReport(options: ReportCliOptions): Promise<ReportSummary> {
  const { kind, id } = parseTarget(options);
  if (!options.out.toLowerCase().endsWith('.pdf')) throw new ReportUsageError(`--out must name a .pdf file, got "${options.out}"`);
  if (options.timeZone !== undefined && !isTimeZone(options.timeZone)) {
    throw new ReportUsageError(`--time-zone expects an IANA zone such as Europe/Warsaw or UTC, got "${options.timeZone}"`);
  }
  const out = resolve(options.out);
  const t0 = performance.now();
  // A report only reads: a mistyped --db must not create an empty database.
  if (options.db && !existsSync(options.db)) throw new ReportUsageError(`no database at ${resolve(options.db)}`);
  const store = openStore(options.db ? { file: options.db } : {});
  try {
    // As in the app: the clinic's adopted local model, when its files verify, is the model in force;
    // the report prints its version and cut-offs and shows each image's prediction by it.
    const inForce = modelInForce(createRegistry(store.dataDir, store));
    if (inForce.notice) process.stderr.write(`dermafuse report: ${inForce.notice}\n`);
    store.preferModelVersion(modelVersionOf(inForce.dir));
    const report = await renderReportFromStore(store, kind, id, {
      ...(options.clinic !== undefined ? { clinicName: options.clinic } : {}),
      ...(options.timeZone !== undefined ? { timeZone: options.timeZone } : {}),
      ...(inForce.dir ? { modelDir: inForce.dir } : {}),
    });
    await writeWhole(out, report.pdf);
    return { kind, id, out, pages: report.pages, bytes: report.pdf.length, seconds: (performance.now() - t0) / 1000 };
  } finally {
    store.close();
  }
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('Write a PDF report: one visit, a batch summary, or one lesion over time')
    .option('--db <file>', 'database file (default: the data folder setting)')
    .option('--visit <id>', 'report on this visit')
    .option('--batch <id>', 'summarise this batch')
    .option('--lesion <id>', 'follow this lesion across visits')
    .requiredOption('--out <file.pdf>', 'where to write the PDF')
    .option('--clinic <name>', 'clinic name for the header (default: the clinic-name setting)')
    .option('--time-zone <zone>', "IANA time zone for printed times (default: this machine's)")
    .option('--json', 'print the result as JSON')
    .action(async (options: ReportCliOptions) => {
      try {
        const summary = await runReport(options);
        if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`wrote ${summary.out} (${summary.kind} ${summary.id}, ${summary.pages} page(s), ${Math.round(summary.bytes / 1024)} kB) in ${summary.seconds.toFixed(1)} s\n`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (options.json) process.stdout.write(`${JSON.stringify({ error: message })}\n`);
        process.stderr.write(`dermafuse report: ${message}\n`);
        process.exitCode = error instanceof ReportUsageError ? 2 : 1;
      }
    });
}
