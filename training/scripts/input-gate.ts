/**
 * The input gate's measurements.
 *
 *   npx tsx training/scripts/input-gate.ts measure [--data ../shared/data] [--target 0.995] [--out electron/model/input-gate/thresholds.json]
 *       quality scores of every image of every source (cached in ~/.cache/dermafuse/input-gate/),
 *       thresholds chosen so each source keeps >= target through all checks together; prints the pass rates.
 *   npx tsx training/scripts/input-gate.ts ood [--model models/fusion-v2] [--train-per-source 200] [--val-per-source 200]
 *       [--ood-dir /usr/share/wallpapers,...] [--faults-per-source 40] [--out-stats <file>]
 *       pooled features of a protocol sample (train: statistics; val: threshold) and of the OOD sets,
 *       through the backbones on one thread; writes the OOD statistics file and prints catch rates / AUROC.
 *
 * Uses one CPU thread (sharp.concurrency(1), onnxruntime intra-op 1): it shares the machine with training.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { cacheDir, modelsDir, sharedDir } from '../../electron/util/paths.ts';
import { QUALITY_CODES } from '../../electron/model/input-gate/quality.ts';
import { chooseThresholds, GATE_SOURCES, scoreSources } from '../studies/input-gate/quality-measure.ts';
import { debianSets, syntheticSets } from '../studies/input-gate/ood-sets.ts';
import { extractMissing, loadModelParts, readPooled, sampleItems, type StudyItem } from '../studies/input-gate/ood-study.ts';
import { analyseOod, printOodReport } from '../studies/input-gate/ood-analysis.ts';

sharp.concurrency(1);

const program = new Command().name('input-gate');

program
  .command('measure')
  .option('--data <dir>', 'labelled data folder', sharedDir('data'))
  .option('--sources <list>', 'sources', GATE_SOURCES.join(','))
  .option('--target <share>', 'share of each source that must pass all checks together (split evenly over the checks)', '0.995')
  .option('--out <file>', 'thresholds file', 'electron/model/input-gate/thresholds.json')
  .action(async (o: { data: string; sources: string; target: string; out: string }) => {
    const sources = o.sources.split(',');
    const t0 = Date.now();
    let last = 0;
    const images = await scoreSources(o.data, sources, (done, total) => {
      if (Date.now() - last > 5000 || done === total) {
        last = Date.now();
        process.stderr.write(`quality ${done}/${total} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    });
    const file = chooseThresholds(images, Number(o.target), {
      command: `npx tsx training/scripts/input-gate.ts measure --target ${o.target}`,
      dataDir: '../shared/data',
      sources,
      images: images.length,
    });
    writeFileSync(resolve(o.out), JSON.stringify(file, null, 2) + '\n');
    console.log(`thresholds (target: each source keeps >= ${(100 * file.targetPass).toFixed(1)}% through all checks together):`);
    for (const code of QUALITY_CODES) {
      for (const r of file.checks[code]) {
        console.log(`  ${code.padEnd(13)} ${r.metric.padEnd(16)} ${r.min !== undefined ? '>=' : '<='} ${(r.min ?? r.max)!.toPrecision(4)}`);
      }
    }
    const header = ['source', 'n', ...QUALITY_CODES, 'all checks', 'refused'];
    console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
    for (const [source, row] of Object.entries(file.passRates)) {
      const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
      console.log(`| ${source} | ${row.n} | ${QUALITY_CODES.map((c) => pct(row[c]!)).join(' | ')} | ${pct(row.all!)} | ${pct(1 - row.all!)} |`);
    }
    console.log(`\nwrote ${o.out} (${images.length} images, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });

program
  .command('ood')
  .option('--data <dir>', 'labelled data folder', sharedDir('data'))
  .option('--model <dir>', 'model version folder', modelsDir('fusion-v2'))
  .option('--train-per-source <n>', 'training images per source (statistics)', '150')
  .option('--val-per-source <n>', 'validation images per source (threshold)', '150')
  .option('--test-per-set <n>', 'images of test:ham10000, test:isic2017 and derm7pt (reported only)', '100')
  .option('--faults <n>', 'validation images per simulated fault', '40')
  .option('--k <n>', 'principal subspace size per branch', '48')
  .option('--percentile <p>', 'validation percentile of the OOD threshold', '99.5')
  .option('--use <score>', 'score the gate refuses on: mahalanobis | energy', 'mahalanobis')
  .option('--max-minutes <m>', 'extraction budget for this run (resumable)', '10')
  .option('--threads <n>', 'onnxruntime intra-op threads', '1')
  .option('--seed <n>', 'sampling seed', '20261206')
  .option('--out <dir>', 'where ood-stats.json/.bin and the per-image scores go', cacheDir('input-gate', 'fusion-v2'))
  .action(async (o: Record<string, string>) => {
    const log = (s: string): void => void process.stderr.write(s + '\n');
    const { items: sample } = await sampleItems(o.data!, { trainPer: Number(o.trainPerSource), valPer: Number(o.valPerSource), testPer: Number(o.testPerSet), faultsPer: Number(o.faults), seed: Number(o.seed) });
    const ood: StudyItem[] = [...syntheticSets(), ...debianSets()].map((i) => ({ ...i, role: 'ood' as const, label: -1 }));
    const rank: Record<string, number> = { val: 0, train: 1, ood: 2, 'id-test': 3 };
    const items = [...sample, ...ood].sort((a, b) => rank[a.role]! - rank[b.role]! + (a.set.startsWith('fault:') ? 0.5 : 0) - (b.set.startsWith('fault:') ? 0.5 : 0));
    const parts = await loadModelParts(o.model!, Number(o.threads));
    const model = parts.manifest.version;
    const t0 = Date.now();
    const res = await extractMissing(parts, model, items, t0 + Number(o.maxMinutes) * 60_000, log);
    await parts.backbones.dispose();
    log(`extraction: ${res.computed} computed in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${res.failed.length} failed, ${res.remaining} left for the next run`);
    for (const f of res.failed) log(`  failed ${f}`);
    const pooled = readPooled(model);
    mkdirSync(o.out!, { recursive: true });
    const report = analyseOod(items, pooled, parts, {
      k: Number(o.k),
      percentile: Number(o.percentile),
      use: o.use as 'mahalanobis' | 'energy',
      outDir: o.out!,
      command: `npx tsx training/scripts/input-gate.ts ood --train-per-source ${o.trainPerSource} --val-per-source ${o.valPerSource} --test-per-set ${o.testPerSet} --faults ${o.faults} --k ${o.k} --percentile ${o.percentile} --seed ${o.seed}`,
    });
    printOodReport(report);
    writeFileSync(join(o.out!, 'ood-report.json'), JSON.stringify(report, null, 2) + '\n');
    log(`wrote ${join(o.out!, 'ood-stats.json')}, ood-stats.bin, ood-report.json`);
  });

await program.parseAsync();
