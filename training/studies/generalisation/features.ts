/**
 * Assembles head inputs from cached pooled features for generalisation experiments: any mix of
 * InceptionV3 taps (mixed5/6/7, avg or avg+max) and MobileNetV2 (avg or avg+max, with or without
 * colour constancy). InceptionV3 and plain MobileNetV2 come from the shared feature cache; rows it
 * lacks (e.g. views only the experiments extracted) are read from the experiments' own cache,
 * which uses the same record layout.
 */
import { concatColumns, EXTRACTED_LAYERS } from '../../build/experiment.ts';
import { inceptionSpace, mobilenetSpace } from '../../features/extract.ts';
import { FeatureStore } from '../../features/feature-cache.ts';
import type { Pooling } from '../../../electron/model/head.ts';
import type { ColorConstancy } from '../../../electron/model/preprocess.ts';
import { GENERALISATION_FEATURES_ROOT, generalisationMobilenetStore, type CropPolicy } from './mobilenet-extract.ts';

export type FeatureBlock =
  | { readonly kind: 'inception'; readonly layer: (typeof EXTRACTED_LAYERS)[number]; readonly pooling: Pooling }
  | { readonly kind: 'mobilenet'; readonly pooling: Pooling; readonly colorConstancy: ColorConstancy; readonly crop?: CropPolicy; readonly block?: string };

const CROP_SUFFIX: Record<CropPolicy, string> = { centre: '', lesion: '-lesioncrop', 'centre-zoom2': '-zoom2' };

export function blockName(b: FeatureBlock): string {
  if (b.kind === 'inception') return `inc-${b.layer}-${b.pooling}`;
  return `mob${b.block ? `-${b.block}` : ''}-${b.pooling}${b.colorConstancy === 'none' ? '' : `-${b.colorConstancy}`}${CROP_SUFFIX[b.crop ?? 'centre']}`;
}

export interface BlockReader {
  read(view: string, keys: readonly string[], segments: readonly string[]): { matrix: Float32Array; width: number; missing: number[] };
}

/** Reads from `primary`, filling rows it lacks from `fallback` (same record layout). */
export class FallbackReader implements BlockReader {
  constructor(
    private readonly primary: BlockReader,
    private readonly fallback?: BlockReader,
  ) {}

  read(view: string, keys: readonly string[], segments: readonly string[]): { matrix: Float32Array; width: number; missing: number[] } {
    const first = this.primary.read(view, keys, segments);
    if (!this.fallback || first.missing.length === 0) return first;
    const second = this.fallback.read(view, first.missing.map((i) => keys[i]!), segments);
    const stillMissing = new Set(second.missing);
    const missing: number[] = [];
    first.missing.forEach((row, k) => {
      if (stillMissing.has(k)) missing.push(row);
      else first.matrix.set(second.matrix.subarray(k * second.width, (k + 1) * second.width), row * first.width);
    });
    return { matrix: first.matrix, width: first.width, missing };
  }
}

const readers = new Map<string, BlockReader>();

function readerFor(b: FeatureBlock): BlockReader {
  const key = b.kind === 'inception' ? 'inception' : `mobilenet:${b.colorConstancy}:${b.crop ?? 'centre'}:${b.block ?? 'final'}`;
  let r = readers.get(key);
  if (!r) {
    if (b.kind === 'inception') r = new FeatureStore(inceptionSpace(EXTRACTED_LAYERS, 'unit', 'none'));
    else {
      const own = generalisationMobilenetStore(b.colorConstancy, GENERALISATION_FEATURES_ROOT(), b.crop ?? 'centre', b.block);
      r = b.colorConstancy === 'none' && (b.crop ?? 'centre') === 'centre' && b.block === undefined ? new FallbackReader(new FeatureStore(mobilenetSpace('none')), own) : own;
    }
    readers.set(key, r);
  }
  return r;
}

function segmentsOf(b: FeatureBlock): string[] {
  const prefix = b.kind === 'inception' ? `${b.layer}/` : b.block ? `${b.block}/` : '';
  return [`${prefix}avg`, ...(b.pooling === 'avg+max' ? [`${prefix}max`] : [])];
}

/** Concatenated blocks [keys.length, width]; `missing` = rows lacking any block. */
export function readBlocks(blocks: readonly FeatureBlock[], keys: readonly string[], view: string, reader: (b: FeatureBlock) => BlockReader = readerFor): { x: Float32Array; width: number; missing: Set<number> } {
  const parts = blocks.map((b) => reader(b).read(view, keys, segmentsOf(b)));
  const missing = new Set(parts.flatMap((p) => p.missing));
  return { ...concatColumns(parts, keys.length), missing };
}

/** Rows [rows] of a row-major matrix, as a new matrix. */
export function selectRows(x: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(x.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Column-wise concatenation of two row-major matrices with the same row count. */
export function hstack(a: Float32Array, wa: number, b: Float32Array, wb: number): Float32Array {
  const rows = wa === 0 ? b.length / wb : a.length / wa;
  const out = new Float32Array(rows * (wa + wb));
  for (let r = 0; r < rows; r++) {
    out.set(a.subarray(r * wa, (r + 1) * wa), r * (wa + wb));
    out.set(b.subarray(r * wb, (r + 1) * wb), r * (wa + wb) + wa);
  }
  return out;
}
