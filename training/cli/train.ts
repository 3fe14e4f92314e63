/**
 * `dermafuse train --data <folder>... --out <model-folder>`
 *
 * Rebuilds a model version from the labelled data: the data protocol, cached features (missing
 * ones are extracted, resumably, with a progress bar), the head, calibration and operating point on
 * validation data, metrics on the held-out test sets, plots and fixture predictions. With the
 * recipe stored in the shipped manifest (the default) and the same data it reproduces the shipped
 * head: seeds are fixed.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { sharedDir } from '../../electron/util/paths.ts';
import { buildCamBaseline } from '../build/cam-baseline-build.ts';
import { buildModel } from '../build/build-model.ts';
import { SOURCES, type Source } from '../data/protocol.ts';
import { formatSetTable } from '../build/evaluation.ts';
import { DEFAULT_RECIPE, FUSION_V1_RECIPE, inceptionTaps, type Recipe } from '../build/experiment.ts';
import { loadManifest, shippedGraphs, shippedModelDir } from '../../electron/model/manifest.ts';
import { describeGraph } from '../features/backbone-graphs.ts';

export interface TrainCliOptions {
  readonly data: string[];
  readonly out: string;
  readonly recipe?: string;
  readonly modelVersion?: string;
  readonly extract?: boolean;
  readonly holdout?: string;
  readonly fixtures?: string;
  readonly json?: boolean;
  /** Fine-tuned ONNX graphs (training/finetune exports) replacing the pinned backbones. */
  readonly mobilenetGraph?: string;
  readonly inceptionGraph?: string;
  /** JSON file describing how those graphs were fine-tuned, recorded in the manifest. */
  readonly fineTuning?: string;
  /** false: skip the Grad-CAM reference maps (commander's --no-cam-baseline). */
  readonly camBaseline?: boolean;
}

/** The folder holding ham10000/, isic2017/ and isic9/, from either that folder or the set folders. */
export function resolveDataRoot(folders: readonly string[]): string {
  const abs = folders.map((f) => resolve(f));
  const isRoot = (f: string): boolean => SOURCES.every((s) => existsSync(join(f, s, 'labels.csv')));
  if (abs.length === 1 && isRoot(abs[0]!)) return abs[0]!;
  const parents = new Set(abs.map((f) => dirname(f)));
  const names = abs.map((f) => basename(f));
  // The protocol needs all three sets; naming only some must not silently train on all of them.
  if (parents.size === 1 && SOURCES.every((s) => names.includes(s)) && names.length === SOURCES.length && isRoot([...parents][0]!)) return [...parents][0]!;
  throw new Error(`--data must name the folder holding ${SOURCES.join('/, ')}/ (each with labels.csv), or those folders themselves; got ${folders.join(', ')}`);
}

/** The recipe of the shipped model (so `train` reproduces it), else the built-in default. */
export function defaultRecipe(): Recipe {
  try {
    const dir = shippedModelDir();
    const manifest = loadManifest(dir);
    const stored = manifest.training.recipe as Partial<Recipe> | undefined;
    // Recipes stored before late fusion lack its fields: they are fusion-v1 recipes, not hybrids with the new default.
    // A fine-tuned model's graphs are the copies in its folder.
    const graphs = shippedGraphs(dir, manifest);
    if (stored) return { ...FUSION_V1_RECIPE, ...stored, ...(graphs.inception || graphs.mobilenet ? { graphs } : {}) };
  } catch {
    // No shipped model yet: the built-in default recipe.
  }
  return DEFAULT_RECIPE;
}

