/** Decode + preprocess (sharp) per image, by input size, and what colour constancy adds. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../../electron/util/paths.ts';
import { prepareImage, type PreprocessOptions } from '../../electron/model/preprocess.ts';
import { largeJpegFrom } from '../images.ts';
import { round, row, stats, timeIt, type BenchContext, type Row, type Section } from '../lib.ts';

/** The first image listed in a shared set, if the set is there. */
function firstOf(set: string): string | undefined {
  const root = sharedDir('data', set);
  const labels = join(root, 'labels.csv');
  if (!existsSync(labels)) return undefined;
  const [head, first] = readFileSync(labels, 'utf8').split('\n');
  const f = join(root, first!.split(',')[head!.split(',').indexOf('path')]!);
  return existsSync(f) ? f : undefined;
}

/** Median per image over every image, each timed separately, `runs` passes after a warm pass. */
async function perImage(ctx: BenchContext, files: readonly string[], opts?: PreprocessOptions) {
  for (const f of files.slice(0, 8)) await prepareImage(f, opts);
  const samples: number[] = [];
  const cpu: number[] = [];
  const passes = Math.max(1, Math.ceil(ctx.runs / Math.max(1, Math.floor(files.length / 10))));
  for (let p = 0; p < passes; p++) {
    for (const f of files) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await prepareImage(f, opts);
      samples.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  return { ...stats(samples), cpuMedian: stats(cpu).median };
}

const section: Section = {
  name: 'preprocess (sharp decode, orient, sRGB, crop, resize to 299 + 224)',
  async run(ctx) {
    const rows: Row[] = [];
    const notes: string[] = [];
    const files = ctx.images.slice(0, ctx.quick ? 20 : 100);
    const all = await perImage(ctx, files);
    rows.push(row(`${files.length} ${ctx.imagesAreReal ? 'fixture' : 'generated'} images, per image`, all));
    const sog = await perImage(ctx, files, { colorConstancy: 'shades_of_gray' });
    rows.push(row('same, with Shades of Gray (p=6)', sog, 'ms', `+${(sog.median - all.median).toFixed(2)} ms`));

    const record: Record<string, number | null> = {
      preprocess_ms: round(all.median, 2),
      preprocess_sog_ms: round(sog.median, 2),
    };
    const sized: [string, string | undefined][] = [
      ['preprocess_200x150_ms', firstOf('ham10000')],
      ['preprocess_256x256_ms', firstOf('isic2017')],
    ];
    for (const [key, f] of sized) {
      if (!f) {
        notes.push(`${key}: shared set absent, not measured`);
        record[key] = null;
        continue;
      }
      const st = await timeIt(() => prepareImage(f), ctx.runs * 3, ctx.warmup);
      rows.push(row(`one ${key.split('_')[1]} JPEG (${f.split('/').slice(-3).join('/')})`, st));
      record[key] = round(st.median, 2);
    }
    const large = await largeJpegFrom(ctx.images[0]!, join(ctx.tmp, 'large-4000x3000.jpg'), 4000, 3000);
    const st = await timeIt(() => prepareImage(large), Math.max(3, Math.round(ctx.runs / 2)), 1);
    rows.push(row('one 4000x3000 JPEG (upscaled fixture + noise)', st));
    record.preprocess_4000x3000_ms = round(st.median, 1);
    notes.push('the 4000x3000 case is downscaled while decoding (JPEG shrink-on-load) to ~800 px before the crop, so it costs a few small images, not 300');
    return { record, rows, notes };
  },
};

export default section;
