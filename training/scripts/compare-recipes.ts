/**
 * Comparison of two head recipes on the data protocol (training/data/protocol.ts): both are
 * trained on the training role from cached features, and scored on every evaluation set; the
 * difference (a - b) of AUC and specificity at 90% sensitivity comes with a paired cluster
 * bootstrap CI on the same images. With --holdout a source is left out of training and
 * validation and tested whole (`loso:<source>`). Either recipe may read fine-tuned MobileNetV2
 * features (--a-mobilenet-graph / --b-mobilenet-graph, extracted beforehand). Nothing here
 * chooses anything: it reports.
 *
 *   npx tsx training/scripts/compare-recipes.ts [--a shipped|v1|FILE.json] [--b v1|shipped|FILE.json]
 *     [--a-mobilenet-graph ONNX] [--b-mobilenet-graph ONNX] [--holdout SOURCE]
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { buildProtocol, SOURCES, type Source } from '../data/protocol.ts';
import { DEFAULT_RECIPE, FUSION_V1_RECIPE, inceptionTaps, runRecipe, type Recipe } from '../build/experiment.ts';
import { describeGraph } from '../features/backbone-graphs.ts';
import { pairedDifference, scoredSet, setMetrics } from '../studies/generalisation/loso.ts';
import { specificityAtSensitivity } from '../../electron/model/metrics.ts';

const opts = new Command()
  .option('--a <recipe>', "'shipped' (the default recipe), 'v1', or a JSON recipe file", 'shipped')
  .option('--b <recipe>', 'the same choices', 'v1')
  .option('--a-mobilenet-graph <onnx>', 'recipe a reads features of this fine-tuned MobileNetV2 graph')
  .option('--b-mobilenet-graph <onnx>', 'recipe b reads features of this fine-tuned MobileNetV2 graph')
  .option('--holdout <source>', `leave this source out of training and validation (${SOURCES.join(' | ')})`)
  .parse()
  .opts<{ a: string; b: string; aMobilenetGraph?: string; bMobilenetGraph?: string; holdout?: Source }>();

async function recipeOf(name: string, mobilenetGraph?: string): Promise<Recipe> {
  const recipe = name === 'shipped' ? DEFAULT_RECIPE : name === 'v1' ? FUSION_V1_RECIPE : { ...DEFAULT_RECIPE, ...(JSON.parse(readFileSync(name, 'utf8')) as Partial<Recipe>) };
  if (!mobilenetGraph) return recipe;
  return { ...recipe, graphs: { ...recipe.graphs, mobilenet: await describeGraph(mobilenetGraph, 'mobilenet', inceptionTaps(recipe), recipe.scaling) } };
}

if (opts.holdout && !SOURCES.includes(opts.holdout)) throw new Error(`--holdout must be one of ${SOURCES.join(', ')}`);
const protocol = await buildProtocol(opts.holdout ? { holdOut: opts.holdout } : {});
const train = protocol.items.filter((i) => i.role === 'train');
const scored = protocol.items.filter((i) => i.role !== 'train');
const runA = await runRecipe(await recipeOf(opts.a, opts.aMobilenetGraph), train, scored);
const runB = await runRecipe(await recipeOf(opts.b, opts.bMobilenetGraph), train, scored);
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
