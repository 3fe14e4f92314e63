/**
 * In-domain comparison of two head recipes on the standard data protocol (training/data/protocol.ts,
 * the split fusion-v1 was chosen on): both are
 * trained on the training role from cached features, and scored on every evaluation set; the
 * difference (a - b) of AUC and specificity at 90% sensitivity comes with a paired cluster
 * bootstrap CI. This is how fusion-v2's in-domain cost against fusion-v1 is reported; nothing
 * here chooses anything (the recipe was chosen leave-one-source-out).
 *
 *   npx tsx training/scripts/compare-recipes.ts [--a shipped|v1|FILE.json] [--b v1|shipped|FILE.json]
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { buildProtocol } from '../data/protocol.ts';
import { DEFAULT_RECIPE, FUSION_V1_RECIPE, runRecipe, type Recipe } from '../build/experiment.ts';
import { pairedDifference, scoredSet, setMetrics } from '../studies/generalisation/loso.ts';
import { specificityAtSensitivity } from '../../electron/model/metrics.ts';

const opts = new Command()
  .option('--a <recipe>', "'shipped' (the default recipe), 'v1', or a JSON recipe file", 'shipped')
  .option('--b <recipe>', 'the same choices', 'v1')
  .parse()
  .opts<{ a: string; b: string }>();

function recipeOf(name: string): Recipe {
  if (name === 'shipped') return DEFAULT_RECIPE;
  if (name === 'v1') return FUSION_V1_RECIPE;
  return { ...DEFAULT_RECIPE, ...(JSON.parse(readFileSync(name, 'utf8')) as Partial<Recipe>) };
}

const protocol = await buildProtocol();
const train = protocol.items.filter((i) => i.role === 'train');
const scored = protocol.items.filter((i) => i.role !== 'train');
const runA = await runRecipe(recipeOf(opts.a), train, scored);
const runB = await runRecipe(recipeOf(opts.b), train, scored);
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
