/**
 * `dermafuse evaluate-cached <dataset-folder>`: the clinical `evaluate` command with the model
 * factory's feature cache as its scorer (same backbones and head, pooled features stored on disk;
 * much faster on reruns). Metrics, plots and output are the runtime command's own.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { registerEvaluate, type Scorer } from '../../electron/cli/evaluate.ts';
import { progressBar, type ProgressBar } from '../../electron/cli/progress.ts';
import { inceptionLayersOf } from '../../electron/model/classifier.ts';
import type { LabelledRow } from '../../electron/model/datasets.ts';
import { calibrate, manifestPath, shippedGraphs } from '../../electron/model/manifest.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { EXTRACTED_LAYERS, featureMatrix } from '../build/experiment.ts';
import { extractFeatures } from '../features/extract.ts';
import { ensureHeadBackend, TfjsHead } from '../head/tfjs-head.ts';
import { predictPooled } from '../head/train-head.ts';

export const scoreWithCache: Scorer = async (rows, modelDir, manifest, showProgress, errors) => {
  const keyed: { row: LabelledRow; sha256: string }[] = [];
  for (const row of rows) {
    try {
      keyed.push({ row, sha256: sha256Hex(await readFile(row.file)) });
    } catch (error) {
      errors.push({ path: row.path, error: (error as Error).message });
    }
  }
  const spec = {
    branches: manifest.head.branches,
    inceptionLayer: manifest.head.inceptionLayer ?? manifest.backbones.inception_v3.layers[0]!,
    // The same taps, in the same order, that the live classifier joins along channels.
    inceptionLayers: inceptionLayersOf(manifest),
    scaling: manifest.backbones.inception_v3.scaling,
    pooling: manifest.head.pooling,
    colorConstancy: manifest.preprocess.colorConstancy,
    graphs: shippedGraphs(modelDir, manifest),
  };
  let bar: ProgressBar | undefined;
  await extractFeatures(
    keyed.map((k) => ({ file: k.row.file, sha256: k.sha256 })),
    {
      layers: EXTRACTED_LAYERS,
      scaling: spec.scaling,
      colorConstancy: spec.colorConstancy,
      views: manifest.tta,
      inceptionOnly: !spec.branches.includes('mobilenet'),
      graphs: spec.graphs,
      onBatch: (done, total) => {
        bar ??= progressBar('evaluate', showProgress, total);
        bar.update(done);
      },
    },
  );
  (bar as ProgressBar | undefined)?.stop();
  await ensureHeadBackend();
  const head = await TfjsHead.load(manifestPath(modelDir, join(manifest.head.file, '..')));
  const sums = new Map<number, number[]>();
  for (const view of manifest.tta) {
    const m = featureMatrix(keyed.map((k) => k.sha256), spec, view);
    const logits = predictPooled(head, m.x, keyed.length);
    keyed.forEach((_, i) => {
      if (!m.missing.has(i)) sums.set(i, [...(sums.get(i) ?? []), logits[i]!]);
    });
  }
  head.dispose();
  const out = new Map<LabelledRow, number>();
  keyed.forEach((k, i) => {
    const v = sums.get(i);
    if (v && v.length === manifest.tta.length) out.set(k.row, calibrate(v.reduce((a, b) => a + b, 0) / v.length, manifest.temperature, manifest.calibrationBias));
    else errors.push({ path: k.row.path, error: 'features could not be extracted (unreadable image)' });
  });
  return out;
};

export function registerEvaluateCached(program: Command): void {
  registerEvaluate(program, {
    name: 'evaluate-cached',
    description: 'model factory: `evaluate` through the on-disk feature cache (same backbones and head; fast on reruns)',
    score: scoreWithCache,
  });
}
