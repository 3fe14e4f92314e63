/**
 * PDF reports: a 200-image batch summary (target <= 10 s), a 20-image visit report and a
 * 10-visit lesion follow-up, on the fixture images; plus the batch summary over camera-sized
 * photographs (4000x3000 originals, 1024-px overlays as the classifier stores them), the case a
 * clinic actually has. Overlays are prepared before timing: the store keeps them as PNG blobs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { renderBatchReport, renderLesionReport, renderVisitReport } from '../../electron/report/index.ts';
import { sampleBatchData, sampleLesionData, sampleVisitData, syntheticOverlay } from '../../test/helpers/report-sample.ts';
import type { BatchReportData } from '../../electron/report/types.ts';
import { largeJpegFrom } from '../images.ts';
import { round, row, timeIt, type Row, type Section } from '../lib.ts';

/** Same rows, with the overlay of each classified file already rendered, as the store would hold it. */
async function withStoredOverlays(data: BatchReportData, overlayFor: (file: string, i: number) => Promise<Buffer>): Promise<BatchReportData> {
  const rows = [];
  for (const [i, r] of data.rows.entries()) {
    const overlay = r.prediction ? await overlayFor(r.item.path, i) : null;
    rows.push({ ...r, overlay: overlay ? () => Promise.resolve(overlay) : null });
  }
  return { ...data, rows };
}

const section: Section = {
  name: 'report (PDF: batch summary, visit report, lesion follow-up)',
  async run(ctx) {
    const rows: Row[] = [];
    const notes: string[] = [];
    const files = Array.from({ length: 200 }, (_, i) => ctx.images[i % ctx.images.length]!);
    if (!ctx.imagesAreReal) notes.push('shared fixtures absent: generated images stand in for dermoscopy photographs');
    const runs = ctx.quick ? 1 : 3;

    const batch = await withStoredOverlays(await sampleBatchData(files), async (f, i) => syntheticOverlay(await readFile(f), i));
    let pages = 0;
    let bytes = 0;
    const batchSt = await timeIt(async () => {
      const r = await renderBatchReport(batch);
      pages = r.pages;
      bytes = r.pdf.length;
    }, runs, 1);
    rows.push(row(`batch summary, 200 images (${pages} pages, ${Math.round(bytes / 1024)} kB)`, batchSt));

    const visit = await sampleVisitData(files.slice(0, 20));
    let visitPages = 0;
    const visitSt = await timeIt(async () => {
      visitPages = (await renderVisitReport(visit)).pages;
    }, runs, 1);
    rows.push(row(`visit report, 20 images (${visitPages} pages)`, visitSt));

    const lesion = await sampleLesionData(files.slice(0, 10));
    const lesionSt = await timeIt(() => renderLesionReport(lesion), runs, 1);
    rows.push(row('lesion follow-up, 10 visits', lesionSt));

    // Camera-sized photographs: four distinct 12-megapixel JPEGs cycled over 200 rows.
    const large: string[] = [];
    for (let i = 0; i < 4; i++) large.push(await largeJpegFrom(ctx.images[i % ctx.images.length]!, join(ctx.tmp, `report-large-${i}.jpg`), 4000, 3000));
    const overlays = await Promise.all(
      large.map(async (f, i) => syntheticOverlay(await sharp(f).resize(1024, 768).jpeg().toBuffer(), i)),
    );
    const largeFiles = files.map((_, i) => large[i % large.length]!);
    const largeBatch = await withStoredOverlays(await sampleBatchData(largeFiles), async (_f, i) => overlays[i % overlays.length]!);
    const largeSt = await timeIt(() => renderBatchReport(largeBatch), 1, 0);
    rows.push(row('batch summary, 200 photographs 4000x3000', largeSt));

    return {
      rows,
      notes,
      record: {
        report_batch_200_s: round(batchSt.median / 1000, 2),
        report_batch_200_pages: pages,
        report_batch_200_kb: Math.round(bytes / 1024),
        report_batch_200_large_s: round(largeSt.median / 1000, 2),
        report_visit_20_s: round(visitSt.median / 1000, 2),
        report_lesion_10_s: round(lesionSt.median / 1000, 2),
      },
      targets: [
        { key: 'report_batch_200_s', op: '<=', value: 10, label: '200-image batch report <= 10 s' },
        { key: 'report_batch_200_large_s', op: '<=', value: 10, label: '200-photograph (12 MP) batch report <= 10 s' },
      ],
    };
  },
};

export default section;
