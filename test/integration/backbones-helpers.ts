/** Shared by the backbone equivalence tests: real images as NHWC float32 RGB 0..255. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedDir } from '../../electron/util/paths.ts';

export const fixturesDir = sharedDir('data', 'fixtures');
export const haveFixtures = existsSync(join(fixturesDir, 'labels.csv'));

/** A few real dermoscopy images, benign and malignant, deterministic choice. */
export function fixtureImages(count: number): string[] {
  const pick = (sub: string) =>
    readdirSync(join(fixturesDir, sub))
      .filter((f) => /\.(jpe?g|png)$/i.test(f))
      .sort()
      .map((f) => join(fixturesDir, sub, f));
  const benign = pick('benign');
  const malignant = pick('malignant');
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const b = benign[i];
    const m = malignant[i];
    if (!b && !m) break;
    if (m) out.push(m);
    if (b && out.length < count) out.push(b);
  }
  return out;
}

/** Centre crop to a square, resize, RGB 0..255, stacked into one NHWC batch. */
export async function loadBatch(files: readonly string[], size: number): Promise<Float32Array> {
  const out = new Float32Array(files.length * size * size * 3);
  for (const [i, f] of files.entries()) {
    const raw = await sharp(f).rotate().resize(size, size, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    out.set(Float32Array.from(raw), i * size * size * 3);
  }
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array | Int32Array | Uint8Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}