export async function runTrain(options: TrainCliOptions): Promise<number> {
  const dataDir = resolveDataRoot(options.data);
  const base: Recipe = options.recipe ? { ...DEFAULT_RECIPE, ...(JSON.parse(readFileSync(options.recipe, 'utf8')) as Partial<Recipe>) } : defaultRecipe();
  const taps = inceptionTaps(base);
  const inception = options.inceptionGraph ? await describeGraph(options.inceptionGraph, 'inception', taps, base.scaling) : base.graphs?.inception;
  const mobilenet = options.mobilenetGraph ? await describeGraph(options.mobilenetGraph, 'mobilenet', taps, base.scaling) : base.graphs?.mobilenet;
  const graphs = { ...(inception ? { inception } : {}), ...(mobilenet ? { mobilenet } : {}) };
  const recipe: Recipe = { ...base, graphs: inception || mobilenet ? graphs : undefined };
  if (options.holdout && !(SOURCES as readonly string[]).includes(options.holdout)) throw new Error(`--holdout must be one of ${SOURCES.join(', ')}`);
  const out = resolve(options.out);
  const bar = new SingleBar({ format: 'features |{bar}| {value}/{total} eta {eta_formatted}', stream: process.stderr, noTTYOutput: false }, Presets.shades_classic);
  let barTotal = -1;
  const log = (line: string): void => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
  const fixturesDir = options.fixtures ?? sharedDir('data', 'fixtures');
  const result = await buildModel({
    dataDir,
    out,
    recipe,
    version: options.modelVersion ?? basename(out),
    extract: options.extract !== false,
    ...(options.holdout ? { holdOut: options.holdout as Source } : {}),
    fixturesDir: existsSync(fixturesDir) ? fixturesDir : undefined,
    ...(options.fineTuning ? { fineTuning: JSON.parse(readFileSync(options.fineTuning, 'utf8')) as Record<string, unknown> } : {}),
    log,
    onExtractProgress: (done, total) => {
      if (options.json) return;
      if (total !== barTotal) {
        if (barTotal >= 0) bar.stop();
        bar.start(total, done);
        barTotal = total;
      }
      bar.update(done);
      if (done >= total) {
        bar.stop();
        barTotal = -1;
      }
    },
  });
  if (options.camBaseline !== false) {
    // Grad-CAM subtracts these maps; without them a retrained model would explain with stale ones.
    const camBar = new SingleBar({ format: 'cam baseline |{bar}| {value}/{total} eta {eta_formatted}', stream: process.stderr }, Presets.shades_classic);
    const cam = await buildCamBaseline(out, {
      protocol: result.protocol,
      onProgress: (done, total) => {
        if (options.json) return;
        if (done === 1) camBar.start(total, done);
        camBar.update(done);
        if (done >= total) camBar.stop();
      },
    });
    log(`cam baseline: ${cam.used} training images x ${cam.baseline.meta.views.length} views (${cam.failed} failed) written beside the manifest`);
  }
  if (options.json) {
    process.stdout.write(JSON.stringify({ out, manifest: result.manifest }, null, 2) + '\n');
  } else {
    process.stdout.write(`model ${result.manifest.version} written to ${out}\n`);
    const bias = result.manifest.calibrationBias;
    process.stdout.write(`temperature ${result.manifest.temperature.toFixed(3)}${bias ? `, calibration bias ${bias.toFixed(3)}` : ''}, threshold ${result.manifest.threshold.toFixed(4)}, tiers low < ${result.manifest.tiers.reviewAt.toFixed(4)} <= review < ${result.manifest.tiers.highAt.toFixed(4)} <= high\n`);
    process.stdout.write(formatSetTable(result.reports) + '\n');
  }
  return 0;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train the fusion head from labelled data (deterministic; reproduces the shipped model with its stored recipe)')
    .requiredOption('--data <folder...>', 'folder holding ham10000/, isic2017/, isic9/ (e.g. ../shared/data), or those folders')
    .requiredOption('--out <model-folder>', 'where to write head weights, manifest, plots')
    .option('--recipe <file>', 'JSON recipe overriding the shipped one (layers, pooling, head size, epochs, TTA, ...)')
    .option('--model-version <name>', 'model version name (default: the output folder name)')
    .option('--no-extract', 'do not extract missing features; images without cached features are left out and counted')
    .option('--holdout <source>', `leave-one-source-out build: ${SOURCES.join(' | ')} is only tested on`)
    .option('--fixtures <folder>', 'fixture set for stored predictions (default ../shared/data/fixtures)')
    .option('--mobilenet-graph <onnx>', 'fine-tuned MobileNetV2 graph (training/finetune export) to extract with and ship in the model folder')
    .option('--inception-graph <onnx>', 'fine-tuned InceptionV3 graph (outputs mixed5, mixed6, mixed7) to extract with and ship')
    .option('--fine-tuning <json>', 'how the graphs were fine-tuned (run settings, metrics), recorded in the manifest')
    .option('--json', 'machine-readable output')
    .option('--no-cam-baseline', 'do not compute the Grad-CAM reference maps (cam-baseline.json/.bin) for the new model')
    .action(async (opts: TrainCliOptions) => {
      try {
        process.exitCode = await runTrain(opts);
      } catch (error) {
        process.stderr.write(`train: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
