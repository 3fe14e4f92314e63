import type { LesionTimelineEntry, Overlay } from '#common/domain';
import type { RepoContext } from '../context.ts';
import { columns, splitRow } from './columns.ts';
import { shownPredictionId } from './shown-prediction.ts';

/**
 * A lesion's images across visits, oldest visit first, each with the prediction it shows, the
 * overlays of that prediction and the latest review. Images filed without a visit sort by
 * capture time, then import time.
 */
export function lesionTimeline(ctx: RepoContext, lesionId: number): LesionTimelineEntry[] {
  const { db } = ctx;
  const rows = db
    .prepare(
      `SELECT ${columns('image', 'i')}, ${columns('visit', 'v')}, ${columns('prediction', 'p')}, ${columns('review', 'r')}
       FROM images i
       LEFT JOIN visits v ON v.id = i.visit_id
       LEFT JOIN predictions p ON p.id = ${shownPredictionId('i.id')}
       LEFT JOIN reviews r ON r.id = (SELECT max(id) FROM reviews WHERE image_id = i.id)
       WHERE i.lesion_id = @lesionId
       ORDER BY coalesce(v.date, substr(i.captured_at, 1, 10), substr(i.imported_at, 1, 10)), i.captured_at, i.id`,
    )
    .all({ lesionId, shownModel: ctx.preferredModelVersion() })
    .map((row) => splitRow(row as Record<string, unknown>));
  const predictionIds = rows.map((r) => r.prediction?.id).filter((id): id is number => typeof id === 'number');
  const overlays = new Map<number, Overlay[]>();
  if (predictionIds.length) {
    const found = db
      .prepare(
        `SELECT id, prediction_id AS predictionId, kind, format, width, height FROM overlays
         WHERE prediction_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
      )
      .all(JSON.stringify(predictionIds)) as Overlay[];
    for (const o of found) overlays.set(o.predictionId, [...(overlays.get(o.predictionId) ?? []), o]);
  }
  return rows.map((r) => ({
    image: r.image,
    visit: r.visit,
    prediction: r.prediction,
    overlays: r.prediction ? (overlays.get(r.prediction.id as number) ?? []) : [],
    review: r.review,
  })) as unknown as LesionTimelineEntry[];
}
