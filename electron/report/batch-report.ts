/**
 * Batch summary: counts per tier, then one table of every file of the batch, highest risk first,
 * with thumbnails. Files that could not be classified (and any not reached yet) are listed after
 * the classified ones with the reason, never left out. Images the input gate refused ("Cannot
 * assess", with the reason) count apart from the tiers and come after the classified ones,
 * without probability or heatmap; one a clinician chose to see anyway carries the mark "outside
 * the model's validated range".
 */
import { confirmationInWords } from '#common/domain';
import { COLORS, ReportDocument, type RenderedReport, type Status } from './document.ts';
import { preparePageImage, type PageImage } from './images.ts';
import { mapLimit } from '../util/map-limit.ts';
import { cannotAssessText, outsideRangeText, statusOfPrediction, tierCounts, tierExplanation } from './sections.ts';
import type { BatchReportData, BatchReportRow } from './types.ts';
import { isolate } from './text.ts';

const THUMB = 40;
const PAD = 3;
const SIZE = 8;

interface Column {
  readonly title: string;
  readonly width: number;
}

const COLUMNS: readonly Column[] = [
  { title: '#', width: 20 },
  { title: 'Original', width: 46 },
  { title: 'Grad-CAM', width: 46 },
  { title: 'File', width: 171 },
  { title: 'P(melanoma)', width: 62 },
  { title: 'Tier', width: 58 },
  { title: 'Uncert.', width: 40 },
  { title: 'Review', width: 56 },
];

export function statusOf(row: BatchReportRow): Status {
  if (row.prediction) return statusOfPrediction(row.prediction);
  return row.item.status === 'pending' ? 'pending' : 'error';
}

/** Highest probability first; then images the input gate refused, failures, files not processed yet, each by path. */
export function sortRows(rows: readonly BatchReportRow[]): BatchReportRow[] {
  const rank = (r: BatchReportRow) => (r.prediction ? (statusOfPrediction(r.prediction) === 'cannot_assess' ? 1 : 0) : r.item.status === 'pending' ? 3 : 2);
  return [...rows].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb) return ra - rb;
    if (a.prediction && b.prediction && a.prediction.pMalignant !== b.prediction.pMalignant) {
      return b.prediction.pMalignant - a.prediction.pMalignant;
    }
    return a.item.path < b.item.path ? -1 : a.item.path > b.item.path ? 1 : 0;
  });
}

function relativePath(path: string, root: string): string {
  const prefix = root.endsWith('/') || root.endsWith('\\') ? root : `${root}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

export async function renderBatchReport(data: BatchReportData): Promise<RenderedReport> {
  const r = new ReportDocument(data.context, 'Batch summary');
  const rows = sortRows(data.rows);
  const thumbs = await mapLimit(rows, 4, async (row) => ({
    original: row.prediction || row.image ? await preparePageImage(row.original, THUMB, THUMB) : null,
    overlay: row.prediction && statusOfPrediction(row.prediction) !== 'cannot_assess' ? await preparePageImage(row.overlay, THUMB, THUMB) : null,
  }));

  r.paragraph('Batch summary', { size: 20, weight: 'bold' }, r.left, r.contentWidth, 2);
  if (data.context.clinicName) r.paragraph(data.context.clinicName, { size: 12, color: COLORS.muted }, r.left, r.contentWidth, 8);
  const job = data.job;
  const info: [string, string][] = [
    ['Batch', `#${job.id}, ${job.status}`],
    ['Folder', job.root],
    ['Started', r.isoDateTime(job.createdAt)],
    ['Finished', job.finishedAt ? r.isoDateTime(job.finishedAt) : 'not finished'],
  ];
  if (data.patient) info.push(['Patient', `${isolate(data.patient.name)} (${isolate(data.patient.identifier)})`]);
  if (data.visit) info.push(['Visit', [data.visit.date, data.visit.clinician].filter((s) => s).map(isolate).join(', ')]);
  info.push(
    ['Model', `${data.context.modelName}, version ${job.modelVersion}`],
    ['Report generated', r.dateTime(data.context.generatedAt)],
  );
  const tiers = tierExplanation(data.context);
  if (tiers) info.push(['Tiers', tiers]);
  r.keyValues(info);
  r.y += 6;
  drawCounts(r, rows);
  r.intendedUse();

  if (rows.length === 0) {
    r.paragraph('This batch has no files.', { size: 10, color: COLORS.muted });
    return r.finish();
  }
  r.ensure(20 + THUMB + 2 * PAD);
  drawHeader(r);
  r.onNewPage = () => drawHeader(r);
  rows.forEach((row, i) => drawRow(r, row, i, thumbs[i]!, job.root));
  r.onNewPage = null;
  return r.finish();
}

function drawCounts(r: ReportDocument, rows: readonly BatchReportRow[]): void {
  const counts = tierCounts(rows.map(statusOf));
  const cells: [string, number, string][] = [
    ['High', counts.high, COLORS.high],
    ['Review', counts.review, COLORS.review],
    ['Low', counts.low, COLORS.low],
    ['Cannot assess', counts.cannot_assess, COLORS.cannot_assess],
    ['Not classified', counts.error, COLORS.error],
    ['Pending', counts.pending, COLORS.pending],
    ['Total', rows.length, COLORS.text],
  ];
  const w = r.contentWidth / cells.length;
  const h = 40;
  r.ensure(h + 10);
  cells.forEach(([label, n, color], i) => {
    const x = r.left + i * w;
    r.doc.save().rect(x + 2, r.y, w - 4, h).fill(COLORS.panel).restore();
    r.doc.save().rect(x + 2, r.y, w - 4, 3).fill(color).restore();
    const num = r.text.layout(String(n), w - 8, { size: 15, weight: 'bold', color }, 1);
    r.text.draw(num, x + 2, r.y + 5, 0, 1, 'center', w - 4);
    const lab = r.text.layout(label, w - 8, { size: 8, color: COLORS.muted }, 1);
    r.text.draw(lab, x + 2, r.y + 26, 0, 1, 'center', w - 4);
  });
  r.y += h + 10;
}

