/**
 * How many training images the out-of-distribution statistics need: refits them from the feature
 * cache (identity-view pooled vectors of the training role, a fixed sample per source, as
 * `dermafuse train` does), sets the threshold on every validation image, and reports the share of
 * each in-distribution test set wrongly refused and of each out-of-distribution set caught. The
 * test and OOD vectors come from the input-gate study's pooled cache (run `input-gate.ts ood` first).
 *
 *   npx tsx training/scripts/ood-training-size.ts [--sizes 150,500,1500,100000] [--percentile 99.5]
 */
import { Command } from 'commander';
import { buildProtocol } from '../data/protocol.ts';
import { DEFAULT_RECIPE } from '../build/experiment.ts';
import { buildOodStats, oodTrainingSample, pooledExamples } from '../studies/input-gate/build-ood-stats.ts';
import { percentile } from '../studies/input-gate/ood-stats.ts';
import { readPooled, sampleItems } from '../studies/input-gate/ood-study.ts';
import { debianSets, syntheticSets } from '../studies/input-gate/ood-sets.ts';
import { decodeOodStats, oodScores } from '../../electron/model/input-gate/ood.ts';
import { FusionHead } from '../../electron/model/head.ts';
import { modelsDir, sharedDir } from '../../electron/util/paths.ts';

const o = new Command()
  .option('--sizes <list>', 'training images per source', '150,500,1500,100000')
  .option('--percentile <p>', 'validation percentile of the threshold', '99.5')
  .option('--k <n>', 'principal subspace size per branch', '48')
  .option('--rule <rule>', 'threshold over validation images: pooled | per-source', 'pooled')
  .parse()
  .opts<{ sizes: string; percentile: string; k: string; rule: string }>();

const head = await FusionHead.load(modelsDir('fusion-v2'));
const protocol = await buildProtocol();
const train = protocol.items.filter((i) => i.role === 'train');
const val = pooledExamples(protocol.items.filter((i) => i.role === 'val'), DEFAULT_RECIPE);
// The study's sample (same options as its README) names the held-out and OOD images.
const { items } = await sampleItems(sharedDir('data'), { trainPer: 150, valPer: 300, testPer: 200, faultsPer: 40, seed: 20261206 });
const studied = [...items.filter((i) => i.role !== 'train' && i.role !== 'val'), ...[...syntheticSets(), ...debianSets()].map((i) => ({ ...i, role: 'ood' as const }))];
const pooled = readPooled('fusion-v2');
const sets = [...new Set(studied.map((i) => i.set))];
const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

console.log(`| train images per source | n | threshold | ${sets.join(' | ')} |`);
console.log(`|---|---|---|${sets.map(() => '---').join('|')}|`);
for (const size of o.sizes.split(',').map(Number)) {
  const examples = pooledExamples(oodTrainingSample(train, size), DEFAULT_RECIPE);
  const built = buildOodStats(examples, val, { modelVersion: 'fusion-v2', head, k: Number(o.k), percentile: Number(o.percentile), perSourceMin: 0, command: 'ood-training-size' });
  const stats = decodeOodStats(built.header, built.bin);
  const valScores = val.map((v) => ({ source: v.source, score: oodScores(stats, { inception: v.inception, mobilenet: v.mobilenet }).mahalanobis }));
  const q = Number(o.percentile);
  // pooled: one percentile over every validation image (dominated by the largest source);
  // per-source: the highest of the sources' own percentiles, so each source keeps >= q% of its images.
  const threshold =
    o.rule === 'pooled'
      ? built.header.mahalanobis.threshold
      : Math.max(...[...new Set(valScores.map((v) => v.source))].map((s) => percentile(valScores.filter((v) => v.source === s).map((v) => v.score), q)));
  const shares = sets.map((set) => {
    const members = studied.filter((i) => i.set === set && pooled.has(i.id));
    const hit = members.filter((m) => {
      const r = pooled.get(m.id)!;
      return oodScores(stats, { inception: r.inception, mobilenet: r.mobilenet }, r.logits).mahalanobis > threshold;
    }).length;
    return `${pct(hit / Math.max(1, members.length))} (${members.length})`;
  });
  console.log(`| ${size} | ${examples.length} | ${threshold.toFixed(2)} | ${shares.join(' | ')} |`);
}
