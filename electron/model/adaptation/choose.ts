/**
 * Which adaptation, if any, to offer: the rules are deliberately conservative, because a clinic
 * adopting a model that ranks cases worse than the shipped one is the failure that matters.
 *
 * 1. Fewer than MIN_CASES_PER_CLASS confirmed melanomas (or benign cases): the AUC difference
 *    cannot be estimated usefully, so only `recalibrate` (which never changes the ranking) is allowed.
 * 2. A ranking-changing method (members, last_layer) only when the lower end of its paired
 *    delta-AUC interval against the shipped model is above zero; the larger gain wins, the
 *    simpler method on a tie.
 * 3. Otherwise `recalibrate` when it lowers the out-of-fold Brier score.
 * 4. Otherwise keep the shipped model ('none').
 */
import type { AdaptationMethod, CandidateCv, ClassCounts, CrossValidation, MethodChoice } from './types.ts';

export const MIN_CASES_PER_CLASS = 30;

const RANKING_METHODS: readonly AdaptationMethod[] = ['members', 'last_layer'];

const f3 = (v: number): string => v.toFixed(3);
const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;

export function chooseMethod(cv: CrossValidation, counts: ClassCounts = cv.counts): MethodChoice {
  const reasons: string[] = [];
  const candidate = (m: AdaptationMethod): CandidateCv | undefined => cv.candidates.find((c) => c.method === m);
  const shipped = cv.candidates.find((c) => c.method === 'shipped');
  if (!shipped) throw new Error('cross-validation results lack the shipped model');

  let allowed: AdaptationMethod[] = ['recalibrate', 'members', 'last_layer'];
  if (counts.melanoma < MIN_CASES_PER_CLASS || counts.benign < MIN_CASES_PER_CLASS) {
    allowed = ['recalibrate'];
    reasons.push(
      `Only ${counts.melanoma} confirmed melanoma and ${counts.benign} benign cases (at least ${MIN_CASES_PER_CLASS} of each are needed to judge a change in how the model ranks cases): at most the probabilities can be recalibrated.`,
    );
    // Simulated clinics (training/studies/adaptation) lost sensitivity or specificity badly when
    // cut-offs were re-chosen on so few melanomas, so recalibration is offered, never chosen.
    reasons.push('Recalibration can be requested explicitly, but it is not chosen automatically: cut-offs re-chosen on so few melanomas were unreliable in simulated clinics.');
    reasons.push('Keep the shipped model.');
    return { method: 'none', reasons, allowed };
  }

  let best: CandidateCv | undefined;
  for (const m of RANKING_METHODS) {
    const c = candidate(m);
    if (!c || !allowed.includes(m)) continue;
    const [lo, hi] = c.deltaAucCi;
    const figures = `AUC ${f3(c.auc)} vs ${f3(shipped.auc)} shipped (difference ${signed(c.deltaAuc)}, 95% CI ${signed(lo)} to ${signed(hi)})`;
    if (lo > 0) {
      reasons.push(`${m}: ${figures}: ranks the local cases better than the shipped model.`);
      if (!best || c.deltaAuc > best.deltaAuc) best = c;
    } else {
      reasons.push(`${m}: ${figures}: not clearly better than the shipped model.`);
    }
  }
  if (best) {
    reasons.push(`Chosen: ${best.method}.`);
    return { method: best.method as AdaptationMethod, reasons, allowed };
  }

  const recalibrate = candidate('recalibrate');
  if (recalibrate && allowed.includes('recalibrate')) {
    const figures = `Brier ${f3(recalibrate.brier)} vs ${f3(shipped.brier)} shipped, ECE ${f3(recalibrate.ece)} vs ${f3(shipped.ece)}`;
    if (recalibrate.deltaBrier < 0) {
      reasons.push(`recalibrate: ${figures}: its probabilities match the local outcomes better (the ranking is unchanged).`);
      reasons.push('Chosen: recalibrate.');
      return { method: 'recalibrate', reasons, allowed };
    }
    reasons.push(`recalibrate: ${figures}: no better than the shipped probabilities.`);
  }
  reasons.push('Keep the shipped model.');
  return { method: 'none', reasons, allowed };
}
