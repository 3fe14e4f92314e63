/**
 * Feature extraction into the cache: preprocess → view/augmentation → both backbones → global
 * avg/max pooling of every requested tap → append to the feature stores. Resumable: images whose
 * records exist are skipped, and each batch is appended as soon as it is computed.
 *
 * The next batch is decoded (sharp, libuv threads) while the current one runs in onnxruntime,
 * so preprocessing hides behind inference.
 */
import { concatArrays } from '../../electron/util/typed-arrays.ts';
import { readFile } from 'node:fs/promises';
import { Backbones, INCEPTION_INPUT_SIZE, MOBILENET_INPUT_SIZE } from '../../electron/model/backbones.ts';
import { FeatureStore, pendingJobs, poolMap, type FeatureSpace } from './feature-cache.ts';
import { seededRandom } from '../../electron/model/metrics.ts';
import { PREPROCESS_VERSION, prepareBuffer, type ColorConstancy } from '../../electron/model/preprocess.ts';
import { augmentTransform, type AugmentOptions } from './augment.ts';
import type { BackboneGraphs } from './backbone-graphs.ts';
import type { FeatureMap, PreparedImage } from '../../electron/model/types.ts';
import { applyView, VIEWS, type View } from '../../electron/model/views.ts';
import { INCEPTION_SOURCE_SHA256, MOBILENET_V2_TFLITE } from '../../electron/model/weights.ts';

export const CROP_POLICY = 'centre-square';
export const INCEPTION_CHANNELS = 768;
export const MOBILENET_CHANNELS = 1280;

/** The feature space of InceptionV3 taps; `graphSha256` names a fine-tuned graph instead of the pinned source. */
export function inceptionSpace(layers: readonly string[], scaling: string, colorConstancy: ColorConstancy = 'none', graphSha256?: string): FeatureSpace {
  return {
    backbone: 'inception_v3',
    sourceSha256: graphSha256 ?? INCEPTION_SOURCE_SHA256,
    layers: [...layers],
    scaling,
    colorConstancy,
    crop: CROP_POLICY,
    preprocessVersion: PREPROCESS_VERSION,
    segments: layers.flatMap((l) => [
      { name: `${l}/avg`, length: INCEPTION_CHANNELS },
      { name: `${l}/max`, length: INCEPTION_CHANNELS },
    ]),
  };
}

/** The feature space of MobileNetV2's last map; `graphSha256` names a fine-tuned graph instead of the pinned source. */
export function mobilenetSpace(colorConstancy: ColorConstancy = 'none', graphSha256?: string): FeatureSpace {
  return {
    backbone: 'mobilenet_v2',
    sourceSha256: graphSha256 ?? MOBILENET_V2_TFLITE.sha256,
    layers: [],
    // The TFLite graph's own input quantisation: x/127.5 - 1.
    scaling: 'symmetric',
    colorConstancy,
    crop: CROP_POLICY,
    preprocessVersion: PREPROCESS_VERSION,
    segments: [
      { name: 'avg', length: MOBILENET_CHANNELS },
      { name: 'max', length: MOBILENET_CHANNELS },
    ],
  };
}

/**
 * Training augmentation views are named `aug<k>`; their parameters derive from the image hash and
 * k, so a rerun produces the same augmented images.
 */
export function augmentationFor(sha256: string, view: string): AugmentOptions | undefined {
  const m = /^aug(\d+)$/.exec(view);
  if (!m) return undefined;
  const random = seededRandom(parseInt(sha256.slice(0, 8), 16) ^ (Number(m[1]) * 0x9e3779b1));
  return { flipH: random() < 0.5, flipV: random() < 0.5, rotateDeg: (random() - 0.5) * 60, zoom: 1 + random() * 0.2 };
}

export function isKnownView(view: string): boolean {
  return (VIEWS as readonly string[]).includes(view) || /^aug\d+$/.test(view);
}

export interface ExtractItem {
  readonly file: string;
  readonly sha256: string;
}

export interface ExtractOptions {
  layers: readonly string[];
  scaling: 'unit' | 'symmetric';
  colorConstancy?: ColorConstancy;
  views: readonly string[];
  batchSize?: number;
  /** Skip the MobileNetV2 branch entirely (e.g. a second Inception scaling). */
  inceptionOnly?: boolean;
  backbones?: Backbones;
  /** Fine-tuned graphs to extract with (their sha256 keys the feature stores). */
  graphs?: BackboneGraphs;
  onBatch?: (done: number, total: number, failed: number) => void;
  shouldStop?: () => boolean;
}

interface Job {
  item: ExtractItem;
  view: string;
}

