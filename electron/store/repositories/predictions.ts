import {
  PredictionListQuery,
  type Prediction,
  type PredictionPage,
  type PredictionRow,
} from '../../common/domain.ts';
import type { CamImages, Classification } from '../../model/types.ts';
import type { RepoContext } from '../context.ts';
import { isUniqueViolation } from '../context.ts';
import { StoreError, notFound } from '../errors.ts';
import { columns, splitRow } from './columns.ts';
import { overlaysFromCams, type OverlayInput, type OverlaysRepo } from './overlays.ts';
import { nowIso } from '../time.ts';

export interface PredictionInput {
  readonly imageId: number;
  readonly modelVersion: string;
  readonly pMalignantRaw: number;
  readonly pMalignant: number;
  readonly threshold: number;
  readonly label: 'benign' | 'malignant';
  readonly tier: 'low' | 'review' | 'high';
  readonly uncertainty: number;
  readonly backend: string;
  readonly timingMs: number;
  readonly overlays?: readonly OverlayInput[];
}

/** Maps the classifier's result onto what the store keeps. */
export function predictionInput(imageId: number, c: Classification, cams?: readonly CamImages[]): PredictionInput {
  const timings = Object.values(c.timingsMs);
  return {
    imageId,
    modelVersion: c.modelVersion,
    pMalignantRaw: c.pMalignantRaw,
    pMalignant: c.pMalignant,
    threshold: c.threshold,
    label: c.label,
    tier: c.tier,
    uncertainty: c.uncertainty,
    backend: `onnxruntime:${c.backend.backbones} + tfjs:${c.backend.head}`,
    timingMs: c.timingsMs.total_ms ?? c.timingsMs.total ?? timings.reduce((a, b) => a + b, 0),
    overlays: overlaysFromCams(cams),
  };
}

const SELECT = `SELECT ${columns('prediction', 'p')} FROM predictions p`;

const ORDER: Record<string, string> = {
  newest: 'p.created_at DESC, p.id DESC',
  oldest: 'p.created_at ASC, p.id ASC',
  risk_desc: 'p.p_malignant DESC, p.id DESC',
  risk_asc: 'p.p_malignant ASC, p.id ASC',
};

function toPrediction(row: unknown): Prediction {
  return splitRow(row as Record<string, unknown>).prediction as unknown as Prediction;
}

export class PredictionsRepo {
  constructor(
    private readonly ctx: RepoContext,
    private readonly overlays: OverlaysRepo,
  ) {}

