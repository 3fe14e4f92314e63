/**
 * Visit report: who, when, by whom, then every image of the visit with its Grad-CAM overlay,
 * the calibrated probability, tier, uncertainty, threshold and the clinician's review. An image
 * the input gate refused shows "Cannot assess" with the reasons instead (no probability, tier or
 * heatmap) and counts apart; one shown anyway carries the "outside the model's validated range" mark.
 */
import {
  COLORS,
  ReportDocument,
  type RenderedReport,
  formatProbability,
  formatUncertainty,
  thresholdVerdict,
} from './document.ts';
import { preparePageImage } from './images.ts';
import { mapLimit } from '../util/map-limit.ts';
import { cannotAssessText, outsideRangeText, patientRows, reviewText, statusOfPrediction, tierCounts, tierExplanation } from './sections.ts';
import type { ReportImage, VisitReportData } from './types.ts';
import { isolate } from './text.ts';

const IMAGE_GAP = 14;
const IMAGE_H = 190;

export async function renderVisitReport(data: VisitReportData): Promise<RenderedReport> {
  const r = new ReportDocument(data.context, 'Visit report');
  const imageW = (r.contentWidth - IMAGE_GAP) / 2;
  const prepared = await mapLimit(data.images, 4, async (img) => ({
    original: await preparePageImage(img.original, imageW, IMAGE_H),
    overlay: img.prediction && statusOfPrediction(img.prediction) === 'cannot_assess' ? null : await preparePageImage(img.overlay, imageW, IMAGE_H),
  }));

  r.paragraph('Visit report', { size: 20, weight: 'bold' }, r.left, r.contentWidth, 2);
  if (data.context.clinicName) r.paragraph(data.context.clinicName, { size: 12, color: COLORS.muted }, r.left, r.contentWidth, 8);
  r.keyValues([
    ...patientRows(data.patient),
    ['Visit date', data.visit.date],
    ['Clinician', data.visit.clinician],
  ]);
  if (data.visit.notes.trim() !== '') r.keyValues([['Visit notes', data.visit.notes]]);
  r.keyValues([
    ['Model', `${data.context.modelName}, version ${data.context.modelVersion}`],
    ['Report generated', r.dateTime(data.context.generatedAt)],
    ['Images', summaryLine(data.images)],
  ]);
  const tiers = tierExplanation(data.context);
  if (tiers) r.keyValues([['Tiers', tiers]]);
  r.y += 6;
  r.intendedUse();

  data.images.forEach((img, i) => {
    drawImageSection(r, img, i, data.images.length, prepared[i]!, imageW, data.context.modelVersion);
  });
  if (data.images.length === 0) r.paragraph('No images were recorded for this visit.', { size: 10, color: COLORS.muted });
  return r.finish();
}

function summaryLine(images: readonly ReportImage[]): string {
  const c = tierCounts(images.map((i) => (i.prediction ? statusOfPrediction(i.prediction) : 'error')));
  const parts = [`${images.length} image${images.length === 1 ? '' : 's'}`];
  parts.push(`high ${c.high}`, `review ${c.review}`, `low ${c.low}`);
  if (c.cannot_assess) parts.push(`cannot assess ${c.cannot_assess}`);
  if (c.error) parts.push(`not classified ${c.error}`);
  return parts.join(' \u00b7 ');
}

