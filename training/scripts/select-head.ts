/**
 * Hyper-parameter selection on VALIDATION data only (val:ham10000, val:isic2017, val:isic9; the
 * test sets are never scored here). Each stage varies one group of choices around a base recipe
 * and prints a table; results are appended to cacheDir('experiments', 'selection.jsonl').
 *
 *   npx tsx training/scripts/select-head.ts --stage taps|branches|head|other|scaling|tta [--base '<recipe json>']
 *     [--holdout ham10000|isic2017|isic9]
 */
import { Command } from 'commander';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cacheDir } from '../../electron/util/paths.ts';
import { buildProtocol, type ProtocolItem, type Source } from '../data/protocol.ts';
import { FUSION_V1_RECIPE, featureMatrix, runRecipe, type Recipe } from '../build/experiment.ts';
import { auc, specificityAtSensitivity } from '../../electron/model/metrics.ts';

const program = new Command()
  .requiredOption('--stage <name>', 'taps | layers | branches | head | epochs | other | scaling | tta | augment | one')
  .option('--base <json>', 'recipe fields overriding the fusion-v1 recipe', '{}')
  .option('--holdout <source>', 'leave-one-source-out: this source is not trained on')
  .option('--common-subset', 'train and score only images cached under every variant (e.g. a partial second scaling)')
  .parse();
const opts = program.opts<{ stage: string; base: string; holdout?: Source; commonSubset?: boolean }>();
// These stages chose fusion-v1's recipe (in-domain validation); fusion-v2's was chosen leave-one-source-out (training/scripts/loso.ts).
const base: Recipe = { ...FUSION_V1_RECIPE, ...(JSON.parse(opts.base) as Partial<Recipe>) };

function variants(stage: string): Record<string, Partial<Recipe>> {
  switch (stage) {
    case 'taps':
      return Object.fromEntries(
        ['mixed5', 'mixed6', 'mixed7'].flatMap((layer) => (['avg', 'avg+max'] as const).map((pooling) => [`${layer} ${pooling}`, { inceptionLayer: layer, pooling }])),
      );
    case 'layers':
      return Object.fromEntries(['mixed5', 'mixed6', 'mixed7'].map((layer) => [layer, { inceptionLayer: layer }]));
    case 'branches':
      return { mobilenet: { branches: ['mobilenet'] }, inception: { branches: ['inception'] }, fusion: { branches: ['inception', 'mobilenet'] } };
    case 'head':
      return {
        'logistic l2=1e-4': { hidden: [], dropout: 0 },
        'logistic l2=1e-3': { hidden: [], dropout: 0, train: { ...base.train, l2: 1e-3 } },
        'mlp64 d0.5': { hidden: [64], dropout: 0.5 },
        'mlp256 d0.5': { hidden: [256], dropout: 0.5 },
        'mlp256 d0.5 l2=1e-3': { hidden: [256], dropout: 0.5, train: { ...base.train, l2: 1e-3 } },
      };
    case 'epochs':
      return Object.fromEntries([10, 20, 40].map((e) => [`epochs ${e}`, { train: { ...base.train, epochs: e } }]));
    case 'other':
      return { 'other_malignant excluded': { otherMalignant: 'exclude' }, 'other_malignant as benign': { otherMalignant: 'benign' } };
    case 'scaling':
      return { unit: { scaling: 'unit' }, symmetric: { scaling: 'symmetric' } };
    case 'tta':
      return { 'no TTA': { tta: ['identity'] }, 'identity+hflip': { tta: ['identity', 'hflip'] } };
    case 'augment':
      return { 'train on identity': { trainViews: ['identity'] }, 'train on identity + hflip': { trainViews: ['identity', 'hflip'] } };
    case 'one':
      return { base: {} };
    default:
      throw new Error(`unknown stage ${stage}`);
  }
}

const protocol = await buildProtocol(opts.holdout ? { holdOut: opts.holdout } : {});
let train = protocol.items.filter((i) => i.role === 'train');
// LOSO scores the held-out source; otherwise validation only.
let scored = protocol.items.filter((i) => (opts.holdout ? i.evalSet === `loso:${opts.holdout}` || i.role === 'val' : i.role === 'val'));
if (opts.commonSubset) {
  const everywhere = (items: ProtocolItem[]): ProtocolItem[] => {
    const keys = items.map((i) => i.sha256);
    const missing = new Set<number>();
    for (const change of Object.values(variants(opts.stage))) {
      const recipe = { ...base, ...change };
      for (const view of new Set([...recipe.trainViews, ...recipe.tta])) featureMatrix(keys, recipe, view).missing.forEach((k) => missing.add(k));
    }
    return items.filter((_, k) => !missing.has(k));
  };
  train = everywhere(train);
  scored = everywhere(scored);
}

function setAuc(items: readonly ProtocolItem[], logits: Map<string, number>): { auc: number; spec90: number; n: number; mel: number } {
  const s: number[] = [];
  const y: number[] = [];
  for (const i of items) {
    if (i.label === 'other_malignant' || !logits.has(i.id)) continue;
    s.push(logits.get(i.id)!);
    y.push(i.label === 'malignant' ? 1 : 0);
  }
  return { auc: auc(s, y), spec90: specificityAtSensitivity(s, y, 0.9), n: y.length, mel: y.filter((v) => v === 1).length };
}

const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const sets = [...new Set(scored.map((i) => i.evalSet))].sort();
console.log(`stage ${opts.stage}${opts.holdout ? ` (LOSO ${opts.holdout})` : ''}; base ${JSON.stringify(base)}`);
console.log(`| variant | train ben/mel (missing) | val pooled AUC | spec@90 | ${sets.join(' AUC | ')} AUC | s |`);
console.log(`|---|---|---|---|${sets.map(() => '---|').join('')}---|`);
mkdirSync(cacheDir('experiments'), { recursive: true });
for (const [name, change] of Object.entries(variants(opts.stage))) {
  const recipe: Recipe = { ...base, ...change };
  const t0 = performance.now();
  const r = await runRecipe(recipe, train, scored);
  const seconds = (performance.now() - t0) / 1000;
  const pooled = setAuc(scored.filter((i) => i.role === 'val'), r.logits);
  const per = sets.map((s) => setAuc(scored.filter((i) => i.evalSet === s), r.logits));
  console.log(
    `| ${name} | ${r.trainCount.benign}/${r.trainCount.malignant} (${r.trainCount.missing}) | ${f(pooled.auc)} (n=${pooled.n}) | ${f(pooled.spec90)} | ${per.map((p) => `${f(p.auc)} (${p.n})`).join(' | ')} | ${seconds.toFixed(0)} |`,
  );
  appendFileSync(
    cacheDir('experiments', 'selection.jsonl'),
    JSON.stringify({ at: new Date().toISOString(), stage: opts.stage, holdout: opts.holdout ?? null, name, recipe, trainCount: r.trainCount, pooled, per: Object.fromEntries(sets.map((s, k) => [s, per[k]])) }) + '\n',
  );
  r.head.dispose();
}
