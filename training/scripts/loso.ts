/**
 * Leave-one-source-out (LOSO) generalisation experiments: the study that chose fusion-v2
 * (models/generalisation.md).
 *
 *   npx tsx training/scripts/loso.ts extract-mobilenet --cc shades_of_gray [--views identity,hflip]
 *       MobileNetV2-only features into cacheDir('features-generalisation') (resumable).
 *   npx tsx training/scripts/loso.ts extract-mobilenet --cc none --blocks expanded_conv_13,expanded_conv_16 | --crop centre-zoom2
 *       intermediate MobileNetV2 blocks (one store each) or the 2x centre zoom input, same cache.
 *   npx tsx training/scripts/loso.ts cost [--n 100]
 *       preprocessing cost per image with and without colour constancy (ms, measured).
 *   npx tsx training/scripts/loso.ts member-cost [--n 60]
 *       per-image cost of extra MobileNetV2 members: block outputs of the same pass, a zoom pass.
 *   npx tsx training/scripts/loso.ts levers [--group all|taps|branches|heads|ensemble|metadata|cc|tta] [--out FILE]
 *       LOSO table of configurations; rows appended as JSON to cacheDir('experiments', 'loso.jsonl').
 */
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../../electron/util/paths.ts';
import { buildProtocol, SOURCES, type ProtocolItem } from '../data/protocol.ts';
import { blockName, readBlocks, type FeatureBlock } from '../studies/generalisation/features.ts';
import { buildLosoFolds, type LosoFold, pairedDifference, scoredSet, setMetrics, type ScoredSet, type SetMetrics } from '../studies/generalisation/loso.ts';
import { configBlocks, configViews, runLosoConfig, type LosoConfig, type MemberConfig } from '../studies/generalisation/loso-run.ts';
import type { MatrixHeadSettings } from '../studies/generalisation/matrix-head.ts';
import { prepareLesionCrop } from '../studies/generalisation/lesion-crop.ts';
import { loadSharedMetadata } from '../studies/generalisation/metadata.ts';
import type { Pooling } from '../../electron/model/head.ts';
import { specificityAtSensitivity } from '../../electron/model/metrics.ts';
import { DEFAULT_TRAIN_SETTINGS } from '../head/train-head.ts';
import { extractMobilenetFeatures, type CropPolicy } from '../studies/generalisation/mobilenet-extract.ts';
import { prepareCentreZoom } from '../studies/generalisation/centre-zoom.ts';
import { mobilenetGraph, MOBILENET_INPUT_SIZE } from '../../electron/model/backbones.ts';
import { mobilenetBlocksGraph } from '../studies/generalisation/mobilenet-blocks.ts';
import { MOBILENET_FEATURES } from '../../electron/model/convert/mobilenet-v2.ts';
import { poolMap } from '../features/feature-cache.ts';
import { createSession, ort } from '../../electron/model/runtime.ts';
import { prepareImage, shadesOfGrayGains, type ColorConstancy } from '../../electron/model/preprocess.ts';
import type { View } from '../../electron/model/views.ts';

const program = new Command();

