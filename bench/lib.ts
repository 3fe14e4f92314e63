/**
 * The benchmark's small framework. Each file in bench/sections/ default-exports a Section; run.ts
 * imports them in file-name order and merges each section's partial record into the final JSON
 * line, so later work adds a section file (e.g. gradcam, store, report) without touching run.ts.
 */

export type RecordValue = number | string | boolean | null;
export type BenchRecord = Record<string, RecordValue>;

export interface Target {
  /** Key of the final record the target is about. */
  readonly key: string;
  readonly op: '<=' | '>=';
  readonly value: number;
  readonly label: string;
}

export interface SectionResult {
  /** Keys merged into the final JSON line. */
  readonly record?: BenchRecord;
  /** Human-readable rows for this section's table. */
  readonly rows?: readonly Row[];
  /** Targets to print pass/fail for (never asserted). */
  readonly targets?: readonly Target[];
  /** Free-form remarks printed under the table (fallbacks, caveats). */
  readonly notes?: readonly string[];
  /** Set when the section could not run; the reason is printed and the run goes on. */
  readonly skipped?: string;
}

export interface Row {
  readonly what: string;
  readonly median?: number;
  readonly cpu?: number;
  readonly p90?: number;
  readonly min?: number;
  readonly unit?: string;
  readonly extra?: string;
}

export interface BenchContext {
  /** Repeats per measurement (after warm-up). BENCH_RUNS, default 15; BENCH_QUICK=1 uses 3. */
  readonly runs: number;
  readonly warmup: number;
  readonly quick: boolean;
  /** Real images to measure on (fixtures), or generated ones when the shared folder is absent. */
  readonly images: readonly string[];
  readonly imagesAreReal: boolean;
  /** Scratch folder for generated inputs, removed at the end. */
  readonly tmp: string;
  /** Objects sections share (e.g. loaded backbones), keyed by name; disposed by their owner. */
  readonly shared: Map<string, unknown>;
  /** Everything merged so far, for sections that derive figures from earlier ones. */
  readonly record: Readonly<BenchRecord>;
}

export interface Section {
  readonly name: string;
  run(ctx: BenchContext): Promise<SectionResult>;
  /** Called once after all sections ran (release sessions, files). */
  dispose?(ctx: BenchContext): Promise<void>;
}

export interface Stats {
  readonly median: number;
  readonly p90: number;
  readonly min: number;
  readonly samples: number;
  /** Median process CPU time (user + system, all threads) per call, ms, when measured. */
  readonly cpuMedian?: number;
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) return { median: NaN, p90: NaN, min: NaN, samples: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => {
    const idx = (s.length - 1) * p;
    const lo = Math.floor(idx);
    const hi = Math.ceil(idx);
    return s[lo]! + (s[hi]! - s[lo]!) * (idx - lo);
  };
  return { median: q(0.5), p90: q(0.9), min: s[0]!, samples: s.length };
}

/**
 * Warm-up, then `runs` timed calls; milliseconds of wall time, plus the process CPU time per call.
 * On a shared machine wall time inflates with other processes' load while CPU time mostly does
 * not, so a wall/CPU ratio far above 1/threads says the figure was taken under contention.
 */
export async function timeIt(fn: () => Promise<unknown> | unknown, runs: number, warmup: number): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ...stats(wall), cpuMedian: stats(cpu).median };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function row(what: string, st: Stats, unit = 'ms', extra?: string): Row {
  return { what, median: st.median, p90: st.p90, min: st.min, unit, ...(st.cpuMedian !== undefined ? { cpu: st.cpuMedian } : {}), ...(extra ? { extra } : {}) };
}

/** True when an import failed because the module (or one it imports) does not exist yet. */
export function isMissingModule(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  const msg = err instanceof Error ? err.message : '';
  return code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(msg);
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function renderTable(rows: readonly Row[]): string {
  const header = ['', 'median', 'p90', 'min', 'cpu', 'unit', ''];
  const body = rows.map((r) => [r.what, fmt(r.median), fmt(r.p90), fmt(r.min), fmt(r.cpu), r.unit ?? '', r.extra ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i >= 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].map((l) => `  ${l}`).join('\n');
}

export function checkTarget(t: Target, record: BenchRecord): { status: 'pass' | 'FAIL' | 'n/a'; value: RecordValue | undefined } {
  const v = record[t.key];
  if (typeof v !== 'number' || !Number.isFinite(v)) return { status: 'n/a', value: v };
  const ok = t.op === '<=' ? v <= t.value : v >= t.value;
  return { status: ok ? 'pass' : 'FAIL', value: v };
}
