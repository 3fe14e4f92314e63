/**
 * Out-of-distribution sets that can be assembled here without downloading data:
 * - Debian-packaged photographs and artwork (apt packages plasma-workspace-wallpapers,
 *   mate-backgrounds, lomiri-wallpapers; application icons from /usr/share/icons, e.g. the
 *   chromium logo), read from /usr/share, never copied into the repository;
 * - synthetic images, made in memory: uniform fields, seeded noise, gradients, rendered text;
 * - dermoscopy images with simulated capture faults, made in memory from validation images:
 *   heavy Gaussian blur, underexposure to 4%, overexposure, JPEG quality 5, 90% occlusion.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../../../electron/model/metrics.ts';

/** One image of an OOD set: a file on disk or bytes made in memory. */
export interface OodItem {
  readonly set: string;
  readonly id: string;
  readonly file?: string;
  readonly bytes?: () => Promise<Buffer>;
}

const IMAGE = /\.(jpe?g|png|webp|tiff?)$/i;

function listImages(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => IMAGE.test(f))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** One file per KDE wallpaper (its 1920x1080 rendition when present, else the first). */
function plasmaWallpapers(root = '/usr/share/wallpapers'): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .flatMap((name) => {
      const images = listImages(join(root, name, 'contents', 'images'));
      const pick = images.find((f) => basename(f).startsWith('1920x1080')) ?? images[0];
      return pick ? [pick] : [];
    });
}

/** The Debian sets (empty where the package is not installed). */
export function debianSets(limitPerSet = 40): OodItem[] {
  const sets: Record<string, string[]> = {
    'debian:plasma-workspace-wallpapers': plasmaWallpapers(),
    'debian:mate-backgrounds': ['nature', 'abstract', 'desktop'].flatMap((d) => listImages(join('/usr/share/backgrounds/mate', d))),
    'debian:lomiri-wallpapers': listImages('/usr/share/backgrounds'),
    'debian:app-icons': [...listImages('/usr/share/icons/hicolor/256x256/apps'), ...listImages('/usr/share/icons/hicolor/512x512/apps')],
  };
  return Object.entries(sets).flatMap(([set, files]) => files.slice(0, limitPerSet).map((file) => ({ set, id: `${set}:${basename(file)}:${file.length}`, file })));
}

const W = 600;
const H = 450;

function rawPng(data: Uint8Array, width = W, height = H): Promise<Buffer> {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

function fill(f: (x: number, y: number) => [number, number, number], width = W, height = H): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = f(x, y);
      const k = (y * width + x) * 3;
      out[k] = r;
      out[k + 1] = g;
      out[k + 2] = b;
    }
  }
  return out;
}

const clamp = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

