import { LesionInput, type Lesion } from '#common/domain';
import type { z } from 'zod';
import { notFound } from '../errors.ts';
import type { RepoContext } from '../context.ts';
import { nowIso } from '../time.ts';
import { changes } from './patients.ts';

const SELECT = `SELECT id, patient_id AS patientId, body_site AS bodySite, label, created_at AS createdAt FROM lesions`;

export class LesionsRepo {
  constructor(private readonly ctx: RepoContext) {}

  create(input: z.input<typeof LesionInput>): Lesion {
    const l = LesionInput.parse(input);
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      if (!db.prepare('SELECT 1 FROM patients WHERE id = ?').get(l.patientId)) throw notFound('patient', l.patientId);
      const id = Number(
        db
          .prepare('INSERT INTO lesions (patient_id, body_site, label, created_at) VALUES (?, ?, ?, ?)')
          .run(l.patientId, l.bodySite, l.label, nowIso()).lastInsertRowid,
      );
      audit.record({ actor: this.ctx.actor(), action: 'lesion.create', entity: 'lesions', entityId: id, detail: l });
      return this.require(id);
    })();
  }

  update(id: number, patch: Partial<Pick<z.input<typeof LesionInput>, 'bodySite' | 'label'>>): Lesion {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const before = this.require(id);
      const next = LesionInput.parse({ ...before, ...patch, patientId: before.patientId });
      db.prepare('UPDATE lesions SET body_site = ?, label = ? WHERE id = ?').run(next.bodySite, next.label, id);
      audit.record({ actor: this.ctx.actor(), action: 'lesion.update', entity: 'lesions', entityId: id, detail: changes(before, { ...before, ...next }) });
      return this.require(id);
    })();
  }

  get(id: number): Lesion | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Lesion | undefined) ?? null;
  }

  require(id: number): Lesion {
    const l = this.get(id);
    if (!l) throw notFound('lesion', id);
    return l;
  }

  listForPatient(patientId: number): Lesion[] {
    return this.ctx.db.prepare(`${SELECT} WHERE patient_id = ? ORDER BY id`).all(patientId) as Lesion[];
  }
}
