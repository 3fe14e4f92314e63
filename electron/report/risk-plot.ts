/**
 * A lesion's calibrated probability of melanoma over time, drawn with pdfkit vector graphics:
 * points coloured by tier, whiskers of +/- one uncertainty, the threshold as a dashed line.
 */
import { COLORS, type ReportDocument } from './document.ts';
import type { Tier } from '../model/types.ts';

export interface RiskPoint {
  /** YYYY-MM-DD */
  readonly date: string;
  readonly p: number;
  readonly uncertainty: number;
  readonly threshold: number;
  readonly tier: Tier;
}

const DAY = 86_400_000;

function dayOf(date: string): number {
  const t = Date.parse(`${date.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(t) ? 0 : t / DAY;
}

/** Draws the plot in the box; the caller reserves the space. */
export function drawRiskPlot(r: ReportDocument, points: readonly RiskPoint[], x: number, y: number, width: number, height: number): void {
  const doc = r.doc;
  const axisStyle = { size: 7, color: COLORS.muted };
  const left = x + 30;
  const right = x + width - 8;
  const top = y + 6;
  const bottom = y + height - 18;
  const py = (p: number) => bottom - Math.min(1, Math.max(0, p)) * (bottom - top);

  doc.save();
  doc.rect(left, top, right - left, bottom - top).fill('#fafafa');
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    doc.moveTo(left, py(tick)).lineTo(right, py(tick)).lineWidth(0.4).strokeColor('#dddddd').stroke();
    const label = r.text.layout(tick.toFixed(2), 26, axisStyle, 1);
    r.text.draw(label, left - 4 - label.width, py(tick) - 5);
  }
  doc.moveTo(left, top).lineTo(left, bottom).lineTo(right, bottom).lineWidth(0.7).strokeColor('#888888').stroke();
  doc.restore();
  const yTitle = r.text.layout('P(melanoma)', 80, axisStyle, 1);
  doc.save();
  doc.rotate(-90, { origin: [x + 2, (top + bottom) / 2] });
  r.text.draw(yTitle, x + 2 - yTitle.width / 2, (top + bottom) / 2 - 4);
  doc.restore();

  if (points.length === 0) return;
  const days = points.map((pt) => dayOf(pt.date));
  const d0 = Math.min(...days);
  const d1 = Math.max(...days);
  const span = d1 - d0;
  const inner = 16;
  const px = (d: number) => (span === 0 ? (left + right) / 2 : left + inner + ((d - d0) / span) * (right - left - 2 * inner));

  // Threshold in force at each point, joined as steps so a change of model or preset shows.
  doc.save().lineWidth(0.8).strokeColor(COLORS.high).dash(3, { space: 2 });
  points.forEach((pt, i) => {
    const xa = i === 0 ? left : (px(days[i - 1]!) + px(days[i]!)) / 2;
    const xb = i === points.length - 1 ? right : (px(days[i]!) + px(days[i + 1]!)) / 2;
    doc.moveTo(xa, py(pt.threshold)).lineTo(xb, py(pt.threshold));
  });
  doc.stroke().undash().restore();
  const last = points[points.length - 1]!;
  const thLabel = r.text.layout(`threshold ${last.threshold.toFixed(2)}`, 90, { size: 7, color: COLORS.high }, 1);
  r.text.draw(thLabel, right - thLabel.width - 2, py(last.threshold) - (last.threshold > 0.85 ? -2 : 10));

  doc.save().lineWidth(1.2).strokeColor('#333333');
  points.forEach((pt, i) => (i === 0 ? doc.moveTo(px(days[i]!), py(pt.p)) : doc.lineTo(px(days[i]!), py(pt.p))));
  doc.stroke().restore();
  points.forEach((pt, i) => {
    const cx = px(days[i]!);
    doc.save().lineWidth(0.8).strokeColor('#555555');
    doc.moveTo(cx, py(pt.p - pt.uncertainty)).lineTo(cx, py(pt.p + pt.uncertainty)).stroke();
    doc.restore();
    doc.save().circle(cx, py(pt.p), 3.2).fillAndStroke(COLORS[pt.tier], '#ffffff').restore();
  });

  // Date labels: every distinct date when few, otherwise first, last and evenly spaced ones that fit.
  const labelled: number[] = [];
  let lastRight = -Infinity;
  const distinct = [...new Set(days)].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(distinct.length / 8));
  distinct.forEach((d, i) => {
    if (i % step !== 0 && i !== distinct.length - 1) return;
    const text = new Date(d * DAY).toISOString().slice(0, 10);
    const label = r.text.layout(text, 80, axisStyle, 1);
    const lx = px(d) - label.width / 2;
    if (lx < lastRight + 4) return;
    r.text.draw(label, lx, bottom + 4);
    doc.save().moveTo(px(d), bottom).lineTo(px(d), bottom + 3).lineWidth(0.6).strokeColor('#888888').stroke().restore();
    lastRight = lx + label.width;
    labelled.push(d);
  });
}
