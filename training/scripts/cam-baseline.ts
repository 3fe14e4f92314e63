/**
 * Computes the Grad-CAM reference feature maps of a model (cam-baseline.ts): the per-position mean
 * of both backbone maps over a seeded sample of TRAINING images of the data protocol, each under
 * several test-time views (so lesion content averages towards symmetric and what remains is what
 * the network does at fixed positions). Writes cam-baseline.json/.bin into the model folder and
 * prints the mean InceptionV3 / MobileNetV2 activation energy per row and column.
 *
 *   npx tsx training/scripts/cam-baseline.ts [--model DIR] [--images 160] [--views identity,hflip,vflip,rot180] [--seed 11]
 */
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { CAM_BASELINE_DEFAULTS, buildCamBaseline } from '../build/cam-baseline-build.ts';
import { shippedModelDir } from '../../electron/model/manifest.ts';
import type { View } from '../../electron/model/views.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    images: { type: 'string', default: String(CAM_BASELINE_DEFAULTS.images) },
    views: { type: 'string', default: CAM_BASELINE_DEFAULTS.views.join(',') },
    seed: { type: 'string', default: String(CAM_BASELINE_DEFAULTS.seed) },
  },
});
const modelDir = values.model ?? shippedModelDir();
const views = values.views!.split(',').map((v) => v.trim()) as View[];

const bar = new SingleBar({ format: 'cam baseline [{bar}] {value}/{total} | ETA {eta_formatted}', stream: process.stderr });
const { baseline, used, failed } = await buildCamBaseline(modelDir, {
  images: Number(values.images),
  views,
  seed: Number(values.seed),
  onProgress: (done, total) => {
    if (done === 1) bar.start(total, done);
    bar.update(done);
    if (done >= total) bar.stop();
  },
});
const { inception, mobilenet } = baseline;

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
process.stdout.write(`wrote ${modelDir}/cam-baseline.{json,bin} from ${used} images x ${views.length} views (${failed} failed)\n`);
