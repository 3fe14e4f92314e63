/**
 * Computes the Grad-CAM reference feature maps of a model (cam-baseline.ts): the per-position mean
 * of both backbone maps over a seeded sample of TRAINING images of the data protocol, each under
 * several test-time views (so lesion content averages towards symmetric and what remains is what
 * the network does at fixed positions). Writes cam-baseline.json/.bin into the model folder and
 * prints the mean InceptionV3 / MobileNetV2 activation energy per row and column.
 *
 *   npx tsx scripts/cam-baseline.ts [--model DIR] [--images 160] [--views identity,hflip,vflip,rot180] [--seed 11]
 */
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { CAM_BASELINE_FORMAT, MeanMapAccumulator, expectedMeta, saveCamBaseline } from '../electron/model/cam-baseline.ts';
import { createClassifier } from '../electron/model/classifier.ts';
import { buildProtocol } from '../electron/model/data-protocol.ts';
import { seeded } from '../electron/model/faithfulness.ts';
import { loadManifest, shippedModelDir } from '../electron/model/manifest.ts';
import { VIEWS, type View } from '../electron/model/views.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    images: { type: 'string', default: '160' },
    views: { type: 'string', default: 'identity,hflip,vflip,rot180' },
    seed: { type: 'string', default: '11' },
  },
});
const modelDir = values.model ?? shippedModelDir();
const manifest = loadManifest(modelDir);
const views = values.views!.split(',').map((v) => v.trim()) as View[];
for (const v of views) if (!(VIEWS as readonly string[]).includes(v)) throw new Error(`unknown view ${v}`);
const count = Number(values.images);

const protocol = await buildProtocol();
const train = protocol.items.filter((i) => i.role === 'train').sort((a, b) => a.id.localeCompare(b.id));
const r = seeded(Number(values.seed));
for (let i = train.length - 1; i > 0; i--) {
  const j = Math.floor(r() * (i + 1));
  [train[i], train[j]] = [train[j]!, train[i]!];
}
const chosen = train.slice(0, count);

const classifier = await createClassifier({ modelDir, camBaseline: null });
const inc = new MeanMapAccumulator();
const mob = new MeanMapAccumulator();
const bar = new SingleBar({ format: 'cam baseline [{bar}] {value}/{total} | ETA {eta_formatted}', stream: process.stderr });
bar.start(chosen.length, 0);
let failed = 0;
for (const [n, item] of chosen.entries()) {
  try {
    const prepared = await classifier.prepareFile(item.file);
    const scored = await classifier.scoreViews(prepared, views);
    inc.add(scored.features.inception);
    mob.add(scored.features.mobilenet);
  } catch {
    failed++;
  }
  bar.update(n + 1);
}
bar.stop();
const inception = inc.mean();
const mobilenet = mob.mean();
const bySource: Record<string, number> = {};
for (const c of chosen) bySource[c.source] = (bySource[c.source] ?? 0) + 1;
await saveCamBaseline(modelDir, {
  inception,
  mobilenet,
  meta: {
    format: CAM_BASELINE_FORMAT,
    ...expectedMeta(manifest, manifest.head.inceptionLayer ?? classifier.head.config.inceptionLayer ?? manifest.backbones.inception_v3.layers[0]!),
    inceptionShape: inception.shape,
    mobilenetShape: mobilenet.shape,
    images: chosen.length - failed,
    views,
    source: `data protocol training role, seeded sample (seed ${values.seed}): ${JSON.stringify(bySource)}`,
    createdAt: new Date().toISOString(),
  },
});

function energy(map: { data: Float32Array; shape: readonly number[] }): { rows: number[]; cols: number[] } {
  const [, h, w, c] = map.shape as [number, number, number, number];
  const rows = new Array<number>(h).fill(0);
  const cols = new Array<number>(w).fill(0);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += map.data[(y * w + x) * c + k]!;
      rows[y]! += s / c / w;
      cols[x]! += s / c / h;
    }
  }
  return { rows, cols };
}
for (const [name, map] of [['InceptionV3', inception], ['MobileNetV2', mobilenet]] as const) {
  const e = energy(map);
  process.stdout.write(`${name} mean activation by row:    ${e.rows.map((v) => v.toFixed(3)).join(' ')}\n`);
  process.stdout.write(`${name} mean activation by column: ${e.cols.map((v) => v.toFixed(3)).join(' ')}\n`);
}
process.stdout.write(`wrote ${modelDir}/cam-baseline.{json,bin} from ${chosen.length - failed} images x ${views.length} views (${failed} failed)\n`);
await classifier.dispose();
