import { VisitInput, type Visit } from '#common/domain';
import type { z } from 'zod';
import { notFound } from '../errors.ts';
import type { RepoContext } from '../context.ts';
import { nowIso } from '../time.ts';
import { changes } from './patients.ts';
import { shownPredictionId } from './shown-prediction.ts';

export interface VisitSummaryRow extends Visit {
  readonly imageCount: number;
  /** Null when none of the visit's images has a prediction. */
  readonly maxPMalignant: number | null;
  readonly highCount: number;
  /** Images the input gate refused and nobody asked to see anyway. */
  readonly cannotAssessCount: number;
}

const SELECT = `SELECT id, patient_id AS patientId, date, clinician, notes, created_at AS createdAt FROM visits`;

export class VisitsRepo {
  constructor(private readonly ctx: RepoContext) {}

  create(input: z.input<typeof VisitInput>): Visit {
    const v = VisitInput.parse(input);
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      if (!db.prepare('SELECT 1 FROM patients WHERE id = ?').get(v.patientId)) throw notFound('patient', v.patientId);
      const id = Number(
        db
          .prepare('INSERT INTO visits (patient_id, date, clinician, notes, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(v.patientId, v.date, v.clinician, v.notes, nowIso()).lastInsertRowid,
      );
      audit.record({ actor: this.ctx.actor(), action: 'visit.create', entity: 'visits', entityId: id, detail: v });
      return this.require(id);
    })();
  }

  /** The patient of a visit cannot change: its images are filed under that patient. */
  update(id: number, patch: Partial<Pick<z.input<typeof VisitInput>, 'date' | 'clinician' | 'notes'>>): Visit {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const before = this.require(id);
      const next = VisitInput.parse({ ...before, ...patch, patientId: before.patientId });
      db.prepare('UPDATE visits SET date = ?, clinician = ?, notes = ? WHERE id = ?').run(next.date, next.clinician, next.notes, id);
      audit.record({ actor: this.ctx.actor(), action: 'visit.update', entity: 'visits', entityId: id, detail: changes(before, { ...before, ...next }) });
      return this.require(id);
    })();
  }

  get(id: number): Visit | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Visit | undefined) ?? null;
  }

  require(id: number): Visit {
    const v = this.get(id);
    if (!v) throw notFound('visit', id);
    return v;
  }

  /** Newest first. */
  listForPatient(patientId: number): Visit[] {
    return this.ctx.db.prepare(`${SELECT} WHERE patient_id = ? ORDER BY date DESC, id DESC`).all(patientId) as Visit[];
  }

  /**
   * A patient's visits, newest first, each with its image count and, over the prediction each
   * image shows (shown-prediction.ts), the highest probability and the number in the high tier
   * (both leave out images the input gate refused and nobody asked to see) and the number that
   * cannot be assessed: one query.
   */
  summariesForPatient(patientId: number): VisitSummaryRow[] {
    return this.ctx.db
      .prepare(
        `WITH latest AS (
           SELECT i.visit_id AS visitId, p.p_malignant AS pMalignant, p.triage AS triage
           FROM images i JOIN predictions p ON p.id = ${shownPredictionId('i.id')}
           WHERE i.visit_id IN (SELECT id FROM visits WHERE patient_id = @patientId)
         )
         SELECT v.id AS id, v.patient_id AS patientId, v.date AS date, v.clinician AS clinician, v.notes AS notes, v.created_at AS createdAt,
           (SELECT count(*) FROM images WHERE visit_id = v.id) AS imageCount,
           (SELECT max(pMalignant) FROM latest WHERE visitId = v.id AND triage != 'cannot_assess') AS maxPMalignant,
           (SELECT count(*) FROM latest WHERE visitId = v.id AND triage = 'high') AS highCount,
           (SELECT count(*) FROM latest WHERE visitId = v.id AND triage = 'cannot_assess') AS cannotAssessCount
         FROM visits v WHERE v.patient_id = @patientId ORDER BY v.date DESC, v.id DESC`,
      )
      .all({ patientId, shownModel: this.ctx.preferredModelVersion() }) as VisitSummaryRow[];
  }
}
