/**
 * Repeated stratified group K-fold cross-validation of the adaptation methods against the
 * shipped model on the same cases. A group (patient, else lesion, else image) is never on both
 * sides of a split, so images of one lesion cannot leak. Every figure is computed on out-of-fold
 * probabilities (averaged over the repeats); confidence intervals resample whole groups, and the
 * method-vs-shipped differences are paired (the same resampled cases for both).
 */
import { tierOf } from '../manifest.ts';
import { auc, bootstrapCi, expectedCalibrationError, rocCurve, seededRandom, thresholdMetrics } from '../metrics.ts';
import { chooseOperatingPoint } from '../operating-rules.ts';
import { fitOnHidden, meanHiddenOf, shippedProbability } from './methods.ts';
import {
  AdaptationDataError,
  type AdaptationMethod,
  type BaseModel,
  type Candidate,
  type CandidateCv,
  type CrossValidation,
  type CvOptions,
  type GroupedSample,
  type OperatingFigures,
  type Split,
} from './types.ts';

export const DEFAULT_K = 5;
export const DEFAULT_REPEATS = 5;
export const DEFAULT_SEED = 20240601;
export const DEFAULT_BOOTSTRAP_ITERATIONS = 1000;

interface FoldGroup {
  readonly name: string;
  readonly members: readonly number[];
  readonly melanoma: number;
  readonly benign: number;
}

/** Items gathered by group, in name order (so the item order does not matter). */
function foldGroupsOf(items: readonly { readonly group: string; readonly label: 0 | 1 }[]): FoldGroup[] {
  const byName = new Map<string, { members: number[]; melanoma: number }>();
  items.forEach((item, i) => {
    const g = byName.get(item.group) ?? { members: [], melanoma: 0 };
    g.members.push(i);
    g.melanoma += item.label;
    byName.set(item.group, g);
  });
  return [...byName.keys()].sort().map((name) => {
    const g = byName.get(name)!;
    return { name, members: g.members, melanoma: g.melanoma, benign: g.members.length - g.melanoma };
  });
}

function shuffle<T>(values: T[], random: () => number): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

/**
 * One round of dealing. Groups holding a melanoma go first, most melanomas first, each to the fold
 * with fewest melanomas (then fewest benign); benign-only groups follow, largest first, each to
 * the fold with fewest benign, evening out the benign cases mixed groups brought along. Before
 * either count, a group goes to a fold still missing a class it holds: so while there are at least
 * as many groups holding each class as folds, every fold tests both. Returns each item's fold.
 */
function deal(groups: readonly FoldGroup[], itemCount: number, folds: number, random: () => number): Int32Array {
  const foldOf = new Int32Array(itemCount);
  const melanoma = new Array<number>(folds).fill(0);
  const benign = new Array<number>(folds).fill(0);
  // Seeded shuffle before the stable sorts: equal groups land in a different order each repeat.
  const shuffled = shuffle([...groups], random);
  const withMelanoma = shuffled.filter((g) => g.melanoma > 0).sort((a, b) => b.melanoma - a.melanoma || b.benign - a.benign);
  const benignOnly = shuffled.filter((g) => g.melanoma === 0).sort((a, b) => b.benign - a.benign);
  const order = shuffle(Array.from({ length: folds }, (_, f) => f), random);
  // Classes the group would bring to a fold that has none of them yet: every fold must test both.
  const gain = (g: FoldGroup, f: number): number => (g.melanoma > 0 && melanoma[f] === 0 ? 1 : 0) + (g.benign > 0 && benign[f] === 0 ? 1 : 0);
  const place = (g: FoldGroup, first: number[], second: number[]): void => {
    let best = order[0]!;
    for (const f of order) {
      const d = gain(g, f) - gain(g, best);
      if (d > 0 || (d === 0 && (first[f]! < first[best]! || (first[f] === first[best] && second[f]! < second[best]!)))) best = f;
    }
    for (const i of g.members) foldOf[i] = best;
    melanoma[best]! += g.melanoma;
    benign[best]! += g.benign;
  };
  for (const g of withMelanoma) place(g, melanoma, benign);
  for (const g of benignOnly) place(g, benign, melanoma);
  return foldOf;
}

