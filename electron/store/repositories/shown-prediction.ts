/**
 * Which of an image's predictions the screens, lists and reports show: the newest by the model in
 * use (the store's preferred model version, bound as `@shownModel`), else the newest by any model.
 * After a model change an image not yet reclassified keeps its earlier result, marked with the
 * model that made it; after a rollback the shipped model's result wins over a newer local one.
 * Both look-ups run on the (image_id, model_version) index.
 */
import type Database from 'better-sqlite3';

export function shownPredictionId(imageIdSql: string): string {
  return `coalesce((SELECT max(id) FROM predictions WHERE image_id = ${imageIdSql} AND model_version = @shownModel),
                   (SELECT max(id) FROM predictions WHERE image_id = ${imageIdSql}))`;
}

const IMAGES_WITH_SEVERAL = 'SELECT image_id FROM predictions GROUP BY image_id HAVING count(*) > 1';
const IMAGES_WITH_NEW = 'SELECT image_id FROM predictions WHERE id > @after';

/** The predictions of these images that are not shown (their image shows another). */
function hiddenAmong(images: string): string {
  return `SELECT h.id FROM predictions h WHERE h.image_id IN (${images}) AND h.id != ${shownPredictionId('h.image_id')}`;
}

/**
 * The worklist lists predictions on their own indexes (sort, tier, paging) and leaves out those
 * in `temp.hidden_predictions`. Finding them scans the whole table, so the set is kept per
 * connection and brought up to date before each read: in full when the preferred model changed,
 * else only for the images of predictions added since (predictions are never deleted).
 */
export class HiddenPredictions {
  static readonly TABLE = 'temp.hidden_predictions';
  private seen: { shownModel: string | null; maxId: number; count: number } | null = null;

  constructor(private readonly db: Database.Database) {}

  /** Brings the table up to date for `shownModel`; returns how many predictions it holds. */
  refresh(shownModel: string | null): number {
    const { db } = this;
    // Two statements: each alone is answered from the b-tree without a scan.
    const { count } = db.prepare('SELECT count(*) AS count FROM predictions').get() as { count: number };
    const { maxId } = db.prepare('SELECT coalesce(max(id), 0) AS maxId FROM predictions').get() as { maxId: number };
    const seen = this.seen;
    if (!seen || seen.shownModel !== shownModel || seen.maxId !== maxId || seen.count !== count) {
      db.transaction(() => {
        db.exec(`CREATE TEMP TABLE IF NOT EXISTS hidden_predictions (id INTEGER PRIMARY KEY)`);
        const appended = seen && seen.shownModel === shownModel && maxId > seen.maxId && count - seen.count === this.countAfter(seen.maxId);
        if (appended) {
          db.prepare(`DELETE FROM ${HiddenPredictions.TABLE} WHERE id IN (SELECT id FROM predictions WHERE image_id IN (${IMAGES_WITH_NEW}))`).run({ after: seen.maxId });
          db.prepare(`INSERT INTO ${HiddenPredictions.TABLE} (id) ${hiddenAmong(IMAGES_WITH_NEW)}`).run({ after: seen.maxId, shownModel });
        } else {
          db.exec(`DELETE FROM ${HiddenPredictions.TABLE}`);
          db.prepare(`INSERT INTO ${HiddenPredictions.TABLE} (id) ${hiddenAmong(IMAGES_WITH_SEVERAL)}`).run({ shownModel });
        }
      })();
      // Inside a caller's transaction the rows seen may yet roll back, and the table with them.
      this.seen = db.inTransaction ? null : { shownModel, maxId, count };
    }
    return (db.prepare(`SELECT count(*) AS n FROM ${HiddenPredictions.TABLE}`).get() as { n: number }).n;
  }

  private countAfter(id: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM predictions WHERE id > ?').get(id) as { n: number }).n;
  }
}
