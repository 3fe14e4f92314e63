/**
 * Column lists for joined reads. Each column is aliased "<prefix>.<field>" so one flat row can
 * be split back into the domain records (see splitRow) without name clashes between tables.
 */
const FIELDS = {
  prediction: {
    id: 'id', imageId: 'image_id', modelVersion: 'model_version', pMalignantRaw: 'p_malignant_raw', pMalignant: 'p_malignant',
    threshold: 'threshold', label: 'label', tier: 'tier', uncertainty: 'uncertainty', backend: 'backend', timingMs: 'timing_ms', createdAt: 'created_at',
    gateVerdict: 'gate_verdict', gateReasons: 'gate_reasons', gateScores: 'gate_scores', gateVersion: 'gate_version', gateOodChecked: 'gate_ood_checked',
    shownAnywayBy: 'shown_anyway_by', shownAnywayAt: 'shown_anyway_at',
  },
  image: {
    id: 'id', sha256: 'sha256', originalName: 'original_name', originalPath: 'original_path', capturedAt: 'captured_at', importedAt: 'imported_at',
    visitId: 'visit_id', lesionId: 'lesion_id', width: 'width', height: 'height', byteSize: 'byte_size',
  },
  patient: { id: 'id', identifier: 'identifier', name: 'name', dateOfBirth: 'date_of_birth', sex: 'sex', createdAt: 'created_at', updatedAt: 'updated_at' },
  visit: { id: 'id', patientId: 'patient_id', date: 'date', clinician: 'clinician', notes: 'notes', createdAt: 'created_at' },
  review: {
    id: 'id', imageId: 'image_id', predictionId: 'prediction_id', clinician: 'clinician', verdict: 'verdict', finalDiagnosis: 'final_diagnosis',
    note: 'note', confirmedDiagnosis: 'confirmed_diagnosis', confirmationBasis: 'confirmation_basis', confirmedOn: 'confirmed_on', createdAt: 'created_at',
  },
} as const;

export type Entity = keyof typeof FIELDS;

export function columns(entity: Entity, tableAlias: string): string {
  return Object.entries(FIELDS[entity])
    .map(([field, column]) => `${tableAlias}.${column} AS "${entity}.${field}"`)
    .join(', ');
}

/** Splits a prefixed row into one object per entity; an entity whose id is NULL (outer join miss) becomes null. */
export function splitRow(row: Record<string, unknown>): Record<string, Record<string, unknown> | null> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(row)) {
    const dot = key.indexOf('.');
    const entity = key.slice(0, dot);
    (out[entity] ??= {})[key.slice(dot + 1)] = value;
  }
  const result: Record<string, Record<string, unknown> | null> = {};
  for (const [entity, fields] of Object.entries(out)) result[entity] = fields.id === null ? null : entity === 'prediction' ? foldGate(fields) : fields;
  return result;
}

/** The gate's columns folded into one `gate` object (null for a prediction made before the gate existed). */
function foldGate(fields: Record<string, unknown>): Record<string, unknown> {
  const { gateVerdict, gateReasons, gateScores, gateVersion, gateOodChecked, shownAnywayBy, shownAnywayAt, ...rest } = fields;
  if (gateVerdict === null || gateVerdict === undefined) return { ...rest, gate: null };
  return {
    ...rest,
    gate: {
      verdict: gateVerdict,
      reasons: JSON.parse((gateReasons as string | null) ?? '[]') as unknown,
      scores: JSON.parse((gateScores as string | null) ?? '{"quality":{}}') as unknown,
      version: gateVersion,
      oodChecked: gateOodChecked === 1,
      shownAnyway: shownAnywayAt ? { by: shownAnywayBy ?? '', at: shownAnywayAt } : null,
    },
  };
}
