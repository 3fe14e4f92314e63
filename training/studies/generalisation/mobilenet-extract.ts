/**
 * MobileNetV2-only feature extraction for generalisation experiments (colour constancy, flip
 * views). The shared extractor always runs InceptionV3 too, which costs ~10x more per image;
 * these experiments only need the cheap branch, so they get their own resumable loop.
 *
 * Records go to a FeatureStore keyed by `mobilenetSpace(colorConstancy)` — the same record layout
 * as the main cache — under cacheDir('features-generalisation'), so the main cache is never
 * written by experiments and the two can be read with the same code. Intermediate blocks
 * (`blocks`) and other crops (lesion, centre zoom) get spaces of their own in the same root.
 */
import { readFile } from 'node:fs/promises';
import { cacheDir } from '../../../electron/util/paths.ts';
import { MOBILENET_INPUT_SIZE } from '../../../electron/model/backbones.ts';
import { MOBILENET_BLOCK_NAMES, mobilenetBlocksGraph } from './mobilenet-blocks.ts';
import { MOBILENET_FEATURES } from '../../../electron/model/convert/mobilenet-v2.ts';
import { mobilenetSpace } from '../../features/extract.ts';
import { FeatureStore, pendingJobs, poolMap } from '../../features/feature-cache.ts';
import { prepareBuffer, type ColorConstancy } from '../../../electron/model/preprocess.ts';
import { createSession, ort } from '../../../electron/model/runtime.ts';
import { applyView, type View } from '../../../electron/model/views.ts';
import { CENTRE_ZOOM2_VERSION, prepareCentreZoom } from './centre-zoom.ts';
import { LESION_CROP_VERSION, prepareLesionCrop } from './lesion-crop.ts';

export const GENERALISATION_FEATURES_ROOT = (): string => cacheDir('features-generalisation');

export type CropPolicy = 'centre' | 'lesion' | 'centre-zoom2';

/** Channels of each intermediate block output (MOBILENET_BLOCK_NAMES order), as the graph reports them. */
const MOBILENET_BLOCK_CHANNELS = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320] as const;

export function mobilenetBlockChannels(block: string): number {
  const k = MOBILENET_BLOCK_NAMES.indexOf(block);
  if (k < 0) throw new Error(`unknown MobileNetV2 block '${block}' (choose from ${MOBILENET_BLOCK_NAMES.join(', ')})`);
  return MOBILENET_BLOCK_CHANNELS[k]!;
}

/**
 * The store of MobileNetV2 features for one colour-constancy setting and crop policy in the
 * experiments' cache: the final map, or with `block` one intermediate block's pooled output
 * (its own space, so each block can be read and extended alone).
 */
export function generalisationMobilenetStore(colorConstancy: ColorConstancy, root = GENERALISATION_FEATURES_ROOT(), crop: CropPolicy = 'centre', block?: string): FeatureStore {
  const space = mobilenetSpace(colorConstancy);
  const cropped = crop === 'lesion' ? { ...space, crop: LESION_CROP_VERSION } : crop === 'centre-zoom2' ? { ...space, crop: CENTRE_ZOOM2_VERSION } : space;
  if (block === undefined) return new FeatureStore(cropped, root);
  const c = mobilenetBlockChannels(block);
  return new FeatureStore({ ...cropped, layers: [block], segments: [{ name: `${block}/avg`, length: c }, { name: `${block}/max`, length: c }] }, root);
}

export interface MobilenetExtractItem {
  readonly file: string;
  readonly sha256: string;
}

export interface MobilenetExtractOptions {
  readonly colorConstancy: ColorConstancy;
  /** 'lesion': square around the segmented lesion; 'centre-zoom2': central half of the centre square (both without colour constancy). */
  readonly crop?: CropPolicy;
  /** Intermediate blocks (e.g. 'expanded_conv_13') to pool and store instead of the final map. */
  readonly blocks?: readonly string[];
  readonly views: readonly View[];
  readonly batchSize?: number;
  readonly intraOpThreads?: number;
  readonly root?: string;
  readonly onBatch?: (done: number, total: number, failed: number) => void;
  readonly shouldStop?: () => boolean;
}

export interface MobilenetExtractResult {
  computed: number;
  failed: number;
  skipped: number;
  /** Wall time spent in decode + preprocessing (incl. colour constancy), per image. */
  preprocessMsPerImage: number;
  /** Wall time spent in MobileNetV2 inference + pooling, per image. */
  inferenceMsPerImage: number;
  /** Lesion crop only: images where a lesion was found (the rest used the centre square). */
  lesionFound: number;
}

