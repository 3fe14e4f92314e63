/**
 * Builds a model version folder from the data: protocol → features (cached, extracted when
 * missing) → head trained on the training split → calibration (temperature, plus the Platt offset
 * for recipes that ask for it, as fusion-v2's does), threshold presets and tiers fitted on the
 * validation split → metrics on the validation and (untouched until here) test sets → head
 * weights, manifest, plots and fixture predictions written to the output folder.
 *
 * This is what `dermafuse train` runs, and what produced the shipped model.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { OOD_JSON } from '../../electron/model/input-gate/ood.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { buildOodStats, oodTrainingSample, pooledExamples, writeOodStats } from '../studies/input-gate/build-ood-stats.ts';
import { join } from 'node:path';
import { chooseOperatingPoint, chooseOperatingPointBySource, chooseOperatingPoints, DEFAULT_TARGETS, fitPlatt, fitTemperature } from '../../electron/model/operating-rules.ts';
import { createClassifier } from '../../electron/model/classifier.ts';
import { buildProtocol, summarise, type Protocol, type ProtocolItem, type Source } from '../data/protocol.ts';
import { readLabelledFolder } from '../../electron/model/datasets.ts';
import { evaluateSets, otherMalignantReport, type SetReport } from './evaluation.ts';
import { inceptionTaps, runRecipe, EXTRACTED_LAYERS, type Recipe } from './experiment.ts';
import { graphEntry, type BackboneGraphs } from '../features/backbone-graphs.ts';
import { extractFeatures } from '../features/extract.ts';
import { headBackend } from '../head/tfjs-head.ts';
import { calibrate, type ModelManifest } from '../../electron/model/manifest.ts';
import type { ModelGraphEntry } from '../../electron/model/model-graph.ts';
import { thresholdMetrics } from '../../electron/model/metrics.ts';
import { CROP_POLICY } from '../features/extract.ts';
import { reliabilitySvg, rocSvg, svgToPng, type CurveInput } from '../../electron/model/plots.ts';
import { INCEPTION_SOURCE_SHA256, MOBILENET_V2_TFLITE, NSFWJS_INCEPTION_V3 } from '../../electron/model/weights.ts';

export interface BuildOptions {
  readonly dataDir: string;
  readonly out: string;
  readonly recipe: Recipe;
  readonly version: string;
  /** Extract features that are not cached yet (otherwise images without features are left out and counted). */
  readonly extract?: boolean;
  /** Leave-one-source-out build (not for shipping): this source is only tested on. */
  readonly holdOut?: Source;
  /** Fixture folder whose first images get stored predictions through the real pipeline. */
  readonly fixturesDir?: string;
  readonly fixtureCount?: number;
  /** How the recipe's fine-tuned graphs were made (run settings and metrics), recorded in the manifest. */
  readonly fineTuning?: Record<string, unknown>;
  readonly log?: (line: string) => void;
  readonly onExtractProgress?: (done: number, total: number) => void;
}

export interface BuildResult {
  readonly manifest: ModelManifest;
  readonly reports: Record<string, SetReport>;
  readonly protocol: Protocol;
}

const DATA_SOURCES = [
  { set: 'HAM10000', citation: 'Tschandl P, Rosendahl C, Kittler H. The HAM10000 dataset. Sci Data 5, 180161 (2018). doi:10.7910/DVN/DBW86T', licence: 'CC BY-NC 4.0' },
  { set: 'ISIC 2017 Part 3', citation: 'Codella NCF et al. Skin lesion analysis toward melanoma detection (ISIC 2017). ISBI 2018', licence: 'ISIC Archive: CC-0 / CC-BY-NC per image' },
  { set: 'ISIC 9-class teaching set', citation: 'ISIC Archive images (9 diagnostic classes)', licence: 'ISIC Archive: CC-0 / CC-BY-NC per image' },
];

