/**
 * Both backbones on onnxruntime-node: one image each, both together, throughput in batches (with
 * and without preprocessing), and achieved GFLOP/s against the FLOPs counted from the ONNX graphs.
 * The InceptionV3 graph outputs the taps and scaling of the SHIPPED model's manifest, so the
 * targets are measured on what the app runs; a mixed6-only graph (what fusion-v1 ran) is timed
 * beside it to show what the extra taps cost per image.
 */
import { availableParallelism } from 'node:os';
import { concatArrays } from '../../electron/util/typed-arrays.ts';
import { concatChannels } from '../../electron/model/feature-maps.ts';
import { prepareImage } from '../../electron/model/preprocess.ts';
import type { FeatureMap, PreparedImage } from '../../electron/model/types.ts';
import { countGraphFlops } from '../onnx-flops.ts';
import { describeError, isMissingModule, round, row, timeIt, type Row, type Section } from '../lib.ts';

type BackbonesModule = typeof import('../../electron/model/backbones.ts');
type Backbones = Awaited<ReturnType<BackbonesModule['Backbones']['load']>>;

function stack(images: readonly PreparedImage[], key: 'inception' | 'mobilenet'): Float32Array {
  return concatArrays(images.map((p) => p[key]), Float32Array);
}

let loaded: Backbones | undefined;

/** The single tap fusion-v1 read: the baseline the shipped taps are compared with. */
const SINGLE_TAP = ['mixed6'];

interface ShippedTaps {
  readonly layers?: readonly string[];
  readonly scaling?: 'unit' | 'symmetric';
  readonly note: string;
}

/** Taps and scaling the shipped model's manifest asks for; none (defaults) when no model can be read. */
async function shippedTaps(): Promise<ShippedTaps> {
  try {
    const { loadManifest, shippedModelDir } = await import('../../electron/model/manifest.ts');
    const dir = shippedModelDir();
    const manifest = loadManifest(dir);
    // The classifier loads its backbones with exactly these (createClassifier).
    const inc = manifest.backbones.inception_v3;
    return { layers: inc.layers, scaling: inc.scaling, note: `InceptionV3 taps and scaling of the shipped model ${manifest.version} (${dir})` };
  } catch (err) {
    return { note: `no shipped model manifest could be read (${describeError(err)}): default InceptionV3 taps` };
  }
}

function randomMap(channels: number): FeatureMap {
  const data = new Float32Array(17 * 17 * channels);
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  return { data, shape: [1, 17, 17, channels] };
}

