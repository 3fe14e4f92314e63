/**
 * The model card's tables, under the same protocol as the shipped model:
 *  - baselines: MobileNetV2 alone, InceptionV3 alone, the fusion (the shipped recipe with only
 *    the branches changed), AUC with bootstrap CIs on the test sets;
 *  - leave-one-source-out: the shipped recipe trained without one source, tested on all of it.
 *
 *   npx tsx training/scripts/report-tables.ts [--recipe file.json] [--only baselines|loso]
 *
 * Uses cached features only (run training/scripts/extract-features.ts first). Models go to
 * cacheDir('experiments'); the markdown goes to stdout and cacheDir('experiments', 'tables.md').
 */
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { cacheDir, sharedDir } from '../../electron/util/paths.ts';
import { buildModel } from '../build/build-model.ts';
import { SOURCES } from '../data/protocol.ts';
import type { SetReport } from '../build/evaluation.ts';
import { DEFAULT_RECIPE, type Recipe } from '../build/experiment.ts';
import { defaultRecipe } from '../cli/train.ts';
import type { Branch } from '../../electron/model/head.ts';

const opts = new Command().option('--recipe <file>').option('--only <what>').parse().opts<{ recipe?: string; only?: string }>();
const recipe: Recipe = opts.recipe ? { ...DEFAULT_RECIPE, ...(JSON.parse(readFileSync(opts.recipe, 'utf8')) as Partial<Recipe>) } : defaultRecipe();
const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const cell = (r: SetReport | undefined): string => (r ? `${f(r.auc)} [${f(r.aucCi[0])}, ${f(r.aucCi[1])}]` : 'n/a');
const out: string[] = [`recipe: \`${JSON.stringify(recipe)}\``, ''];
const print = (line: string): void => {
  out.push(line);
  console.log(line);
};

if (opts.only !== 'loso') {
  const variants: [string, Branch[]][] = [
    ['MobileNetV2 alone', ['mobilenet']],
    ['InceptionV3 alone', ['inception']],
    ['Fusion (shipped recipe)', ['inception', 'mobilenet']],
  ];
  print('| model | val (all) AUC [95% CI] | HAM10000 test (lesion-disjoint) AUC [95% CI] | ISIC 2017 val AUC [95% CI] | spec@90%sens HAM test | spec@90%sens ISIC 2017 val |');
  print('|---|---|---|---|---|---|');
  for (const [name, branches] of variants) {
    const { reports } = await buildModel({ dataDir: sharedDir('data'), out: cacheDir('experiments', `baseline-${branches.join('+')}`), recipe: { ...recipe, branches }, version: `baseline-${branches.join('+')}` });
    const ham = reports['test:ham10000'];
    const i17 = reports['test:isic2017'];
    print(`| ${name} | ${cell(reports['val:all'])} | ${cell(ham)} | ${cell(i17)} | ${f(ham?.specificityAt90Sensitivity ?? NaN)} | ${f(i17?.specificityAt90Sensitivity ?? NaN)} |`);
  }
  print('');
}

if (opts.only !== 'baselines') {
  print('| held-out source | n (melanoma) | AUC [95% CI] | spec@90%sens [95% CI] | sens / spec at the validation threshold |');
  print('|---|---|---|---|---|');
  for (const source of SOURCES) {
    const { reports } = await buildModel({ dataDir: sharedDir('data'), out: cacheDir('experiments', `loso-${source}`), recipe, version: `loso-${source}`, holdOut: source });
    const r = reports[`loso:${source}`];
    print(
      r
        ? `| ${source} | ${r.n} (${r.positives}) | ${cell(r)} | ${f(r.specificityAt90Sensitivity)} [${f(r.specificityAt90SensitivityCi[0])}, ${f(r.specificityAt90SensitivityCi[1])}] | ${f(r.sensitivity)} / ${f(r.specificity)} |`
        : `| ${source} | no features | | | |`,
    );
  }
}
writeFileSync(cacheDir('experiments', 'tables.md'), out.join('\n') + '\n');
