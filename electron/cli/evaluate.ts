/**
 * `dermafuse evaluate <dataset-folder> [--split NAME] [--json] [--plots DIR]`
 *
 * The folder holds labels.csv (`path,label[,split]`); labels other than benign / malignant are
 * skipped and counted. Images are classified through the real pipeline (preprocess → backbones →
 * head → temperature, with the model's test-time views), or with --cached through the feature
 * cache (same backbones and head, pooled features stored on disk; much faster on reruns). Prints
 * AUC with a bootstrap 95% CI (resampling `lesion_id` clusters when the CSV has that column),
 * accuracy, balanced accuracy, sensitivity, specificity, PPV, NPV, F1, ECE and the confusion matrix
 * at the model's threshold.
 */
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createClassifier } from '../model/classifier.ts';
import { binaryTarget, readLabelledFolder, type LabelledRow } from '../model/datasets.ts';
import { loadManifest, shippedModelDir, type ModelManifest } from '../model/manifest.ts';
import { evaluateScores, type EvaluationReport } from '../model/metrics.ts';
import { reliabilitySvg, rocSvg, svgToPng } from '../model/plots.ts';
import { progressBar } from './progress.ts';

export interface EvaluateCliOptions {
  readonly split?: string;
  readonly json?: boolean;
  readonly plots?: string;
  readonly model?: string;
  readonly iterations?: string;
}

export interface EvaluateSummary {
  readonly dataset: string;
  readonly split: string | null;
  readonly modelVersion: string;
  readonly counts: { rows: number; scored: number; skippedLabels: Record<string, number>; errors: number };
  readonly errors: { path: string; error: string }[];
  readonly metrics: EvaluationReport | null;
  /** Calibrated P(melanoma) of every scored row, in CSV order. */
  readonly predictions: { path: string; label: string; p: number }[];
}

/** Calibrated P(melanoma) per row; rows that could not be scored are left out and reported in `errors`. */
export type Scorer = (rows: readonly LabelledRow[], modelDir: string, manifest: ModelManifest, showProgress: boolean, errors: EvaluateSummary['errors']) => Promise<Map<LabelledRow, number>>;

interface Scored {
  row: LabelledRow;
  target: 0 | 1;
  p: number;
}

const scoreWithPipeline: Scorer = async (rows, modelDir, _manifest, showProgress, errors) => {
  const classifier = await createClassifier({ modelDir });
  const out = new Map<LabelledRow, number>();
  const bar = progressBar('evaluate', showProgress, rows.length);
  try {
    for (const row of rows) {
      try {
        out.set(row, (await classifier.classifyFile(row.file)).classification.pMalignant);
      } catch (error) {
        errors.push({ path: row.path, error: (error as Error).message });
      }
      bar.tick();
    }
  } finally {
    bar.stop();
    await classifier.dispose();
  }
  return out;
};

export async function runEvaluate(folder: string, options: EvaluateCliOptions, score: Scorer = scoreWithPipeline): Promise<EvaluateSummary> {
  const modelDir = options.model ? resolve(options.model) : shippedModelDir();
  const manifest = loadManifest(modelDir);
  const all = readLabelledFolder(folder, options.split);
  const skippedLabels: Record<string, number> = {};
  const usable = all.filter((r) => {
    if (binaryTarget(r.label) !== undefined) return true;
    skippedLabels[r.label || '(empty)'] = (skippedLabels[r.label || '(empty)'] ?? 0) + 1;
    return false;
  });
  const errors: EvaluateSummary['errors'] = [];
  const showProgress = !options.json && Boolean(process.stderr.isTTY);
  const probabilities = await score(usable, modelDir, manifest, showProgress, errors);
  const scored: Scored[] = usable.filter((r) => probabilities.has(r)).map((row) => ({ row, target: binaryTarget(row.label)!, p: probabilities.get(row)! }));
  const p = scored.map((s) => s.p);
  const y = scored.map((s) => s.target);
  const hasLesions = scored.length > 0 && scored.every((s) => s.row.columns.lesion_id);
  const metrics =
    scored.length > 0
      ? evaluateScores(p, y, manifest.threshold, { iterations: Number(options.iterations ?? 2000), ...(hasLesions ? { groups: scored.map((s) => s.row.columns.lesion_id!) } : {}) })
      : null;
  if (options.plots && metrics) {
    await mkdir(options.plots, { recursive: true });
    const curve = [{ name: `${manifest.version}${options.split ? ` (${options.split})` : ''}`, scores: p, labels: y, auc: metrics.auc, aucCi: metrics.aucCi }];
    await writeFile(join(options.plots, 'roc.png'), await svgToPng(rocSvg(curve)));
    await writeFile(join(options.plots, 'reliability.png'), await svgToPng(reliabilitySvg(curve)));
  }
  return {
    dataset: resolve(folder),
    split: options.split ?? null,
    modelVersion: manifest.version,
    counts: { rows: all.length, scored: scored.length, skippedLabels, errors: errors.length },
    errors,
    metrics,
    predictions: scored.map((s) => ({ path: s.row.path, label: s.row.label, p: s.p })),
  };
}

