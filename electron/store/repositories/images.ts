import { basename, resolve } from 'node:path';
import type { ImageRecord } from '#common/domain';
import { StoreError, notFound } from '../errors.ts';
import type { RepoContext } from '../context.ts';
import type { ImageStore } from '../image-store.ts';
import { readImageFacts } from '../image-facts.ts';
import { pageBounds, type Page, type PageQuery } from '../paging.ts';
import { nowIso } from '../time.ts';

export const IMAGE_COLUMNS = (t: string) =>
  `${t}.id AS id, ${t}.sha256 AS sha256, ${t}.original_name AS originalName, ${t}.original_path AS originalPath,
   ${t}.captured_at AS capturedAt, ${t}.imported_at AS importedAt, ${t}.visit_id AS visitId, ${t}.lesion_id AS lesionId,
   ${t}.width AS width, ${t}.height AS height, ${t}.byte_size AS byteSize`;
const SELECT = `SELECT ${IMAGE_COLUMNS('i')} FROM images i`;

/** Where an image is filed. A visit implies its patient; a lesion must belong to the same patient. */
export interface ImagePlacement {
  readonly patientId?: number | null;
  readonly visitId?: number | null;
  readonly lesionId?: number | null;
}

export interface ResolvedPlacement {
  readonly patientId: number | null;
  readonly visitId: number | null;
  readonly lesionId: number | null;
}

/** Facts about stored bytes, gathered before the transaction that records them. */
export interface ImageFile {
  readonly sha256: string;
  readonly originalName: string;
  readonly originalPath: string;
  readonly capturedAt: string | null;
  readonly width: number;
  readonly height: number;
  readonly byteSize: number;
}

export class ImagesRepo {
  constructor(
    private readonly ctx: RepoContext,
    private readonly blobs: ImageStore,
  ) {}

  /**
   * Imports a user's file: copies its bytes into the content-addressed folder (the original is
   * only read) and files it. The same bytes already filed at the same place return that record.
   */
  async importFile(file: string, placement: ImagePlacement = {}, options: { capturedAt?: string | null } = {}): Promise<ImageRecord> {
    const where = this.resolvePlacement(placement); // fail before copying anything
    const absolute = resolve(file);
    const stored = await this.blobs.putFile(absolute);
    const facts = await readImageFacts(stored.bytes, absolute);
    return this.record(
      {
        sha256: stored.sha256,
        originalName: basename(absolute),
        originalPath: absolute,
        capturedAt: options.capturedAt ?? facts.capturedAt,
        width: facts.width,
        height: facts.height,
        byteSize: stored.byteSize,
      },
      where,
    ).image;
  }

  /**
   * Files bytes that are already in the image folder. Synchronous so the batch can do it in the
   * same transaction as the prediction; idempotent per (sha256, patient, visit).
   */
  record(file: ImageFile, placement: ImagePlacement): { image: ImageRecord; created: boolean } {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const where = this.resolvePlacement(placement);
      const existing = this.findPlaced(file.sha256, where);
      if (existing) {
        if (where.lesionId !== null && existing.lesionId === null) return { image: this.assignLesion(existing.id, where.lesionId), created: false };
        return { image: existing, created: false };
      }
      const id = Number(
        db
          .prepare(
            `INSERT INTO images (sha256, original_name, original_path, captured_at, imported_at, patient_id, visit_id, lesion_id, width, height, byte_size)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(file.sha256, file.originalName, file.originalPath, file.capturedAt, nowIso(), where.patientId, where.visitId, where.lesionId, file.width, file.height, file.byteSize)
          .lastInsertRowid,
      );
      audit.record({ actor: this.ctx.actor(), action: 'image.import', entity: 'images', entityId: id, detail: { ...file, ...where } });
      return { image: this.require(id), created: true };
    })();
  }

  /** Links an image to a lesion of the same patient (or unlinks it with null). */
  assignLesion(imageId: number, lesionId: number | null): ImageRecord {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const image = this.require(imageId);
      const patientId = (db.prepare('SELECT patient_id AS p FROM images WHERE id = ?').get(imageId) as { p: number | null }).p;
      let newPatient = patientId;
      if (lesionId !== null) {
        const lesion = db.prepare('SELECT patient_id AS p FROM lesions WHERE id = ?').get(lesionId) as { p: number } | undefined;
        if (!lesion) throw notFound('lesion', lesionId);
        if (patientId !== null && lesion.p !== patientId) throw new StoreError('invalid', `lesion ${lesionId} belongs to another patient than image ${imageId}`);
        newPatient = lesion.p;
      }
      db.prepare('UPDATE images SET lesion_id = ?, patient_id = ? WHERE id = ?').run(lesionId, newPatient, imageId);
      audit.record({ actor: this.ctx.actor(), action: 'image.assign_lesion', entity: 'images', entityId: imageId, detail: { from: image.lesionId, to: lesionId } });
      return this.require(imageId);
    })();
  }

  get(id: number): ImageRecord | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE i.id = ?`).get(id) as ImageRecord | undefined) ?? null;
  }

