import {
  PredictionListQuery,
  type GateResult,
  type Prediction,
  type PredictionPage,
  type PredictionRow,
} from '#common/domain';
import type { CamImages, Classification } from '../../model/types.ts';
import type { RepoContext } from '../context.ts';
import { isUniqueViolation } from '../context.ts';
import { StoreError, notFound } from '../errors.ts';
import { columns, splitRow } from './columns.ts';
import { overlaysFromCams, type OverlayInput, type OverlaysRepo, type StoredOverlay } from './overlays.ts';
import { HiddenPredictions, shownPredictionId } from './shown-prediction.ts';
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
  /** The input gate's judgement; null or absent for a classifier without one. */
  readonly gate?: GateResult | null;
  /** PNGs to write, or overlays already written with OverlaysRepo.writePack. */
  readonly overlays?: readonly (OverlayInput | StoredOverlay)[];
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
    backend: `onnxruntime:${c.backend.backbones} + head:${c.backend.head}`,
    timingMs: c.timingsMs.total_ms ?? c.timingsMs.total ?? timings.reduce((a, b) => a + b, 0),
    gate: c.gate ?? null,
    overlays: overlaysFromCams(cams),
  };
}

const SELECT = `SELECT ${columns('prediction', 'p')} FROM predictions p`;

/** Only the gate's own fields go in (a copy never carries another record's "show anyway"). */
function gateColumns(g: GateResult | null | undefined): unknown[] {
  if (!g) return [null, null, null, null, null];
  const reasons = g.reasons.map((r) => ({ code: r.code, message: r.message, metric: r.metric, value: r.value, threshold: r.threshold }));
  return [g.verdict, JSON.stringify(reasons), JSON.stringify(g.scores), g.version, g.oodChecked ? 1 : 0];
}

const ORDER: Record<string, string> = {
  newest: 'p.created_at DESC, p.id DESC',
  oldest: 'p.created_at ASC, p.id ASC',
  // risk_rank: the probability, or -1 for an image the input gate refused (migration 003).
  risk_desc: 'p.risk_rank DESC, p.id DESC',
  risk_asc: 'p.risk_rank ASC, p.id ASC',
};

function toPrediction(row: unknown): Prediction {
  return splitRow(row as Record<string, unknown>).prediction as unknown as Prediction;
}

export class PredictionsRepo {
  private readonly hidden: HiddenPredictions;