function binaryValidation(items: readonly ProtocolItem[], logits: ReadonlyMap<string, number>): { logits: number[]; labels: number[]; sources: string[] } {
  const out = { logits: [] as number[], labels: [] as number[], sources: [] as string[] };
  for (const i of items) {
    if (i.role !== 'val' || i.label === 'other_malignant' || !logits.has(i.id)) continue;
    out.logits.push(logits.get(i.id)!);
    out.labels.push(i.label === 'malignant' ? 1 : 0);
    out.sources.push(i.source);
  }
  return out;
}

/**
 * Sensitivity / specificity of every evaluation set at each preset: reported only (the presets
 * were already fixed on validation data above).
 */
function operatingPointReport(
  scored: readonly ProtocolItem[],
  logits: ReadonlyMap<string, number>,
  temperature: number,
  points: Record<string, { threshold: number }>,
  bias = 0,
): Record<string, Record<string, { sensitivity: number; specificity: number }>> {
  const out: Record<string, Record<string, { sensitivity: number; specificity: number }>> = {};
  for (const [name, point] of Object.entries(points)) {
    out[name] = {};
    for (const set of [...new Set(scored.map((i) => i.evalSet))].sort()) {
      const members = scored.filter((i) => i.evalSet === set && i.label !== 'other_malignant' && logits.has(i.id));
      if (members.length === 0) continue;
      const m = thresholdMetrics(
        members.map((i) => calibrate(logits.get(i.id)!, temperature, bias)),
        members.map((i) => (i.label === 'malignant' ? 1 : 0)),
        point.threshold,
      );
      out[name][set] = { sensitivity: m.sensitivity, specificity: m.specificity };
    }
  }
  return out;
}

/** Copies the recipe's fine-tuned graphs into the model folder; returns their manifest entries. */
async function shipGraphs(graphs: BackboneGraphs | undefined, out: string): Promise<{ inception?: ModelGraphEntry; mobilenet?: ModelGraphEntry }> {
  const entries: { inception?: ModelGraphEntry; mobilenet?: ModelGraphEntry } = {};
  for (const [kind, file] of [['inception', 'inception_v3.onnx'], ['mobilenet', 'mobilenet_v2.onnx']] as const) {
    const ref = graphs?.[kind];
    if (!ref) continue;
    await copyFile(ref.path, join(out, file));
    entries[kind] = graphEntry(ref, file);
  }
  return entries;
}