/**
 * Splits for `repeats` rounds of group K-fold, stratified by label (see deal). A group (patient,
 * else lesion, else image) is never on both sides, even when it holds both labels: a patient with
 * a melanoma and a benign lesion is normal. `k` is lowered to the number of groups holding a
 * melanoma (or a benign case) when that is smaller, so every fold tests both classes; fewer than 2
 * throws AdaptationDataError. One lesion with two labels is an input error caught where lesions
 * are known (electron/adaptation/cases.ts).
 */
export function groupedStratifiedFolds(items: readonly { readonly group: string; readonly label: 0 | 1 }[], k: number, repeats: number, seed: number): Split[] {
  const groups = foldGroupsOf(items);
  const melanomaGroups = groups.filter((g) => g.melanoma > 0).length;
  const benignGroups = groups.filter((g) => g.benign > 0).length;
  if (melanomaGroups === 0 || benignGroups === 0) {
    throw new AdaptationDataError(`adaptation needs confirmed melanoma and benign cases; there are ${melanomaGroups} melanoma and ${benignGroups} benign (patients/lesions)`);
  }
  const folds = Math.min(Math.floor(k), melanomaGroups, benignGroups);
  if (folds < 2) {
    throw new AdaptationDataError(`cross-validation needs at least 2 patients/lesions of each class; there are ${melanomaGroups} with a melanoma and ${benignGroups} with a benign case`);
  }
  const random = seededRandom(seed);
  const splits: Split[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const foldOf = deal(groups, items.length, folds, random);
    for (let fold = 0; fold < folds; fold++) {
      const train: number[] = [];
      const test: number[] = [];
      foldOf.forEach((f, i) => (f === fold ? test : train).push(i));
      splits.push({ repeat, fold, train, test });
    }
  }
  return splits;
}

const brier = (p: ArrayLike<number>, y: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (p[i]! - y[i]!) ** 2;
  return s / p.length;
};

/** What given cut-offs do on a set of probabilities. */
export function operatingFigures(p: ArrayLike<number>, labels: ArrayLike<number>, cut: { threshold: number; reviewAt: number; highAt: number }): OperatingFigures {
  const m = thresholdMetrics(p, labels, cut.threshold);
  const tiers = { low: 0, review: 0, high: 0 };
  let melanoma = 0;
  let melanomaLow = 0;
  for (let i = 0; i < p.length; i++) {
    const tier = tierOf(p[i]!, cut);
    tiers[tier]++;
    if (labels[i] === 1) {
      melanoma++;
      if (tier === 'low') melanomaLow++;
    }
  }
  const n = p.length;
  return {
    threshold: cut.threshold,
    reviewAt: cut.reviewAt,
    highAt: cut.highAt,
    sensitivity: m.sensitivity,
    specificity: m.specificity,
    tiers: { low: tiers.low / n, review: tiers.review / n, high: tiers.high / n },
    melanomaInLow: melanoma ? melanomaLow / melanoma : Number.NaN,
  };
}

/** Picks the entries of `values` at `indices` (bootstrap resamples are index lists). */
const pick = (values: Float64Array, indices: readonly number[]): number[] => indices.map((i) => values[i]!);

/**
 * Cross-validates `methods` and the shipped model on the same splits. The methods see only the
 * training folds; the shipped model is scored as is. Operating points and tiers are re-chosen on
 * each candidate's out-of-fold probabilities with the shipped rules (operating-rules.ts).
 */
