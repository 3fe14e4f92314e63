/**
 * On-disk cache of pooled backbone features, so retraining the head takes seconds and an
 * interrupted extraction resumes where it stopped.
 *
 * Layout: cacheDir('features', <space key>) per feature space (backbone weights sha256 + taps +
 * input scaling + preprocessing, PREPROCESS_VERSION included, so features computed before a change
 * to the pixels prepareImage produces are never read after it), holding `meta.json` (the record layout) and, per view
 * ('identity', 'hflip', 'aug3', ...), an append-only `<view>.bin` of fixed-size records:
 * 32 bytes of image-content sha256, then float32 features. A process killed mid-write leaves at
 * most one partial record at the end; opening the store truncates it, so nothing complete is
 * ever lost and nothing partial is ever read. Files that could not be read are logged in
 * `<view>.errors.jsonl` so a rerun does not retry them forever.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../../electron/util/paths.ts';

export interface Segment {
  /** e.g. 'mixed6/avg', 'mixed6/max', 'avg'. */
  readonly name: string;
  readonly length: number;
}

export interface FeatureSpace {
  readonly backbone: 'inception_v3' | 'mobilenet_v2';
  /** sha256 of the backbone's weight source. */
  readonly sourceSha256: string;
  readonly layers: readonly string[];
  readonly scaling: string;
  readonly colorConstancy: string;
  readonly crop: string;
  /** PREPROCESS_VERSION (electron/model/preprocess.ts) of the pixels the features were computed on. */
  readonly preprocessVersion: number;
  readonly segments: readonly Segment[];
}

const KEY_BYTES = 32;
const FORMAT = 'dermafuse-features/1';

export function spaceKey(space: FeatureSpace): string {
  const digest = createHash('sha256').update(JSON.stringify(space)).digest('hex').slice(0, 12);
  return `${space.backbone}-${space.layers.join('+') || 'final'}-${space.scaling}-${space.colorConstancy}-pp${space.preprocessVersion}-${digest}`;
}

export class FeatureStore {
  readonly dir: string;
  readonly width: number;
  private readonly offsets = new Map<string, Map<string, number>>();

  constructor(
    readonly space: FeatureSpace,
    root = cacheDir('features'),
  ) {
    this.dir = join(root, spaceKey(space));
    this.width = space.segments.reduce((s, seg) => s + seg.length, 0);
    mkdirSync(this.dir, { recursive: true });
    const meta = join(this.dir, 'meta.json');
    if (!existsSync(meta)) writeFileSync(meta, JSON.stringify({ format: FORMAT, space }, null, 2) + '\n');
  }

  get recordBytes(): number {
    return KEY_BYTES + 4 * this.width;
  }

  private binFile(view: string): string {
    if (!/^[a-z0-9_-]+$/i.test(view)) throw new Error(`bad view name ${view}`);
    return join(this.dir, `${view}.bin`);
  }

  /** Index of one view: key hex -> byte offset of its features. Truncates a torn last record. */
  private index(view: string): Map<string, number> {
    let idx = this.offsets.get(view);
    if (idx) return idx;
    idx = new Map();
    const file = this.binFile(view);
    if (existsSync(file)) {
      const fd = openSync(file, 'r+');
      try {
        const size = fstatSync(fd).size;
        const complete = Math.floor(size / this.recordBytes);
        if (complete * this.recordBytes !== size) ftruncateSync(fd, complete * this.recordBytes);
        const key = Buffer.alloc(KEY_BYTES);
        for (let r = 0; r < complete; r++) {
          readSync(fd, key, 0, KEY_BYTES, r * this.recordBytes);
          idx.set(key.toString('hex'), r * this.recordBytes + KEY_BYTES);
        }
      } finally {
        closeSync(fd);
      }
    }
    this.offsets.set(view, idx);
    return idx;
  }

  has(view: string, sha256: string): boolean {
    return this.index(view).has(sha256);
  }

  count(view: string): number {
    return this.index(view).size;
  }

