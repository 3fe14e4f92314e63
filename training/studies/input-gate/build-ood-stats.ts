/**
 * What `dermafuse train` needs to rebuild a model version's OOD statistics: pooled vectors of the
 * training role (statistics) and of the validation role (threshold), wherever they come from (the
 * feature cache holds exactly these pooled vectors for the identity view), in; ood-stats.json and
 * ood-stats.bin beside the manifest, out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { branchScore, decodeOodStats, encodeOodStats, OOD_BIN, OOD_JSON, oodScores, OodStatsHeader } from '../../../electron/model/input-gate/ood.ts';
import type { FusionHead } from '../../../electron/model/head.ts';
import type { ProtocolItem } from '../../data/protocol.ts';
import { featureMatrix, type FeatureSpec } from '../../build/experiment.ts';
import { fitBranch, percentile } from './ood-stats.ts';
import { concatArrays } from '../../../electron/util/typed-arrays.ts';

export interface PooledExample {
  readonly source: string;
  /** 0 benign, 1 melanoma; others are left out of the statistics. */
  readonly label: number;
  readonly inception: ArrayLike<number>;
  readonly mobilenet: ArrayLike<number>;
}

export interface BuildOodOptions {
  readonly modelVersion: string;
  /** The head, for the energy score's logits. */
  readonly head: Pick<FusionHead, 'classLogitsFromPooled' | 'config'>;
  readonly k?: number;
  readonly percentile?: number;
  readonly use?: 'mahalanobis' | 'energy';
  readonly command: string;
  /**
   * Validation sources with at least this many images each get their own percentile and the
   * threshold is the highest of them and the pooled one; 0 keeps the pooled percentile alone.
   */
  readonly perSourceMin?: number;
}

/** Below this many images a 99.5th percentile is the sample maximum, not a percentile. */
export const OOD_PER_SOURCE_MIN = 200;

/** The pooled percentile, or the most permissive of it and each large-enough source's. */
export function sourceAwareThreshold(scores: readonly number[], sources: readonly string[], q: number, perSourceMin: number): { threshold: number; bySource?: Record<string, number> } {
  const pooled = percentile(scores, q);
  if (perSourceMin <= 0) return { threshold: pooled };
  const bySource: Record<string, number> = {};
  for (const source of [...new Set(sources)].sort()) {
    const own = scores.filter((_, i) => sources[i] === source);
    if (own.length >= perSourceMin) bySource[source] = percentile(own, q);
  }
  return Object.keys(bySource).length === 0 ? { threshold: pooled } : { threshold: Math.max(pooled, ...Object.values(bySource)), bySource };
}

const count = (xs: readonly string[]): Record<string, number> => xs.reduce<Record<string, number>>((acc, x) => ((acc[x] = (acc[x] ?? 0) + 1), acc), {});

