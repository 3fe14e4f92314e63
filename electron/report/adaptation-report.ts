/**
 * Clinic adaptation: one page comparing the shipped model with the local version adapted from the
 * clinic's confirmed cases, on the same cross-validation folds: the figures side by side, both
 * ROC curves, the cases used, the method and why it was chosen, and a line for whoever adopts it
 * to sign. Everything printed comes from the adaptation's summary (electron/adaptation/summary.ts).
 */
import { COLORS, ReportDocument, type RenderedReport } from './document.ts';
import { candidate, comparisonRows, type AdaptationSummary, type CandidateSummary } from '../adaptation/summary.ts';
import type { ReportContext } from './types.ts';
import { isolate } from './text.ts';

export interface AdaptationReportData {
  readonly context: ReportContext;
  readonly summary: AdaptationSummary;
  /** The local version written (null: none, the shipped model stays). */
  readonly localVersion: string | null;
  /** Filled in when the version has been adopted; otherwise the page carries blank lines to sign. */
  readonly adopted?: { readonly by: string; readonly at: string } | null;
}

const SHIPPED_COLOR = '#555555';
const LOCAL_COLOR = '#1565c0';

/** The candidate the page sets against the shipped model: the method written, else the best-ranked one compared. */
function localCandidate(s: AdaptationSummary): CandidateSummary | undefined {
  if (s.method) return candidate(s, s.method);
  return s.candidates.filter((c) => c.method !== 'shipped').sort((a, b) => b.auc - a.auc)[0];
}

export async function renderAdaptationReport(data: AdaptationReportData): Promise<RenderedReport> {
  const s = data.summary;
  const r = new ReportDocument(data.context, 'Clinic adaptation');
  r.paragraph('Clinic adaptation: shipped vs local model', { size: 18, weight: 'bold' }, r.left, r.contentWidth, 6);

  const excluded = Object.entries(s.cases.excludedReasons).map(([why, n]) => `${n} ${why}`);
  r.keyValues(
    [
      ['Shipped model', `${s.base.version} (manifest sha256 ${s.base.manifestSha256.slice(0, 16)}\u2026)`],
      ['Local version', data.localVersion ?? 'none written: the shipped model stays'],
      ['Method', `${s.method ?? 'none'}${s.requested === 'auto' ? ' (chosen by cross-validation)' : ' (asked for)'}`],
      [
        'Cases',
        `${s.cases.count} confirmed (${s.cases.melanoma} melanoma, ${s.cases.benign} benign) in ${s.cases.groups} groups, from ${s.cases.source === 'store' ? 'the clinical store' : 'a labels file'}` +
          (excluded.length ? `; left out: ${excluded.join('; ')}` : ''),
      ],
      ['Cross-validation', `${s.cv.k}-fold, ${s.cv.repeats} repeats, seed ${s.cv.seed}; patients (else lesions, else images) never on both sides of a split`],
      ['Adapted', r.isoDateTime(s.createdAt)],
    ],
    r.left,
    r.contentWidth,
    110,
    9,
  );
  r.y += 6;

  const local = localCandidate(s);
  const shipped = candidate(s, 'shipped');
  const shown = [shipped, local].filter((c): c is CandidateSummary => c !== undefined);
  drawTable(r, shown);
  r.y += 10;

  const plotSize = 200;
  r.ensure(plotSize + 10);
  const top = r.y;
  drawRoc(r, shipped, local, r.left, top, plotSize, plotSize);
  const textX = r.left + plotSize + 16;
  const textW = r.right - textX;
  r.y = top;
  r.paragraph('Why this method', { size: 11, weight: 'bold' }, textX, textW, 3);
  for (const reason of s.choice.reasons) r.paragraph(`\u2022 ${reason}`, { size: 8.5 }, textX, textW, 2);
  r.y += 4;
  r.paragraph(
    'Figures are out-of-fold: each case was scored by a model fitted without it. Thresholds and tier cut-offs were re-chosen on these probabilities with the shipped rules (sensitivity 90%; review tier from sensitivity 97%; high tier from specificity 95%).',
    { size: 7.5, color: COLORS.muted },
    textX,
    textW,
    2,
  );
  r.y = Math.max(r.y, top + plotSize) + 12;

  drawSignature(r, data.adopted ?? null);
  r.intendedUse();
  return r.finish();
}

