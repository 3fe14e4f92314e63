import { ReviewInput, type Review } from '#common/domain';
import type { z } from 'zod';
import type { RepoContext } from '../context.ts';
import { StoreError, notFound } from '../errors.ts';
import { nowIso } from '../time.ts';

const SELECT = `SELECT id, image_id AS imageId, prediction_id AS predictionId, clinician, verdict, final_diagnosis AS finalDiagnosis,
  note, confirmed_diagnosis AS confirmedDiagnosis, confirmation_basis AS confirmationBasis, confirmed_on AS confirmedOn,
  created_at AS createdAt FROM reviews`;

/**
 * Reviews are never edited: a changed opinion is a new review, the history stays readable. A
 * confirmed diagnosis (with its basis and date) arrives the same way, as a newer review.
 */
export class ReviewsRepo {
  constructor(private readonly ctx: RepoContext) {}

  create(input: z.input<typeof ReviewInput>): Review {
    const r = ReviewInput.parse(input);
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      if (!db.prepare('SELECT 1 FROM images WHERE id = ?').get(r.imageId)) throw notFound('image', r.imageId);
      if (r.predictionId !== null) {
        const p = db.prepare('SELECT image_id AS imageId FROM predictions WHERE id = ?').get(r.predictionId) as { imageId: number } | undefined;
        if (!p) throw notFound('prediction', r.predictionId);
        if (p.imageId !== r.imageId) throw new StoreError('invalid', `prediction ${r.predictionId} is not a prediction of image ${r.imageId}`);
      }
      const id = Number(
        db
          .prepare(
            `INSERT INTO reviews (image_id, prediction_id, clinician, verdict, final_diagnosis, note, confirmed_diagnosis, confirmation_basis, confirmed_on, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(r.imageId, r.predictionId, r.clinician, r.verdict, r.finalDiagnosis, r.note, r.confirmedDiagnosis, r.confirmationBasis, r.confirmedOn, nowIso())
          .lastInsertRowid,
      );
      audit.record({ actor: this.ctx.actor(), action: 'review.create', entity: 'reviews', entityId: id, detail: r });
      return this.get(id) as Review;
    })();
  }

  get(id: number): Review | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Review | undefined) ?? null;
  }

  /** Newest first. */
  listForImage(imageId: number): Review[] {
    return this.ctx.db.prepare(`${SELECT} WHERE image_id = ? ORDER BY id DESC`).all(imageId) as Review[];
  }

  latestForImage(imageId: number): Review | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE image_id = ? ORDER BY id DESC LIMIT 1`).get(imageId) as Review | undefined) ?? null;
  }
}