function drawImageSection(
  r: ReportDocument,
  img: ReportImage,
  index: number,
  total: number,
  prepared: { original: Awaited<ReturnType<typeof preparePageImage>>; overlay: Awaited<ReturnType<typeof preparePageImage>> },
  imageW: number,
  currentModel: string,
): void {
  const title = r.text.layout(`Image ${index + 1} of ${total}: ${isolate(img.image.originalName)}`, r.contentWidth, { size: 12, weight: 'bold' }, 4);
  // Keep a section on one page when it fits (heading, pictures and about six detail rows); only a
  // long review note runs on to the next page.
  r.ensure(title.height + 16 + 14 + IMAGE_H + 120);
  r.y += 6;
  r.rule(r.y - 4);
  r.flowBlock(title, r.left);
  const meta: string[] = [];
  if (img.image.capturedAt) meta.push(`captured ${r.isoDateTime(img.image.capturedAt)}`);
  meta.push(`imported ${r.isoDateTime(img.image.importedAt)}`);
  if (img.image.width && img.image.height) meta.push(`${img.image.width} \u00d7 ${img.image.height} px`);
  if (img.lesion) meta.push(`lesion: ${[img.lesion.label, img.lesion.bodySite].filter((s) => s).map(isolate).join(', ') || `#${img.lesion.id}`}`);
  r.paragraph(meta.join(' \u00b7 '), { size: 8.5, color: COLORS.muted }, r.left, r.contentWidth, 4);

  const captionStyle = { size: 8.5, weight: 'bold' as const, color: COLORS.muted };
  const top = r.y;
  r.text.draw(r.text.layout('Original', imageW, captionStyle, 1), r.left, top);
  r.text.draw(r.text.layout('Grad-CAM overlay (fused)', imageW, captionStyle, 1), r.left + imageW + IMAGE_GAP, top);
  const imgTop = top + 13;
  r.image(prepared.original, r.left, imgTop, imageW, IMAGE_H, 'original image unavailable');
  r.image(
    prepared.overlay,
    r.left + imageW + IMAGE_GAP,
    imgTop,
    imageW,
    IMAGE_H,
    !img.prediction ? 'not classified: no overlay' : statusOfPrediction(img.prediction) === 'cannot_assess' ? 'cannot assess: no overlay' : 'no Grad-CAM overlay stored',
  );
  r.y = imgTop + IMAGE_H + 8;

  const p = img.prediction;
  if (!p) {
    r.ensure(20);
    r.badge('error', r.left, r.y);
    r.y += 18;
    r.keyValues([['Result', 'This image has no prediction.']]);
  } else if (statusOfPrediction(p) === 'cannot_assess') {
    r.ensure(20);
    const w = r.badge('cannot_assess', r.left, r.y, 9);
    const headline = r.text.layout(cannotAssessText(p), r.contentWidth - w - 10, { size: 10.5, weight: 'bold' }, 6);
    r.text.draw(headline, r.left + w + 8, r.y - 0.5);
    r.y += Math.max(18, headline.height + 4);
    r.keyValues([
      ['Result', 'None: the model cannot judge this image (input gate). Capture it again if possible.'],
      ['Model version', p.modelVersion === currentModel ? p.modelVersion : `${p.modelVersion} (differs from the current ${currentModel})`],
    ]);
  } else {
    r.ensure(20);
    const w = r.badge(p.tier, r.left, r.y, 9);
    const headline = r.text.layout(`Probability of melanoma (calibrated): ${formatProbability(p.pMalignant)}`, r.contentWidth - w - 10, {
      size: 10.5,
      weight: 'bold',
    }, 2);
    r.text.draw(headline, r.left + w + 8, r.y - 0.5);
    r.y += Math.max(18, headline.height + 4);
    const outside = outsideRangeText(p, r.isoDateTime);
    if (outside) r.paragraph(outside, { size: 9, weight: 'bold', color: COLORS.cannot_assess }, r.left, r.contentWidth, 4);
    const rows: [string, string][] = [
      ['Tier', p.tier],
      ['Uncertainty', `${formatUncertainty(p.uncertainty)} (spread of the probability over test-time views)`],
      ['Threshold in force', `${p.threshold.toFixed(3)}: ${thresholdVerdict(p)}`],
      ['Model version', p.modelVersion === currentModel ? p.modelVersion : `${p.modelVersion} (differs from the current ${currentModel})`],
    ];
    r.keyValues(rows);
  }
  r.keyValues([['Clinician review', reviewText(img.review, r.isoDateTime)]]);
  r.y += 4;
}