export function buildOodStats(train: readonly PooledExample[], val: readonly PooledExample[], o: BuildOodOptions): { header: OodStatsHeader; bin: Buffer } {
  const k = o.k ?? 48;
  const q = o.percentile ?? 99.5;
  const used = train.filter((t) => t.label === 0 || t.label === 1);
  if (used.length < 2 * k) throw new Error(`need at least ${2 * k} benign/melanoma training vectors, got ${used.length}`);
  const fit = (branch: 'inception' | 'mobilenet'): ReturnType<typeof fitBranch> => {
    const d = used[0]![branch].length;
    const x = new Float64Array(used.length * d);
    used.forEach((t, r) => x.set(Array.from(t[branch]), r * d));
    return fitBranch(branch, x, used.length, d, used.map((t) => t.label), ['benign', 'malignant'], { k, seed: 11 });
  };
  const validation = { n: val.length, bySource: count(val.map((v) => v.source)) };
  const draft = encodeOodStats(
    {
      format: 'dermafuse-ood-stats/1',
      modelVersion: o.modelVersion,
      createdAt: new Date().toISOString(),
      view: 'identity',
      binFile: OOD_BIN,
      training: { n: used.length, bySource: count(used.map((t) => t.source)), command: o.command },
      use: o.use ?? 'mahalanobis',
      mahalanobis: { threshold: 0, percentile: q, validation },
      energy: { threshold: 0, percentile: q, validation },
    },
    [fit('inception'), fit('mobilenet')],
  );
  // Each branch's own validation percentile puts the branches on one scale (ood.ts).
  const unscaled = decodeOodStats(draft.header, draft.bin);
  const scales = unscaled.branches.map((b) => percentile(val.map((v) => branchScore(b, v[b.name as 'inception' | 'mobilenet']).score), q));
  const scaledHeader = OodStatsHeader.parse({ ...draft.header, branches: draft.header.branches.map((b, i) => ({ ...b, validationScale: scales[i]! })) });
  const stats = decodeOodStats(scaledHeader, draft.bin);
  const scored = val.map((v) => {
    // The head reads only its own branches, joined in its order (a single-branch head reads one).
    const joined = concatArrays(o.head.config.branches.map((b) => Float64Array.from(v[b])), Float64Array);
    return oodScores(stats, { inception: v.inception, mobilenet: v.mobilenet }, o.head.classLogitsFromPooled(joined));
  });
  const sources = val.map((v) => v.source);
  const perSourceMin = o.perSourceMin ?? OOD_PER_SOURCE_MIN;
  const header: OodStatsHeader = {
    ...scaledHeader,
    mahalanobis: { ...draft.header.mahalanobis, ...sourceAwareThreshold(scored.map((s) => s.mahalanobis), sources, q, perSourceMin) },
    energy: { ...draft.header.energy, ...sourceAwareThreshold(scored.map((s) => s.energy!), sources, q, perSourceMin) },
  };
  return { header, bin: draft.bin };
}

export function writeOodStats(dir: string, built: { header: OodStatsHeader; bin: Buffer }): void {
  writeFileSync(join(dir, built.header.binFile), built.bin);
  writeFileSync(join(dir, OOD_JSON), JSON.stringify(built.header, null, 2) + '\n');
}

/**
 * Training images per source that fit the statistics (the 9-class set has fewer and gives all it
 * has). The study fitted on 150 per source; with the feature cache at hand a build can afford
 * more, and a covariance from more images describes the sources better.
 */
export const OOD_TRAIN_PER_SOURCE = 500;

/**
 * The identity-view pooled vectors of protocol items, from the feature cache, as the statistics
 * want them (InceptionV3 taps joined in the recipe's order, MobileNetV2 apart). Items without
 * cached features are left out.
 */
export function pooledExamples(items: readonly ProtocolItem[], spec: FeatureSpec): PooledExample[] {
  const keys = items.map((i) => i.sha256);
  const inception = featureMatrix(keys, { ...spec, branches: ['inception'], pooling: 'avg' }, 'identity');
  const mobilenet = featureMatrix(keys, { ...spec, branches: ['mobilenet'], pooling: 'avg' }, 'identity');
  return items.flatMap((item, r) =>
    inception.missing.has(r) || mobilenet.missing.has(r)
      ? []
      : [
          {
            source: item.source,
            label: item.label === 'malignant' ? 1 : item.label === 'benign' ? 0 : -1,
            inception: inception.x.subarray(r * inception.width, (r + 1) * inception.width),
            mobilenet: mobilenet.x.subarray(r * mobilenet.width, (r + 1) * mobilenet.width),
          },
        ],
  );
}

/** A fixed sample of each source's benign and melanoma training images (the same on every rebuild). */
export function oodTrainingSample(train: readonly ProtocolItem[], perSource = OOD_TRAIN_PER_SOURCE): ProtocolItem[] {
  const bySource = new Map<string, ProtocolItem[]>();
  for (const item of [...train].sort((a, b) => a.sha256.localeCompare(b.sha256))) {
    if (item.label === 'other_malignant') continue;
    const list = bySource.get(item.source) ?? [];
    if (list.length < perSource) bySource.set(item.source, [...list, item]);
  }
  return [...bySource.values()].flat();
}
