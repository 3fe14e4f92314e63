import type { BatchItem, BatchJob } from '#common/domain';
import type { Triage } from '#common/gate';
import type { RepoContext } from '../context.ts';
import { StoreError, notFound } from '../errors.ts';
import { pageBounds, type Page, type PageQuery } from '../paging.ts';
import { nowIso } from '../time.ts';

const JOB = `SELECT id, root, patient_id AS patientId, visit_id AS visitId, model_version AS modelVersion, status, total, done, failed,
  created_at AS createdAt, finished_at AS finishedAt FROM batch_jobs`;
const ITEM = `SELECT id, job_id AS jobId, path, status, image_id AS imageId, prediction_id AS predictionId, error FROM batch_items`;

export interface NewJob {
  readonly root: string;
  readonly patientId: number | null;
  readonly visitId: number | null;
  readonly modelVersion: string;
}

/** A scanned path, or the reason it could not even be listed (permissions, a symlink loop…). */
export interface ScannedPath {
  readonly path: string;
  readonly error?: string;
}

/**
 * Batch jobs and their items. Counters on the job are updated in the same transaction as the
 * item that changes them, so they always agree with the items.
 */
export class BatchesRepo {
  constructor(private readonly ctx: RepoContext) {}

  createJob(job: NewJob): BatchJob {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const id = Number(
        db
          .prepare(`INSERT INTO batch_jobs (root, patient_id, visit_id, model_version, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)`)
          .run(job.root, job.patientId, job.visitId, job.modelVersion, nowIso()).lastInsertRowid,
      );
      audit.record({ actor: this.ctx.actor(), action: 'batch.create', entity: 'batch_jobs', entityId: id, detail: job });
      return this.requireJob(id);
    })();
  }

  /**
   * Where a job's classified images count: per tier, and apart from the tiers those the input
   * gate refused that nobody asked to see (predictions.triage, migration 003).
   */
  triageCounts(jobId: number): Record<Triage, number> {
    const counts: Record<Triage, number> = { high: 0, review: 0, low: 0, cannot_assess: 0 };
    const rows = this.ctx.db
      .prepare(
        `SELECT p.triage AS triage, count(*) AS n FROM batch_items b JOIN predictions p ON p.id = b.prediction_id
         WHERE b.job_id = ? AND b.status = 'done' GROUP BY p.triage`,
      )
      .all(jobId) as { triage: Triage; n: number }[];
    for (const r of rows) counts[r.triage] = r.n;
    return counts;
  }

  getJob(id: number): BatchJob | null {
    return (this.ctx.db.prepare(`${JOB} WHERE id = ?`).get(id) as BatchJob | undefined) ?? null;
  }

  requireJob(id: number): BatchJob {
    const job = this.getJob(id);
    if (!job) throw notFound('batch job', id);
    return job;
  }

  /** Newest first; only the jobs filed under one visit when visitId is given. */
  listJobs(query: PageQuery & { visitId?: number | null } = {}): Page<BatchJob> {
    const { limit, offset, page, pageSize } = pageBounds(query);
    const filter = query.visitId == null ? '' : ' WHERE visit_id = ?';
    const params: unknown[] = query.visitId == null ? [] : [query.visitId];
    const total = (this.ctx.db.prepare(`SELECT count(*) AS n FROM batch_jobs${filter}`).get(...params) as { n: number }).n;
    const items = this.ctx.db.prepare(`${JOB}${filter} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...params, limit, offset) as BatchJob[];
    return { items, total, page, pageSize };
  }

  /** The newest unfinished job for the same folder, destination and model: re-running continues it. */
  findResumable(job: NewJob): BatchJob | null {
    return (
      (this.ctx.db
        .prepare(
          `${JOB} WHERE root = ? AND model_version = ? AND ifnull(patient_id, 0) = ? AND ifnull(visit_id, 0) = ?
           AND status != 'done' ORDER BY id DESC LIMIT 1`,
        )
        .get(job.root, job.modelVersion, job.patientId ?? 0, job.visitId ?? 0) as BatchJob | undefined) ?? null
    );
  }

  isScanComplete(jobId: number): boolean {
    const row = this.ctx.db.prepare('SELECT scan_complete AS c FROM batch_jobs WHERE id = ?').get(jobId) as { c: number } | undefined;
    return row?.c === 1;
  }

  /** Adds paths not yet in the job (a re-scan adds only what is new); unlistable paths arrive already failed. */
  addItems(jobId: number, paths: readonly ScannedPath[]): number {
    const { db } = this.ctx;
    return db.transaction(() => {
      const insert = db.prepare(
        `INSERT INTO batch_items (job_id, path, status, error, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, path) DO NOTHING`,
      );
      const now = nowIso();
      let added = 0;
      for (const p of paths) {
        const res = insert.run(jobId, p.path, p.error === undefined ? 'pending' : 'error', p.error ?? null, now);
        added += res.changes;
        if (res.changes && p.error !== undefined) {
          this.ctx.audit.record({ actor: this.ctx.actor(), action: 'batch.item_error', entity: 'batch_items', entityId: Number(res.lastInsertRowid), detail: { error: p.error } });
        }
      }
      this.recount(jobId);
      return added;
    })();
  }

  markScanComplete(jobId: number): void {
    this.ctx.db.prepare('UPDATE batch_jobs SET scan_complete = 1 WHERE id = ?').run(jobId);
  }

  setStatus(jobId: number, status: BatchJob['status']): BatchJob {
    const { db, audit } = this.ctx;
    return db.transaction(() => {
      const finished = status === 'done' || status === 'cancelled' || status === 'failed';
      db.prepare('UPDATE batch_jobs SET status = ?, finished_at = ? WHERE id = ?').run(status, finished ? nowIso() : null, jobId);
      const job = this.requireJob(jobId);
      if (finished) {
        audit.record({
          actor: this.ctx.actor(),
          action: `batch.${status}`,
          entity: 'batch_jobs',
          entityId: jobId,
          detail: { total: job.total, done: job.done, failed: job.failed },
        });
      }
      return job;
    })();
  }

  /** Items still to do, in scan order. */
  pendingItems(jobId: number): BatchItem[] {
    return this.ctx.db.prepare(`${ITEM} WHERE job_id = ? AND status = 'pending' ORDER BY id`).all(jobId) as BatchItem[];
  }

  getItem(id: number): BatchItem | null {
    return (this.ctx.db.prepare(`${ITEM} WHERE id = ?`).get(id) as BatchItem | undefined) ?? null;
  }

  listItems(jobId: number, query: PageQuery & { status?: BatchItem['status'] } = {}): Page<BatchItem> {
    const { limit, offset, page, pageSize } = pageBounds(query);
    const filter = query.status ? ' AND status = ?' : '';
    const params: unknown[] = query.status ? [jobId, query.status] : [jobId];
    const total = (this.ctx.db.prepare(`SELECT count(*) AS n FROM batch_items WHERE job_id = ?${filter}`).get(...params) as { n: number }).n;
    const items = this.ctx.db.prepare(`${ITEM} WHERE job_id = ?${filter} ORDER BY id LIMIT ? OFFSET ?`).all(...params, limit, offset) as BatchItem[];
    return { items, total, page, pageSize };
  }

  /** Call inside the transaction that wrote the image and prediction. */
  completeItem(itemId: number, result: { sha256: string; imageId: number; predictionId: number }): void {
    const { db } = this.ctx;
    const changed = db
      .prepare(`UPDATE batch_items SET status = 'done', sha256 = ?, image_id = ?, prediction_id = ?, error = NULL, updated_at = ? WHERE id = ? AND status = 'pending'`)
      .run(result.sha256, result.imageId, result.predictionId, nowIso(), itemId).changes;
    // Another runner finished it first: throwing rolls back this duplicate work.
    if (!changed) throw new StoreError('conflict', `batch item ${itemId} is no longer pending`);
    db.prepare(`UPDATE batch_jobs SET done = done + 1 WHERE id = (SELECT job_id FROM batch_items WHERE id = ?)`).run(itemId);
  }

  failItem(itemId: number, error: string, sha256: string | null = null): void {
    const { db, audit } = this.ctx;
    db.transaction(() => {
      const changed = db
        .prepare(`UPDATE batch_items SET status = 'error', error = ?, sha256 = ?, updated_at = ? WHERE id = ? AND status = 'pending'`)
        .run(error, sha256, nowIso(), itemId).changes;
      if (!changed) return;
      db.prepare(`UPDATE batch_jobs SET failed = failed + 1 WHERE id = (SELECT job_id FROM batch_items WHERE id = ?)`).run(itemId);
      audit.record({ actor: this.ctx.actor(), action: 'batch.item_error', entity: 'batch_items', entityId: itemId, detail: { error } });
    })();
  }

  /** Recomputes the job's counters from its items (after a scan, or as a repair). */
  recount(jobId: number): BatchJob {
    this.ctx.db
      .prepare(
        `UPDATE batch_jobs SET
           total  = (SELECT count(*) FROM batch_items WHERE job_id = @id),
           done   = (SELECT count(*) FROM batch_items WHERE job_id = @id AND status = 'done'),
           failed = (SELECT count(*) FROM batch_items WHERE job_id = @id AND status = 'error')
         WHERE id = @id`,
      )
      .run({ id: jobId });
    return this.requireJob(jobId);
  }
}
