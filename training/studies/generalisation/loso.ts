/**
 * Leave-one-source-out folds and their scoring (the generalisation study that chose fusion-v2,
 * models/generalisation.md).
 *
 * A fold trains on every non-test image of the OTHER sources (their train and validation
 * slices) and tests on the held-out source:
 * - HAM10000: its lesion-disjoint test slice (the same lesions as the standard protocol's
 *   `test:ham10000`), so no lesion seen anywhere in training is scored;
 * - ISIC 2017: its official `val` split;
 * - ISIC 9-class: every kept image (flagged rows dropped, ids present in the other sets removed
 *   by the protocol's ISIC-id deduplication).
 * The final test sets of the standard protocol (HAM10000 test slice, ISIC 2017 val) never train
 * any fold. Near-duplicates of held-out images are removed from training by the protocol itself.
 *
 * Scores are melanoma (1) vs benign (0); other malignant lesions are not scored. Bootstrap
 * intervals resample the protocol's groups (HAM10000 lesions, ISIC ids).
 */
import { buildProtocol, SOURCES, type Protocol, type ProtocolItem, type Source } from '../../data/protocol.ts';
import { auc, bootstrapCi, seededRandom, specificityAtSensitivity } from '../../../electron/model/metrics.ts';

export interface LosoFold {
  readonly holdOut: Source;
  readonly train: readonly ProtocolItem[];
  readonly test: readonly ProtocolItem[];
}

/** The test slice of the held-out source, given the standard protocol's item ids per evaluation set. */
export function losoTestIds(standard: Pick<Protocol, 'items'>, holdOut: Source): Set<string> | undefined {
  if (holdOut === 'isic9') return undefined;
  const set = holdOut === 'ham10000' ? 'test:ham10000' : 'test:isic2017';
  return new Set(standard.items.filter((i) => i.evalSet === set).map((i) => i.id));
}

/** Splits a `holdOut` protocol into the fold's training and test items (pure; see module comment). */
export function foldOf(held: Pick<Protocol, 'items'>, standard: Pick<Protocol, 'items'>, holdOut: Source): LosoFold {
  const testIds = losoTestIds(standard, holdOut);
  const test = held.items.filter((i) => i.evalSet === `loso:${holdOut}` && (!testIds || testIds.has(i.id)));
  const train = held.items.filter((i) => i.source !== holdOut && i.role !== 'test');
  return { holdOut, train, test };
}

export async function buildLosoFolds(sources: readonly Source[] = SOURCES): Promise<LosoFold[]> {
  const standard = await buildProtocol();
  const folds: LosoFold[] = [];
  for (const s of sources) folds.push(foldOf(await buildProtocol({ holdOut: s }), standard, s));
  return folds;
}

export interface ScoredSet {
  readonly scores: number[];
  readonly labels: number[];
  readonly groups: string[];
  readonly ids: string[];
}

/** Melanoma-vs-benign scores of the items that have one (other malignant lesions and unscored items are left out). */
export function scoredSet(items: readonly ProtocolItem[], scores: ReadonlyMap<string, number>): ScoredSet {
  const out: ScoredSet = { scores: [], labels: [], groups: [], ids: [] };
  for (const i of items) {
    if (i.label === 'other_malignant') continue;
    const s = scores.get(i.id);
    if (s === undefined) continue;
    out.scores.push(s);
    out.labels.push(i.label === 'malignant' ? 1 : 0);
    out.groups.push(i.group);
    out.ids.push(i.id);
  }
  return out;
}

export interface SetMetrics {
  n: number;
  melanoma: number;
  auc: number;
  aucCi: [number, number];
  spec90: number;
  spec90Ci: [number, number];
}

export function setMetrics(set: ScoredSet, iterations = 1000, seed = 20260601): SetMetrics {
  const bo = { iterations, seed, groups: set.groups };
  const spec = (s: number[], l: number[]): number => specificityAtSensitivity(s, l, 0.9);
  return {
    n: set.labels.length,
    melanoma: set.labels.filter((y) => y === 1).length,
    auc: auc(set.scores, set.labels),
    aucCi: bootstrapCi(set.scores, set.labels, auc, bo),
    spec90: spec(set.scores, set.labels),
    spec90Ci: bootstrapCi(set.scores, set.labels, spec, bo),
  };
}

/**
 * Paired cluster bootstrap of a metric difference (a - b) between two scorings of the SAME items:
 * both are resampled with the same draw, so the interval reflects the difference, not the
 * (much larger) spread of each AUC.
 */
export function pairedDifference(
  a: ScoredSet,
  b: ScoredSet,
  metric: (s: number[], l: number[]) => number = auc,
  iterations = 1000,
  seed = 20260601,
): { diff: number; ci: [number, number] } {
  const bIndex = new Map(b.ids.map((id, k) => [id, k]));
  const rows = a.ids.map((id, k) => [k, bIndex.get(id)] as const).filter((r): r is readonly [number, number] => r[1] !== undefined);
  const byGroup = new Map<string, (readonly [number, number])[]>();
  for (const r of rows) byGroup.set(a.groups[r[0]]!, [...(byGroup.get(a.groups[r[0]]!) ?? []), r]);
  const clusters = [...byGroup.values()];
  const stat = (pick: (readonly [number, number])[]): number => {
    const la = pick.map(([i]) => a.labels[i]!);
    return metric(pick.map(([i]) => a.scores[i]!), la) - metric(pick.map(([, j]) => b.scores[j]!), la);
  };
  const diff = stat(rows);
  const random = seededRandom(seed);
  const values: number[] = [];
  for (let it = 0; it < iterations; it++) {
    const pick: (readonly [number, number])[] = [];
    for (let k = 0; k < clusters.length; k++) pick.push(...clusters[Math.floor(random() * clusters.length)]!);
    const v = stat(pick);
    if (!Number.isNaN(v)) values.push(v);
  }
  values.sort((x, y) => x - y);
  const at = (q: number): number => values[Math.min(values.length - 1, Math.max(0, Math.floor(q * values.length)))] ?? Number.NaN;
  return { diff, ci: [at(0.025), at(0.975)] };
}