function drawHeader(r: ReportDocument): void {
  let x = r.left;
  for (const col of COLUMNS) {
    const b = r.text.layout(col.title, col.width - 2 * PAD, { size: SIZE, weight: 'bold', color: COLORS.muted }, 1);
    r.text.draw(b, x + PAD, r.y);
    x += col.width;
  }
  r.y += 13;
  r.rule(r.y, COLORS.text);
  r.y += 1;
}

function drawRow(r: ReportDocument, row: BatchReportRow, index: number, thumbs: { original: PageImage | null; overlay: PageImage | null }, root: string): void {
  const xs: number[] = [];
  let acc = r.left;
  for (const col of COLUMNS) {
    xs.push(acc);
    acc += col.width;
  }
  const cellW = (i: number) => COLUMNS[i]!.width - 2 * PAD;
  const style = { size: SIZE, color: COLORS.text };
  const file = r.text.layout(relativePath(row.item.path, root), cellW(3), { ...style, weight: 'bold' as const }, 10);
  const status = statusOf(row);
  // A refused image shows its reason where the result would be: no probability, no tier, no map.
  const p = row.prediction && status !== 'cannot_assess' ? row.prediction : null;
  let detail = null;
  const mergedW = COLUMNS.slice(4).reduce((w, c) => w + c.width, 0) - 2 * PAD;
  if (!p) {
    const why =
      status === 'cannot_assess'
        ? cannotAssessText(row.prediction!)
        : status === 'pending'
          ? 'Not processed yet.'
          : row.item.error || 'Could not be classified (no reason recorded).';
    detail = r.text.layout(why, mergedW, { size: SIZE, color: COLORS.text }, 10);
  }
  const outside = p ? outsideRangeText(p, r.isoDateTime, true) : null;
  const mark = outside ? r.text.layout(outside, COLUMNS.slice(4, 7).reduce((w, c) => w + c.width, 0) - 2 * PAD, { size: 7, weight: 'bold', color: COLORS.cannot_assess }, 10) : null;
  const review = row.review ? r.text.layout(`${row.review.verdict}${row.review.finalDiagnosis ? `: ${isolate(row.review.finalDiagnosis)}` : ''}`, cellW(7), style, 4) : null;
  // Laid out apart so a long free-text diagnosis cannot cut the confirmation off.
  const confirmedWords = row.review ? confirmationInWords(row.review) : null;
  const confirmed = confirmedWords ? r.text.layout(`Confirmed: ${confirmedWords}`, cellW(7), style, 8) : null;
  const reviewH = (review?.height ?? 0) + (confirmed?.height ?? 0);
  const textH = Math.max(file.height, detail ? detail.height + 16 : 0, mark ? mark.height + 16 : 0, reviewH);
  const h = Math.max(THUMB, textH) + 2 * PAD;
  r.ensure(h);
  const top = r.y;
  if (index % 2 === 1) r.doc.save().rect(r.left, top, r.contentWidth, h).fill(COLORS.zebra).restore();
  const ty = top + PAD;
  r.text.draw(r.text.layout(String(index + 1), cellW(0), { size: SIZE, color: COLORS.muted }, 1), xs[0]! + PAD, ty);
  if (p || row.image) r.image(thumbs.original, xs[1]! + PAD, ty, THUMB, THUMB, 'no image');
  if (p) r.image(thumbs.overlay, xs[2]! + PAD, ty, THUMB, THUMB, 'no overlay');
  else if (status === 'cannot_assess') r.image(null, xs[2]! + PAD, ty, THUMB, THUMB, 'withheld');
  r.text.draw(file, xs[3]! + PAD, ty);
  if (p) {
    r.text.draw(r.text.layout(`${(p.pMalignant * 100).toFixed(1)}%`, cellW(4), { size: 9, weight: 'bold' }, 1), xs[4]! + PAD, ty);
    r.badge(p.tier, xs[5]! + PAD, ty, 7);
    r.text.draw(r.text.layout(`\u00b1${p.uncertainty.toFixed(3)}`, cellW(6), style, 1), xs[6]! + PAD, ty);
    if (mark) r.text.draw(mark, xs[4]! + PAD, ty + 15);
    if (review) r.text.draw(review, xs[7]! + PAD, ty);
    if (review && confirmed) r.text.draw(confirmed, xs[7]! + PAD, ty + review.height);
    else r.text.draw(r.text.layout('\u2014', cellW(7), { size: SIZE, color: COLORS.muted }, 1), xs[7]! + PAD, ty);
  } else {
    r.badge(status, xs[4]! + PAD, ty, 7);
    if (detail) r.text.draw(detail, xs[4]! + PAD, ty + 15);
  }
  r.y = top + h;
  r.rule(r.y, '#dddddd');
}