program
  .command('extract-mobilenet')
  .option('--cc <mode>', 'colour constancy: none | shades_of_gray', 'shades_of_gray')
  .option('--views <list>', 'views', 'identity')
  .option('--batch <n>', 'batch size', '16')
  .option('--threads <n>', 'onnxruntime intra-op threads')
  .option('--crop <policy>', 'centre | lesion | centre-zoom2', 'centre')
  .option('--blocks <list>', "intermediate MobileNetV2 blocks to store instead of the final map (e.g. 'expanded_conv_13,expanded_conv_16')")
  .action(async (o: { cc: ColorConstancy; views: string; batch: string; threads?: string; crop: CropPolicy; blocks?: string }) => {
    const protocol = await buildProtocol();
    // LOSO test sets first, so a partial run already scores every held-out source.
    const rank = (i: ProtocolItem): number => (i.evalSet === 'test:ham10000' || i.evalSet === 'test:isic2017' || i.source === 'isic9' ? 0 : 1);
    const items = [...protocol.items].sort((a, b) => rank(a) - rank(b) || a.sha256.localeCompare(b.sha256));
    const bar = new cliProgress.SingleBar({ format: 'mobilenet |{bar}| {value}/{total} eta {eta_formatted} failed {failed}', noTTYOutput: true, notTTYSchedule: 15_000 }, cliProgress.Presets.shades_classic);
    let stop = false;
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => (stop = true));
    let started = false;
    const t0 = performance.now();
    console.log(`${new Date().toISOString()} extract-mobilenet cc=${o.cc} crop=${o.crop} blocks=${o.blocks ?? '-'} views=${o.views} items=${items.length}`);
    const r = await extractMobilenetFeatures(items, {
      colorConstancy: o.cc,
      crop: o.crop,
      ...(o.blocks ? { blocks: o.blocks.split(',') } : {}),
      views: o.views.split(',') as View[],
      batchSize: Number(o.batch),
      ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}),
      onBatch: (done, total, failed) => {
        if (!started) bar.start(total, 0, { failed: 0 });
        started = true;
        bar.update(done, { failed });
      },
      shouldStop: () => stop,
    });
    bar.stop();
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${new Date().toISOString()} done: computed ${r.computed}, failed ${r.failed}, cached ${r.skipped}, ${s.toFixed(0)} s; lesion found ${r.lesionFound}; preprocess ${r.preprocessMsPerImage.toFixed(1)} ms/img, mobilenet ${r.inferenceMsPerImage.toFixed(1)} ms/img`,
    );
  });

program
  .command('cost')
  .description('preprocessing cost per image with and without Shades of Gray (ms, medians, interleaved)')
  .option('--n <n>', 'images (spread over the three sources)', '90')
  .option('--repeats <n>', 'passes over the images', '3')
  .action(async (o: { n: string; repeats: string }) => {
    const protocol = await buildProtocol();
    const per = Math.ceil(Number(o.n) / SOURCES.length);
    const files = SOURCES.flatMap((s) => protocol.items.filter((i) => i.source === s).slice(0, per).map((i) => i.file));
    const times: Record<ColorConstancy, number[]> = { none: [], shades_of_gray: [] };
    const gains: number[] = [];
    const lesion: number[] = [];
    for (const f of files) await prepareImage(f); // warm the file cache and sharp
    for (let r = 0; r < Number(o.repeats); r++) {
      for (const f of files) {
        for (const cc of (r % 2 ? ['shades_of_gray', 'none'] : ['none', 'shades_of_gray']) as ColorConstancy[]) {
          const t0 = performance.now();
          const p = await prepareImage(f, { colorConstancy: cc });
          times[cc].push(performance.now() - t0);
          if (cc === 'none') {
            const tl = performance.now();
            await prepareLesionCrop(f, MOBILENET_INPUT_SIZE);
            lesion.push(performance.now() - tl);
            const rgb = Uint8Array.from(p.mobilenet);
            const t1 = performance.now();
            shadesOfGrayGains(rgb);
            gains.push(performance.now() - t1);
          }
        }
      }
    }
    const med = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    console.log(JSON.stringify({ images: files.length, repeats: Number(o.repeats), prepare_none_ms: +med(times.none).toFixed(2), prepare_sog_ms: +med(times.shades_of_gray).toFixed(2), sog_extra_ms: +(med(times.shades_of_gray) - med(times.none)).toFixed(2), sog_gains_only_ms: +med(gains).toFixed(3), lesion_crop_224_ms: +med(lesion).toFixed(2) }));
  });

program
  .command('member-cost')
  .description('per-image cost of the extra MobileNetV2 members (ms, batch 1, medians, interleaved): block outputs of the same pass, a 2x centre zoom pass')
  .option('--n <n>', 'images (spread over the three sources)', '60')
  .option('--repeats <n>', 'passes over the images', '3')
  .option('--blocks <list>', 'intermediate blocks', 'expanded_conv_13,expanded_conv_16')
  .action(async (o: { n: string; repeats: string; blocks: string }) => {
    const protocol = await buildProtocol();
    const per = Math.ceil(Number(o.n) / SOURCES.length);
    const files = SOURCES.flatMap((s) => protocol.items.filter((i) => i.source === s).slice(0, per).map((i) => i.file));
    const blocks = o.blocks.split(',');
    const plain = (await createSession((await mobilenetGraph()).onnx, {})).session;
    const tapped = (await createSession((await mobilenetBlocksGraph(blocks)).onnx, {})).session;
    const pass = async (session: ort.InferenceSession, pixels: Float32Array, outputs: string[]): Promise<number> => {
      const t0 = performance.now();
      const r = await session.run({ image: new ort.Tensor('float32', pixels, [1, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, 3]) }, outputs);
      for (const n of outputs) poolMap(r[n]!.data as Float32Array, r[n]!.dims as unknown as [number, number, number, number], 0);
      return performance.now() - t0;
    };
    const t: Record<'prepare' | 'prepareZoom' | 'final' | 'finalPlusBlocks', number[]> = { prepare: [], prepareZoom: [], final: [], finalPlusBlocks: [] };
    for (const f of files.slice(0, 5)) {
      const p = await prepareImage(f); // warm the file cache, sharp and both sessions
      await pass(plain, p.mobilenet, [MOBILENET_FEATURES]);
      await pass(tapped, p.mobilenet, [MOBILENET_FEATURES, ...blocks]);
    }
    for (let r = 0; r < Number(o.repeats); r++) {
      for (const f of files) {
        const t0 = performance.now();
        const p = await prepareImage(f);
        const t1 = performance.now();
        await prepareCentreZoom(f, 2);
        t.prepare.push(t1 - t0);
        t.prepareZoom.push(performance.now() - t1);
        const order = r % 2 ? ([[tapped, 'finalPlusBlocks'], [plain, 'final']] as const) : ([[plain, 'final'], [tapped, 'finalPlusBlocks']] as const);
        for (const [session, key] of order) t[key].push(await pass(session, p.mobilenet, key === 'final' ? [MOBILENET_FEATURES] : [MOBILENET_FEATURES, ...blocks]));
      }
    }
    await plain.release();
    await tapped.release();
    const med = (v: number[]): number => +[...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!.toFixed(2);
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, med(v)])) as Record<keyof typeof t, number>;
    console.log(
      JSON.stringify({
        images: files.length,
        repeats: Number(o.repeats),
        blocks,
        prepare_ms: m.prepare,
        prepare_centre_zoom2_ms: m.prepareZoom,
        mobilenet_final_ms: m.final,
        mobilenet_final_plus_blocks_ms: m.finalPlusBlocks,
        blocks_extra_ms: +(m.finalPlusBlocks - m.final).toFixed(2),
        zoom_member_extra_ms: +(m.prepareZoom + m.final).toFixed(2),
      }),
    );
  });

const INC = (layer: 'mixed5' | 'mixed6' | 'mixed7', pooling: Pooling = 'avg'): FeatureBlock => ({ kind: 'inception', layer, pooling });
const MOB = (pooling: Pooling = 'avg', colorConstancy: ColorConstancy = 'none', crop: CropPolicy = 'centre'): FeatureBlock => ({ kind: 'mobilenet', pooling, colorConstancy, crop });
/** An intermediate MobileNetV2 block (avg-pooled, identity view, no colour constancy). */
const MOB_BLOCK = (block: string, crop: CropPolicy = 'centre'): FeatureBlock => ({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none', crop, block });
const LR: MatrixHeadSettings = { hidden: [], dropout: 0, train: DEFAULT_TRAIN_SETTINGS };
const lr = (l2: number): MatrixHeadSettings => ({ ...LR, train: { ...DEFAULT_TRAIN_SETTINGS, l2 } });
const mlp = (units: number, dropout: number, l2 = 1e-4, seed = DEFAULT_TRAIN_SETTINGS.seed): MatrixHeadSettings => ({ hidden: [units], dropout, train: { ...DEFAULT_TRAIN_SETTINGS, l2, seed } });
const one = (name: string, blocks: FeatureBlock[], head: MatrixHeadSettings = LR, extra: Partial<MemberConfig> = {}): LosoConfig => ({ name, members: [{ blocks, head, ...extra }] });

/** Every configuration, by group; names are stable (they key the stored logits). */
function configs(): Record<string, LosoConfig[]> {
  const fusion6 = [INC('mixed6'), MOB()];
  // fusion-v2's members without TTA, plus extra MobileNetV2 members the study tried (intermediate blocks, multi-scale input).
  const fusionV2Plus = (name: string, extra: FeatureBlock[], seed = DEFAULT_TRAIN_SETTINGS.seed): LosoConfig => ({
    name: `late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2 + ${name}`,
    members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB(), ...extra].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1, seed) })),
  });
  const block13 = MOB_BLOCK('expanded_conv_13');
  const block16 = MOB_BLOCK('expanded_conv_16');
  const zoom2 = MOB('avg', 'none', 'centre-zoom2');
  return {
    taps: [
      one('fusion mixed5 avg, LR', [INC('mixed5'), MOB()]),
      one('fusion mixed6 avg, LR', fusion6),
      one('fusion mixed7 avg, LR', [INC('mixed7'), MOB()]),
      one('fusion mixed5+6+7 avg, LR', [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()]),
    ],
    branches: [one('MobileNetV2 avg, LR', [MOB()]), one('InceptionV3 mixed6 avg, LR', [INC('mixed6')]), one('InceptionV3 mixed5 avg, LR', [INC('mixed5')])],
    pooling: [one('fusion mixed6 avg+max, LR', [INC('mixed6', 'avg+max'), MOB('avg+max')]), one('MobileNetV2 avg+max, LR', [MOB('avg+max')])],
    heads: [
      one('fusion mixed6, LR l2=1e-3', fusion6, lr(1e-3)),
      one('fusion mixed6, LR l2=1e-2', fusion6, lr(1e-2)),
      one('fusion mixed6, MLP64 d0.5', fusion6, mlp(64, 0.5)),
      one('fusion mixed6, MLP256 d0.5 l2=1e-3', fusion6, mlp(256, 0.5, 1e-3)),
    ],
    ensemble: [
      { name: 'ensemble: 5 x MLP256 d0.5 l2=1e-3 (seeds), fusion mixed6', members: [0, 1, 2, 3, 4].map((k) => ({ blocks: fusion6, head: mlp(256, 0.5, 1e-3, DEFAULT_TRAIN_SETTINGS.seed + 101 * k) })) },
      { name: 'ensemble: LR fusion mixed5 + mixed6 + mixed7', members: (['mixed5', 'mixed6', 'mixed7'] as const).map((l) => ({ blocks: [INC(l), MOB()], head: LR })) },
    ],
    regularise: [
      one('fusion mixed6, LR l2=1e-1', fusion6, lr(1e-1)),
      one('InceptionV3 mixed6, LR l2=1e-2', [INC('mixed6')], lr(1e-2)),
      one('MobileNetV2, LR l2=1e-2', [MOB()], lr(1e-2)),
      one('fusion mixed5+6+7, LR l2=1e-2', [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()], lr(1e-2)),
    ],
    regularise2: [
      one('fusion mixed6, LR l2=3e-1', fusion6, lr(3e-1)),
      one('fusion mixed6, LR l2=1', fusion6, lr(1)),
      one('fusion mixed5+6+7, LR l2=1e-1', [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()], lr(1e-1)),
      one('fusion mixed6, MLP64 d0.5 l2=1e-1', fusion6, mlp(64, 0.5, 1e-1)),
      one('fusion mixed6 (MobileNetV2 lesion crop), LR l2=1e-1', [INC('mixed6'), MOB('avg', 'none', 'lesion')], lr(1e-1)),
      one('fusion mixed6 (MobileNetV2 Shades of Gray), LR l2=1e-1', [INC('mixed6'), MOB('avg', 'shades_of_gray')], lr(1e-1)),
    ],
    late: [
      { name: 'late fusion: LR mixed6 + LR MobileNetV2 (mean logit)', members: [{ blocks: [INC('mixed6')], head: LR }, { blocks: [MOB()], head: LR }] },
      { name: 'late fusion: LR mixed5 + LR mixed6 + LR MobileNetV2', members: [{ blocks: [INC('mixed5')], head: LR }, { blocks: [INC('mixed6')], head: LR }, { blocks: [MOB()], head: LR }] },
      { name: 'late fusion l2=1e-2: mixed5 + mixed6 + mixed7 + MobileNetV2', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: lr(1e-2) })) },
    ],
    late2: [
      { name: 'late fusion l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: lr(1e-1) })) },
      { name: 'late fusion l2=1e-2: mixed5 + mixed6 + mixed7 (InceptionV3 only)', members: [INC('mixed5'), INC('mixed6'), INC('mixed7')].map((b) => ({ blocks: [b], head: lr(1e-2) })) },
      { name: 'late fusion MLP64 d0.5: mixed5 + mixed6 + mixed7 + MobileNetV2', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5) })) },
      { name: 'late fusion l2=1e-2: mixed5 + mixed6 + mixed7 + MobileNetV2 + MobileNetV2 lesion crop', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB(), MOB('avg', 'none', 'lesion')].map((b) => ({ blocks: [b], head: lr(1e-2) })) },
      { name: 'late fusion l2=1e-2: mixed5 + mixed6 + mixed7 + MobileNetV2 Shades of Gray', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB('avg', 'shades_of_gray')].map((b) => ({ blocks: [b], head: lr(1e-2) })) },
    ],
    late3: [
      { name: 'late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1) })) },
      {
        name: 'late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2, flip TTA (fusion-v2 recipe)',
        members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1), tta: ['identity', 'hflip'] })),
      },
    ],
    final: [
      one('shipped fusion-v1 recipe: fusion mixed6, MLP256 d0.5 l2=1e-4 (no TTA)', fusion6, mlp(256, 0.5, 1e-4)),
      { name: 'late fusion l2=1: mixed5 + mixed6 + mixed7 + MobileNetV2', members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: lr(1) })) },
    ],
    ttaFusion: [
      one('shipped fusion-v1 recipe with flip TTA: fusion mixed6, MLP256 d0.5 l2=1e-4, identity+hflip', fusion6, mlp(256, 0.5, 1e-4), { tta: ['identity', 'hflip'] }),
      {
        name: 'late fusion l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2, flip TTA',
        members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: lr(1e-1), tta: ['identity', 'hflip'] })),
      },
    ],
    metadataBase: [one('fusion mixed6 avg, LR', [INC('mixed6'), MOB()])],
    metadata: [
      one('fusion mixed6 LR + metadata (dropout), given', fusion6, LR, { metadata: { allRate: 0.3, fieldRate: 0.2, atTest: 'given' } }),
      one('fusion mixed6 LR + metadata (dropout), hidden at test', fusion6, LR, { metadata: { allRate: 0.3, fieldRate: 0.2, atTest: 'hidden' } }),
      one('fusion mixed6 LR + metadata (no dropout), given', fusion6, LR, { metadata: { allRate: 0, fieldRate: 0, atTest: 'given' } }),
    ],
    cc: [one('MobileNetV2 avg, LR, Shades of Gray', [MOB('avg', 'shades_of_gray')]), one('fusion mixed6 (MobileNetV2 Shades of Gray), LR', [INC('mixed6'), MOB('avg', 'shades_of_gray')])],
    crop: [one('MobileNetV2 avg, LR, lesion-centred crop', [MOB('avg', 'none', 'lesion')]), one('fusion mixed6 (MobileNetV2 lesion crop), LR', [INC('mixed6'), MOB('avg', 'none', 'lesion')])],
    domain: [
      one('fusion mixed6 avg, LR, per-domain standardisation', fusion6, LR, { domainNorm: true }),
      one('MobileNetV2 avg, LR, per-domain standardisation', [MOB()], LR, { domainNorm: true }),
    ],
    tta: [one('MobileNetV2 avg, LR, TTA identity+hflip', [MOB()], LR, { tta: ['identity', 'hflip'] })],
    blocks: [
      fusionV2Plus('MobileNetV2 expanded_conv_13 (14x14x96)', [block13]),
      fusionV2Plus('MobileNetV2 expanded_conv_16 (7x7x160)', [block16]),
      fusionV2Plus('MobileNetV2 expanded_conv_13 + expanded_conv_16', [block13, block16]),
    ],
    scales: [
      fusionV2Plus('MobileNetV2 centre zoom 2x', [zoom2]),
      fusionV2Plus('MobileNetV2 expanded_conv_13 + expanded_conv_16 + MobileNetV2 centre zoom 2x', [block13, block16, zoom2]),
    ],
    // Control for "a fifth member": the same MobileNetV2 features again, head trained with another seed.
    scalesControl: [
      {
        name: 'late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2 + MobileNetV2 again (other seed)',
        members: [
          ...[INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1) })),
          { blocks: [MOB()], head: mlp(64, 0.5, 1e-1, DEFAULT_TRAIN_SETTINGS.seed + 101) },
        ],
      },
      // Control for training noise: fusion-v2's members (no TTA) with every head trained from another seed.
      {
        name: 'late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2 (other seed)',
        members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1, DEFAULT_TRAIN_SETTINGS.seed + 101) })),
      },
    ],
    // Every head retrained from other seeds: is a lever's difference larger than the seed-to-seed one?
    scalesSeeds: [
      fusionV2Plus('MobileNetV2 centre zoom 2x (other seed)', [zoom2], DEFAULT_TRAIN_SETTINGS.seed + 101),
      fusionV2Plus('MobileNetV2 expanded_conv_13 (14x14x96) (other seed)', [block13], DEFAULT_TRAIN_SETTINGS.seed + 101),
      {
        name: 'late fusion MLP64 d0.5 l2=1e-1: mixed5 + mixed6 + mixed7 + MobileNetV2 (third seed)',
        members: [INC('mixed5'), INC('mixed6'), INC('mixed7'), MOB()].map((b) => ({ blocks: [b], head: mlp(64, 0.5, 1e-1, DEFAULT_TRAIN_SETTINGS.seed + 202) })),
      },
      fusionV2Plus('MobileNetV2 centre zoom 2x (third seed)', [zoom2], DEFAULT_TRAIN_SETTINGS.seed + 202),
      fusionV2Plus('MobileNetV2 expanded_conv_13 (14x14x96) (third seed)', [block13], DEFAULT_TRAIN_SETTINGS.seed + 202),
    ],
    // The same members with flip TTA, against the shipped fusion-v2 recipe.
    scalesTta: [
      { ...fusionV2Plus('MobileNetV2 centre zoom 2x, flip TTA', [zoom2]), members: fusionV2Plus('', [zoom2]).members.map((m) => ({ ...m, tta: ['identity', 'hflip'] })) },
      { ...fusionV2Plus('MobileNetV2 expanded_conv_13 (14x14x96), flip TTA', [block13]), members: fusionV2Plus('', [block13]).members.map((m) => ({ ...m, tta: ['identity', 'hflip'] })) },
    ],
  };
}

const logitsDir = (): string => cacheDir('experiments', 'loso-logits');
const slug = (name: string): string => name.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '').toLowerCase();

function fmtCi(m: SetMetrics): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
  return `${f(m.auc)} [${f(m.aucCi[0])}, ${f(m.aucCi[1])}] / ${f(m.spec90)} [${f(m.spec90Ci[0])}, ${f(m.spec90Ci[1])}]`;
}

/** Items with every block of every configuration in `runs` (identity view), so all rows score the same images. */
function completeItems(items: readonly ProtocolItem[], blocks: readonly FeatureBlock[]): ProtocolItem[] {
  const m = readBlocks(blocks, items.map((i) => i.sha256), 'identity');
  return items.filter((_, k) => !m.missing.has(k));
}

/** In-domain validation folds (standard protocol): for the metadata lever, which LOSO cannot measure here. */
async function inDomainFolds(): Promise<LosoFold[]> {
  const p = await buildProtocol();
  const train = p.items.filter((i) => i.role === 'train');
  return (['ham10000', 'isic9'] as const).map((s) => ({ holdOut: s, train, test: p.items.filter((i) => i.evalSet === `val:${s}`) }));
}

program
  .command('levers')
  .option('--group <list>', `groups: ${Object.keys(configs()).join(',')} or all`, 'all')
  .option('--only <names>', 'only configurations whose name contains one of these (|-separated)')
  .option('--in-domain', 'instead of LOSO: train on the standard training split, score the HAM10000 and ISIC 9-class validation slices')
  .option('--common <groups>', 'restrict every fold to images having the features of these groups too (same images across tables)', '')
  .action(async (o: { group: string; only?: string; common: string; inDomain?: boolean }) => {
    const all = configs();
    const groups = o.group === 'all' ? Object.keys(all) : o.group.split(',');
    let runs = groups.flatMap((g) => all[g] ?? []);
    if (o.only) runs = runs.filter((c) => o.only!.split('|').some((n) => c.name.includes(n)));
    const commonGroups = o.common ? o.common.split(',') : [];
    const blocks = [...new Map([...runs, ...commonGroups.flatMap((g) => all[g] ?? [])].flatMap(configBlocks).map((b) => [blockName(b), b])).values()];
    const folds = o.inDomain ? await inDomainFolds() : await buildLosoFolds();
    const metadata = loadSharedMetadata();
    mkdirSync(logitsDir(), { recursive: true });
    console.log(`| configuration | ${folds.map((f) => `${f.holdOut} AUC [CI] / spec@90 [CI]`).join(' | ')} | s |`);
    console.log(`|---|${folds.map(() => '---|').join('')}---|`);
    const counts = folds.map((f) => ({ f, train: completeItems(f.train, blocks), test: completeItems(f.test, blocks) }));
    for (const c of counts) console.error(`fold ${c.f.holdOut}: train ${c.train.length}/${c.f.train.length}, test ${c.test.length}/${c.f.test.length} with all features`);
    for (const config of runs) {
      const t0 = performance.now();
      const cells: string[] = [];
      const record: Record<string, unknown> = { at: new Date().toISOString(), name: config.name, config, blocks: blocks.map(blockName) };
      for (const { f, train, test } of counts) {
        const views = configViews(config).filter((v) => v !== 'identity');
        let scoredTest = test;
        if (views.length) scoredTest = views.reduce((items, v) => items.filter((_, k) => !readBlocks(configBlocks(config), items.map((i) => i.sha256), v).missing.has(k)), test);
        const logits = await runLosoConfig(config, { train, test: scoredTest }, { metadata });
        const set = scoredSet(scoredTest, logits);
        const m = setMetrics(set);
        cells.push(`${fmtCi(m)} (n=${m.n}, mel=${m.melanoma})`);
        record[f.holdOut] = m;
        writeFileSync(join(logitsDir(), `${o.inDomain ? 'indomain-' : ''}${slug(config.name)}--${f.holdOut}.json`), JSON.stringify(set));
      }
      const s = (performance.now() - t0) / 1000;
      console.log(`| ${config.name} | ${cells.join(' | ')} | ${s.toFixed(0)} |`);
      appendFileSync(cacheDir('experiments', 'loso.jsonl'), JSON.stringify({ ...record, inDomain: Boolean(o.inDomain), seconds: s }) + '\n');
    }
  });

program
  .command('table')
  .description('markdown table of the latest stored result of each configuration (from loso.jsonl), in run order')
  .option('--in-domain', 'the in-domain validation results instead of LOSO')
  .option('--only <names>', 'only configurations whose name contains one of these (|-separated)')
  .action((o: { inDomain?: boolean; only?: string }) => {
    const rows = readFileSync(cacheDir('experiments', 'loso.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown> & { name: string; inDomain?: boolean });
    const latest = new Map<string, (typeof rows)[number]>();
    for (const r of rows) if (Boolean(r.inDomain) === Boolean(o.inDomain) && (!o.only || o.only.split('|').some((n) => r.name.includes(n)))) latest.set(r.name, r);
    const sets = o.inDomain ? ['ham10000', 'isic9'] : [...SOURCES];
    const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
    console.log(`| configuration | ${sets.map((s) => `${s} AUC [95% CI] | ${s} spec@90 [95% CI]`).join(' | ')} | mean AUC |`);
    console.log(`|---|${sets.map(() => '---|---|').join('')}---|`);
    for (const r of latest.values()) {
      const ms = sets.map((s) => r[s] as SetMetrics);
      const cells = ms.map((m) => `${f(m.auc)} [${f(m.aucCi[0])}, ${f(m.aucCi[1])}] | ${f(m.spec90)} [${f(m.spec90Ci[0])}, ${f(m.spec90Ci[1])}]`);
      console.log(`| ${r.name} | ${cells.join(' | ')} | ${f(ms.reduce((a, m) => a + m.auc, 0) / ms.length)} |`);
    }
  });

program
  .command('compare')
  .description('paired bootstrap differences (a - b) of AUC and spec@90 from stored LOSO logits')
  .requiredOption('--a <name>')
  .requiredOption('--b <name>')
  .option('--in-domain', 'compare the in-domain validation logits')
  .action((o: { a: string; b: string; inDomain?: boolean }) => {
    const f = (v: number): string => (v >= 0 ? '+' : '') + v.toFixed(3);
    const cells: string[] = [];
    for (const holdOut of o.inDomain ? (['ham10000', 'isic9'] as const) : SOURCES) {
      const read = (n: string): ScoredSet => JSON.parse(readFileSync(join(logitsDir(), `${o.inDomain ? 'indomain-' : ''}${slug(n)}--${holdOut}.json`), 'utf8')) as ScoredSet;
      const a = read(o.a);
      const b = read(o.b);
      const dAuc = pairedDifference(a, b);
      const dSpec = pairedDifference(a, b, (s, l) => specificityAtSensitivity(s, l, 0.9));
      cells.push(`${f(dAuc.diff)} [${f(dAuc.ci[0])}, ${f(dAuc.ci[1])}] / ${f(dSpec.diff)} [${f(dSpec.ci[0])}, ${f(dSpec.ci[1])}]`);
    }
    console.log(`| ${o.a} minus ${o.b} | ${cells.join(' | ')} |`);
  });

await program.parseAsync();