const section: Section = {
  name: 'backbones (onnxruntime-node: InceptionV3 + MobileNetV2)',
  async run(ctx) {
    let mod: BackbonesModule;
    try {
      mod = await import('../../electron/model/backbones.ts');
    } catch (err) {
      return { skipped: isMissingModule(err) ? `electron/model/backbones.ts (or a module it imports) is not there yet: ${describeError(err)}` : `cannot import backbones: ${describeError(err)}` };
    }
    const taps = await shippedTaps();
    const notes: string[] = [taps.note];
    const loadOpts = { ...(taps.layers ? { inceptionLayers: [...taps.layers] } : {}), ...(taps.scaling ? { inceptionScaling: taps.scaling } : {}) };
    const first = await prepareImage(ctx.images[0]!);

    // The mixed6-only graph is loaded, timed and disposed before the shipped one loads, so two
    // InceptionV3 sessions never sit in memory together (the classifier process must stay under 1 GB).
    const shippedIsSingleTap = (taps.layers ?? mod.DEFAULT_INCEPTION_LAYERS).join() === SINGLE_TAP.join();
    let singleTap: Awaited<ReturnType<typeof timeIt>> | undefined;
    if (!shippedIsSingleTap) {
      try {
        const single = await mod.Backbones.load({ inceptionLayers: SINGLE_TAP, ...(taps.scaling ? { inceptionScaling: taps.scaling } : {}) });
        try {
          singleTap = await timeIt(() => single.runInception(first.inception, 1), ctx.runs, ctx.warmup);
        } finally {
          await single.dispose();
        }
      } catch (err) {
        notes.push(`could not time the mixed6-only InceptionV3 graph: ${describeError(err)}`);
      }
    }

    const t0 = performance.now();
    try {
      loaded = await mod.Backbones.load(loadOpts);
    } catch (err) {
      return { skipped: `Backbones.load(${JSON.stringify(loadOpts)}) failed: ${describeError(err)}` };
    }
    const b = loaded;
    const loadMs = performance.now() - t0;
    ctx.shared.set('backbones', b);
    const rows: Row[] = [];

    // Batch 16 grows onnxruntime's arena past 1 GB on its own (measured ~1.03 GB peak), and the
    // batch service does not need it: opt in with BENCH_MAX_BATCH=16.
    const maxBatch = Math.max(8, Number(process.env.BENCH_MAX_BATCH ?? 8));
    const prepared: PreparedImage[] = [];
    for (const f of ctx.images.slice(0, maxBatch)) prepared.push(await prepareImage(f));
    while (prepared.length < maxBatch) prepared.push(prepared[prepared.length % Math.max(1, prepared.length)]!);
    const one = prepared.slice(0, 1);
    const inc1 = stack(one, 'inception');
    const mob1 = stack(one, 'mobilenet');

    const inception = await timeIt(() => b.runInception(inc1, 1), ctx.runs, ctx.warmup);
    const mobilenet = await timeIt(() => b.runMobilenet(mob1, 1), ctx.runs, ctx.warmup);
    const both = await timeIt(() => b.run(inc1, mob1, 1), ctx.runs, ctx.warmup);
    // Joining the taps into the one 'inception' map the head reads (classifier: concatChannels).
    const tapMaps = b.inceptionLayers.map(() => randomMap(768));
    const join = await timeIt(() => concatChannels(tapMaps), ctx.runs * 4, ctx.warmup);

    // FLOPs: counted independently from the ONNX files (Conv/Gemm/MatMul), next to the converter's own figure.
    const flops = { inception: 2 * b.inceptionInfo.macsPerImage, mobilenet: 2 * b.mobilenetInfo.macsPerImage };
    try {
      const inc = await countGraphFlops(b.inceptionInfo.onnxPath);
      const mob = await countGraphFlops(b.mobilenetInfo.onnxPath);
      notes.push(
        `FLOPs per image counted from the ONNX graphs: InceptionV3 ${(inc.flops / 1e9).toFixed(2)} G (converter says ${(flops.inception / 1e9).toFixed(2)} G), ` +
          `MobileNetV2 ${(mob.flops / 1e9).toFixed(3)} G (converter says ${(flops.mobilenet / 1e9).toFixed(3)} G); 1 MAC = 2 FLOPs`,
      );
      if (inc.unknownOps.length + mob.unknownOps.length) notes.push(`ops not counted: ${[...new Set([...inc.unknownOps, ...mob.unknownOps])].join(', ')}`);
      flops.inception = inc.flops;
      flops.mobilenet = mob.flops;
    } catch (err) {
      notes.push(`could not count FLOPs from the graphs (${describeError(err)}); using the converter's MAC count`);
    }
    const gflops = (f: number, ms: number): number => f / (ms / 1000) / 1e9;
    rows.push(row('InceptionV3, 1 image', inception, 'ms', `${gflops(flops.inception, inception.median).toFixed(1)} GFLOP/s`));
    rows.push(row('MobileNetV2, 1 image', mobilenet, 'ms', `${gflops(flops.mobilenet, mobilenet.median).toFixed(1)} GFLOP/s`));
    rows.push(row('both, 1 image', both, 'ms', `${gflops(flops.inception + flops.mobilenet, both.median).toFixed(1)} GFLOP/s`));
    const tapNames = b.inceptionLayers.join('+');
    const comparison: Record<string, number | string | null> = { inception_taps: tapNames };
    if (singleTap) {
      const extra = inception.median - singleTap.median;
      rows.push(row(`InceptionV3 ${SINGLE_TAP.join('+')} only (fusion-v1), 1 image`, singleTap));
      rows.push(row(`InceptionV3 ${tapNames} (shipped), 1 image`, inception, 'ms', `x${(inception.median / singleTap.median).toFixed(2)} of ${SINGLE_TAP.join('+')}, ${extra >= 0 ? '+' : ''}${extra.toFixed(1)} ms per image`));
      Object.assign(comparison, {
        inception_mixed6_ms: round(singleTap.median, 1),
        inception_mixed6_cpu_ms: round(singleTap.cpuMedian ?? NaN, 1),
        inception_shipped_taps_ms: round(inception.median, 1),
        inception_shipped_taps_cpu_ms: round(inception.cpuMedian ?? NaN, 1),
        inception_extra_taps_ms: round(extra, 1),
        inception_taps_ratio: round(inception.median / singleTap.median, 3),
      });
      notes.push(`the two InceptionV3 graphs were timed one after the other (not interleaved): under a changing machine load compare the cpu column too`);
    } else if (shippedIsSingleTap) {
      notes.push(`shipped taps are ${tapNames}: nothing extra to compare with mixed6 alone`);
      Object.assign(comparison, { inception_mixed6_ms: round(inception.median, 1), inception_shipped_taps_ms: round(inception.median, 1), inception_extra_taps_ms: 0, inception_taps_ratio: 1 });
    }
    rows.push(row(`join ${b.inceptionLayers.length} tap map(s) 17x17x768 along channels (concatChannels)`, join));
    comparison.inception_join_taps_ms = round(join.median, 3);

    let best = { batch: 0, perS: 0 };
    for (const n of [1, 2, 4, 8, 16, 32].filter((n) => n <= maxBatch)) {
      const inc = stack(prepared.slice(0, n), 'inception');
      const mob = stack(prepared.slice(0, n), 'mobilenet');
      const st = await timeIt(() => b.run(inc, mob, n), Math.max(3, Math.round(ctx.runs / Math.sqrt(n))), 1);
      const perS = (n * 1000) / st.median;
      if (perS > best.perS) best = { batch: n, perS };
      rows.push(row(`both, batch ${n}`, st, 'ms', `${perS.toFixed(1)} img/s, ${gflops(n * (flops.inception + flops.mobilenet), st.median).toFixed(1)} GFLOP/s`));
    }

    // End to end without the head: decode + preprocess a batch of files, then both backbones.
    const batch = 8;
    const files = ctx.images.slice(0, batch);
    const e2e = await timeIt(async () => {
      const ps = await Promise.all(files.map((f) => prepareImage(f)));
      await b.run(stack(ps, 'inception'), stack(ps, 'mobilenet'), ps.length);
    }, Math.max(3, Math.round(ctx.runs / 2)), 1);
    const e2ePerS = (files.length * 1000) / e2e.median;
    const cpuPerImage = (e2e.cpuMedian ?? NaN) / files.length;

    // Shaped like the batch service: one image per backbone call, two images in flight so one's
    // decode overlaps the other's inference.
    const streamFiles = ctx.images.slice(0, 16);
    const stream = await timeIt(async () => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < streamFiles.length) {
          const p = await prepareImage(streamFiles[next++]!);
          await b.run(p.inception, p.mobilenet, 1);
        }
      };
      await Promise.all([worker(), worker()]);
    }, Math.max(2, Math.round(ctx.runs / 4)), 1);
    const streamPerS = (streamFiles.length * 1000) / stream.median;
    rows.push(row(`files → preprocess → both, 1 at a time, 2 in flight (${streamFiles.length} files)`, stream, 'ms', `${streamPerS.toFixed(1)} img/s`));
    rows.push(row(`files → preprocess → both, batch ${files.length}`, e2e, 'ms', `${e2ePerS.toFixed(1)} img/s`));
    notes.push(`load ${Math.round(loadMs)} ms (conversion ${b.inceptionInfo.conversionMs + b.mobilenetInfo.conversionMs} ms, 0 = cached); ` +
      `${availableParallelism()} threads; InceptionV3 taps ${b.inceptionLayers.join('+')}, scaling '${b.inceptionScaling}'`);

    return {
      rows,
      notes,
      record: {
        backend: `onnxruntime-node:${b.executionProvider}`,
        inception_ms: round(inception.median, 1),
        mobilenet_ms: round(mobilenet.median, 1),
        fusion_ms: round(both.median, 1),
        // CPU time (all threads) per call: what the work costs even when other processes steal the cores.
        fusion_cpu_ms: round(both.cpuMedian ?? NaN, 1),
        batch_cpu_ms_per_image: round(cpuPerImage, 1),
        // Headline = the shape the batch service runs (one image per call, two in flight); on 2 cores
        // it beat stacking 8 images per call, whose figure is kept next to it.
        batch_images_per_s: round(streamPerS, 1),
        batch8_images_per_s: round(e2ePerS, 1),
        batch_backbones_images_per_s: round(best.perS, 1),
        batch_best_size: best.batch,
        inception_gflop: round(flops.inception / 1e9, 3),
        mobilenet_gflop: round(flops.mobilenet / 1e9, 3),
        gflops_per_s: round(gflops(best.batch * (flops.inception + flops.mobilenet), (best.batch * 1000) / best.perS), 1),
        backbones_load_ms: Math.round(loadMs),
        threads: availableParallelism(),
        ...comparison,
      },
      targets: [
        { key: 'fusion_ms', op: '<=', value: 130, label: 'both backbones, one image' },
        { key: 'batch_images_per_s', op: '>=', value: 10, label: 'batch throughput, files → preprocess → both backbones, service-shaped (no head)' },
      ],
    };
  },
  async dispose() {
    await loaded?.dispose();
    loaded = undefined;
  },
};

export default section;
