/**
 * The pooled feature vectors each prediction's head scored (migration 004), as float32
 * little-endian blobs. Derived data, not clinical records: written with the prediction in its
 * transaction (persist.ts) or later by the backfill (electron/adaptation/backfill.ts), never
 * audited on their own, and they never change the prediction they belong to.
 */
import { checkPooledFeatures, type PooledFeatures } from '../../model/pooled-features.ts';
import { float32FromLittleEndian, float32ToLittleEndian } from '../../util/typed-arrays.ts';
import type { RepoContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { nowIso } from '../time.ts';

/** A stored prediction that has no features yet, with what it takes to re-read its image. */
export interface MissingFeatures {
  readonly predictionId: number;
  readonly imageId: number;
  readonly sha256: string;
  readonly originalName: string;
  /** The stored calibrated probability, to check that a re-run reproduces the prediction. */
  readonly pMalignant: number;
}

interface FeaturesRow {
  readonly width: number;
  readonly views: string;
  readonly data: Buffer;
}

const MISSING_WHERE = `FROM predictions p JOIN images i ON i.id = p.image_id
  WHERE p.model_version = ? AND NOT EXISTS (SELECT 1 FROM prediction_features f WHERE f.prediction_id = p.id)`;

export class FeaturesRepo {
  constructor(private readonly ctx: RepoContext) {}

  /** Stores (or replaces) a prediction's features; one statement, so outside a transaction it is its own commit. */
  put(predictionId: number, features: PooledFeatures): void {
    const f = checkPooledFeatures(features);
    const { db } = this.ctx;
    if (!db.prepare('SELECT 1 FROM predictions WHERE id = ?').get(predictionId)) throw notFound('prediction', predictionId);
    db.prepare(
      `INSERT INTO prediction_features (prediction_id, width, views, data, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (prediction_id) DO UPDATE SET width = excluded.width, views = excluded.views, data = excluded.data, created_at = excluded.created_at`,
    ).run(predictionId, f.width, JSON.stringify(f.views), float32ToLittleEndian(f.data), nowIso());
  }

  get(predictionId: number): PooledFeatures | null {
    const row = this.ctx.db.prepare('SELECT width, views, data FROM prediction_features WHERE prediction_id = ?').get(predictionId) as FeaturesRow | undefined;
    if (!row) return null;
    return checkPooledFeatures({ width: row.width, views: JSON.parse(row.views) as string[], data: float32FromLittleEndian(row.data) });
  }

  has(predictionId: number): boolean {
    return this.ctx.db.prepare('SELECT 1 FROM prediction_features WHERE prediction_id = ?').get(predictionId) !== undefined;
  }

  /** Gives a copied prediction (same bytes, same model) the features of its source, when it has any. */
  copy(fromPredictionId: number, toPredictionId: number): boolean {
    const run = this.ctx.db
      .prepare(
        `INSERT OR IGNORE INTO prediction_features (prediction_id, width, views, data, created_at)
         SELECT ?, width, views, data, ? FROM prediction_features WHERE prediction_id = ?`,
      )
      .run(toPredictionId, nowIso(), fromPredictionId);
    return run.changes > 0;
  }

  /** Predictions of this model without features, oldest first, after `afterPredictionId` (a cursor, so failures are not asked for again). */
  missingFor(modelVersion: string, limit: number, afterPredictionId = 0): MissingFeatures[] {
    return this.ctx.db
      .prepare(
        `SELECT p.id AS predictionId, p.image_id AS imageId, i.sha256 AS sha256, i.original_name AS originalName, p.p_malignant AS pMalignant
         ${MISSING_WHERE} AND p.id > ? ORDER BY p.id LIMIT ?`,
      )
      .all(modelVersion, afterPredictionId, Math.max(0, Math.floor(limit))) as MissingFeatures[];
  }

  countMissing(modelVersion: string): number {
    return (this.ctx.db.prepare(`SELECT count(*) AS n ${MISSING_WHERE}`).get(modelVersion) as { n: number }).n;
  }
}
