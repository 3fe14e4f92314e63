/**
 * Shapes shared by the adaptation maths: what a local case looks like to it (the pooled vectors
 * the head read, per TTA view, and a 0/1 label), what a fitted adaptation is, and what cross-
 * validation reports. Pure data; the functions live beside it (methods.ts, cross-validation.ts,
 * choose.ts, final.ts).
 */
import type { OperatingPoint as OperatingPointName } from '#common/domain';
import type { FusionHead, HeadArrays, HeadConfig } from '../head.ts';
import type { NamedOperatingPoint } from '../manifest.ts';
import { AdaptationMethod } from '#common/domain';
import type { RocPoint } from '../metrics.ts';

/**
 * recalibrate: Platt refit of the head's mean logit (probabilities and cut-offs move, ranking does not).
 * members: logistic regression on the late-fusion members' logit contributions, pulled toward equal weights.
 * last_layer: the head's output layer refitted on its last hidden activations, pulled toward the shipped weights.
 */
export type { AdaptationMethod };
export const ADAPTATION_METHODS: readonly AdaptationMethod[] = AdaptationMethod.options;

/** A method, or the shipped model unchanged (the comparison every figure is paired against). */
export type Candidate = AdaptationMethod | 'shipped';

/** Thrown for data adaptation cannot use (a class missing, or in too few groups to cross-validate). */
export class AdaptationDataError extends Error {
  override readonly name = 'AdaptationDataError';
}

/** One confirmed case as the maths sees it. */
export interface AdaptSample {
  /** views x head pooled width, views in the classifier's TTA order (PooledFeatures.data). */
  readonly pooled: Float32Array;
  readonly views: number;
  /** 1 = melanoma, 0 = benign. */
  readonly label: 0 | 1;
}

/** A case with the unit that must not be split across folds (patient, else lesion, else image). */
export interface GroupedSample extends AdaptSample {
  readonly group: string;
}

/** The shipped model being adapted. */
export interface BaseModel {
  readonly head: FusionHead;
  readonly temperature: number;
  readonly calibrationBias: number;
  /** The shipped cut-offs, to report the shipped model "as shipped" on local cases too. */
  readonly operating?: { readonly threshold: number; readonly reviewAt: number; readonly highAt: number };
}

export interface FitOptions {
  /**
   * Overrides the method's L2 pull (prior precision, default methods.ts defaultL2);
   * huge values make members/last_layer collapse onto recalibrate. Ignored by recalibrate.
   */
  readonly l2?: number;
}

/** A fitted adaptation: a complete head (same config as the base) plus its calibration. */
export interface AdaptedModel {
  readonly method: AdaptationMethod;
  readonly config: HeadConfig;
  readonly head: HeadArrays;
  readonly temperature: number;
  readonly calibrationBias: number;
  /** members only: each member's weight relative to the shipped model (1 = unchanged, shipped calibration scale). */
  readonly memberWeights?: readonly number[];
}

export interface TierShares {
  readonly low: number;
  readonly review: number;
  readonly high: number;
}

/** Cut-offs and what they do on a set of probabilities. */
export interface OperatingFigures {
  readonly threshold: number;
  readonly reviewAt: number;
  readonly highAt: number;
  readonly sensitivity: number;
  readonly specificity: number;
  /** Share of all cases per tier. */
  readonly tiers: TierShares;
  /** Share of melanomas the 'low' tier would reassure. */
  readonly melanomaInLow: number;
}

/** Cross-validated figures of one candidate; every figure is on out-of-fold probabilities. */
export interface CandidateCv {
  readonly method: Candidate;
  /** Out-of-fold probability per sample (samples' order), one array per repeat. */
  readonly oofByRepeat: readonly Float64Array[];
  /** The repeats' mean out-of-fold probability per sample (what the figures below read). */
  readonly oof: Float64Array;
  readonly auc: number;
  /** Bootstrap over groups. */
  readonly aucCi: readonly [number, number];
  readonly aucByRepeat: readonly number[];
  /** AUC minus the shipped model's on the same cases, paired bootstrap over groups (0 for shipped). */
  readonly deltaAuc: number;
  readonly deltaAucCi: readonly [number, number];
  readonly brier: number;
  readonly deltaBrier: number;
  readonly deltaBrierCi: readonly [number, number];
  readonly ece: number;
  /** Operating point and tiers re-chosen on these out-of-fold probabilities with the shipped rules. */
  readonly operating: OperatingFigures;
  /** Shipped candidate only, when BaseModel.operating is given: its own cut-offs on the local cases. */
  readonly asShipped?: OperatingFigures;
  readonly roc: readonly RocPoint[];
}

export interface ClassCounts {
  readonly melanoma: number;
  readonly benign: number;
}

export interface CrossValidation {
  readonly k: number;
  readonly repeats: number;
  readonly seed: number;
  readonly counts: ClassCounts & { readonly groups: number };
  /** Shipped first, then the methods in the order asked. */
  readonly candidates: readonly CandidateCv[];
}

export interface CvOptions {
  /** Folds; lowered when fewer groups hold a melanoma (or a benign case). Default 5. */
  readonly k?: number;
  /** Default 5. */
  readonly repeats?: number;
  readonly seed?: number;
  /** Bootstrap resamples for the CIs, default 1000. */
  readonly bootstrapIterations?: number;
  readonly fit?: FitOptions;
}

/** One train/test split of one repeat; indices into the items given. */
export interface Split {
  readonly repeat: number;
  readonly fold: number;
  readonly train: readonly number[];
  readonly test: readonly number[];
}

export interface MethodChoice {
  readonly method: AdaptationMethod | 'none';
  /** Plain-words reasons, in the order the rules were applied. */
  readonly reasons: readonly string[];
  /** The methods the case counts allow. */
  readonly allowed: readonly AdaptationMethod[];
}

/** The adopted-to-be model: refitted on every case, cut-offs from the cross-validated probabilities. */
export interface FinalModel extends AdaptedModel {
  readonly threshold: number;
  readonly tiers: { readonly reviewAt: number; readonly highAt: number };
  readonly operatingPoints: Record<OperatingPointName, NamedOperatingPoint>;
}