  /** The prediction and its overlays commit together, with their audit entry, or not at all. */
  create(input: PredictionInput, auditDetail: Record<string, unknown> = {}): Prediction {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      if (!db.prepare('SELECT 1 FROM images WHERE id = ?').get(input.imageId)) throw notFound('image', input.imageId);
      let id: number;
      try {
        id = Number(
          db
            .prepare(
              `INSERT INTO predictions (image_id, model_version, p_malignant_raw, p_malignant, threshold, label, tier, uncertainty, backend, timing_ms, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              input.imageId,
              input.modelVersion,
              input.pMalignantRaw,
              input.pMalignant,
              input.threshold,
              input.label,
              input.tier,
              input.uncertainty,
              input.backend,
              input.timingMs,
              nowIso(),
            ).lastInsertRowid,
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreError('conflict', `image ${input.imageId} already has a prediction from model ${input.modelVersion}`);
        throw err;
      }
      this.overlays.insertAll(id, input.overlays ?? []);
      const { overlays: _png, ...facts } = input;
      audit.record({
        actor: this.ctx.actor(),
        action: 'prediction.create',
        entity: 'predictions',
        entityId: id,
        detail: { ...facts, overlays: (input.overlays ?? []).map((o) => `${o.kind}/${o.format}`), ...auditDetail },
      });
      return this.require(id);
    })();
  }

  get(id: number): Prediction | null {
    const row = this.ctx.db.prepare(`${SELECT} WHERE p.id = ?`).get(id);
    return row ? toPrediction(row) : null;
  }

  require(id: number): Prediction {
    const p = this.get(id);
    if (!p) throw notFound('prediction', id);
    return p;
  }

  listForImage(imageId: number): Prediction[] {
    return this.ctx.db.prepare(`${SELECT} WHERE p.image_id = ? ORDER BY p.id DESC`).all(imageId).map(toPrediction);
  }

  latestForImage(imageId: number): Prediction | null {
    const row = this.ctx.db.prepare(`${SELECT} WHERE p.image_id = ? ORDER BY p.id DESC LIMIT 1`).get(imageId);
    return row ? toPrediction(row) : null;
  }

  forImage(imageId: number, modelVersion: string): Prediction | null {
    const row = this.ctx.db.prepare(`${SELECT} WHERE p.image_id = ? AND p.model_version = ?`).get(imageId, modelVersion);
    return row ? toPrediction(row) : null;
  }

  /** Any prediction of these bytes by this model, whichever record they were filed under. */
  findBySha256(sha256: string, modelVersion: string): Prediction | null {
    const row = this.ctx.db
      .prepare(`${SELECT} JOIN images i ON i.id = p.image_id WHERE i.sha256 = ? AND p.model_version = ? ORDER BY p.id LIMIT 1`)
      .get(sha256, modelVersion);
    return row ? toPrediction(row) : null;
  }

  /**
   * Copies an existing prediction (and its overlays) onto another record of the same bytes, so
   * filing known bytes under a new visit never runs the model again.
   */
  copyTo(source: Prediction, imageId: number, auditDetail: Record<string, unknown> = {}): Prediction {
    const { db } = this.ctx;
    return db.transaction(() => {
      const pngs = db.prepare('SELECT kind, format, png FROM overlays WHERE prediction_id = ? ORDER BY id').all(source.id) as OverlayInput[];
      const { id: _id, createdAt: _at, imageId: _img, ...facts } = source;
      return this.create({ ...facts, imageId, overlays: pngs }, { copiedFrom: source.id, ...auditDetail });
    })();
  }

  count(): number {
    return (this.ctx.db.prepare('SELECT count(*) AS n FROM predictions').get() as { n: number }).n;
  }

  /** A page of predictions joined with their image, patient, visit and latest review. */
  list(query: PredictionListQuery = {}): PredictionPage {
    const q = PredictionListQuery.parse(query);
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.patientId !== undefined) {
      where.push('i.patient_id = ?');
      params.push(q.patientId);
    }
    if (q.visitId !== undefined) {
      where.push('i.visit_id = ?');
      params.push(q.visitId);
    }
    if (q.lesionId !== undefined) {
      where.push('i.lesion_id = ?');
      params.push(q.lesionId);
    }
    if (q.tier !== undefined) {
      where.push('p.tier = ?');
      params.push(q.tier);
    }
    if (q.jobId !== undefined) {
      where.push('p.id IN (SELECT prediction_id FROM batch_items WHERE job_id = ? AND prediction_id IS NOT NULL)');
      params.push(q.jobId);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const { db } = this.ctx;
    const total = (db.prepare(`SELECT count(*) AS n FROM predictions p JOIN images i ON i.id = p.image_id ${clause}`).get(...params) as { n: number }).n;
    const rows = db
      .prepare(
        `SELECT ${columns('prediction', 'p')}, ${columns('image', 'i')}, ${columns('patient', 'pt')}, ${columns('visit', 'v')}, ${columns('review', 'r')}
         FROM predictions p
         JOIN images i ON i.id = p.image_id
         LEFT JOIN patients pt ON pt.id = i.patient_id
         LEFT JOIN visits v ON v.id = i.visit_id
         LEFT JOIN reviews r ON r.id = (SELECT max(id) FROM reviews WHERE image_id = i.id)
         ${clause}
         ORDER BY ${ORDER[q.sort]}
         LIMIT ? OFFSET ?`,
      )
      .all(...params, q.pageSize, (q.page - 1) * q.pageSize);
    const items = rows.map((row) => splitRow(row as Record<string, unknown>) as unknown as PredictionRow);
    return { items, total, page: q.page, pageSize: q.pageSize };
  }
}
