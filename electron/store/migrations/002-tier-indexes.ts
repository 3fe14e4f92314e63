import type { Migration } from './types.ts';

/** "Show me the high-risk ones" is the common filter: keep it an index range, for counts and pages. */
export const tierIndexes: Migration = {
  version: 2,
  name: 'indexes for tier-filtered result lists',
  sql: /* sql */ `
CREATE INDEX predictions_tier_risk ON predictions (tier, p_malignant, id);
CREATE INDEX predictions_tier_created ON predictions (tier, created_at, id);
`,
};
