/**
 * Both backbones on onnxruntime-node: one image each, both together, throughput in batches (with
 * and without preprocessing), and achieved GFLOP/s against the FLOPs counted from the ONNX graphs.
 */
import { availableParallelism } from 'node:os';
import { prepareImage } from '../../electron/model/preprocess.ts';
import type { PreparedImage } from '../../electron/model/types.ts';
import { countGraphFlops } from '../onnx-flops.ts';
import { describeError, isMissingModule, round, row, timeIt, type Row, type Section } from '../lib.ts';

type BackbonesModule = typeof import('../../electron/model/backbones.ts');
type Backbones = Awaited<ReturnType<BackbonesModule['Backbones']['load']>>;

function stack(images: readonly PreparedImage[], key: 'inception' | 'mobilenet'): Float32Array {
  const one = images[0]![key].length;
  const out = new Float32Array(one * images.length);
  images.forEach((p, i) => out.set(p[key], i * one));
  return out;
}

let loaded: Backbones | undefined;

const section: Section = {
  name: 'backbones (onnxruntime-node: InceptionV3 + MobileNetV2)',
  async run(ctx) {
    let mod: BackbonesModule;
    try {
      mod = await import('../../electron/model/backbones.ts');
    } catch (err) {
      return { skipped: isMissingModule(err) ? `electron/model/backbones.ts (or a module it imports) is not there yet: ${describeError(err)}` : `cannot import backbones: ${describeError(err)}` };
    }
    const t0 = performance.now();
    try {
      loaded = await mod.Backbones.load();
    } catch (err) {
      return { skipped: `Backbones.load() failed: ${describeError(err)}` };
    }
    const b = loaded;
    const loadMs = performance.now() - t0;
    ctx.shared.set('backbones', b);
    const rows: Row[] = [];
    const notes: string[] = [];

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