function drawTable(r: ReportDocument, shown: readonly CandidateSummary[]): void {
  const { header, rows } = comparisonRows(shown);
  const labelW = 170;
  const colW = (r.contentWidth - labelW) / Math.max(1, shown.length);
  const size = 8.5;
  const x = (i: number): number => (i === 0 ? r.left : r.left + labelW + (i - 1) * colW);
  const w = (i: number): number => (i === 0 ? labelW : colW) - 6;
  r.ensure(14 * (rows.length + 1));
  header.forEach((h, i) => {
    const name = i === 0 ? 'On the clinic\u2019s cases' : i === 1 && shown[0]?.method === 'shipped' ? 'Shipped model' : `Local (${h})`;
    r.text.draw(r.text.layout(name, w(i), { size, weight: 'bold', color: COLORS.muted }, 1), x(i) + 3, r.y);
  });
  r.y += 13;
  r.rule(r.y, COLORS.text);
  r.y += 2;
  rows.forEach((row, n) => {
    if (n % 2 === 1) r.doc.save().rect(r.left, r.y - 1, r.contentWidth, 13).fill(COLORS.zebra).restore();
    row.forEach((cell, i) => r.text.draw(r.text.layout(cell, w(i), { size, weight: i === 0 ? 'bold' : 'regular', color: COLORS.text }, 1), x(i) + 3, r.y + 1));
    r.y += 13;
  });
  r.rule(r.y, COLORS.rule);
}

function drawRoc(r: ReportDocument, shipped: CandidateSummary | undefined, local: CandidateSummary | undefined, x: number, y: number, width: number, height: number): void {
  const doc = r.doc;
  const left = x + 26;
  const right = x + width - 4;
  const top = y + 4;
  const bottom = y + height - 36;
  const px = (fpr: number): number => left + fpr * (right - left);
  const py = (tpr: number): number => bottom - tpr * (bottom - top);
  const axis = { size: 7, color: COLORS.muted };
  doc.save().rect(left, top, right - left, bottom - top).fill('#fafafa').restore();
  doc.save().moveTo(px(0), py(0)).lineTo(px(1), py(1)).lineWidth(0.5).dash(2, { space: 2 }).strokeColor('#bbbbbb').stroke().undash().restore();
  for (const t of [0, 0.5, 1]) {
    const yl = r.text.layout(t.toFixed(1), 20, axis, 1);
    r.text.draw(yl, left - 4 - yl.width, py(t) - 4);
    const xl = r.text.layout(t.toFixed(1), 20, axis, 1);
    r.text.draw(xl, px(t) - xl.width / 2, bottom + 3);
  }
  doc.save().moveTo(left, top).lineTo(left, bottom).lineTo(right, bottom).lineWidth(0.7).strokeColor('#888888').stroke().restore();
  const xTitle = r.text.layout('1 - specificity', 100, axis, 1);
  r.text.draw(xTitle, (left + right) / 2 - xTitle.width / 2, bottom + 12);
  const curve = (c: CandidateSummary | undefined, color: string): void => {
    if (!c || c.roc.length === 0) return;
    doc.save().lineWidth(1.3).strokeColor(color);
    c.roc.forEach((p, i) => (i === 0 ? doc.moveTo(px(p.fpr), py(p.tpr)) : doc.lineTo(px(p.fpr), py(p.tpr))));
    doc.stroke().restore();
  };
  curve(shipped, SHIPPED_COLOR);
  curve(local, LOCAL_COLOR);
  const legend = (c: CandidateSummary | undefined, color: string, row: number, name: string): void => {
    if (!c) return;
    const ly = bottom + 24;
    const lx = left + row * ((right - left) / 2);
    doc.save().rect(lx, ly + 2, 10, 3).fill(color).restore();
    r.text.draw(r.text.layout(`${name} AUC ${c.auc.toFixed(3)}`, (right - left) / 2 - 14, { size: 7, color: COLORS.text }, 1), lx + 13, ly);
  };
  legend(shipped, SHIPPED_COLOR, 0, 'shipped');
  legend(local, LOCAL_COLOR, 1, local ? isolate(String(local.method)) : '');
}

function drawSignature(r: ReportDocument, adopted: { by: string; at: string } | null): void {
  r.ensure(46);
  r.paragraph('Adoption', { size: 11, weight: 'bold' }, r.left, r.contentWidth, 4);
  const half = r.contentWidth / 2;
  const y = r.y + 18;
  const by = adopted ? isolate(adopted.by) : '';
  const at = adopted ? r.isoDateTime(adopted.at) : '';
  r.text.draw(r.text.layout(`Adopted by: ${by}`, half - 20, { size: 9, color: COLORS.text }, 1), r.left, y - 12);
  r.text.draw(r.text.layout(`Date: ${at}`, half - 20, { size: 9, color: COLORS.text }, 1), r.left + half, y - 12);
  r.rule(y, COLORS.text, r.left + 58, r.left + half - 20);
  r.rule(y, COLORS.text, r.left + half + 28, r.right);
  r.y = y + 10;
  r.paragraph(
    'A local version is used only after it is adopted here; the shipped model stays one step away (rollback), and every prediction records the model version that made it.',
    { size: 7.5, color: COLORS.muted },
    r.left,
    r.contentWidth,
    6,
  );
}