  constructor(
    private readonly ctx: RepoContext,
    private readonly overlays: OverlaysRepo,
  ) {
    this.hidden = new HiddenPredictions(ctx.db);
  }

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
              `INSERT INTO predictions (image_id, model_version, p_malignant_raw, p_malignant, threshold, label, tier, uncertainty, backend, timing_ms, created_at,
                                        gate_verdict, gate_reasons, gate_scores, gate_version, gate_ood_checked)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
              ...gateColumns(input.gate),
            ).lastInsertRowid,
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreError('conflict', `image ${input.imageId} already has a prediction from model ${input.modelVersion}`);
        throw err;
      }
      this.overlays.insertAll(id, input.overlays ?? []);
      const { overlays: _png, gate, ...facts } = input;
      audit.record({
        actor: this.ctx.actor(),
        action: 'prediction.create',
        entity: 'predictions',
        entityId: id,
        detail: {
          ...facts,
          gate: gate ? { verdict: gate.verdict, reasons: gate.reasons.map((r) => r.code), version: gate.version, oodChecked: gate.oodChecked } : null,
          overlays: (input.overlays ?? []).map((o) => `${o.kind}/${o.format}`),
          ...auditDetail,
        },
      });
      return this.require(id);
    })();
  }

  /**
   * A clinician asks to see the probability of an image the gate refused. Recorded on the row
   * (who, when) and in the audit log, in one transaction; the image then counts in its tier,
   * marked as outside the model's validated range. Asking twice keeps the first record.
   */
  showAnyway(id: number, clinician: string): Prediction {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const p = this.require(id);
      if (p.gate?.verdict !== 'refused') {
        throw new StoreError('conflict', `prediction ${id} was not refused by the input gate: its probability is shown already`);
      }
      if (p.gate.shownAnyway) return p;
      const at = nowIso();
      db.prepare('UPDATE predictions SET shown_anyway_by = ?, shown_anyway_at = ? WHERE id = ?').run(clinician, at, id);
      audit.record({
        actor: this.ctx.actor(),
        action: 'prediction.show_anyway',
        entity: 'predictions',
        entityId: id,
        detail: { imageId: p.imageId, clinician, at, reasons: p.gate.reasons.map((r) => r.code), gateVersion: p.gate.version, outsideValidatedRange: true },
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

  /** The prediction the image shows: the newest by the model in use (store.preferModelVersion), else the newest by any model. */
  latestForImage(imageId: number): Prediction | null {
    const row = this.ctx.db.prepare(`${SELECT} WHERE p.id = ${shownPredictionId('@imageId')}`).get({ imageId, shownModel: this.ctx.preferredModelVersion() });
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
      const { id: _id, createdAt: _at, imageId: _img, ...facts } = source;
      const copy = this.create({ ...facts, imageId, overlays: [] }, { copiedFrom: source.id, ...auditDetail });
      this.overlays.cloneAll(source.id, copy.id);
      return copy;
    })();
  }

  count(): number {
    return (this.ctx.db.prepare('SELECT count(*) AS n FROM predictions').get() as { n: number }).n;
  }

  /**
   * A page of predictions joined with their image, patient, visit and latest review: one per image
   * (the one it shows, see latestForImage), except a batch's list (`jobId`), which is what that batch made.
   */
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
      // triage: the tier, or 'cannot_assess' for a refused image nobody asked to see (migration 003).
      where.push('p.triage = ?');
      params.push(q.tier);
    }
    const hidden = q.jobId === undefined ? this.hidden.refresh(this.ctx.preferredModelVersion()) : 0;
    // The whole worklist's count stays a count of the table: subtract the hidden rows rather than scan past them.
    const unfiltered = where.length === 0 && q.jobId === undefined;
    if (q.jobId !== undefined) {
      where.push('p.id IN (SELECT prediction_id FROM batch_items WHERE job_id = ? AND prediction_id IS NOT NULL)');
      params.push(q.jobId);
    } else if (hidden > 0) {
      where.push(`p.id NOT IN (SELECT id FROM ${HiddenPredictions.TABLE})`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const { db } = this.ctx;
    // Every prediction has an image (NOT NULL foreign key), so the count joins images only to
    // filter on them: counting 100k rows through the join would cost more than the page itself.
    const joinImages = q.patientId !== undefined || q.visitId !== undefined || q.lesionId !== undefined;
    const total = unfiltered
      ? this.count() - hidden
      : (db.prepare(`SELECT count(*) AS n FROM predictions p ${joinImages ? 'JOIN images i ON i.id = p.image_id' : ''} ${clause}`).get(...params) as { n: number }).n;
    // Two steps: find the page's ids on the indexes alone (an OFFSET then skips index entries, not
    // joined rows), then join only those 50 rows.
    const ids = (
      db
        .prepare(
          `SELECT p.id AS id FROM predictions p ${joinImages ? 'JOIN images i ON i.id = p.image_id' : ''} ${clause}
           ORDER BY ${ORDER[q.sort]} LIMIT ? OFFSET ?`,
        )
        .all(...params, q.pageSize, (q.page - 1) * q.pageSize) as { id: number }[]
    ).map((r) => r.id);
    const rows = ids.length
      ? db
          .prepare(
            `SELECT ${columns('prediction', 'p')}, ${columns('image', 'i')}, ${columns('patient', 'pt')}, ${columns('visit', 'v')}, ${columns('review', 'r')}
             FROM predictions p
             JOIN images i ON i.id = p.image_id
             LEFT JOIN patients pt ON pt.id = i.patient_id
             LEFT JOIN visits v ON v.id = i.visit_id
             LEFT JOIN reviews r ON r.id = (SELECT max(id) FROM reviews WHERE image_id = i.id)
             WHERE p.id IN (SELECT value FROM json_each(?))`,
          )
          .all(JSON.stringify(ids))
      : [];
    const byId = new Map(rows.map((row) => {
      const split = splitRow(row as Record<string, unknown>) as unknown as PredictionRow;
      return [split.prediction.id, split] as const;
    }));
    const items = ids.map((id) => byId.get(id)).filter((r): r is PredictionRow => r !== undefined);
    return { items, total, page: q.page, pageSize: q.pageSize };
  }
}
