/**
 * A contact sheet of Grad-CAM overlays for real lesions, to LOOK at: per image the original, the
 * fused overlay and both branch overlays, captioned with the true label, P(melanoma), tier and the
 * branch weights of the fused map.
 *
 *   npx tsx training/scripts/overlay-sheet.ts [--model DIR] [--per-class 6] [--out FILE] [--seed 3]
 *                                    [--target malignant|predicted] [--method gradcam|gradcam++]
 * Images: ../shared/data/fixtures (both classes). Default output: <cache>/overlay-sheet.png.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { cacheDir, sharedDir } from '../../electron/util/paths.ts';
import { createClassifier, type CamResult } from '../../electron/model/classifier.ts';
import { seeded } from '../studies/faithfulness.ts';
import type { CamMethod } from '../../electron/model/gradcam.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'per-class': { type: 'string', default: '6' },
    out: { type: 'string' },
    seed: { type: 'string', default: '3' },
    target: { type: 'string', default: 'malignant' },
    method: { type: 'string', default: 'gradcam' },
  },
});
const perClass = Number(values['per-class']);
const out = values.out ?? cacheDir('overlay-sheet.png');
const target = values.target === 'predicted' ? 'predicted' : 'malignant';
const method = values.method as CamMethod;

const root = sharedDir('data', 'fixtures');
const rows = readFileSync(join(root, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
const r = seeded(Number(values.seed));
const pick = (label: string): string[][] => {
  const pool = rows.filter((x) => x[1] === label);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, perClass);
};
const chosen = [...pick('malignant'), ...pick('benign')];

const classifier = await createClassifier(values.model ? { modelDir: values.model } : {});
const TILE = 190;
const CAPTION = 46;
const GROUP = 4; // original, fused, inception, mobilenet
const PER_ROW = 2; // images side by side
const GAP = 12;
const escape = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

async function tile(png: Buffer | string, caption: string): Promise<Buffer> {
  const img = await sharp(png).resize(TILE, TILE, { fit: 'contain', background: '#202020' }).png().toBuffer();
  const svg = `<svg width="${TILE}" height="${CAPTION}" xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" fill="#ffffff"/>${caption
    .split('\n')
    .map((line, i) => `<text x="4" y="${13 + i * 14}" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#000">${escape(line)}</text>`)
    .join('')}</svg>`;
  return sharp({ create: { width: TILE, height: TILE + CAPTION, channels: 3, background: '#ffffff' } })
    .composite([
      { input: img, top: 0, left: 0 },
      { input: Buffer.from(svg), top: TILE, left: 0 },
    ])
    .png()
    .toBuffer();
}

const composites: sharp.OverlayOptions[] = [];
const groupWidth = GROUP * TILE + (GROUP - 1) * 4;
const header = 30;
for (const [i, row] of chosen.entries()) {
  const file = join(root, row[0]!);
  const res = await classifier.classifyFile(file, { cam: true, camTarget: target, camMethod: method });
  const c = res.classification;
  const cams = res.cams as readonly CamResult[];
  const byKind = (k: string): CamResult => cams.find((x) => x.kind === k)!;
  const tiles = [
    await tile(file, `${row[4]}\ntruth: ${row[1]} (${row[3]})\nP=${c.pMalignant.toFixed(3)} ${c.tier} ±${c.uncertainty.toFixed(3)}`),
    await tile(byKind('fused').overlayPng, `fused${byKind('fused').empty ? ' (EMPTY)' : ''}`),
    await tile(byKind('inception_v3').overlayPng, `InceptionV3 w=${(byKind('inception_v3').fusionWeight ?? 0).toFixed(2)}${byKind('inception_v3').empty ? ' EMPTY' : ''}`),
    await tile(byKind('mobilenet_v2').overlayPng, `MobileNetV2 w=${(byKind('mobilenet_v2').fusionWeight ?? 0).toFixed(2)}${byKind('mobilenet_v2').empty ? ' EMPTY' : ''}`),
  ];
  const gx = (i % PER_ROW) * (groupWidth + GAP * 2);
  const gy = header + Math.floor(i / PER_ROW) * (TILE + CAPTION + GAP);
  tiles.forEach((t, k) => composites.push({ input: t, left: gx + k * (TILE + 4), top: gy }));
}
const width = PER_ROW * groupWidth + (PER_ROW - 1) * GAP * 2;
const height = header + Math.ceil(chosen.length / PER_ROW) * (TILE + CAPTION + GAP);
const title = `<svg width="${width}" height="${header}" xmlns="http://www.w3.org/2000/svg"><text x="6" y="20" font-family="DejaVu Sans, sans-serif" font-size="15" fill="#000">${escape(
  `Grad-CAM (${method}, target ${target}) — model ${classifier.modelVersion} — fixtures, inferno, alpha = 0.6·saliency, area outside the model crop dimmed`,
)}</text></svg>`;
composites.push({ input: Buffer.from(title), top: 0, left: 0 });
await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(composites).png().toFile(out);
await classifier.dispose();
process.stdout.write(`wrote ${out} (${chosen.length} images)\n`);