  require(id: number): ImageRecord {
    const image = this.get(id);
    if (!image) throw notFound('image', id);
    return image;
  }

  /** The patient an image is filed under (visit's, lesion's or set by a patient-level batch). */
  patientIdOf(imageId: number): number | null {
    const row = this.ctx.db.prepare('SELECT patient_id AS p FROM images WHERE id = ?').get(imageId) as { p: number | null } | undefined;
    return row?.p ?? null;
  }

  findBySha256(sha256: string): ImageRecord[] {
    return this.ctx.db.prepare(`${SELECT} WHERE i.sha256 = ? ORDER BY i.id`).all(sha256) as ImageRecord[];
  }

  listForVisit(visitId: number): ImageRecord[] {
    return this.ctx.db.prepare(`${SELECT} WHERE i.visit_id = ? ORDER BY i.id`).all(visitId) as ImageRecord[];
  }

  listForLesion(lesionId: number): ImageRecord[] {
    return this.ctx.db.prepare(`${SELECT} WHERE i.lesion_id = ? ORDER BY i.id`).all(lesionId) as ImageRecord[];
  }

  listForPatient(patientId: number, query: PageQuery = {}): Page<ImageRecord> {
    const { limit, offset, page, pageSize } = pageBounds(query);
    const { db } = this.ctx;
    const total = (db.prepare('SELECT count(*) AS n FROM images WHERE patient_id = ?').get(patientId) as { n: number }).n;
    const items = db.prepare(`${SELECT} WHERE i.patient_id = ? ORDER BY i.id DESC LIMIT ? OFFSET ?`).all(patientId, limit, offset) as ImageRecord[];
    return { items, total, page, pageSize };
  }

  resolvePlacement(placement: ImagePlacement): ResolvedPlacement {
    const { db } = this.ctx;
    let patientId = placement.patientId ?? null;
    const visitId = placement.visitId ?? null;
    const lesionId = placement.lesionId ?? null;
    if (patientId !== null && !db.prepare('SELECT 1 FROM patients WHERE id = ?').get(patientId)) throw notFound('patient', patientId);
    if (visitId !== null) {
      const visit = db.prepare('SELECT patient_id AS p FROM visits WHERE id = ?').get(visitId) as { p: number } | undefined;
      if (!visit) throw notFound('visit', visitId);
      if (patientId !== null && visit.p !== patientId) throw new StoreError('invalid', `visit ${visitId} belongs to another patient than ${patientId}`);
      patientId = visit.p;
    }
    if (lesionId !== null) {
      const lesion = db.prepare('SELECT patient_id AS p FROM lesions WHERE id = ?').get(lesionId) as { p: number } | undefined;
      if (!lesion) throw notFound('lesion', lesionId);
      if (patientId !== null && lesion.p !== patientId) throw new StoreError('invalid', `lesion ${lesionId} belongs to another patient`);
      patientId = lesion.p;
    }
    return { patientId, visitId, lesionId };
  }

  findPlaced(sha256: string, where: ResolvedPlacement): ImageRecord | null {
    return (
      (this.ctx.db
        .prepare(`${SELECT} WHERE i.sha256 = ? AND ifnull(i.patient_id, 0) = ? AND ifnull(i.visit_id, 0) = ?`)
        .get(sha256, where.patientId ?? 0, where.visitId ?? 0) as ImageRecord | undefined) ?? null
    );
  }
}
