import type { Migration } from './types.ts';

/**
 * The input gate's judgement with each prediction (electron/model/input-gate/), and the
 * clinician's "show anyway". Nullable columns: a row from before this migration has no gate
 * (gate_verdict NULL = classified before the gate existed) and keeps its meaning and its tier.
 *
 * `triage` is where an image counts: its tier, or 'cannot_assess' when the gate refused it and
 * nobody asked to see it anyway. Tier filters and counts read it, so a refused image never
 * appears among low / review / high until a clinician has chosen to see its probability.
 * `risk_rank` is what "riskiest first" sorts on: the probability, or -1 for such an image, so the
 * order of a list never gives away a probability nobody may see.
 */
export const inputGate: Migration = {
  version: 3,
  name: 'input gate verdict, reasons, scores and show-anyway on predictions',
  sql: /* sql */ `
ALTER TABLE predictions ADD COLUMN gate_verdict TEXT CHECK (gate_verdict IN ('ok', 'refused'));
-- JSON: [{code, message, metric, value, threshold}] and {quality: {...}, ood?: {...}}
ALTER TABLE predictions ADD COLUMN gate_reasons TEXT CHECK (gate_reasons IS NULL OR json_valid(gate_reasons));
ALTER TABLE predictions ADD COLUMN gate_scores TEXT CHECK (gate_scores IS NULL OR json_valid(gate_scores));
ALTER TABLE predictions ADD COLUMN gate_version TEXT CHECK ((gate_version IS NULL) = (gate_verdict IS NULL));
ALTER TABLE predictions ADD COLUMN gate_ood_checked INTEGER CHECK (gate_ood_checked IN (0, 1));
ALTER TABLE predictions ADD COLUMN shown_anyway_by TEXT;
ALTER TABLE predictions ADD COLUMN shown_anyway_at TEXT CHECK (shown_anyway_at IS NULL OR gate_verdict = 'refused');
ALTER TABLE predictions ADD COLUMN triage TEXT GENERATED ALWAYS AS (
  CASE WHEN gate_verdict = 'refused' AND shown_anyway_at IS NULL THEN 'cannot_assess' ELSE tier END
) VIRTUAL;
ALTER TABLE predictions ADD COLUMN risk_rank REAL GENERATED ALWAYS AS (
  CASE WHEN gate_verdict = 'refused' AND shown_anyway_at IS NULL THEN -1 ELSE p_malignant END
) VIRTUAL;
CREATE INDEX predictions_rank ON predictions (risk_rank, id);
CREATE INDEX predictions_triage_rank ON predictions (triage, risk_rank, id);
CREATE INDEX predictions_triage_created ON predictions (triage, created_at, id);
`,
};