export function formatEvaluation(s: EvaluateSummary): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
  const lines = [
    `dataset ${s.dataset}${s.split ? ` (split ${s.split})` : ''}, model ${s.modelVersion}`,
    `images: ${s.counts.rows} rows, ${s.counts.scored} scored, ${s.counts.errors} errors, skipped labels: ${Object.entries(s.counts.skippedLabels).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
  ];
  const m = s.metrics;
  if (!m) return [...lines, 'no image could be scored'].join('\n');
  lines.push(
    `melanoma ${m.positives}, benign ${m.n - m.positives}`,
    `AUC ${f(m.auc)} (95% CI ${f(m.aucCi[0])}-${f(m.aucCi[1])}); specificity at 90% sensitivity ${f(m.specificityAt90Sensitivity)}`,
    `at threshold ${m.threshold.toFixed(4)}: accuracy ${f(m.accuracy)}, balanced accuracy ${f(m.balancedAccuracy)}, sensitivity ${f(m.sensitivity)}, specificity ${f(m.specificity)}, PPV ${f(m.ppv)}, NPV ${f(m.npv)}, F1 ${f(m.f1)}`,
    `expected calibration error ${f(m.ece)}`,
    'confusion matrix (rows: truth, columns: predicted)',
    `               melanoma  benign`,
    `  melanoma   ${String(m.confusion.tp).padStart(9)} ${String(m.confusion.fn).padStart(7)}`,
    `  benign     ${String(m.confusion.fp).padStart(9)} ${String(m.confusion.tn).padStart(7)}`,
  );
  for (const e of s.errors.slice(0, 20)) lines.push(`error: ${e.path}: ${e.error}`);
  if (s.errors.length > 20) lines.push(`... and ${s.errors.length - 20} more errors`);
  return lines.join('\n');
}

/** A variant of the command with another scorer (the model factory's feature-cache path). */
export interface EvaluateVariant {
  readonly name: string;
  readonly description: string;
  readonly score: Scorer;
}

const CLINICAL: EvaluateVariant = {
  name: 'evaluate',
  description: 'evaluate the model on a labelled folder (labels.csv: path,label[,split]; benign/malignant scored, other labels skipped and counted)',
  score: scoreWithPipeline,
};

export function registerEvaluate(program: Command, variant: EvaluateVariant = CLINICAL): void {
  program
    .command(`${variant.name} <dataset-folder>`)
    .description(variant.description)
    .option('--split <name>', 'only rows of this split')
    .option('--json', 'machine-readable output')
    .option('--plots <dir>', 'write roc.png and reliability.png here')
    .option('--model <dir>', 'model folder (default: the shipped model)')
    .option('--iterations <n>', 'bootstrap resamples', '2000')
    .action(async (folder: string, opts: EvaluateCliOptions) => {
      try {
        const summary = await runEvaluate(folder, opts, variant.score);
        process.stdout.write((opts.json ? JSON.stringify(summary, null, 2) : formatEvaluation(summary)) + '\n');
        process.exitCode = summary.metrics ? 0 : 1;
      } catch (error) {
        process.stderr.write(`${variant.name}: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
