import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderBatchReport, renderLesionReport, renderVisitReport } from '../../electron/report/index.ts';
import { sampleBatchData, sampleContext, samplePatient, sampleVisit } from '../helpers/report-sample.ts';
import { POPPLER_MISSING, hasPoppler, imagesOf, outputDir, readBack } from './report-helpers.ts';

/** Reports with nothing in them, and images whose bytes are missing or broken: a page that says so. */
describe.skipIf(!hasPoppler)(`reports with nothing or broken images to show${hasPoppler ? '' : ` (skipped: ${POPPLER_MISSING})`}`, () => {
  const dir = outputDir('empty');

  it('an empty visit, batch and lesion each give one page saying so', async () => {
    const context = sampleContext({ clinicName: '' });
    const visit = await renderVisitReport({ context, patient: samplePatient(), visit: sampleVisit(), images: [] });
    const v = readBack(visit.pdf, dir, 'visit');
    expect(v.pages).toBe(1);
    expect(v.text).toContain('No images were recorded for this visit.');
    expect(v.text).toContain('Page 1 of 1');

    const batch = await renderBatchReport({ ...(await sampleBatchData([])), context });
    const b = readBack(batch.pdf, dir, 'batch');
    expect(b.pages).toBe(1);
    expect(b.text).toContain('This batch has no files.');

    const lesion = await renderLesionReport({
      context,
      patient: samplePatient(),
      lesion: { id: 1, patientId: 1, bodySite: '', label: '', createdAt: '2026-01-01T00:00:00.000Z' },
      entries: [],
    });
    const l = readBack(lesion.pdf, dir, 'lesion');
    expect(l.pages).toBe(1);
    expect(l.text).toContain('No classified image of this lesion yet.');
  });

  it('prints a placeholder for image bytes that are missing, empty or not an image', async () => {
    const base = await sampleBatchData(['/a/x.jpg', '/a/y.jpg', '/a/z.jpg', '/a/w.jpg'], 1, 0);
    const broken = [
      async () => null,
      async () => Buffer.alloc(0),
      async () => Buffer.from('this is not a JPEG'),
      async () => {
        throw new Error('disk gone');
      },
    ];
    const rows = base.rows.map((r, i) => ({ ...r, original: broken[i]!, overlay: broken[(i + 1) % broken.length]! }));
    const report = await renderBatchReport({ ...base, rows });
    const back = readBack(report.pdf, dir, 'broken');
    expect(back.pages).toBe(1);
    expect(back.text.match(/no image/g)?.length).toBe(3); // three classified rows; the last is pending
    expect(back.text.match(/no overlay/g)?.length).toBe(3);
  });

  it('prints a camera photo the way up its EXIF orientation says', async () => {
    // Stored landscape (600x200) with orientation 6: the photographer held the camera upright.
    const photo = await sharp({ create: { width: 600, height: 200, channels: 3, background: '#a0522d' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const base = await sampleBatchData(['/a/upright.jpg'], 1, 0);
    const report = await renderBatchReport({ ...base, rows: base.rows.map((r) => ({ ...r, original: photo })) });
    const back = readBack(report.pdf, dir, 'exif');
    const [img] = imagesOf(back.file);
    expect(img!.height).toBeGreaterThan(img!.width);
    expect(img!.height / img!.width).toBeCloseTo(3, 1);
  });
});
