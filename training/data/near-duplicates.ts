/**
 * Near-duplicate detection between images (re-encodes, small crops, copies filed under another
 * id), so that no test image has a copy in training. A 16x16 average hash finds candidates
 * cheaply; a 32x32 grey correlation confirms them (the rule the data README used).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../../electron/util/hash.ts';

export interface PerceptualHash {
  /** 256-bit average hash of a 16x16 grey thumbnail, as 8 uint32 words. */
  readonly ahash: Uint32Array;
  /** 32x32 grey thumbnail, zero-mean and unit-norm, for correlation. */
  readonly grey: Float32Array;
}

export async function perceptualHash(bytes: Buffer): Promise<PerceptualHash> {
  const tiny = await sharp(bytes).greyscale().resize(16, 16, { fit: 'fill' }).raw().toBuffer();
  let mean = 0;
  for (const v of tiny) mean += v / tiny.length;
  const ahash = new Uint32Array(8);
  for (let i = 0; i < 256; i++) if (tiny[i]! > mean) ahash[i >> 5]! |= 1 << (i & 31);
  const small = await sharp(bytes).greyscale().resize(32, 32, { fit: 'fill' }).raw().toBuffer();
  const grey = Float32Array.from(small);
  let m = 0;
  for (const v of grey) m += v / grey.length;
  let norm = 0;
  for (let i = 0; i < grey.length; i++) {
    grey[i]! -= m;
    norm += grey[i]! * grey[i]!;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < grey.length; i++) grey[i]! /= norm;
  return { ahash, grey };
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function hamming(a: Uint32Array, b: Uint32Array): number {
  let d = 0;
  for (let i = 0; i < 8; i++) d += popcount((a[i]! ^ b[i]!) >>> 0);
  return d;
}

export function correlation(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export interface NearDuplicateOptions {
  /** Candidate pairs: average-hash Hamming distance at most this (of 256 bits). */
  maxHamming?: number;
  /** Confirmed pairs: grey 32x32 correlation at least this. */
  minCorrelation?: number;
}

/** All confirmed near-duplicate index pairs [i, j] with i < j. */
export function nearDuplicatePairs(hashes: readonly PerceptualHash[], options: NearDuplicateOptions = {}): [number, number][] {
  const { maxHamming = 24, minCorrelation = 0.99 } = options;
  const pairs: [number, number][] = [];
  for (let i = 0; i < hashes.length; i++) {
    const a = hashes[i]!;
    for (let j = i + 1; j < hashes.length; j++) {
      const b = hashes[j]!;
      if (hamming(a.ahash, b.ahash) <= maxHamming && correlation(a.grey, b.grey) >= minCorrelation) pairs.push([i, j]);
    }
  }
  return pairs;
}

interface StoredHash {
  a: number[];
  g: string;
}

/**
 * Perceptual hashes of many files, cached in a JSON file keyed by content sha256 so a rerun of
 * the protocol does not decode every image again.
 */
export async function hashFiles(
  files: readonly string[],
  cacheFile: string,
  onProgress?: (done: number) => void,
): Promise<{ sha256: string[]; hashes: PerceptualHash[] }> {
  const cache: Record<string, StoredHash> = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  let added = 0;
  const sha: string[] = [];
  const hashes: PerceptualHash[] = [];
  for (let i = 0; i < files.length; i++) {
    const bytes = await readFile(files[i]!);
    const key = sha256Hex(bytes);
    let stored = cache[key];
    if (!stored) {
      const h = await perceptualHash(bytes);
      stored = { a: Array.from(h.ahash), g: Buffer.from(h.grey.buffer, h.grey.byteOffset, h.grey.byteLength).toString('base64') };
      cache[key] = stored;
      added++;
    }
    const g = Buffer.from(stored.g, 'base64');
    sha.push(key);
    hashes.push({ ahash: Uint32Array.from(stored.a), grey: new Float32Array(g.buffer.slice(g.byteOffset, g.byteOffset + g.byteLength)) });
    onProgress?.(i + 1);
  }
  if (added > 0) {
    mkdirSync(dirname(cacheFile), { recursive: true });
    writeFileSync(cacheFile, JSON.stringify(cache));
  }
  return { sha256: sha, hashes };
}
