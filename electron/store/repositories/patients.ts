import { PatientInput, type Patient } from '#common/domain';
import type { z } from 'zod';
import { StoreError, notFound } from '../errors.ts';
import { isUniqueViolation, type RepoContext } from '../context.ts';
import { containsPattern, pageBounds, searchKey, type Page, type PageQuery } from '../paging.ts';
import { nowIso } from '../time.ts';

const SELECT = `SELECT id, identifier, name, date_of_birth AS dateOfBirth, sex, created_at AS createdAt, updated_at AS updatedAt FROM patients`;

export interface PatientListQuery extends PageQuery {
  /** Matches identifier or name, case-insensitively, anywhere in the text. */
  readonly search?: string;
}

export class PatientsRepo {
  constructor(private readonly ctx: RepoContext) {}

  create(input: z.input<typeof PatientInput>): Patient {
    const p = PatientInput.parse(input);
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const now = nowIso();
      let id: number;
      try {
        id = Number(
          db
            .prepare('INSERT INTO patients (identifier, name, date_of_birth, sex, created_at, updated_at, search_text) VALUES (?, ?, ?, ?, ?, ?, ?)')
            .run(p.identifier, p.name, p.dateOfBirth, p.sex, now, now, patientSearchText(p)).lastInsertRowid,
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreError('conflict', `a patient with identifier ${JSON.stringify(p.identifier)} already exists`);
        throw err;
      }
      audit.record({ actor: this.ctx.actor(), action: 'patient.create', entity: 'patients', entityId: id, detail: p });
      return this.require(id);
    })();
  }

  update(id: number, patch: Partial<z.input<typeof PatientInput>>): Patient {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const before = this.require(id);
      const next = PatientInput.parse({ ...before, ...patch });
      try {
        db.prepare('UPDATE patients SET identifier = ?, name = ?, date_of_birth = ?, sex = ?, updated_at = ?, search_text = ? WHERE id = ?').run(
          next.identifier,
          next.name,
          next.dateOfBirth,
          next.sex,
          nowIso(),
          patientSearchText(next),
          id,
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreError('conflict', `a patient with identifier ${JSON.stringify(next.identifier)} already exists`);
        throw err;
      }
      audit.record({ actor: this.ctx.actor(), action: 'patient.update', entity: 'patients', entityId: id, detail: changes(before, next) });
      return this.require(id);
    })();
  }

  get(id: number): Patient | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Patient | undefined) ?? null;
  }

  getByIdentifier(identifier: string): Patient | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE identifier = ?`).get(identifier) as Patient | undefined) ?? null;
  }

  require(id: number): Patient {
    const p = this.get(id);
    if (!p) throw notFound('patient', id);
    return p;
  }

  /** Alphabetical by name. */
  list(query: PatientListQuery = {}): Page<Patient> {
    const { limit, offset, page, pageSize } = pageBounds(query);
    const search = query.search?.trim();
    const where = search ? ` WHERE search_text LIKE ? ESCAPE '\\'` : '';
    const params = search ? [containsPattern(searchKey(search))] : [];
    const { db } = this.ctx;
    const total = (db.prepare(`SELECT count(*) AS n FROM patients${where}`).get(...params) as { n: number }).n;
    const items = db.prepare(`${SELECT}${where} ORDER BY name COLLATE NOCASE, id LIMIT ? OFFSET ?`).all(...params, limit, offset) as Patient[];
    return { items, total, page, pageSize };
  }
}

function patientSearchText(p: { identifier: string; name: string }): string {
  // A separator no one types keeps a search from matching across the two fields.
  return `${searchKey(p.identifier)}\u0001${searchKey(p.name)}`;
}

/** The fields that changed, old and new, for the audit detail. */
export function changes<T extends object>(before: T, after: T): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of Object.keys(after) as (keyof T & string)[]) {
    if (before[key] !== after[key]) out[key] = { from: before[key], to: after[key] };
  }
  return out;
}