export async function buildModel(options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? (() => undefined);
  const { recipe } = options;
  const protocol = await buildProtocol({ dataDir: options.dataDir, ...(options.holdOut ? { holdOut: options.holdOut } : {}) });
  log(`protocol: ${protocol.items.length} images kept, ${protocol.removed.length} removed`);
  const train = protocol.items.filter((i) => i.role === 'train');
  const scored = protocol.items.filter((i) => i.role !== 'train');

  if (options.extract) {
    const jobs: [readonly ProtocolItem[], readonly string[]][] = [
      [train, recipe.trainViews],
      [scored, recipe.tta],
    ];
    for (const [items, views] of jobs) {
      const r = await extractFeatures(items, { layers: EXTRACTED_LAYERS, scaling: recipe.scaling, colorConstancy: recipe.colorConstancy ?? 'none', views, inceptionOnly: !recipe.branches.includes('mobilenet'), graphs: recipe.graphs, onBatch: options.onExtractProgress });
      log(`features: ${r.computed} computed, ${r.skipped} cached, ${r.failed} failed (views ${views.join(', ')})`);
    }
  }

  const run = await runRecipe(recipe, train, scored);
  log(`head trained on ${run.trainCount.benign} benign + ${run.trainCount.malignant} melanoma (${run.trainCount.missing} without features), final loss ${run.losses.at(-1)?.toFixed(4)}`);

  const val = binaryValidation(scored, run.logits);
  const { temperature, bias } = recipe.calibration === 'platt' ? fitPlatt(val.logits, val.labels) : { temperature: fitTemperature(val.logits, val.labels), bias: 0 };
  const valP = val.logits.map((z) => calibrate(z, temperature, bias));
  const perSource = recipe.operatingPoints === 'per-source';
  const op = perSource ? chooseOperatingPointBySource(valP, val.labels, val.sources, DEFAULT_TARGETS) : chooseOperatingPoint(valP, val.labels, DEFAULT_TARGETS);
  const presets = chooseOperatingPoints(valP, val.labels, DEFAULT_TARGETS);
  // The 'sensitive' preset is the manifest's threshold, whichever rule chose it.
  const sensitive = thresholdMetrics(valP, val.labels, op.threshold);
  const operatingPoints = perSource ? { ...presets, sensitive: { threshold: op.threshold, valSensitivity: sensitive.sensitivity, valSpecificity: sensitive.specificity } } : presets;
  for (const [name, point] of Object.entries(operatingPoints)) {
    // Outside the review band a preset would label a 'high' image benign (or a 'low' one malignant).
    if (point.threshold < op.reviewAt || point.threshold > op.highAt) log(`warning: preset ${name} (threshold ${point.threshold.toFixed(4)}) lies outside the review tier ${op.reviewAt.toFixed(4)}..${op.highAt.toFixed(4)}`);
  }
  log(`calibration on ${val.labels.length} validation images: T=${temperature.toFixed(3)}${bias ? `, bias ${bias.toFixed(3)}` : ''}, threshold ${op.threshold.toFixed(4)}, tiers ${op.reviewAt.toFixed(4)} / ${op.highAt.toFixed(4)}`);

  const tiers = { reviewAt: op.reviewAt, highAt: op.highAt };
  const reports = evaluateSets(scored, run.logits, temperature, op.threshold, { bias, tiers });
  const pooledVal = evaluateSets(
    scored.filter((i) => i.role === 'val').map((i) => ({ ...i, evalSet: 'val:all' })),
    run.logits,
    temperature,
    op.threshold,
    { bias, tiers },
  );
  Object.assign(reports, pooledVal);
  const others: Record<string, unknown> = {};
  for (const set of [...new Set(scored.map((i) => i.evalSet))]) {
    const r = otherMalignantReport(scored.filter((i) => i.evalSet === set), run.logits, { temperature, calibrationBias: bias, threshold: op.threshold, tiers });
    if (r) others[set] = r;
  }

  await mkdir(options.out, { recursive: true });
  await run.head.save(options.out);
  const shipped = await shipGraphs(recipe.graphs, options.out);
  // The input gate's out-of-distribution statistics belong to this model's own features.
  const ood = buildOodStats(pooledExamples(oodTrainingSample(train), recipe), pooledExamples(scored.filter((i) => i.role === 'val'), recipe), {
    modelVersion: options.version,
    head: run.head.toRuntime(),
    command: 'dermafuse train',
  });
  writeOodStats(options.out, ood);
  const oodBySource = Object.entries(ood.header.mahalanobis.bySource ?? {}).map(([s, t]) => `${s} ${t.toFixed(3)}`);
  log(`input gate: out-of-distribution threshold ${ood.header.mahalanobis.threshold.toFixed(3)} (99.5th percentile of ${ood.header.mahalanobis.validation.n} validation images${oodBySource.length > 0 ? `, the highest of each source's: ${oodBySource.join(', ')}` : ''})`);

  const curves = (filter: (set: string) => boolean): CurveInput[] =>
    Object.entries(reports)
      .filter(([set]) => filter(set))
      .map(([set, r]) => {
        const members = scored.filter((i) => i.evalSet === set && i.label !== 'other_malignant' && run.logits.has(i.id));
        return { name: set, scores: members.map((i) => calibrate(run.logits.get(i.id)!, temperature, bias)), labels: members.map((i) => (i.label === 'malignant' ? 1 : 0)), auc: r.auc, aucCi: r.aucCi };
      });
  const testCurves = curves((s) => s.startsWith('test:') || s.startsWith('loso:'));
  if (testCurves.length > 0) {
    await writeFile(join(options.out, 'roc.png'), await svgToPng(rocSvg(testCurves, 'ROC, held-out test sets (melanoma vs benign)')));
    await writeFile(join(options.out, 'reliability.png'), await svgToPng(reliabilitySvg(testCurves, 'Reliability, held-out test sets')));
  }

  const taps = inceptionTaps(recipe);
  const manifest: ModelManifest = {
    version: options.version,
    createdAt: new Date().toISOString(),
    backbones: {
      inception_v3: {
        source: `npm:${NSFWJS_INCEPTION_V3.packageName}@${NSFWJS_INCEPTION_V3.version}/${NSFWJS_INCEPTION_V3.subdir}`,
        sha256: INCEPTION_SOURCE_SHA256,
        layers: taps,
        scaling: recipe.scaling,
        ...(shipped.inception ? { graph: shipped.inception } : {}),
      },
      mobilenet_v2: { source: MOBILENET_V2_TFLITE.url ?? MOBILENET_V2_TFLITE.fileName, sha256: MOBILENET_V2_TFLITE.sha256, ...(shipped.mobilenet ? { graph: shipped.mobilenet } : {}) },
    },
    preprocess: { crop: CROP_POLICY, colorConstancy: recipe.colorConstancy ?? 'none' },
    head: {
      file: 'head.json',
      pooling: recipe.pooling,
      branches: [...recipe.branches],
      ...(taps.length === 1 ? { inceptionLayer: taps[0] } : { inceptionLayers: taps }),
      fusion: recipe.fusion ?? 'early',
      hidden: [...run.head.config.hidden],
      dropout: recipe.dropout,
      config: run.head.config,
      trainedOn: headBackend(),
    },
    temperature,
    ...(bias ? { calibrationBias: bias } : {}),
    threshold: op.threshold,
    operatingPoints,
    tiers,
    tta: [...recipe.tta],
    inputGate: { oodStats: OOD_JSON, oodStatsSha256: sha256Hex(await readFile(join(options.out, OOD_JSON))) },
    metrics: { ...reports, other_malignant: others, operating_points: operatingPointReport(scored, run.logits, temperature, operatingPoints, bias) },
    training: {
      // Graph paths are this machine's; the manifest's backbones section names the shipped copies.
      recipe: { ...recipe, ...(recipe.graphs ? { graphs: shipped } : {}) },
      ...(options.fineTuning ? { fineTuning: options.fineTuning } : {}),
      targets: DEFAULT_TARGETS,
      protocol: { options: protocol.options, summary: summarise(protocol) },
      trainCount: run.trainCount,
      finalLoss: run.losses.at(-1),
      data: DATA_SOURCES,
      otherMalignant:
        recipe.otherMalignant === 'exclude'
          ? 'basal cell carcinoma, actinic keratosis / SCC are left out of training and of the melanoma-vs-benign metrics; their scores are reported under metrics.other_malignant'
          : 'basal cell carcinoma, actinic keratosis / SCC train as non-melanoma',
    },
  };

  if (options.fixturesDir && existsSync(join(options.fixturesDir, 'labels.csv'))) {
    manifest.fixturePredictions = 'fixture-predictions.json';
    await writeFile(join(options.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const rows = readLabelledFolder(options.fixturesDir);
    const half = Math.ceil((options.fixtureCount ?? 20) / 2);
    const chosen = [...rows.filter((r) => r.label === 'benign').slice(0, half), ...rows.filter((r) => r.label === 'malignant').slice(0, half)];
    const classifier = await createClassifier({ modelDir: options.out });
    const predictions = [];
    try {
      for (const row of chosen) {
        const r = await classifier.classifyFile(row.file);
        predictions.push({ path: row.path, label: row.label, pMalignant: r.classification.pMalignant, pMalignantRaw: r.classification.pMalignantRaw, tier: r.classification.tier, uncertainty: r.classification.uncertainty });
      }
    } finally {
      await classifier.dispose();
    }
    await writeFile(join(options.out, 'fixture-predictions.json'), JSON.stringify({ fixtures: 'shared/data/fixtures', tolerance: 1e-4, predictions }, null, 2) + '\n');
    log(`stored ${predictions.length} fixture predictions through the real pipeline`);
  }
  await writeFile(join(options.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  run.head.dispose();
  return { manifest, reports, protocol };
}