function svgText(text: string, fg: string, bg: string, size: number): Promise<Buffer> {
  const lines = text.split('\n');
  const body = lines.map((l, i) => `<text x="30" y="${80 + i * size * 1.3}" font-family="DejaVu Sans" font-size="${size}" fill="${fg}">${l}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="${bg}"/>${body}</svg>`;
  return sharp(Buffer.from(svg)).flatten({ background: bg }).jpeg({ quality: 92 }).toBuffer();
}

/** Synthetic images, grouped into sets (uniform, noise, gradient, text). */
export function syntheticSets(): OodItem[] {
  const items: OodItem[] = [];
  const add = (set: string, id: string, bytes: () => Promise<Buffer>): void => {
    items.push({ set, id: `${set}:${id}`, bytes });
  };
  for (const [name, rgb] of Object.entries({ black: [0, 0, 0], grey: [128, 128, 128], white: [255, 255, 255], skin: [205, 160, 140], darkskin: [110, 75, 60], pink: [220, 170, 170] } as Record<string, [number, number, number]>)) {
    add('synthetic:uniform', name, () => rawPng(fill(() => rgb)));
  }
  for (let seed = 1; seed <= 4; seed++) {
    add('synthetic:noise', `rgb-uniform-${seed}`, () => {
      const r = seededRandom(seed);
      return rawPng(fill(() => [clamp(256 * r()), clamp(256 * r()), clamp(256 * r())]));
    });
    add('synthetic:noise', `skin-gaussian-${seed}`, () => {
      const r = seededRandom(100 + seed);
      const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
      return rawPng(fill(() => [clamp(200 + 30 * gauss()), clamp(150 + 30 * gauss()), clamp(130 + 30 * gauss())]));
    });
    add('synthetic:noise', `grey-blocks-${seed}`, () => {
      const r = seededRandom(200 + seed);
      const cells = Array.from({ length: 16 * 12 }, () => clamp(256 * r()));
      return rawPng(fill((x, y) => {
        const v = cells[Math.floor(y / (H / 12)) * 16 + Math.floor(x / (W / 16))]!;
        return [v, v, v];
      }));
    });
  }
  add('synthetic:gradient', 'horizontal-grey', () => rawPng(fill((x) => [clamp((255 * x) / W), clamp((255 * x) / W), clamp((255 * x) / W)])));
  add('synthetic:gradient', 'vertical-grey', () => rawPng(fill((_, y) => [clamp((255 * y) / H), clamp((255 * y) / H), clamp((255 * y) / H)])));
  add('synthetic:gradient', 'radial-dark-centre', () => rawPng(fill((x, y) => {
    const d = Math.hypot(x - W / 2, y - H / 2) / Math.hypot(W / 2, H / 2);
    return [clamp(60 + 160 * d), clamp(40 + 120 * d), clamp(30 + 100 * d)];
  })));
  add('synthetic:gradient', 'radial-bright-centre', () => rawPng(fill((x, y) => {
    const d = Math.hypot(x - W / 2, y - H / 2) / Math.hypot(W / 2, H / 2);
    return [clamp(230 - 200 * d), clamp(180 - 160 * d), clamp(160 - 150 * d)];
  })));
  add('synthetic:gradient', 'colour-diagonal', () => rawPng(fill((x, y) => [clamp((255 * x) / W), clamp((255 * y) / H), clamp(255 - (255 * x) / W)])));
  add('synthetic:gradient', 'skin-vertical', () => rawPng(fill((_, y) => [clamp(150 + (90 * y) / H), clamp(100 + (80 * y) / H), clamp(90 + (70 * y) / H)])));
  const texts: [string, string, string, number][] = [
    ['Patient report\nDermatology clinic\nVisit 2026-03-14', 'black', 'white', 40],
    ['LOREM IPSUM\nDOLOR SIT AMET', 'white', 'black', 60],
    ['Melanoma?\nbenign?\nreview', '#402010', '#e0b0a0', 56],
    ['0123456789\nABCDEFGHIJ\nklmnopqrst', 'navy', '#f0f0e0', 48],
    ['dermafuse', 'red', 'white', 90],
    ['The quick brown fox\njumps over the lazy dog\nthe quick brown fox', '#333', '#ddd', 34],
  ];
  texts.forEach(([t, fg, bg, size], i) => add('synthetic:text', `text-${i}`, () => svgText(t.replace(/&/g, '&amp;'), fg, bg, size)));
  return items;
}

export const FAULTS = ['blur', 'underexposed-4pct', 'overexposed', 'jpeg-q5', 'occluded-90pct'] as const;
export type Fault = (typeof FAULTS)[number];

/**
 * A dermoscopy image with a simulated capture fault, encoded as JPEG (quality 95 unless the fault
 * is the compression itself):
 * - blur: Gaussian, sigma = 1/25 of the shorter side (6 px at 150 px, 10 px at 256 px);
 * - underexposed-4pct: every 8-bit value times 0.04 (what "darkened to 4% brightness" did in the issue);
 * - overexposed: every value times 3, clipped at 255 (about 1.6 stops, highlights burnt);
 * - jpeg-q5: re-encoded at JPEG quality 5;
 * - occluded-90pct: a uniform grey (128) block over 90% of the area (sqrt(0.9) of each side, from the top-left).
 */
export async function withFault(bytes: Buffer, fault: Fault): Promise<Buffer> {
  const img = sharp(bytes).rotate();
  const { width = 1, height = 1 } = await sharp(bytes).rotate().toBuffer({ resolveWithObject: true }).then((r) => r.info);
  switch (fault) {
    case 'blur':
      return img.blur(Math.min(width, height) / 25).jpeg({ quality: 95 }).toBuffer();
    case 'underexposed-4pct':
      return img.linear(0.04, 0).jpeg({ quality: 95 }).toBuffer();
    case 'overexposed':
      return img.linear(3, 0).jpeg({ quality: 95 }).toBuffer();
    case 'jpeg-q5':
      return img.jpeg({ quality: 5 }).toBuffer();
    case 'occluded-90pct': {
      const w = Math.round(width * Math.sqrt(0.9));
      const h = Math.round(height * Math.sqrt(0.9));
      const block = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
      return img.composite([{ input: block, left: 0, top: 0 }]).jpeg({ quality: 95 }).toBuffer();
    }
  }
}
