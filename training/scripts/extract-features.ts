/**
 * Extracts pooled backbone features of the protocol's images into the feature cache.
 * Resumable: rerun the same command after a kill and it continues where it stopped.
 *
 *   npx tsx training/scripts/extract-features.ts [--layers mixed5,mixed6,mixed7] [--scaling unit|symmetric]
 *     [--views identity,hflip] [--roles train,val,test] [--sets test:ham10000,...] [--limit N]
 *     [--inception-only] [--batch 8] [--holdout-free]
 *
 * Order: validation and test images first, then training melanoma and other classes, then the
 * many training nevi, so that a partial run still leaves a usable protocol.
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { buildProtocol, type ProtocolItem } from '../data/protocol.ts';
import { extractFeatures } from '../features/extract.ts';

const program = new Command()
  .option('--layers <list>', 'InceptionV3 taps', 'mixed5,mixed6,mixed7')
  .option('--scaling <s>', 'InceptionV3 input scaling: unit | symmetric', 'unit')
  .option('--views <list>', 'views: identity, hflip, vflip, rot90, rot180, rot270, aug<k>', 'identity')
  .option('--roles <list>', 'protocol roles to extract', 'train,val,test')
  .option('--sets <list>', 'only these evaluation sets (e.g. val:ham10000,test:isic2017,train)')
  .option('--labels <list>', 'only these labels', 'benign,malignant,other_malignant')
  .option('--limit <n>', 'at most this many images (after ordering)')
  .option('--batch <n>', 'batch size', '8')
  .option('--inception-only', 'skip MobileNetV2')
  .parse();
const opts = program.opts<{ layers: string; scaling: string; views: string; roles: string; sets?: string; labels: string; limit?: string; batch: string; inceptionOnly?: boolean }>();

function priority(item: ProtocolItem): number {
  if (item.role !== 'train') return 0;
  if (item.label === 'malignant') return 1;
  if (item.source !== 'ham10000' || item.diagnosis !== 'nv') return 2;
  return 3;
}

const protocol = await buildProtocol();
const roles = new Set(opts.roles.split(','));
const labels = new Set(opts.labels.split(','));
const sets = opts.sets ? new Set(opts.sets.split(',')) : undefined;
let items = protocol.items
  .filter((i) => roles.has(i.role) && labels.has(i.label) && (!sets || sets.has(i.evalSet)))
  .sort((a, b) => priority(a) - priority(b) || a.sha256.localeCompare(b.sha256));
if (opts.limit) items = items.slice(0, Number(opts.limit));
const scaling = opts.scaling === 'symmetric' ? 'symmetric' : 'unit';
console.log(`${new Date().toISOString()} extract: ${items.length} images, layers ${opts.layers}, scaling ${scaling}, views ${opts.views}`);

const bar = new cliProgress.SingleBar(
  { format: 'features |{bar}| {value}/{total} {rate}/s eta {eta_formatted} failed {failed}', noTTYOutput: true, notTTYSchedule: 15_000, etaBuffer: 200 },
  cliProgress.Presets.shades_classic,
);
let stop = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Finish the batch in flight (it is appended whole), then exit.
    stop = true;
  });
}
const t0 = performance.now();
let started = false;
const result = await extractFeatures(items, {
  layers: opts.layers.split(','),
  scaling,
  views: opts.views.split(','),
  batchSize: Number(opts.batch),
  inceptionOnly: Boolean(opts.inceptionOnly),
  onBatch: (done, total, failed) => {
    if (!started) {
      bar.start(total, 0, { rate: '0', failed: 0 });
      started = true;
    }
    bar.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(2), failed });
  },
  shouldStop: () => stop,
});
bar.stop();
const seconds = (performance.now() - t0) / 1000;
console.log(`${new Date().toISOString()} done: computed ${result.computed}, failed ${result.failed}, already cached ${result.skipped}, ${seconds.toFixed(0)} s, ${(result.computed / seconds).toFixed(2)} images/s`);
