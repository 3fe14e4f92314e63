import type { Migration } from './types.ts';

/**
 * What clinic adaptation reads (electron/adaptation/): the pooled feature vectors the head scored
 * for each prediction, and a confirmed diagnosis on reviews.
 *
 * `prediction_features` holds one row per prediction: `views` is the JSON list of test-time views,
 * `data` their vectors back to back as float32 little-endian (views x width values). A prediction
 * from before this migration has no row until the backfill adds one; the prediction itself is
 * never rewritten.
 *
 * Reviews gain `confirmed_diagnosis`, `confirmation_basis` and `confirmed_on`: all three or none.
 * Existing reviews keep NULL, which means "not confirmed", so they keep their meaning.
 */
export const adaptation: Migration = {
  version: 4,
  name: 'pooled features per prediction, confirmed diagnosis on reviews',
  sql: /* sql */ `
CREATE TABLE prediction_features (
  prediction_id INTEGER PRIMARY KEY REFERENCES predictions (id) ON DELETE CASCADE,
  width         INTEGER NOT NULL CHECK (width > 0),
  views         TEXT NOT NULL CHECK (json_valid(views) AND json_type(views) = 'array' AND json_array_length(views) > 0),
  data          BLOB NOT NULL CHECK (length(data) = 4 * width * json_array_length(views)),
  created_at    TEXT NOT NULL
);
ALTER TABLE reviews ADD COLUMN confirmed_diagnosis TEXT CHECK (confirmed_diagnosis IN ('melanoma', 'benign', 'other_malignant'));
ALTER TABLE reviews ADD COLUMN confirmation_basis TEXT CHECK (confirmation_basis IN ('histopathology', 'clinical_follow_up', 'expert_consensus'));
-- The date is a real calendar date; its CHECK also holds the three together (all or none).
ALTER TABLE reviews ADD COLUMN confirmed_on TEXT CHECK (
  (confirmed_on IS NULL OR (confirmed_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' AND date(confirmed_on) = confirmed_on))
  AND (confirmed_on IS NULL) = (confirmed_diagnosis IS NULL)
  AND (confirmed_on IS NULL) = (confirmation_basis IS NULL)
);
CREATE INDEX reviews_confirmed ON reviews (image_id, id) WHERE confirmed_diagnosis IS NOT NULL;
`,
};
