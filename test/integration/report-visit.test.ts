import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderVisitReport } from '../../electron/report/visit-report.ts';
import { refusedPrediction, samplePatient, sampleReview, sampleVisit, sampleVisitData, syntheticOverlay } from '../helpers/report-sample.ts';
import { cannotAssess } from '#common/gate';
import { INTENDED_USE, type VisitReportData } from '../../electron/report/types.ts';
import {
  canRenderFixtures,
  fixtureSkipReason,
  fixtureFiles,
  fontsOf,
  imagesOf,
  outputDir,
  readBack,
  squash,
  wordBoxes,
  type PdfReadback,
} from './report-helpers.ts';

const LONG_NOTE =
  'Zmiana barwnikowa na łopatce lewej, obserwowana od dwóch lat; pacjent zgłasza swędzenie. '.repeat(40) +
  'A'.repeat(400) +
  '\nSecond paragraph: <script>alert("x")</script> %%EOF ) ( \\ \u202Edesrever\u202C \u0000NUL';

describe.skipIf(!canRenderFixtures)(`visit report${fixtureSkipReason}`, () => {
  let data: VisitReportData;
  let back: PdfReadback;
  let reportedPages: number;

  beforeAll(async () => {
    const files = fixtureFiles(4);
    const base = await sampleVisitData(files, 3);
    // A large, wide image: printed downsized, with square pixels (aspect ratio kept).
    const wideOriginal = await sharp(await readFile(files[0]!)).resize(1600, 600, { fit: 'fill' }).jpeg().toBuffer();
    const wide = {
      ...base.images[0]!,
      image: { ...base.images[0]!.image, id: 99, originalName: 'wide landscape.jpg', width: 1600, height: 600 },
      original: wideOriginal,
      overlay: await syntheticOverlay(wideOriginal, 2),
    };
    const unclassified = { ...base.images[1]!, image: { ...base.images[1]!.image, id: 98, originalName: 'no-prediction.jpg' }, prediction: null, overlay: null, review: null };
    // The input gate refused these two: one stays "Cannot assess", one a clinician asked to see anyway.
    const refused = { ...base.images[2]!, image: { ...base.images[2]!.image, id: 97, originalName: 'dark-capture.jpg' }, prediction: refusedPrediction(96, 0.93), review: null };
    const shown = { ...base.images[3]!, image: { ...base.images[3]!.image, id: 96, originalName: 'shown-anyway.jpg' }, prediction: refusedPrediction(95, 0.81, 'Dr. A. Nowak'), review: null };
    data = {
      ...base,
      patient: samplePatient({ name: 'Łukasz Żółć 山田太郎 محمد', identifier: 'MRN-7/2026 <b>' }),
      visit: sampleVisit({ clinician: 'Dr 山田太郎', notes: LONG_NOTE }),
      images: [
        { ...base.images[0]!, review: sampleReview(0, {
            verdict: 'disagree',
            clinician: 'محمد',
            finalDiagnosis: 'dysplastic naevus',
            note: 'Excise; re-check in 3 months.',
            confirmedDiagnosis: 'melanoma',
            confirmationBasis: 'histopathology',
            confirmedOn: '2026-11-30',
          }) },
        ...base.images.slice(1),
        wide,
        unclassified,
        refused,
        shown,
      ],
    };
    const report = await renderVisitReport(data);
    reportedPages = report.pages;
    back = readBack(report.pdf, outputDir('visit'), 'visit');
  });

  it('renders every page, numbered "Page i of n"', () => {
    expect(back.pages).toBe(reportedPages);
    expect(back.pngs).toHaveLength(back.pages);
    expect(back.pages).toBeGreaterThanOrEqual(3);
    for (let i = 1; i <= back.pages; i++) expect(back.text).toContain(`Page ${i} of ${back.pages}`);
  });

  it('prints the clinic, patient, visit, model and generation time', () => {
    const t = back.text;
    expect(t).toContain(data.context.clinicName);
    expect(t).toContain('Łukasz Żółć');
    expect(t).toContain('山田太郎');
    expect(t).toContain('محمد');
    expect(t).toContain('MRN-7/2026 <b>');
    expect(t).toContain(data.visit.date);
    expect(t).toContain(data.context.modelVersion);
    expect(t).toContain(data.context.modelName);
    expect(t).toContain('2026-11-28 09:15 UTC');
    expect(squash(t)).toContain(squash(INTENDED_USE));
  });

  it('prints each image with its probability, tier, uncertainty, threshold and review', () => {
    const t = squash(back.text);
    data.images.forEach((img, i) => {
      expect(t).toContain(squash(`Image ${i + 1} of ${data.images.length}: ${img.image.originalName}`));
      const p = img.prediction;
      if (!p || cannotAssess(p)) return;
      expect(t).toContain(squash(`${p.pMalignant.toFixed(3)} (${(p.pMalignant * 100).toFixed(1)}%)`));
      expect(t).toContain(squash(`\u00b1${p.uncertainty.toFixed(3)}`));
      expect(t).toContain(squash(`${p.threshold.toFixed(3)}: ${p.pMalignant >= p.threshold ? 'at or above' : 'below'} threshold`));
    });
    expect(t).toContain(squash('Final diagnosis: dysplastic naevus'));
    expect(t).toContain(squash('Confirmed: melanoma (histopathology, 2026-11-30)'));
    // Only the one review that carries a confirmation says so.
    expect(back.text.match(/Confirmed:/g)).toHaveLength(1);
    expect(t).toContain(squash('Excise; re-check in 3 months.'));
    expect(t).toContain('NOTCLASSIFIED');
    expect(t).toContain(squash('This image has no prediction.'));
  });

  it('prints "Cannot assess" with the reasons and no probability for a refused image, counted apart; marks one shown anyway', () => {
    const t = squash(back.text);
    expect(t).toContain(squash('cannot assess 1'));
    expect(t).toContain('CANNOTASSESS');
    expect(t).toContain(squash('Cannot assess \u2014 image too dark: luminance 4% of range in its brightest part'));
    expect(t).toContain(squash('None: the model cannot judge this image (input gate).'));
    expect(t).not.toContain(squash('0.930 (93.0%)'));
    expect(t).toContain(squash('0.810 (81.0%)'));
    expect(t).toContain(squash("Outside the model's validated range: the input gate refused this image (image too dark"));
    expect(t).toContain(squash('shown anyway at the request of Dr. A. Nowak, 2026-11-28 08:10 UTC'));
  });

  it('prints hostile user text literally, minus characters that hide or reorder it', () => {
    const t = squash(back.text);
    expect(t).toContain(squash('<script>alert("x")</script> %%EOF ) ( \\'));
    expect(t).toContain('desrever'); // the right-to-left override is dropped, the letters stay in order
    expect(t).toContain('NUL');
    expect(back.text).not.toContain('\u202E');
    expect(back.text).not.toContain('\u0000');
  });

  it('wraps long notes and names inside the margins', () => {
    const { pageWidth, pageHeight, words } = wordBoxes(back.file);
    expect(words.length).toBeGreaterThan(500);
    const outside = words.filter((w) => w.xMin < 47 || w.xMax > pageWidth - 47 || w.yMax > pageHeight - 8);
    expect(outside).toEqual([]);
    // The 400-letter word was broken over lines, none of it lost.
    const as = words.filter((w) => /^A+$/.test(w.word)).reduce((n, w) => n + w.word.length, 0);
    expect(as).toBeGreaterThanOrEqual(400);
  });

  it('embeds every font it uses, for Latin, CJK and Arabic', () => {
    const fonts = fontsOf(back.file);
    expect(fonts.every((f) => f.embedded)).toBe(true);
    const names = fonts.map((f) => f.name).join(' ');
    expect(names).toContain('NotoSans-Regular');
    expect(names).toContain('NotoSansArabic');
    expect(names).toContain('DroidSansFallback');
  });

  it('keeps every image aspect ratio and downsizes to print resolution', () => {
    const images = imagesOf(back.file);
    // Originals + overlays (the wide one twice); the unclassified and the refused image have no overlay.
    expect(images).toHaveLength(2 * data.images.length - 2);
    for (const im of images) {
      expect(Math.abs(im.xPpi - im.yPpi)).toBeLessThanOrEqual(1);
      // A half-page-wide box at 150 dpi is about 505 pixels: nothing larger is embedded.
      expect(Math.max(im.width, im.height)).toBeLessThanOrEqual(510);
    }
    const wide = images.filter((im) => Math.abs(im.width / im.height - 1600 / 600) < 0.02);
    expect(wide).toHaveLength(2);
    expect(wide[0]!.width).toBeLessThan(1600);
  });
});
