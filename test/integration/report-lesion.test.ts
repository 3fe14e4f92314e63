import { beforeAll, describe, expect, it } from 'vitest';
import { chronological, entryDate, renderLesionReport } from '../../electron/report/lesion-report.ts';
import { sampleLesionData } from '../helpers/report-sample.ts';
import type { LesionReportData } from '../../electron/report/types.ts';
import {
  canRenderFixtures,
  fixtureSkipReason,
  fixtureFiles,
  imagesOf,
  outputDir,
  readBack,
  squash,
  type PdfReadback,
} from './report-helpers.ts';

describe.skipIf(!canRenderFixtures)(`lesion follow-up${fixtureSkipReason}`, () => {
  let data: LesionReportData;
  let back: PdfReadback;
  let reportedPages: number;

  beforeAll(async () => {
    const base = await sampleLesionData(fixtureFiles(7));
    // Handed over newest first, with one image not classified: the report must sort and still show it.
    const entries = [...base.entries].reverse();
    entries[2] = { ...entries[2]!, prediction: null, overlay: null };
    data = { ...base, entries };
    const report = await renderLesionReport(data);
    reportedPages = report.pages;
    back = readBack(report.pdf, outputDir('lesion'), 'lesion');
  });

  it('renders every page, numbered', () => {
    expect(back.pages).toBe(reportedPages);
    expect(back.pngs).toHaveLength(back.pages);
    expect(back.text).toContain(`Page ${back.pages} of ${back.pages}`);
  });

  it('prints the lesion and shows its images oldest first', () => {
    expect(back.text).toContain(data.lesion.bodySite);
    expect(squash(back.text)).toContain(squash(data.lesion.label));
    const ordered = chronological(data.entries);
    const heads = ordered.map((e, i) => `${i + 1}/${ordered.length} \u00b7 ${entryDate(e)}`);
    const at = heads.map((h) => back.layout.indexOf(h));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(entryDate(ordered[0]!) < entryDate(ordered[ordered.length - 1]!)).toBe(true);
  });

  it('draws the risk plot as vectors, with every distinct date on its axis', () => {
    expect(back.text).toContain('Risk over time');
    expect(back.text).toContain('threshold 0.35');
    for (const tick of ['0.00', '0.50', '1.00']) expect(back.text).toContain(tick);
    const classified = data.entries.filter((e) => e.prediction);
    for (const e of classified) expect(back.text).toContain(entryDate(e));
    // Only the photographs are raster images: originals for all, overlays for the classified.
    expect(imagesOf(back.file)).toHaveLength(data.entries.length + classified.length);
  });

  it('gives each classified image its probability and says which one was not classified', () => {
    for (const e of data.entries.filter((x) => x.prediction)) {
      expect(back.text).toContain(`${e.prediction!.pMalignant.toFixed(3)} (${(e.prediction!.pMalignant * 100).toFixed(1)}%)`);
    }
    expect(back.text).toContain('Not classified.');
    expect(squash(back.text)).toContain(squash('Final diagnosis: excision advised'));
  });
});
