/**
 * Faithfulness of the Grad-CAM maps of a model, on a stratified sample of the validation images of
 * the data protocol (never the test sets):
 *   - deletion curves for the fused, InceptionV3 and MobileNetV2 maps, Grad-CAM++ (fused) and two
 *     smooth random baselines (7x7 and 17x17 lattices: the two branch map resolutions);
 *   - the randomised-head sanity check: Spearman correlation between the real maps and the maps
 *     of heads of the same shape with random weights, on the same backbone features.
 * The explained class is the predicted one (at the manifest threshold); confidence = calibrated
 * probability of that class on the identity view.
 *
 *   npx tsx training/scripts/gradcam-faithfulness.ts [--model DIR] [--per-class 30] [--fill blur|grey]
 *                                            [--random-heads 3] [--out FILE] [--seed 7]
 * Writes models/<version>/faithfulness.json (or --out) and prints a summary.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { SingleBar } from 'cli-progress';
import { modelsDir } from '../../electron/util/paths.ts';
import { Backbones } from '../../electron/model/backbones.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { buildProtocol, type ProtocolItem } from '../data/protocol.ts';
import {
  DEFAULT_FRACTIONS,
  deletionCurves,
  randomSmoothMap,
  scoreBatch,
  seeded,
  spearman,
  summariseDeletion,
  type DeletionCurves,
  type Fill,
  type Raster,
} from '../studies/faithfulness.ts';
import type { CamTarget, NormalisedMap } from '../../electron/model/gradcam.ts';
import { TfjsHead } from '../head/tfjs-head.ts';
import { calibrate, loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { decodeOriented } from '../../electron/model/preprocess.ts';
import type { CamKind } from '../../electron/model/types.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'per-class': { type: 'string', default: '20' },
    fill: { type: 'string', default: 'blur' },
    'random-heads': { type: 'string', default: '3' },
    out: { type: 'string' },
    seed: { type: 'string', default: '7' },
    'max-side': { type: 'string', default: '512' },
    'plus-plus': { type: 'boolean', default: false },
    'random-17': { type: 'boolean', default: false },
  },
});

const modelDir = values.model ?? shippedModelDir();
const manifest = loadManifest(modelDir);
const perClass = Number(values['per-class']);
const fill = values.fill as Fill;
if (fill !== 'blur' && fill !== 'grey') throw new Error('--fill must be blur or grey');
const seed = Number(values.seed);
const randomHeads = Number(values['random-heads']);
const maxSide = Number(values['max-side']);
const out = values.out ?? modelsDir(manifest.version, 'faithfulness.json');
const withPlusPlus = values['plus-plus'] === true;
const withRandom17 = values['random-17'] === true;

function sample(items: ProtocolItem[]): ProtocolItem[] {
  const r = seeded(seed);
  const pick = (label: string): ProtocolItem[] => {
    const pool = items.filter((i) => i.label === label).sort((a, b) => a.id.localeCompare(b.id));
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, perClass);
  };
  return [...pick('malignant'), ...pick('benign')];
}

async function toPng(r: Raster): Promise<Buffer> {
  return sharp(r.rgb, { raw: { width: r.width, height: r.height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

const protocol = await buildProtocol();
const chosen = sample(protocol.items.filter((i) => i.role === 'val'));
const bySource: Record<string, number> = {};
for (const c of chosen) bySource[`${c.source}:${c.label}`] = (bySource[`${c.source}:${c.label}`] ?? 0) + 1;

const backbones = await Backbones.load({
  inceptionLayers: manifest.backbones.inception_v3.layers,
  inceptionScaling: manifest.backbones.inception_v3.scaling,
});
const real = await createClassifier({ modelDir, backbones });
const randoms: FusionClassifier[] = [];
for (let s = 0; s < randomHeads; s++) {
  const random = TfjsHead.create(real.head.config, 1000 + s);
  const head = random.toRuntime();
  random.dispose();
  randoms.push(await createClassifier({ manifest, head, backbones, camBaseline: real.camBaseline ?? null }));
}

// The fused map and one map per branch the head reads (a single-branch model has no InceptionV3 map).
const KINDS: CamKind[] = ['fused', ...(['inception_v3', 'mobilenet_v2'] as const).filter((k) => real.head.config.branches.includes(k === 'inception_v3' ? 'inception' : 'mobilenet'))];
const curves: (DeletionCurves & { label: string; target: CamTarget })[] = [];
const sanity: Record<string, number[]> = Object.fromEntries(KINDS.map((k) => [k, []]));
const emptyMaps: Record<string, number> = {};
const bar = new SingleBar({ format: 'faithfulness [{bar}] {value}/{total} | ETA {eta_formatted}', stream: process.stderr });
bar.start(chosen.length, 0);
const t0 = performance.now();
for (const [n, item] of chosen.entries()) {
  const prepared = await real.prepareFile(item.file);
  const scored = await real.scoreViews(prepared);
  const p = calibrate(scored.logits.reduce((a, b) => a + b, 0) / scored.logits.length, manifest.temperature, manifest.calibrationBias);
  const target: CamTarget = p >= manifest.threshold ? 'malignant' : 'benign';
  const cams = real.camMaps(scored, target);
  const plain = real.camBaseline ? real.camMaps(scored, target, 'gradcam', false) : undefined;
  const pp = withPlusPlus ? real.camMaps(scored, target, 'gradcam++') : undefined;
  for (const k of KINDS) if (cams.maps[k]?.empty) emptyMaps[k] = (emptyMaps[k] ?? 0) + 1;

  for (const rc of randoms) {
    const rcams = rc.camMaps(scored, target);
    for (const k of KINDS) {
      const rho = spearman(cams.maps[k]!.data, rcams.maps[k]!.data);
      if (Number.isFinite(rho)) sanity[k]!.push(rho);
    }
  }

  const image = await decodeOriented(item.file, { maxSide });
  const s = image.width / image.originalWidth;
  const crop = { left: prepared.crop.left * s, top: prepared.crop.top * s, width: prepared.crop.width * s, height: prepared.crop.height * s };
  const maps: Record<string, NormalisedMap> = {
    ...Object.fromEntries(KINDS.map((k) => [k, cams.maps[k]!])),
    ...(plain ? { fused_plain: plain.maps.fused!, ...(plain.maps.inception_v3 ? { inception_v3_plain: plain.maps.inception_v3 } : {}) } : {}),
    ...(pp ? { 'fused_gradcam++': pp.maps.fused! } : {}),
    random_7: randomSmoothMap(7, seed * 1000 + n),
    ...(withRandom17 ? { random_17: randomSmoothMap(17, seed * 1000 + n + 500) } : {}),
  };
  const score = async (rasters: readonly Raster[]): Promise<number[]> => {
    const preps = await Promise.all(rasters.map(async (r) => real.prepareBytes(await toPng(r), item.file)));
    const logits = await scoreBatch(real, backbones, preps);
    return Array.from(logits, (z) => {
      const pm = calibrate(z, manifest.temperature, manifest.calibrationBias);
      return target === 'malignant' ? pm : 1 - pm;
    });
  };
  const c = await deletionCurves({ rgb: image.rgb, width: image.width, height: image.height }, crop, maps, score, { fill, seed: seed + n });
  curves.push({ ...c, label: item.label, target });
  bar.update(n + 1);
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;

const names = Object.keys(curves[0]!.confidence);
const summarise = (subset: typeof curves) =>
  Object.fromEntries(
    names.map((name) => {
      const base = name.startsWith('random') ? name : name.startsWith('inception_v3') && withRandom17 ? 'random_17' : 'random_7';
      const s = summariseDeletion(subset, name, base);
      const round = (x: number): number => Math.round(x * 10000) / 10000;
      return [name, { ...s, meanConfidence: s.meanConfidence.map(round), meanDrop: s.meanDrop.map(round), audc: round(s.audc), audcSd: round(s.audcSd), ...(s.beatsRandom !== undefined ? { beatsRandom: round(s.beatsRandom), comparedWith: base } : {}) }];
    }),
  );
const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  const sorted = [...xs].sort((a, b) => a - b);
  return { n: xs.length, mean: Math.round(mean * 1000) / 1000, sd: Math.round(sd * 1000) / 1000, median: Math.round((sorted[Math.floor(sorted.length / 2)] ?? NaN) * 1000) / 1000 };
};

const report = {
  modelVersion: manifest.version,
  createdAt: new Date().toISOString(),
  command: `npx tsx training/scripts/gradcam-faithfulness.ts --per-class ${perClass} --fill ${fill} --random-heads ${randomHeads} --seed ${seed}${withPlusPlus ? ' --plus-plus' : ''}${withRandom17 ? ' --random-17' : ''}`,
  sample: { n: chosen.length, perClass, from: 'data protocol validation role (HAM10000 val lesions, ISIC 2017 train val slice, 9-class val slice)', bySource },
  method: {
    maps: `Grad-CAM of the predicted class's logit, averaged over TTA views (${manifest.tta.join(', ')}), fused by positive branch contribution`,
    deletion: `remove the top-k% (of the model's crop area) most salient pixels of the original (longest side <= ${maxSide}), fill = ${fill}; re-score on the identity view; confidence = calibrated probability of the explained class`,
    random: withRandom17 ? 'smooth random fields on 7x7 (compared with fused, MobileNetV2) and 17x17 (compared with InceptionV3) lattices' : 'smooth random field on a 7x7 lattice (compared with every map)',
    baseline: real.camBaseline
      ? `maps subtract the model's reference feature maps (cam-baseline.json: ${real.camBaseline.meta.images} training images x ${real.camBaseline.meta.views.length} views); *_plain = plain Grad-CAM without it`
      : 'no reference feature maps: plain Grad-CAM',
    audc: 'trapezoid area under confidence vs removed fraction over [0, max fraction], divided by the span; lower = faster drop',
    beatsRandom: 'share of images whose confidence drop at 20% exceeds the random baseline drop',
  },
  fractions: [...DEFAULT_FRACTIONS],
  deletion: {
    all: summarise(curves),
    melanoma: curves.some((c) => c.label === 'malignant') ? summarise(curves.filter((c) => c.label === 'malignant')) : null,
    benign: curves.some((c) => c.label === 'benign') ? summarise(curves.filter((c) => c.label === 'benign')) : null,
  },
  explainedClass: { malignant: curves.filter((c) => c.target === 'malignant').length, benign: curves.filter((c) => c.target === 'benign').length },
  emptyMaps,
  sanityRandomisedHead: {
    heads: randomHeads,
    spearman: Object.fromEntries(KINDS.map((k) => [k, stats(sanity[k]!)])),
    note: 'Spearman rank correlation between each real map and the map of a randomly initialised head of the same shape, on the same features (crop grid); near 0 = the maps depend on the learned weights',
  },
  seconds: Math.round(seconds),
};
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(report, null, 2) + '\n');

const all = report.deletion.all;
process.stdout.write(`faithfulness of ${manifest.version} on ${chosen.length} validation images (${seconds.toFixed(0)} s), fill ${fill}\n`);
process.stdout.write(`${'map'.padEnd(18)} ${'AUDC'.padStart(6)} ${'drop@10%'.padStart(9)} ${'drop@20%'.padStart(9)} ${'beats random@20%'.padStart(17)}\n`);
for (const name of names) {
  const s = all[name] as { audc: number; meanDrop: number[]; beatsRandom?: number };
  process.stdout.write(`${name.padEnd(18)} ${s.audc.toFixed(3).padStart(6)} ${s.meanDrop[2]!.toFixed(3).padStart(9)} ${s.meanDrop[3]!.toFixed(3).padStart(9)} ${(s.beatsRandom?.toFixed(2) ?? '').padStart(17)}\n`);
}
for (const k of KINDS) {
  const s = report.sanityRandomisedHead.spearman[k]!;
  process.stdout.write(`sanity ${k}: Spearman(real, random head) mean ${s.mean} sd ${s.sd} (n=${s.n})\n`);
}
process.stdout.write(`wrote ${out}\n`);

for (const r of randoms) await r.dispose();
await real.dispose();
await backbones.dispose();
