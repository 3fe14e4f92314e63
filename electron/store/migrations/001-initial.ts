import type { Migration } from './types.ts';

/**
 * The clinical schema. CHECK constraints mirror the zod enums so a bad value cannot reach the
 * file even through a future code path that forgets to validate. Text columns hold user input
 * verbatim: it is only ever bound as a parameter, never spliced into SQL.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial clinical schema',
  sql: /* sql */ `
CREATE TABLE patients (
  id            INTEGER PRIMARY KEY,
  identifier    TEXT NOT NULL,
  name          TEXT NOT NULL,
  date_of_birth TEXT,
  sex           TEXT NOT NULL DEFAULT 'unknown' CHECK (sex IN ('female', 'male', 'other', 'unknown')),
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  -- identifier and name case- and accent-folded (see searchKey), so "zolc" finds "Żółć".
  search_text   TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX patients_identifier ON patients (identifier);
CREATE INDEX patients_name ON patients (name COLLATE NOCASE, id);

CREATE TABLE visits (
  id         INTEGER PRIMARY KEY,
  patient_id INTEGER NOT NULL REFERENCES patients (id),
  date       TEXT NOT NULL,
  clinician  TEXT NOT NULL DEFAULT '',
  notes      TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE INDEX visits_patient_date ON visits (patient_id, date);

CREATE TABLE lesions (
  id         INTEGER PRIMARY KEY,
  patient_id INTEGER NOT NULL REFERENCES patients (id),
  body_site  TEXT NOT NULL DEFAULT '',
  label      TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE INDEX lesions_patient ON lesions (patient_id);

-- patient_id is denormalised from the visit or lesion (or set directly by a patient-level
-- batch) so per-patient listings use one index instead of a join chain.
CREATE TABLE images (
  id            INTEGER PRIMARY KEY,
  sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
  original_name TEXT NOT NULL,
  original_path TEXT NOT NULL,
  captured_at   TEXT,
  imported_at   TEXT NOT NULL,
  patient_id    INTEGER REFERENCES patients (id),
  visit_id      INTEGER REFERENCES visits (id),
  lesion_id     INTEGER REFERENCES lesions (id),
  width         INTEGER NOT NULL CHECK (width >= 0),
  height        INTEGER NOT NULL CHECK (height >= 0),
  byte_size     INTEGER NOT NULL CHECK (byte_size >= 0)
);
-- The same bytes placed twice in the same patient/visit are one image record.
CREATE UNIQUE INDEX images_placement ON images (sha256, ifnull(patient_id, 0), ifnull(visit_id, 0));
CREATE INDEX images_patient ON images (patient_id, id);
CREATE INDEX images_visit ON images (visit_id, id);
CREATE INDEX images_lesion ON images (lesion_id, id);

CREATE TABLE predictions (
  id              INTEGER PRIMARY KEY,
  image_id        INTEGER NOT NULL REFERENCES images (id),
  model_version   TEXT NOT NULL,
  p_malignant_raw REAL NOT NULL CHECK (p_malignant_raw BETWEEN 0 AND 1),
  p_malignant     REAL NOT NULL CHECK (p_malignant BETWEEN 0 AND 1),
  threshold       REAL NOT NULL CHECK (threshold BETWEEN 0 AND 1),
  label           TEXT NOT NULL CHECK (label IN ('benign', 'malignant')),
  tier            TEXT NOT NULL CHECK (tier IN ('low', 'review', 'high')),
  uncertainty     REAL NOT NULL CHECK (uncertainty >= 0),
  backend         TEXT NOT NULL,
  timing_ms       REAL NOT NULL CHECK (timing_ms >= 0),
  created_at      TEXT NOT NULL
);
-- One classification per image and model version: the batch relies on this to never classify twice.
CREATE UNIQUE INDEX predictions_image_model ON predictions (image_id, model_version);
CREATE INDEX predictions_created ON predictions (created_at, id);
CREATE INDEX predictions_risk ON predictions (p_malignant, id);

-- The PNG bytes live in files under overlays/, one pack file per prediction holding all its
-- PNGs back to back (file_key names the file, byte_offset/byte_size the PNG inside it): a colour
-- overlay of a camera image is ~1 MB, writing such blobs through the WAL costs ~10x a file write,
-- and on this class of disk each file created costs ~1 ms, so six files per image would too.
CREATE TABLE overlays (
  id            INTEGER PRIMARY KEY,
  prediction_id INTEGER NOT NULL REFERENCES predictions (id),
  kind          TEXT NOT NULL CHECK (kind IN ('fused', 'inception_v3', 'mobilenet_v2')),
  format        TEXT NOT NULL CHECK (format IN ('overlay', 'map')),
  width         INTEGER NOT NULL CHECK (width > 0),
  height        INTEGER NOT NULL CHECK (height > 0),
  file_key      TEXT NOT NULL CHECK (length(file_key) = 64),
  byte_offset   INTEGER NOT NULL CHECK (byte_offset >= 0),
  byte_size     INTEGER NOT NULL CHECK (byte_size > 0)
);
CREATE UNIQUE INDEX overlays_prediction ON overlays (prediction_id, kind, format);

CREATE TABLE reviews (
  id              INTEGER PRIMARY KEY,
  image_id        INTEGER NOT NULL REFERENCES images (id),
  prediction_id   INTEGER REFERENCES predictions (id),
  clinician       TEXT NOT NULL,
  verdict         TEXT NOT NULL CHECK (verdict IN ('agree', 'disagree')),
  final_diagnosis TEXT NOT NULL DEFAULT '',
  note            TEXT NOT NULL DEFAULT '',
  created_at      TEXT NOT NULL
);
CREATE INDEX reviews_image ON reviews (image_id, id);

CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        TEXT NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  entity    TEXT NOT NULL,
  entity_id INTEGER,
  detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id, id);
-- Append-only by construction, not by convention.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE batch_jobs (
  id            INTEGER PRIMARY KEY,
  root          TEXT NOT NULL,
  patient_id    INTEGER REFERENCES patients (id),
  visit_id      INTEGER REFERENCES visits (id),
  model_version TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'cancelled', 'failed')),
  scan_complete INTEGER NOT NULL DEFAULT 0,
  total         INTEGER NOT NULL DEFAULT 0,
  done          INTEGER NOT NULL DEFAULT 0,
  failed        INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  finished_at   TEXT
);
CREATE INDEX batch_jobs_lookup ON batch_jobs (root, model_version, id);

CREATE TABLE batch_items (
  id            INTEGER PRIMARY KEY,
  job_id        INTEGER NOT NULL REFERENCES batch_jobs (id),
  path          TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'error')),
  sha256        TEXT,
  image_id      INTEGER REFERENCES images (id),
  prediction_id INTEGER REFERENCES predictions (id),
  error         TEXT,
  updated_at    TEXT
);
CREATE UNIQUE INDEX batch_items_path ON batch_items (job_id, path);
CREATE INDEX batch_items_status ON batch_items (job_id, status, id);
CREATE INDEX batch_items_prediction ON batch_items (prediction_id);
`,
};
