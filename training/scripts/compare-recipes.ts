/**
 * Comparison of two head recipes on the data protocol (training/data/protocol.ts): both are
 * trained on the training role from cached features, and scored on every evaluation set; the
 * difference (a - b) of AUC and specificity at 90% sensitivity comes with a paired cluster
 * bootstrap CI on the same images. With --holdout a source is left out of training and
 * validation and tested whole (`loso:<source>`). Either recipe may read fine-tuned backbone
 * features (--a-mobilenet-graph / --a-inception-graph and the same for b; missing features are
 * extracted first, resumably). Nothing here chooses anything: it reports.
 *
 *   npx tsx training/scripts/compare-recipes.ts [--a fusion-v2|fusion-v1|FILE.json] [--b fusion-v1|fusion-v2|FILE.json]
 *     [--a-mobilenet-graph ONNX] [--a-inception-graph ONNX] [--b-mobilenet-graph ONNX] [--b-inception-graph ONNX] [--holdout SOURCE]
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { buildProtocol, SOURCES, type Source } from '../data/protocol.ts';
import { DEFAULT_RECIPE, EXTRACTED_LAYERS, FUSION_V1_RECIPE, inceptionTaps, runRecipe, type Recipe } from '../build/experiment.ts';
import { extractFeatures } from '../features/extract.ts';
import { describeGraph } from '../features/backbone-graphs.ts';
import { pairedDifference, scoredSet, setMetrics } from '../studies/generalisation/loso.ts';
import { specificityAtSensitivity } from '../../electron/model/metrics.ts';

const opts = new Command()
  .option('--a <recipe>', "'fusion-v2' (the default recipe), 'fusion-v1', or a JSON recipe file (over the default)", 'fusion-v2')
  .option('--b <recipe>', 'the same choices', 'fusion-v1')
  .option('--a-mobilenet-graph <onnx>', 'recipe a reads features of this fine-tuned MobileNetV2 graph')
  .option('--b-mobilenet-graph <onnx>', 'recipe b reads features of this fine-tuned MobileNetV2 graph')
  .option('--a-inception-graph <onnx>', 'recipe a reads features of this fine-tuned InceptionV3 graph')
  .option('--b-inception-graph <onnx>', 'recipe b reads features of this fine-tuned InceptionV3 graph')
  .option('--holdout <source>', `leave this source out of training and validation (${SOURCES.join(' | ')})`)
  .parse()
  .opts<{ a: string; b: string; aMobilenetGraph?: string; bMobilenetGraph?: string; aInceptionGraph?: string; bInceptionGraph?: string; holdout?: Source }>();

async function recipeOf(name: string, graphs: { mobilenet?: string; inception?: string }): Promise<Recipe> {
  const recipe = name === 'fusion-v2' ? DEFAULT_RECIPE : name === 'fusion-v1' ? FUSION_V1_RECIPE : { ...DEFAULT_RECIPE, ...(JSON.parse(readFileSync(name, 'utf8')) as Partial<Recipe>) };
  const taps = inceptionTaps(recipe);
  return {
    ...recipe,
    graphs: {
      ...recipe.graphs,
      ...(graphs.mobilenet ? { mobilenet: await describeGraph(graphs.mobilenet, 'mobilenet', taps, recipe.scaling) } : {}),
      ...(graphs.inception ? { inception: await describeGraph(graphs.inception, 'inception', taps, recipe.scaling) } : {}),
    },
  };
}

if (opts.holdout && !SOURCES.includes(opts.holdout)) throw new Error(`--holdout must be one of ${SOURCES.join(', ')}`);
const protocol = await buildProtocol(opts.holdout ? { holdOut: opts.holdout } : {});
const train = protocol.items.filter((i) => i.role === 'train');
const scored = protocol.items.filter((i) => i.role !== 'train');
const recipeA = await recipeOf(opts.a, { mobilenet: opts.aMobilenetGraph, inception: opts.aInceptionGraph });
const recipeB = await recipeOf(opts.b, { mobilenet: opts.bMobilenetGraph, inception: opts.bInceptionGraph });
// A fine-tuned graph's features may not be cached yet: extract what is missing (resumable).
for (const recipe of [recipeA, recipeB]) {
  if (!recipe.graphs) continue;
  for (const [items, views] of [[train, recipe.trainViews], [scored, recipe.tta]] as const) {
    await extractFeatures(items, { layers: EXTRACTED_LAYERS, scaling: recipe.scaling, colorConstancy: recipe.colorConstancy ?? 'none', views, inceptionOnly: !recipe.branches.includes('mobilenet'), graphs: recipe.graphs });
  }
}
const runA = await runRecipe(recipeA, train, scored);
const runB = await runRecipe(recipeB, train, scored);
const f = (v: number): string => v.toFixed(3);
const spec90 = (s: number[], l: number[]): number => specificityAtSensitivity(s, l, 0.9);
console.log(`| set | n (mel) | ${opts.a} AUC [95% CI] | ${opts.b} AUC [95% CI] | AUC difference [95% CI] | spec@90 difference [95% CI] |`);
console.log('|---|---|---|---|---|---|');
for (const set of [...new Set(scored.map((i) => i.evalSet))].sort()) {
  const items = scored.filter((i) => i.evalSet === set);
  const a = scoredSet(items, runA.logits);
  const b = scoredSet(items, runB.logits);
  const ma = setMetrics(a);
  const mb = setMetrics(b);
  const dAuc = pairedDifference(a, b);
  const dSpec = pairedDifference(a, b, spec90);
  console.log(
    `| ${set} | ${ma.n} (${ma.melanoma}) | ${f(ma.auc)} [${f(ma.aucCi[0])}, ${f(ma.aucCi[1])}] | ${f(mb.auc)} [${f(mb.aucCi[0])}, ${f(mb.aucCi[1])}] | ` +
      `${f(dAuc.diff)} [${f(dAuc.ci[0])}, ${f(dAuc.ci[1])}] | ${f(dSpec.diff)} [${f(dSpec.ci[0])}, ${f(dSpec.ci[1])}] |`,
  );
}
runA.head.dispose();
runB.head.dispose();