  /** Appends records (one write per call, so a batch lands whole or as a torn tail that open() drops). */
  append(view: string, records: readonly { sha256: string; features: Float32Array }[]): void {
    const idx = this.index(view);
    const fresh = records.filter((r) => !idx.has(r.sha256));
    if (fresh.length === 0) return;
    const buf = Buffer.alloc(fresh.length * this.recordBytes);
    fresh.forEach((r, i) => {
      if (r.features.length !== this.width) throw new Error(`record has ${r.features.length} features, store expects ${this.width}`);
      Buffer.from(r.sha256, 'hex').copy(buf, i * this.recordBytes);
      Buffer.from(r.features.buffer, r.features.byteOffset, r.features.byteLength).copy(buf, i * this.recordBytes + KEY_BYTES);
    });
    const file = this.binFile(view);
    const start = existsSync(file) ? fstatSizeOf(file) : 0;
    appendFileSync(file, buf);
    fresh.forEach((r, i) => idx.set(r.sha256, start + i * this.recordBytes + KEY_BYTES));
  }

  recordError(view: string, sha256: string, file: string, message: string): void {
    appendFileSync(join(this.dir, `${view}.errors.jsonl`), JSON.stringify({ sha256, file, message }) + '\n');
  }

  failed(view: string): Set<string> {
    const f = join(this.dir, `${view}.errors.jsonl`);
    if (!existsSync(f)) return new Set();
    return new Set(readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { sha256: string }).sha256));
  }

  /** Offset and length (in floats) of the named segments within a record. */
  segmentRanges(names: readonly string[]): { start: number; length: number }[] {
    return names.map((name) => {
      let start = 0;
      for (const seg of this.space.segments) {
        if (seg.name === name) return { start, length: seg.length };
        start += seg.length;
      }
      throw new Error(`feature space ${spaceKey(this.space)} has no segment ${name}`);
    });
  }

  /**
   * Reads the named segments of many images into one row-major matrix [keys.length, sum of
   * segment lengths]. Missing keys give `missing` indices instead of rows of zeros.
   */
  read(view: string, keys: readonly string[], segmentNames: readonly string[]): { matrix: Float32Array; width: number; missing: number[] } {
    const idx = this.index(view);
    const ranges = this.segmentRanges(segmentNames);
    const width = ranges.reduce((s, r) => s + r.length, 0);
    const matrix = new Float32Array(keys.length * width);
    const missing: number[] = [];
    const file = this.binFile(view);
    if (!existsSync(file)) return { matrix, width, missing: keys.map((_, i) => i) };
    const fd = openSync(file, 'r');
    try {
      const record = Buffer.alloc(4 * this.width);
      keys.forEach((key, row) => {
        const at = idx.get(key);
        if (at === undefined) {
          missing.push(row);
          return;
        }
        readSync(fd, record, 0, record.length, at);
        const floats = new Float32Array(record.buffer, record.byteOffset, this.width);
        let o = row * width;
        for (const r of ranges) {
          matrix.set(floats.subarray(r.start, r.start + r.length), o);
          o += r.length;
        }
      });
    } finally {
      closeSync(fd);
    }
    return { matrix, width, missing };
  }
}

function fstatSizeOf(file: string): number {
  const fd = openSync(file, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** Global average (and max) pooling of an NHWC map for item `n`, channels-last. */
export function poolMap(data: Float32Array, shape: readonly [number, number, number, number], n: number): { avg: Float32Array; max: Float32Array } {
  const [, h, w, c] = shape;
  const avg = new Float32Array(c);
  const max = new Float32Array(c).fill(Number.NEGATIVE_INFINITY);
  const base = n * h * w * c;
  for (let p = 0; p < h * w; p++) {
    const o = base + p * c;
    for (let k = 0; k < c; k++) {
      const v = data[o + k]!;
      avg[k]! += v;
      if (v > max[k]!) max[k] = v;
    }
  }
  for (let k = 0; k < c; k++) avg[k]! /= h * w;
  return { avg, max };
}

/**
 * The (item, view) pairs still to extract into `stores`: each distinct sha256 once per view, skipping
 * what every store already holds and what the first store recorded as failed (an unreadable image
 * is not retried on every run). A run killed between two stores' appends redoes that image.
 */
export function pendingJobs<I extends { readonly sha256: string }, V extends string>(
  items: readonly I[],
  views: readonly V[],
  stores: readonly FeatureStore[],
): { jobs: { item: I; view: V }[]; skipped: number } {
  const jobs: { item: I; view: V }[] = [];
  let skipped = 0;
  for (const view of views) {
    const failed = stores[0]!.failed(view);
    const seen = new Set<string>();
    for (const item of items) {
      if (seen.has(item.sha256)) continue;
      seen.add(item.sha256);
      if (failed.has(item.sha256) || stores.every((s) => s.has(view, item.sha256))) skipped++;
      else jobs.push({ item, view });
    }
  }
  return { jobs, skipped };
}