export async function extractMobilenetFeatures(items: readonly MobilenetExtractItem[], options: MobilenetExtractOptions): Promise<MobilenetExtractResult> {
  const crop = options.crop ?? 'centre';
  if (crop !== 'centre' && options.colorConstancy !== 'none') throw new Error(`${crop} crop is measured without colour constancy`);
  // One store per output: the final map, or each requested block.
  const outputs = options.blocks?.length ? MOBILENET_BLOCK_NAMES.filter((b) => options.blocks!.includes(b)) : [MOBILENET_FEATURES];
  for (const b of options.blocks ?? []) mobilenetBlockChannels(b); // unknown names fail before any work
  const stores = outputs.map((o) => generalisationMobilenetStore(options.colorConstancy, options.root, crop, o === MOBILENET_FEATURES ? undefined : o));
  const store = stores[0]!;
  const { jobs, skipped } = pendingJobs(items, options.views, stores);
  const result: MobilenetExtractResult = { computed: 0, failed: 0, skipped, lesionFound: 0, preprocessMsPerImage: Number.NaN, inferenceMsPerImage: Number.NaN };
  if (jobs.length === 0) return result;

  const graph = await mobilenetBlocksGraph(outputs.filter((o) => o !== MOBILENET_FEATURES));
  const { session } = await createSession(graph.onnx, { intraOpThreads: options.intraOpThreads });
  const batchSize = options.batchSize ?? 16;
  let preprocessMs = 0;
  let inferenceMs = 0;
  try {
    for (let start = 0; start < jobs.length; start += batchSize) {
      const batch = jobs.slice(start, start + batchSize);
      const t0 = performance.now();
      // Sequential on purpose: timing per image stays honest and the cores are shared.
      const prepared: { job: (typeof batch)[number]; pixels: Float32Array }[] = [];
      for (const job of batch) {
        try {
          let pixels: Float32Array;
          if (crop === 'lesion') {
            const c = await prepareLesionCrop(job.item.file, MOBILENET_INPUT_SIZE);
            if (c.found) result.lesionFound++;
            pixels = c.pixels;
          } else if (crop === 'centre-zoom2') pixels = (await prepareCentreZoom(job.item.file, 2)).mobilenet;
          else pixels = (await prepareBuffer(await readFile(job.item.file), job.item.file, { colorConstancy: options.colorConstancy })).mobilenet;
          prepared.push({ job, pixels: job.view === 'identity' ? pixels : applyView(pixels, MOBILENET_INPUT_SIZE, job.view) });
        } catch (error) {
          store.recordError(job.view, job.item.sha256, job.item.file, (error as Error).message);
          result.failed++;
        }
      }
      const t1 = performance.now();
      preprocessMs += t1 - t0;
      const byView = new Map<View, typeof prepared>();
      for (const p of prepared) byView.set(p.job.view, [...(byView.get(p.job.view) ?? []), p]);
      for (const [view, group] of byView) {
        const n = group.length;
        const x = new Float32Array(n * MOBILENET_INPUT_SIZE * MOBILENET_INPUT_SIZE * 3);
        group.forEach((g, i) => x.set(g.pixels, (i * x.length) / n));
        const out = await session.run({ image: new ort.Tensor('float32', x, [n, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, 3]) }, outputs);
        outputs.forEach((name, s) => {
          const t = out[name]!;
          const shape = t.dims as unknown as [number, number, number, number];
          stores[s]!.append(
            view,
            group.map((g, i) => {
              const { avg, max } = poolMap(t.data as Float32Array, shape, i);
              const features = new Float32Array(avg.length + max.length);
              features.set(avg);
              features.set(max, avg.length);
              return { sha256: g.job.item.sha256, features };
            }),
          );
        });
        result.computed += n;
      }
      inferenceMs += performance.now() - t1;
      options.onBatch?.(result.computed + result.failed, jobs.length, result.failed);
      if (options.shouldStop?.()) break;
    }
  } finally {
    await session.release();
  }
  const done = Math.max(1, result.computed + result.failed);
  result.preprocessMsPerImage = preprocessMs / done;
  result.inferenceMsPerImage = inferenceMs / Math.max(1, result.computed);
  return result;
}
