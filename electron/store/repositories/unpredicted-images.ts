/**
 * Images some model classified but `modelVersion` has not: after a model change (a local model
 * adopted, or the shipped one back) these still show the other model's result until a clinician
 * asks to reclassify them. Read-only; keyed by image id so a long run can page through it.
 */
import type Database from 'better-sqlite3';

/** Where an image is filed: what recording its new prediction needs to find the same image row. */
export interface UnpredictedImage {
  readonly id: number;
  readonly sha256: string;
  readonly originalName: string;
  readonly originalPath: string;
  readonly patientId: number | null;
  readonly visitId: number | null;
  readonly lesionId: number | null;
}

const WITHOUT = `FROM images i
  WHERE EXISTS (SELECT 1 FROM predictions p WHERE p.image_id = i.id)
    AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.image_id = i.id AND p.model_version = ?)`;

export function countImagesWithoutPrediction(db: Database.Database, modelVersion: string): number {
  return (db.prepare(`SELECT count(*) AS n ${WITHOUT}`).get(modelVersion) as { n: number }).n;
}

/** The next `limit` such images after image id `afterId`, in id order. */
export function imagesWithoutPrediction(db: Database.Database, modelVersion: string, afterId: number, limit: number): UnpredictedImage[] {
  return db
    .prepare(
      `SELECT i.id, i.sha256, i.original_name AS originalName, i.original_path AS originalPath, i.patient_id AS patientId, i.visit_id AS visitId, i.lesion_id AS lesionId
       ${WITHOUT} AND i.id > ? ORDER BY i.id LIMIT ?`,
    )
    .all(modelVersion, afterId, limit) as UnpredictedImage[];
}