export function crossValidate(samples: readonly GroupedSample[], base: BaseModel, methods: readonly AdaptationMethod[], options: CvOptions = {}): CrossValidation {
  const k = options.k ?? DEFAULT_K;
  const repeats = options.repeats ?? DEFAULT_REPEATS;
  const seed = options.seed ?? DEFAULT_SEED;
  const iterations = options.bootstrapIterations ?? DEFAULT_BOOTSTRAP_ITERATIONS;
  const splits = groupedStratifiedFolds(samples, k, repeats, seed);
  const folds = splits.filter((s) => s.repeat === 0).length;
  const labels = samples.map((s) => s.label);
  const groups = samples.map((s) => s.group);
  const hidden = samples.map((s) => meanHiddenOf(base.head, s));
  const n = samples.length;

  const oofOf = (method: Candidate): Float64Array[] => {
    if (method === 'shipped') {
      const p = Float64Array.from(samples, (s) => shippedProbability(base, s));
      return Array.from({ length: repeats }, () => p);
    }
    const byRepeat = Array.from({ length: repeats }, () => new Float64Array(n));
    for (const split of splits) {
      const fit = fitOnHidden(
        method,
        split.train.map((i) => hidden[i]!),
        split.train.map((i) => labels[i]!),
        base,
        options.fit,
      );
      for (const i of split.test) byRepeat[split.repeat]![i] = fit.probability(hidden[i]!);
    }
    return byRepeat;
  };

  const indices = Float64Array.from({ length: n }, (_, i) => i);
  const boot = { iterations, seed, groups };
  const candidates: CandidateCv[] = [];
  let shipped: Float64Array | undefined;
  let shippedByRepeat: Float64Array[] | undefined;
  for (const method of ['shipped', ...methods.filter((m, i) => methods.indexOf(m) === i)] as Candidate[]) {
    const oofByRepeat = oofOf(method);
    const oof = new Float64Array(n);
    for (const p of oofByRepeat) for (let i = 0; i < n; i++) oof[i]! += p[i]! / repeats;
    shipped ??= oof;
    const ref = shipped;
    const op = chooseOperatingPoint(oof, labels);
    const paired = (stat: (p: number[], y: number[]) => number) =>
      bootstrapCi(indices, labels, (idx, y) => stat(pick(oof, idx), y) - stat(pick(ref, idx), y), boot) as [number, number];
    const isShipped = method === 'shipped';
    // A recalibrated model is a monotone function of the shipped logit, so it ranks cases exactly
    // as the shipped model does; pooling out-of-fold probabilities from differently fitted folds
    // would shuffle that ranking artificially, so its ranking figures are the shipped model's.
    const ranking = isShipped || method === 'recalibrate' ? { oof: ref, byRepeat: shippedByRepeat ?? oofByRepeat } : { oof, byRepeat: oofByRepeat };
    shippedByRepeat ??= oofByRepeat;
    candidates.push({
      method,
      oofByRepeat,
      oof,
      auc: auc(ranking.oof, labels),
      aucCi: bootstrapCi(ranking.oof, labels, auc, boot),
      aucByRepeat: ranking.byRepeat.map((p) => auc(p, labels)),
      deltaAuc: auc(ranking.oof, labels) - auc(ref, labels),
      deltaAucCi: ranking.oof === ref ? [0, 0] : paired(auc),
      brier: brier(oof, labels),
      deltaBrier: brier(oof, labels) - brier(ref, labels),
      deltaBrierCi: isShipped ? [0, 0] : paired(brier),
      ece: expectedCalibrationError(oof, labels),
      operating: operatingFigures(oof, labels, op),
      ...(isShipped && base.operating ? { asShipped: operatingFigures(oof, labels, base.operating) } : {}),
      roc: rocCurve(ranking.oof, labels),
    });
  }
  const melanoma = labels.filter((y) => y === 1).length;
  return { k: folds, repeats, seed, counts: { melanoma, benign: n - melanoma, groups: new Set(groups).size }, candidates };
}
