/**
 * `npm run bench`: warm medians of each stage of the pipeline on real images. Not a test: targets
 * are printed as pass/fail, never asserted. The LAST line of stdout is one JSON object merging
 * every section's record (see bench/lib.ts). Environment:
 *   BENCH_RUNS=n     repeats per measurement (default 15)
 *   BENCH_QUICK=1    3 repeats, 1 warm-up: a smoke run
 *   BENCH_ONLY=a,b   run only sections whose name contains one of these
 *   BENCH_MAX_BATCH  largest backbone batch to time (default 8)
 * The app sections (store with 100k predictions, 200-image reports) run in a child process of
 * their own: a workstation classifies in one process, and folding a synthetic 100k-row store into
 * its RSS peak would misstate what the classifier needs. Each part reports its own peak.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sharedDir } from '../electron/util/paths.ts';
import {
  checkTarget,
  describeError,
  isMissingModule,
  renderTable,
  round,
  type BenchContext,
  type BenchRecord,
  type Section,
  type Target,
} from './lib.ts';
import { generatedImages } from './images.ts';

function fixtureImages(): string[] {
  const root = sharedDir('data', 'fixtures');
  const labels = join(root, 'labels.csv');
  if (!existsSync(labels)) return [];
  const [head, ...rows] = readFileSync(labels, 'utf8').trim().split('\n');
  const col = head!.split(',').indexOf('path');
  return rows.map((r) => join(root, r.split(',')[col]!)).filter((f) => existsSync(f));
}

/**
 * Section files are numbered: below 50 the model pipeline (preprocess, backbones, head, Grad-CAM),
 * from 50 the rest of the app (store, reports). The RSS peak is also recorded after the former.
 */
const MODEL_SECTIONS_BELOW = '50';

type LoadedSection = Section & { readonly file: string };

/** 'all' (default) runs the model part here and the app part in a child; 'app' is that child. */
const part = (process.env.BENCH_PART ?? 'model') as 'model' | 'app';

/** Runs the app sections in a child process and returns its record (its last stdout line). */
function runAppPart(): BenchRecord {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_PART: 'app' },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = (child.stdout ?? '').trimEnd().split('\n');
  console.log(lines.slice(0, -1).join('\n'));
  try {
    return JSON.parse(lines.at(-1) ?? '{}') as BenchRecord;
  } catch {
    console.log(`  app sections failed (exit ${child.status})`);
    return {};
  }
}

/** Section files in name order; one that cannot even be imported becomes a skipped section. */
async function loadSections(): Promise<LoadedSection[]> {
  const dir = fileURLToPath(new URL('./sections/', import.meta.url));
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort();
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const sections: LoadedSection[] = [];
  for (const f of files) {
    let section: Section | undefined;
    try {
      section = ((await import(join(dir, f))) as { default?: Section }).default;
    } catch (err) {
      const reason = isMissingModule(err) ? `a module it needs is not there yet: ${describeError(err)}` : `cannot load: ${describeError(err)}`;
      section = { name: f, run: async () => ({ skipped: reason }) };
    }
    if (!section) continue;
    if (only && !only.some((o) => section.name.includes(o) || f.includes(o))) continue;
    if (part === 'model' && f >= MODEL_SECTIONS_BELOW) continue;
    if (part === 'app' && f < MODEL_SECTIONS_BELOW) continue;
    sections.push({ ...section, file: f, run: section.run.bind(section), ...(section.dispose ? { dispose: section.dispose.bind(section) } : {}) });
  }
  return sections;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const runs = quick ? 3 : Math.max(1, Number(process.env.BENCH_RUNS ?? 15));
  const tmp = await mkdtemp(join(tmpdir(), 'dermafuse-bench-'));
  let images = fixtureImages();
  const imagesAreReal = images.length > 0;
  if (!imagesAreReal) images = await generatedImages(tmp, 16);

  // The required keys come first and are null until a section measures them.
  const record: BenchRecord = { backend: null, inception_ms: null, mobilenet_ms: null, fusion_ms: null, batch_images_per_s: null, peak_rss_mb: null, preprocess_ms: null };
  const ctx: BenchContext = { runs, warmup: quick ? 1 : 3, quick, images, imagesAreReal, tmp, shared: new Map(), record };
  const targets: Target[] = [];
  console.log(`dermafuse bench — ${new Date().toISOString()} — node ${process.version}, ${runs} runs per figure (warm), ` +
    `${images.length} ${imagesAreReal ? 'real fixture images' : 'GENERATED images (shared fixtures absent)'}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  console.log('columns: wall-clock median / p90 / min per call; cpu = median process CPU time per call (all threads): ' +
    'cpu well below wall x threads means other processes held the cores');
  const sections = await loadSections();
  for (const s of sections) {
    console.log(`\n== ${s.name}`);
    const t0 = performance.now();
    let res;
    try {
      res = await s.run(ctx);
    } catch (err) {
      res = { skipped: `failed: ${describeError(err)}` };
    }
    if (res.skipped) console.log(`  skipped: ${res.skipped}`);
    if (res.rows?.length) console.log(renderTable(res.rows));
    for (const n of res.notes ?? []) console.log(`  note: ${n}`);
    Object.assign(record, res.record ?? {});
    targets.push(...(res.targets ?? []));
    const rssMb = round(process.resourceUsage().maxRSS / 1024, 0);
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s; peak RSS so far ${rssMb} MB)`);
  }
  for (const s of sections) await s.dispose?.(ctx).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });

  // maxRSS (kilobytes) of this process: in the model part, the classifier pipeline's peak
  // (preprocess, both backbones, head, Grad-CAM); in the app part, the store + report peak.
  const peak = round(process.resourceUsage().maxRSS / 1024, 0);
  delete record.peak_rss_model_mb;
  if (part === 'app') {
    record.peak_rss_app_mb = peak;
    targets.push({ key: 'peak_rss_app_mb', op: '<=', value: 1024, label: 'peak RSS of the store + report process (100k predictions, 200-image report)' });
  } else if (sections.length > 0) {
    record.peak_rss_mb = peak;
    targets.push({ key: 'peak_rss_mb', op: '<=', value: 1024, label: 'peak RSS of the classifier process (preprocess, backbones, head, Grad-CAM)' });
  }
  const only = process.env.BENCH_ONLY;
  if (part === 'model' && (!only || /store|report|6\d|7\d/.test(only))) {
    console.log('\n== app sections (child process)');
    const app = runAppPart();
    for (const [k, v] of Object.entries(app)) if (record[k] === undefined || record[k] === null) record[k] = v;
  }

  console.log('\n== targets (printed, not asserted)');
  for (const t of targets) {
    const { status, value } = checkTarget(t, record);
    console.log(`  [${status.padEnd(4)}] ${t.label}: ${t.key} = ${value ?? 'not measured'} (target ${t.op} ${t.value})`);
  }
  // Other processes on a shared machine inflate every figure; the load average says how much to distrust them.
  record.load_avg_1m = round(loadavg()[0]!, 2);
  console.log(`  machine load average (1 min) at the end: ${record.load_avg_1m}`);
  console.log(JSON.stringify(record));
}

await main();
