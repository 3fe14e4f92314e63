import { basename } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderBatchReport, sortRows, statusOf } from '../../electron/report/batch-report.ts';
import { refusedPrediction, sampleBatchData } from '../helpers/report-sample.ts';
import { triageOf } from '#common/gate';
import type { BatchReportData } from '../../electron/report/types.ts';
import {
  canRenderFixtures,
  fixtureSkipReason,
  fixtureFiles,
  imagesOf,
  outputDir,
  readBack,
  squash,
  wordBoxes,
  type PdfReadback,
} from './report-helpers.ts';

describe.skipIf(!canRenderFixtures)(`batch summary${fixtureSkipReason}`, () => {
  let data: BatchReportData;
  let back: PdfReadback;
  let reportedPages: number;

  beforeAll(async () => {
    const base = await sampleBatchData(fixtureFiles(46), 11, 9);
    // A failure with a long, unbroken reason must be listed whole, wrapped in its cell.
    const rows = base.rows.map((r, i) =>
      i === 4
        ? { ...r, item: { ...r.item, status: 'error' as const, error: `unreadable: ${'/very/deep/folder'.repeat(12)}/x.jpg: EACCES permission denied` }, image: null, prediction: null, review: null, original: null, overlay: null }
        : // Refused by the input gate: one left so ("Cannot assess"), one shown anyway (marked).
          i === 2 || i === 6
          ? { ...r, prediction: refusedPrediction(i, i === 2 ? 0.93 : 0.81, i === 6 ? 'Dr. A. Nowak' : null) }
          : r,
    );
    // One reviewed row carries a confirmed diagnosis.
    const confirmedRow = rows.findIndex((r, i) => r.review && r.prediction && ![2, 4, 6].includes(i));
    rows[confirmedRow] = { ...rows[confirmedRow]!, review: { ...rows[confirmedRow]!.review!, confirmedDiagnosis: 'other_malignant', confirmationBasis: 'clinical_follow_up', confirmedOn: '2026-11-30' } };
    data = { ...base, rows };
    const report = await renderBatchReport(data);
    reportedPages = report.pages;
    back = readBack(report.pdf, outputDir('batch'), 'batch');
  });

  it('renders every page, numbered', () => {
    expect(back.pages).toBe(reportedPages);
    expect(back.pngs).toHaveLength(back.pages);
    expect(back.pages).toBeGreaterThanOrEqual(3);
    expect(back.text).toContain(`Page ${back.pages} of ${back.pages}`);
  });

  it('lists every file once, classified ones by falling risk, then failures, then pending', () => {
    const expected = sortRows(data.rows).map((r) => basename(r.item.path));
    const found = expected.map((name) => back.layout.indexOf(name));
    expect(expected.filter((_, i) => found[i]! < 0)).toEqual([]);
    expect([...found].sort((a, b) => a - b)).toEqual(found);
    const ps = sortRows(data.rows).filter((r) => r.prediction && triageOf(r.prediction) !== 'cannot_assess').map((r) => r.prediction!.pMalignant);
    expect([...ps].sort((a, b) => b - a)).toEqual(ps);
  });

  it('prints each failure with its reason, and the counts per tier', () => {
    const failures = data.rows.filter((r) => statusOf(r) === 'error');
    expect(failures.length).toBeGreaterThanOrEqual(5);
    const flat = squash(back.text);
    for (const f of failures) expect(flat).toContain(squash(f.item.error!));
    const count = (s: string) => data.rows.filter((r) => statusOf(r) === s).length;
    const counts = [count('high'), count('review'), count('low'), count('cannot_assess'), count('error'), count('pending'), data.rows.length];
    expect(count('cannot_assess')).toBe(1);
    expect(back.layout).toMatch(new RegExp(counts.join('\\s+')));
    expect(back.text.match(/NOT CLASSIFIED/g)?.length).toBe(failures.length);
    expect(back.text.match(/PENDING/g)?.length ?? 0).toBe(count('pending'));
  });

  it('prints "Cannot assess" with the reason instead of a result for a refused image, and marks one shown anyway', () => {
    const flat = squash(back.text);
    expect(back.text.match(/CANNOT ASSESS/g)?.length).toBe(1);
    expect(flat).toContain(squash('Cannot assess \u2014 image too dark: luminance 4% of range in its brightest part (95th percentile; needs at least 44%); image unlike the dermoscopy images'));
    // Its probability is not printed anywhere; the one shown anyway is, with the mark.
    expect(back.text).not.toContain('93.0%');
    expect(back.text).toContain('81.0%');
    expect(flat).toContain(squash("Outside the model's validated range (input gate: image too dark, unlike the dermoscopy images the model was trained on)"));
    expect(flat).toContain(squash('shown anyway at the request of Dr. A. Nowak'));
  });

  it('prints a confirmed diagnosis with its basis and date in the review column', () => {
    expect(squash(back.text)).toContain(squash('Confirmed: other malignancy (clinical follow-up, 2026-11-30)'));
    expect(back.text.match(/Confirmed:/g)).toHaveLength(1);
  });

  it('prints probabilities and tiers of classified files', () => {
    for (const r of data.rows.filter((x) => x.prediction && triageOf(x.prediction) !== 'cannot_assess')) {
      expect(back.text).toContain(`${(r.prediction!.pMalignant * 100).toFixed(1)}%`);
    }
    expect(back.text).toContain('HIGH');
    expect(back.text).toContain('LOW');
  });

  it('shows a thumbnail and an overlay per classified file, small and undistorted', () => {
    const images = imagesOf(back.file);
    // No heatmap for the refused image: only its original.
    expect(images).toHaveLength(2 * data.rows.filter((r) => r.prediction).length - 1);
    for (const im of images) {
      expect(Math.max(im.width, im.height)).toBeLessThanOrEqual(84);
      expect(Math.abs(im.xPpi - im.yPpi)).toBeLessThanOrEqual(1);
    }
  });

  it('keeps every word inside the margins', () => {
    const { pageWidth, words } = wordBoxes(back.file);
    expect(words.filter((w) => w.xMin < 47 || w.xMax > pageWidth - 47)).toEqual([]);
  });
});