async function prepareJob(job: Job, colorConstancy: ColorConstancy): Promise<PreparedImage> {
  const bytes = await readFile(job.item.file);
  const augment = augmentationFor(job.item.sha256, job.view);
  const prepared = await prepareBuffer(bytes, job.item.file, { colorConstancy, ...(augment ? { squareTransform: augmentTransform(augment) } : {}) });
  if (augment || job.view === 'identity') return prepared;
  const view = job.view as View;
  return { ...prepared, inception: applyView(prepared.inception, INCEPTION_INPUT_SIZE, view), mobilenet: applyView(prepared.mobilenet, MOBILENET_INPUT_SIZE, view) };
}

/**
 * Runs one backbone on the images of `group` that `store` lacks and appends their pooled maps
 * (avg then max of each map, maps in the order `run` returns them).
 */
async function appendMissing(
  store: FeatureStore,
  view: string,
  group: readonly { job: Job; prepared: PreparedImage }[],
  size: number,
  pixels: (prepared: PreparedImage) => Float32Array,
  run: (x: Float32Array, n: number) => Promise<FeatureMap[]>,
): Promise<void> {
  const need = group.filter((b) => !store.has(view, b.job.item.sha256));
  if (need.length === 0) return;
  const perImage = size * size * 3;
  const x = new Float32Array(need.length * perImage);
  need.forEach((b, i) => x.set(pixels(b.prepared), i * perImage));
  const maps = await run(x, need.length);
  store.append(
    view,
    need.map((b, i) => ({
      sha256: b.job.item.sha256,
      features: concatArrays(
        maps.flatMap((m) => {
          const { avg, max } = poolMap(m.data, m.shape, i);
          return [avg, max];
        }),
        Float32Array,
      ),
    })),
  );
}

export async function extractFeatures(items: readonly ExtractItem[], options: ExtractOptions): Promise<{ computed: number; failed: number; skipped: number }> {
  const colorConstancy = options.colorConstancy ?? 'none';
  for (const v of options.views) if (!isKnownView(v)) throw new Error(`unknown view ${v}`);
  const graphs = options.graphs ?? {};
  const incStore = new FeatureStore(inceptionSpace(options.layers, options.scaling, colorConstancy, graphs.inception?.sha256));
  const mobStore = options.inceptionOnly ? undefined : new FeatureStore(mobilenetSpace(colorConstancy, graphs.mobilenet?.sha256));
  const { jobs, skipped } = pendingJobs(items, options.views, mobStore ? [incStore, mobStore] : [incStore]);
  const backbones = options.backbones ?? (await Backbones.load({ inceptionLayers: [...options.layers], inceptionScaling: options.scaling, graphs }));
  const batchSize = options.batchSize ?? 8;
  let computed = 0;
  let failedCount = 0;
  const prepareBatch = (start: number) =>
    Promise.all(
      jobs.slice(start, start + batchSize).map(async (job) => {
        try {
          return { job, prepared: await prepareJob(job, colorConstancy) };
        } catch (error) {
          return { job, error: error as Error };
        }
      }),
    );
  try {
    let next = jobs.length > 0 ? prepareBatch(0) : undefined;
    for (let start = 0; start < jobs.length && next; start += batchSize) {
      const batch = await next;
      next = start + batchSize < jobs.length ? prepareBatch(start + batchSize) : undefined;
      const ok = batch.filter((b): b is { job: Job; prepared: PreparedImage } => 'prepared' in b && b.prepared !== undefined);
      for (const b of batch) {
        if ('error' in b && b.error) {
          incStore.recordError(b.job.view, b.job.item.sha256, b.job.item.file, b.error.message);
          failedCount++;
        }
      }
      // Jobs within a batch may have different views; group so each append goes to one view file.
      const byView = new Map<string, typeof ok>();
      for (const b of ok) byView.set(b.job.view, [...(byView.get(b.job.view) ?? []), b]);
      for (const [view, group] of byView) {
        const n = group.length;
        // Each backbone runs only on the images its store lacks: a new MobileNetV2 graph (fine-tuned)
        // beside cached InceptionV3 features costs MobileNetV2's time alone.
        await appendMissing(incStore, view, group, INCEPTION_INPUT_SIZE, (p) => p.inception, async (x, k) => {
          const maps = await backbones.runInception(x, k);
          return options.layers.map((l) => maps[l]!);
        });
        if (mobStore) await appendMissing(mobStore, view, group, MOBILENET_INPUT_SIZE, (p) => p.mobilenet, async (x, k) => [await backbones.runMobilenet(x, k)]);
        computed += n;
      }
      options.onBatch?.(computed + failedCount, jobs.length, failedCount);
      if (options.shouldStop?.()) break;
    }
  } finally {
    if (!options.backbones) await backbones.dispose();
  }
  return { computed, failed: failedCount, skipped };
}

