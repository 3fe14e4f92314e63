/** Inputs for the benchmark when real ones are missing, and the large-photo case real sets lack. */
import { join } from 'node:path';
import sharp from 'sharp';

/** Lesion-like JPEGs (brown ellipse on skin) at the sizes of the training sets. */
export async function generatedImages(dir: string, count: number): Promise<string[]> {
  const sizes: [number, number][] = [[200, 150], [256, 256], [180, 180], [640, 480]];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const [w, h] = sizes[i % sizes.length]!;
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="#d9a88f"/>` +
      `<ellipse cx="${w / 2 + (i % 5)}" cy="${h / 2}" rx="${w * 0.3}" ry="${h * 0.25}" fill="#5a3520"/></svg>`;
    const file = join(dir, `generated-${i}.jpg`);
    await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toFile(file);
    out.push(file);
  }
  return out;
}

/**
 * A large photograph-like JPEG made from a real image: upscaled, with sensor-like noise so the
 * JPEG carries the entropy of a real camera file (a smooth upscale would decode unrealistically fast).
 */
export async function largeJpegFrom(src: string, file: string, width: number, height: number): Promise<string> {
  const base = await sharp(src).resize(width, height, { fit: 'cover' }).removeAlpha().raw().toBuffer();
  // Deterministic noise (sum of 4 uniforms ≈ Gaussian, sigma ≈ 6) so every run measures the same file.
  let state = 0x9e3779b9;
  const uniform = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  for (let i = 0; i < base.length; i++) {
    const g = (uniform() + uniform() + uniform() + uniform() - 2) * 10.4;
    base[i] = Math.max(0, Math.min(255, Math.round(base[i]! + g)));
  }
  await sharp(base, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toFile(file);
  return file;
}
