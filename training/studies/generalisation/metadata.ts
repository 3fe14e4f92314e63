/**
 * Patient metadata (age, sex, body site) as head inputs that degrade gracefully when missing.
 *
 * Each field is encoded with an explicit missing indicator (and zeros in its value slots), so
 * "unknown" is a value the head learns, not a fake age of 0. Training applies metadata dropout
 * (fields hidden at random) so the head also learns to classify without them. A field that was
 * never observed in training is forced to missing at inference: its weights were never fitted
 * (they keep their random initialisation), and feeding it would add noise to the logit.
 *
 * Of the data here only HAM10000 carries metadata; this copy of ISIC 2017 and the ISIC 9-class
 * set carry none. The workstation's records (age from date of birth, sex, lesion body site) map
 * onto the same fields.
 */
import { join } from 'node:path';
import { sharedDir } from '../../../electron/util/paths.ts';
import { readLabelledFolder } from '../../../electron/model/datasets.ts';
import { seededRandom } from '../../../electron/model/metrics.ts';

export const SITE_GROUPS = ['head_neck', 'trunk', 'upper_extremity', 'lower_extremity', 'acral', 'genital'] as const;
export type SiteGroup = (typeof SITE_GROUPS)[number];
export type MetadataField = 'age' | 'sex' | 'site';
export const METADATA_FIELDS: readonly MetadataField[] = ['age', 'sex', 'site'];

export interface PatientMetadata {
  /** Years. */
  readonly age?: number;
  readonly sex?: 'male' | 'female';
  readonly site?: SiteGroup;
}

/** HAM10000's `localization` vocabulary (and the workstation's free text, lower-cased) to coarse groups. */
const SITE_SYNONYMS: Record<string, SiteGroup> = {
  face: 'head_neck',
  scalp: 'head_neck',
  ear: 'head_neck',
  neck: 'head_neck',
  'head/neck': 'head_neck',
  back: 'trunk',
  trunk: 'trunk',
  chest: 'trunk',
  abdomen: 'trunk',
  'anterior torso': 'trunk',
  'posterior torso': 'trunk',
  'lateral torso': 'trunk',
  torso: 'trunk',
  'upper extremity': 'upper_extremity',
  'lower extremity': 'lower_extremity',
  hand: 'acral',
  foot: 'acral',
  acral: 'acral',
  'palms/soles': 'acral',
  genital: 'genital',
  'oral/genital': 'genital',
};

export function siteGroup(text: string | undefined): SiteGroup | undefined {
  return text ? SITE_SYNONYMS[text.trim().toLowerCase()] : undefined;
}

/** Metadata from a labels.csv row (columns age, sex, localization / anatom_site_general); unknowns are left out. */
export function metadataFromColumns(columns: Readonly<Record<string, string>>): PatientMetadata {
  const ageText = columns.age ?? columns.age_approx ?? columns.age_approximate ?? '';
  const age = ageText.trim() === '' ? Number.NaN : Number(ageText);
  const sex = (columns.sex ?? '').trim().toLowerCase();
  const site = siteGroup(columns.localization ?? columns.anatom_site_general ?? columns.anatom_site_general_challenge);
  return {
    ...(Number.isFinite(age) && age >= 0 && age <= 120 ? { age } : {}),
    ...(sex === 'male' || sex === 'female' ? { sex } : {}),
    ...(site ? { site } : {}),
  };
}

/** age value + missing, male + female + missing, one slot per site group + missing. */
export const METADATA_WIDTH = 2 + 3 + SITE_GROUPS.length + 1;

export function encodeMetadata(m: PatientMetadata, out = new Float32Array(METADATA_WIDTH), offset = 0): Float32Array {
  out.fill(0, offset, offset + METADATA_WIDTH);
  if (m.age !== undefined) out[offset] = m.age / 100;
  else out[offset + 1] = 1;
  if (m.sex === 'male') out[offset + 2] = 1;
  else if (m.sex === 'female') out[offset + 3] = 1;
  else out[offset + 4] = 1;
  const s = m.site ? SITE_GROUPS.indexOf(m.site) : -1;
  out[offset + 5 + (s >= 0 ? s : SITE_GROUPS.length)] = 1;
  return out;
}

export function withoutFields(m: PatientMetadata, fields: Iterable<MetadataField>): PatientMetadata {
  const out: { age?: number; sex?: 'male' | 'female'; site?: SiteGroup } = { ...m };
  for (const f of fields) delete out[f];
  return out;
}

/** Fields that at least one of these records carries. */
export function observedFields(records: Iterable<PatientMetadata>): Set<MetadataField> {
  const seen = new Set<MetadataField>();
  for (const m of records) for (const f of METADATA_FIELDS) if (m[f] !== undefined) seen.add(f);
  return seen;
}

/**
 * Metadata dropout: with probability `allRate` a record loses every field, otherwise each field
 * is hidden independently with probability `fieldRate`. Seeded, so training is reproducible.
 */
export function metadataDropout(records: readonly PatientMetadata[], allRate: number, fieldRate: number, seed: number): PatientMetadata[] {
  const random = seededRandom(seed);
  return records.map((m) => {
    if (random() < allRate) return {};
    return withoutFields(m, METADATA_FIELDS.filter(() => random() < fieldRate));
  });
}

/** Encodes many records into a row-major matrix [records.length, METADATA_WIDTH], hiding fields not in `allowed`. */
export function metadataMatrix(records: readonly PatientMetadata[], allowed: ReadonlySet<MetadataField> = new Set(METADATA_FIELDS)): Float32Array {
  const hidden = METADATA_FIELDS.filter((f) => !allowed.has(f));
  const out = new Float32Array(records.length * METADATA_WIDTH);
  records.forEach((m, i) => encodeMetadata(hidden.length ? withoutFields(m, hidden) : m, out, i * METADATA_WIDTH));
  return out;
}

/** Metadata of every row of the shared sets, keyed by the data protocol's item id (`<source>:<path>`). */
export function loadSharedMetadata(dataDir = sharedDir('data')): Map<string, PatientMetadata> {
  const out = new Map<string, PatientMetadata>();
  for (const source of ['ham10000', 'isic2017', 'isic9']) {
    for (const row of readLabelledFolder(join(dataDir, source))) out.set(`${source}:${row.path}`, metadataFromColumns(row.columns));
  }
  return out;
}
