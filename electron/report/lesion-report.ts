/**
 * Lesion follow-up: one lesion's images across visits side by side, oldest first, with the risk
 * over time as a small plot.
 */
import { COLORS, ReportDocument, formatProbability, formatUncertainty, type RenderedReport } from './document.ts';
import { preparePageImage } from './images.ts';
import { mapLimit } from '../util/map-limit.ts';
import { drawRiskPlot, type RiskPoint } from './risk-plot.ts';
import { cannotAssessText, outsideRangeText, patientRows, reviewText, statusOfPrediction, tierExplanation } from './sections.ts';
import type { LesionReportData, LesionReportEntry } from './types.ts';
import { isolate } from './text.ts';

const COLS = 3;
const GAP = 10;
const PIC_H = 118;

/** The date an image stands for: its visit, else when it was captured, else imported. */
export function entryDate(e: LesionReportEntry): string {
  return (e.visit?.date ?? e.image.capturedAt ?? e.image.importedAt).slice(0, 10);
}

export function chronological(entries: readonly LesionReportEntry[]): LesionReportEntry[] {
  return [...entries].sort((a, b) => {
    const da = entryDate(a);
    const db = entryDate(b);
    if (da !== db) return da < db ? -1 : 1;
    const ca = a.image.capturedAt ?? a.image.importedAt;
    const cb = b.image.capturedAt ?? b.image.importedAt;
    if (ca !== cb) return ca < cb ? -1 : 1;
    return a.image.id - b.image.id;
  });
}

export async function renderLesionReport(data: LesionReportData): Promise<RenderedReport> {
  const r = new ReportDocument(data.context, 'Lesion follow-up');
  const entries = chronological(data.entries);
  const colW = (r.contentWidth - (COLS - 1) * GAP) / COLS;
  const pics = await mapLimit(entries, 4, async (e) => ({
    original: await preparePageImage(e.original, colW, PIC_H),
    overlay: e.prediction ? await preparePageImage(e.overlay, colW, PIC_H) : null,
  }));

  r.paragraph('Lesion follow-up', { size: 20, weight: 'bold' }, r.left, r.contentWidth, 2);
  if (data.context.clinicName) r.paragraph(data.context.clinicName, { size: 12, color: COLORS.muted }, r.left, r.contentWidth, 8);
  const dates = entries.map(entryDate);
  r.keyValues([
    ...patientRows(data.patient),
    ['Lesion', [data.lesion.label ? isolate(data.lesion.label) : '', `#${data.lesion.id}`].filter((s) => s).join(', ')],
    ['Body site', data.lesion.bodySite],
    ['Images', entries.length === 0 ? 'none' : `${entries.length}, from ${dates[0]} to ${dates[dates.length - 1]}`],
    ['Model', `${data.context.modelName}, version ${data.context.modelVersion}`],
    ['Report generated', r.dateTime(data.context.generatedAt)],
  ]);
  const tiers = tierExplanation(data.context);
  if (tiers) r.keyValues([['Tiers', tiers]]);
  r.y += 6;
  r.intendedUse();

  const points: RiskPoint[] = [];
  entries.forEach((e) => {
    // An image the input gate refused has no probability to plot (until a clinician shows it anyway).
    if (e.prediction && statusOfPrediction(e.prediction) !== 'cannot_assess') {
      points.push({ date: entryDate(e), p: e.prediction.pMalignant, uncertainty: e.prediction.uncertainty, threshold: e.prediction.threshold, tier: e.prediction.tier });
    }
  });
  r.heading('Risk over time', 12);
  if (points.length === 0) {
    r.paragraph('No classified image of this lesion yet.', { size: 9.5, color: COLORS.muted });
  } else {
    const h = 170;
    r.ensure(h + 20);
    drawRiskPlot(r, points, r.left, r.y, r.contentWidth, h);
    r.y += h + 2;
    r.paragraph('Calibrated probability of melanoma per image; whiskers: \u00b1 uncertainty; dashed: threshold in force.', {
      size: 7.5,
      color: COLORS.muted,
    });
  }
  r.y += 6;
  // The heading goes with the first row of pictures, never alone at the foot of a page.
  if (entries.length > 0) r.ensure(2 * PIC_H + 140);
  r.heading('Images across visits', 12);
  for (let start = 0; start < entries.length; start += COLS) {
    drawRow(r, entries.slice(start, start + COLS), pics.slice(start, start + COLS), colW, start, entries.length);
  }
  return r.finish();
}

function drawRow(
  r: ReportDocument,
  row: readonly LesionReportEntry[],
  pics: readonly { original: Awaited<ReturnType<typeof preparePageImage>>; overlay: Awaited<ReturnType<typeof preparePageImage>> }[],
  colW: number,
  offset: number,
  total: number,
): void {
  const small = { size: 8, color: COLORS.text };
  // Lay out every text of the row first so the row's height is known before drawing.
  const cells = row.map((e, i) => {
    const head = r.text.layout(`${offset + i + 1}/${total} \u00b7 ${entryDate(e)}`, colW, { size: 9, weight: 'bold' }, 1);
    const sub = r.text.layout([e.visit?.clinician ?? '', e.image.originalName].filter((s) => s).map(isolate).join(' \u00b7 '), colW, { size: 7.5, color: COLORS.muted }, 3);
    const p = e.prediction;
    const refused = p !== null && statusOfPrediction(p) === 'cannot_assess';
    const outside = p ? outsideRangeText(p, r.isoDateTime) : null;
    const result = refused
      ? r.text.layout(cannotAssessText(p), colW, small, 8)
      : p
        ? r.text.layout(
            `${formatProbability(p.pMalignant)}\nuncertainty ${formatUncertainty(p.uncertainty)} \u00b7 threshold ${p.threshold.toFixed(2)}${outside ? `\n${outside}` : ''}`,
            colW,
            small,
            outside ? 12 : 3,
          )
        : r.text.layout('Not classified.', colW, small, 1);
    const review = r.text.layout(`Review: ${reviewText(e.review, r.isoDateTime)}`, colW, { size: 7.5, color: COLORS.text }, 8);
    return { head, sub, result, review };
  });
  const textTop = Math.max(...cells.map((c) => c.head.height + c.sub.height)) + 4;
  const below = Math.max(...cells.map((c) => 16 + c.result.height + 3 + c.review.height));
  const h = textTop + 2 * PIC_H + 6 + below + 12;
  r.ensure(h);
  const top = r.y;
  row.forEach((e, i) => {
    const x = r.left + i * (colW + 10);
    const c = cells[i]!;
    r.text.draw(c.head, x, top);
    r.text.draw(c.sub, x, top + c.head.height);
    const picTop = top + textTop;
    r.image(pics[i]!.original, x, picTop, colW, PIC_H, 'original image unavailable');
    const status = e.prediction ? statusOfPrediction(e.prediction) : null;
    r.image(status === 'cannot_assess' ? null : pics[i]!.overlay, x, picTop + PIC_H + 4, colW, PIC_H, !e.prediction ? 'not classified' : status === 'cannot_assess' ? 'cannot assess: no overlay' : 'no Grad-CAM overlay stored');
    let y = picTop + 2 * PIC_H + 10;
    if (status) r.badge(status, x, y, 7.5);
    else r.badge('error', x, y, 7.5);
    y += 16;
    r.text.draw(c.result, x, y);
    y += c.result.height + 3;
    r.text.draw(c.review, x, y);
  });
  r.y = top + h;
  r.rule(r.y - 6, '#dddddd');
}
