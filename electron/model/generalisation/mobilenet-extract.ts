/**
 * MobileNetV2-only feature extraction for generalisation experiments (colour constancy, flip
 * views). The shared extractor always runs InceptionV3 too, which costs ~10x more per image;
 * these experiments only need the cheap branch, so they get their own resumable loop.
 *
 * Records go to a FeatureStore keyed by `mobilenetSpace(colorConstancy)` — the same record layout
 * as the main cache — under cacheDir('features-generalisation'), so the main cache is never
 * written by experiments and the two can be read with the same code.
 */
import { readFile } from 'node:fs/promises';
import { cacheDir } from '../../common/paths.ts';
import { mobilenetGraph, MOBILENET_INPUT_SIZE } from '../backbones.ts';
import { MOBILENET_FEATURES } from '../convert/mobilenet-v2.ts';
import { mobilenetSpace } from '../extract.ts';
import { FeatureStore, poolMap } from '../feature-cache.ts';
import { prepareBuffer, type ColorConstancy } from '../preprocess.ts';
import { createSession, ort } from '../runtime.ts';
import { applyView, type View } from '../views.ts';
import { LESION_CROP_VERSION, prepareLesionCrop } from './lesion-crop.ts';

export const GENERALISATION_FEATURES_ROOT = (): string => cacheDir('features-generalisation');

export type CropPolicy = 'centre' | 'lesion';

/** The store of MobileNetV2 features for one colour-constancy setting and crop policy in the experiments' cache. */
export function generalisationMobilenetStore(colorConstancy: ColorConstancy, root = GENERALISATION_FEATURES_ROOT(), crop: CropPolicy = 'centre'): FeatureStore {
  const space = mobilenetSpace(colorConstancy);
  return new FeatureStore(crop === 'lesion' ? { ...space, crop: LESION_CROP_VERSION } : space, root);
}

export interface MobilenetExtractItem {
  readonly file: string;
  readonly sha256: string;
}

export interface MobilenetExtractOptions {
  readonly colorConstancy: ColorConstancy;
  /** 'lesion': square around the segmented lesion (colour constancy must be 'none'). */
  readonly crop?: CropPolicy;
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
  if (crop === 'lesion' && options.colorConstancy !== 'none') throw new Error('lesion crop is measured without colour constancy');
  const store = generalisationMobilenetStore(options.colorConstancy, options.root, crop);
  const jobs: { item: MobilenetExtractItem; view: View }[] = [];
  let skipped = 0;
  for (const view of options.views) {
    const failed = store.failed(view);
    const seen = new Set<string>();
    for (const item of items) {
      if (seen.has(item.sha256)) continue;
      seen.add(item.sha256);
      if (failed.has(item.sha256) || store.has(view, item.sha256)) skipped++;
      else jobs.push({ item, view });
    }
  }
  const result: MobilenetExtractResult = { computed: 0, failed: 0, skipped, lesionFound: 0, preprocessMsPerImage: Number.NaN, inferenceMsPerImage: Number.NaN };
  if (jobs.length === 0) return result;

  const graph = await mobilenetGraph();
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
          } else pixels = (await prepareBuffer(await readFile(job.item.file), job.item.file, { colorConstancy: options.colorConstancy })).mobilenet;
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
        const out = await session.run({ image: new ort.Tensor('float32', x, [n, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, 3]) }, [MOBILENET_FEATURES]);
        const t = out[MOBILENET_FEATURES]!;
        const shape = t.dims as unknown as [number, number, number, number];
        store.append(
          view,
          group.map((g, i) => {
            const { avg, max } = poolMap(t.data as Float32Array, shape, i);
            const features = new Float32Array(avg.length + max.length);
            features.set(avg);
            features.set(max, avg.length);
            return { sha256: g.job.item.sha256, features };
          }),
        );
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
