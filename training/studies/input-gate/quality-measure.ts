/**
 * Quality scores of every image of ../shared/data (all rows of each source's labels.csv), cached
 * per image outside the repository (~/.cache/dermafuse/input-gate/quality-v<N>.jsonl, keyed by
 * source, path, size and mtime), and the thresholds chosen from them.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readLabelledFolder } from '../../../electron/model/datasets.ts';
import { decodeForGate } from '../../../electron/model/input-gate/decode.ts';
import { CHECK_METRICS, QUALITY_CODES, measureQuality, type QualityCode, type QualityScores } from '../../../electron/model/input-gate/quality.ts';
import { passShare, selectThreshold, THRESHOLDS_FORMAT, type ThresholdsFile } from '../../../electron/model/input-gate/thresholds.ts';
import { cacheDir } from '../../../electron/util/paths.ts';

/** Bump when measureQuality or decodeForGate change what they compute. */
export const QUALITY_CACHE_VERSION = 1;
export const GATE_SOURCES = ['ham10000', 'isic2017', 'isic9', 'derm7pt'] as const;

export interface ScoredImage {
  readonly source: string;
  readonly path: string;
  readonly split?: string;
  readonly label: string;
  readonly scores: QualityScores;
}

interface CacheLine {
  key: string;
  scores: QualityScores;
}

export function qualityCacheFile(): string {
  return cacheDir('input-gate', `quality-v${QUALITY_CACHE_VERSION}.jsonl`);
}

function readCache(file: string): Map<string, QualityScores> {
  const out = new Map<string, QualityScores>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const l = JSON.parse(line) as CacheLine;
      out.set(l.key, l.scores);
    } catch {
      // A line cut by a kill: measured again.
    }
  }
  return out;
}

/** Scores of every row of every source, from the cache where present (resumable). */
export async function scoreSources(dataDir: string, sources: readonly string[], onProgress?: (done: number, total: number) => void): Promise<ScoredImage[]> {
  const cacheFile = qualityCacheFile();
  mkdirSync(dirname(cacheFile), { recursive: true });
  const cache = readCache(cacheFile);
  const rows = sources.flatMap((source) => readLabelledFolder(join(dataDir, source)).map((r) => ({ source, r })));
  const out: ScoredImage[] = [];
  let done = 0;
  for (const { source, r } of rows) {
    const st = statSync(r.file);
    const key = `${source}:${r.path}:${st.size}:${Math.round(st.mtimeMs)}`;
    let scores = cache.get(key);
    if (!scores) {
      scores = measureQuality(await decodeForGate(r.file));
      appendFileSync(cacheFile, JSON.stringify({ key, scores } satisfies CacheLine) + '\n');
    }
    out.push({ source, path: r.path, split: r.split, label: r.label, scores });
    onProgress?.(++done, rows.length);
  }
  return out;
}

/**
 * Chooses every rule's limit (see thresholds.ts selectThreshold) and measures the pass rates.
 * `targetPass` is the share of each source that must pass all the checks together: the refusal
 * budget 1 - targetPass is split evenly over the checks, and a check's share over its rules, so
 * that five checks do not each spend the whole budget on the same source.
 */
export function chooseThresholds(images: readonly ScoredImage[], targetPass: number, meta: ThresholdsFile['measuredOn']): ThresholdsFile {
  const sources = [...new Set(images.map((i) => i.source))];
  const checks = {} as ThresholdsFile['checks'];
  const checkTarget = 1 - (1 - targetPass) / QUALITY_CODES.length;
  for (const code of QUALITY_CODES) {
    const rules = CHECK_METRICS[code];
    const ruleTarget = 1 - (1 - checkTarget) / rules.length;
    checks[code] = rules.map(({ metric, side }) => {
      const bySource = Object.fromEntries(sources.map((s) => [s, images.filter((i) => i.source === s).map((i) => i.scores[metric])]));
      const { limit, measured } = selectThreshold(bySource, side, ruleTarget);
      return { metric, ...(side === 'min' ? { min: limit } : { max: limit }), targetPass: ruleTarget, measured };
    });
  }
  const file: ThresholdsFile = {
    format: THRESHOLDS_FORMAT,
    createdAt: new Date().toISOString(),
    measuredOn: meta,
    targetPass,
    checks,
    passRates: {},
  };
  file.passRates = passRates(images, file);
  return file;
}

function fails(scores: QualityScores, rules: ThresholdsFile['checks'][QualityCode]): boolean {
  return rules.some((r) => passShare([scores[r.metric]], r) < 1);
}

/** Per source: share passing each check, share passing all, and n. */
export function passRates(images: readonly ScoredImage[], file: Pick<ThresholdsFile, 'checks'>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const groups = new Map<string, ScoredImage[]>();
  for (const i of images) groups.set(i.source, [...(groups.get(i.source) ?? []), i]);
  groups.set('all', [...images]);
  for (const [source, list] of groups) {
    const row: Record<string, number> = { n: list.length };
    for (const code of QUALITY_CODES) row[code] = list.filter((i) => !fails(i.scores, file.checks[code])).length / list.length;
    row.all = list.filter((i) => QUALITY_CODES.every((c) => !fails(i.scores, file.checks[c]))).length / list.length;
    out[source] = row;
  }
  return out;
}
