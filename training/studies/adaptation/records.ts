/**
 * What one simulated adaptation leaves behind (one JSONL line per cell, so a killed run resumes
 * at the next cell), and the scoring part it was scored on (one JSON file per source).
 */
import type { AdaptationMethod, Candidate } from '../../../electron/model/adaptation/types.ts';

/**
 * How each arm is scored on the test part:
 * - 'shipped': the base model with its own cut-offs (chosen on its training sources' validation);
 * - 'shipped_cutoffs': the base model unchanged, threshold and tiers re-chosen on the local cases;
 * - each method: refitted on the local cases, cut-offs from its out-of-fold predictions.
 * The auto choice is derived: the chosen method's arm, or 'shipped' when it keeps the shipped model.
 */
export type Arm = 'shipped' | 'shipped_cutoffs' | AdaptationMethod;

export interface ArmScores {
  /**
   * Calibrated probability per test item (the test file's order), full precision: a steep
   * recalibration pushes many probabilities within 1e-6 of 0 or 1, and rounding them would
   * create ties that change the AUC.
   */
  readonly p: number[];
  readonly threshold: number;
  readonly reviewAt: number;
  readonly highAt: number;
}

export interface CellRecord {
  /** 'loso': a base trained without the source; 'shipped': fusion-v2 adapted with the source's whole pool. */
  readonly study: 'loso' | 'shipped';
  readonly source: string;
  /** Cases asked for (the pool size for the 'shipped' study). */
  readonly k: number;
  readonly draw: number;
  readonly seed: number;
  /** Digest of everything that makes a cell's result (base, settings); a changed setting reruns. */
  readonly settings: string;
  readonly cvFolds: number;
  readonly cvRepeats: number;
  readonly counts: { readonly melanoma: number; readonly benign: number; readonly groups: number };
  readonly choice: { readonly method: AdaptationMethod | 'none'; readonly reasons: readonly string[] };
  /** Cross-validated figures on the local cases (out-of-fold), per candidate. */
  readonly cv: Partial<Record<Candidate, { readonly auc: number; readonly deltaAuc: number; readonly deltaAucCi: readonly [number, number]; readonly brier: number }>>;
  /** Every arm, except when the app's maths refused the cases (`refused`): then only 'shipped'. */
  readonly test: Partial<Record<Arm, ArmScores>> & { readonly shipped: ArmScores };
  /** Why the app would not adapt with these cases (e.g. every melanoma from one lesion); the clinic keeps the shipped model. */
  readonly refused?: string;
  readonly seconds: number;
}

export interface TestPart {
  readonly source: string;
  readonly set: string;
  readonly ids: string[];
  readonly labels: (0 | 1)[];
  readonly groups: string[];
}

export const cellKey = (r: Pick<CellRecord, 'study' | 'source' | 'k' | 'draw' | 'settings'>): string => `${r.study}|${r.source}|${r.k}|${r.draw}|${r.settings}`;

/** The arm the auto choice ends up running. */
export function autoArm(record: Pick<CellRecord, 'choice'>): Arm {
  return record.choice.method === 'none' ? 'shipped' : record.choice.method;
}
