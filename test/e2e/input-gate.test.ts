/**
 * The input gate as a clinician meets it, in a real Chromium against the real services and the
 * shipped model: a uniform black image and a blurred, darkened dermoscopy image are imported into
 * a visit beside a good one; both show "Cannot assess" with the reason in words (no tier colour),
 * counted apart; on the image screen "Show anyway" records who asked (audited) and reveals the
 * probability marked as outside the model's validated range; the worklist filters them apart.
 * Screenshots go to test-output/screenshots/gate-*.png for a person to look at.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelsDir, sharedDir } from '../../electron/util/paths.ts';
import { buildRenderer, closeSuite, hasChromium, launchChromium, NO_CHROMIUM_REASON, screenshotsDir, startWorkstation, watchedPage, type Workstation } from './harness.ts';

const good = sharedDir('data', 'fixtures', 'benign', 'ISIC_0000000.jpg');
const melanoma = sharedDir('data', 'fixtures', 'malignant', 'ISIC_0000002.jpg');
const canRun = hasChromium && existsSync(good) && existsSync(melanoma) && existsSync(modelsDir('current.json'));
if (!hasChromium) console.warn(NO_CHROMIUM_REASON);
else if (!canRun) console.warn('input-gate browser test skipped: needs the fixtures and the shipped model (models/current.json)');

// Functions passed to page.evaluate run in the browser; the Node typecheck has no DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any, getComputedStyle: any;

describe.skipIf(!canRun)('input gate in the workstation', () => {
  // The black image, the bad capture of a melanoma and a good image, in import order.
  const files: string[] = [];
  const problems: string[] = [];
  let scratch: string;
  let ws: Workstation;
  let browser: Browser;
  let page: Page;
  let visitId = 0;

  async function shot(name: string): Promise<void> {
    await page.waitForLoadState('networkidle').catch(() => undefined);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `horizontal overflow on ${name}`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(screenshotsDir, `${name}.png`), fullPage: true });
  }

  beforeAll(async () => {
    await mkdir(screenshotsDir, { recursive: true });
    scratch = await mkdtemp(join(tmpdir(), 'dermafuse-e2e-gate-'));
    const black = join(scratch, 'black-frame.png');
    await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(black);
    // A bad capture of a melanoma: heavily blurred and underexposed.
    const { width = 0, height = 0 } = await sharp(melanoma).metadata();
    const bad = join(scratch, 'melanoma-bad-capture.jpg');
    await sharp(melanoma).blur(Math.min(width, height) / 25).linear(0.3, 0).jpeg({ quality: 90 }).toFile(bad);
    const fine = join(scratch, 'nevus.jpg');
    await copyFile(good, fine);
    files.push(black, bad, fine);
    [, browser, ws] = await Promise.all([
      buildRenderer(),
      launchChromium(),
      startWorkstation({ classifier: { export: 'realModel', options: { scratch } } }),
    ]);
    await ws.modelSettled();
    await ws.call('settings.update', { acknowledgedIntendedUse: true });
    const patient = await ws.call('patients.create', { identifier: 'GATE-1', name: 'Gate Test' });
    visitId = (await ws.call('visits.create', { patientId: patient.id, date: '2026-12-06', clinician: 'Dr. A. Nowak' })).id;
    page = await watchedPage(browser, problems);
  }, 300_000);

  afterAll(() => closeSuite(browser, ws, scratch));

  it('shows "Cannot assess — <reason>" without a tier in the visit grid and counts it apart', async () => {
    await page.goto(`${ws.bridge.url}/#/visits/${visitId}`);
    await page.getByTestId('visit-screen').waitFor();
    await page.getByTestId('file-input').setInputFiles(files);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 3, undefined, { timeout: 120_000 });
    const tiers = await page.getByTestId('risk-badge').evaluateAll((els) => els.map((e) => e.getAttribute('data-tier')));
    expect(tiers.filter((t) => t === 'cannot_assess')).toHaveLength(2);
    expect(tiers.filter((t) => t === 'low' || t === 'review' || t === 'high')).toHaveLength(1);
    const reasons = await page.getByTestId('cannot-assess-reason').allTextContents();
    expect(reasons.join('\n')).toMatch(/Cannot assess — .*image too dark/);
    expect(reasons.join('\n')).toMatch(/Cannot assess — .*out of focus/);
    await expect(page.getByTestId('visit-counts').textContent()).resolves.toMatch(/Cannot assess 2/);
    // No tier colour: the badge is the neutral one.
    const colours = await page.locator('[data-tier="cannot_assess"]').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    expect(new Set(colours)).toEqual(new Set(['rgb(255, 255, 255)']));
    await expect(page.getByRole('link', { name: /black-frame\.png, cannot assess: image too dark/ }).count()).resolves.toBe(1);
    await shot('gate-01-visit');
  });

  it('the image screen gives the reasons, no probability and no heatmap, then "Show anyway" reveals it marked', async () => {
    await page.getByRole('link', { name: /melanoma-bad-capture\.jpg/ }).click();
    await page.getByTestId('image-screen').waitFor();
    const refusal = page.getByTestId('cannot-assess');
    await refusal.waitFor();
    await expect(refusal.textContent()).resolves.toMatch(/Cannot assess — the model cannot judge this image/);
    const codes = await page.locator('[data-testid="gate-reasons"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')));
    expect(codes).toContain('out_of_focus');
    await expect(page.getByTestId('probability').count()).resolves.toBe(0);
    await expect(page.getByTestId('overlay-image').count()).resolves.toBe(0);
    await shot('gate-02-image-refused');

    await page.getByTestId('show-anyway-clinician').fill('Dr. A. Nowak');
    await page.getByTestId('show-anyway').click();
    const mark = page.getByTestId('outside-range');
    await mark.waitFor();
    await expect(mark.textContent()).resolves.toMatch(/Outside the model's validated range\..*shown anyway by Dr\. A\. Nowak/s);
    await expect(page.getByTestId('probability').textContent()).resolves.toMatch(/^\d{1,3}\.\d%$/);
    await expect(page.getByTestId('risk-badge').getAttribute('data-outside-range')).resolves.toBe('true');
    await shot('gate-03-image-shown-anyway');

    const image = await ws.call('images.get', { id: Number(/images\/(\d+)/.exec(page.url())![1]) });
    expect(image.prediction?.gate?.shownAnyway?.by).toBe('Dr. A. Nowak');
    const audit = await ws.call('audit.list', { entity: 'predictions', entityId: image.prediction!.id });
    expect(audit.map((e) => e.action)).toContain('prediction.show_anyway');
  });

  it('the worklist lists the refused image apart, and the shown one in its tier with the mark', async () => {
    await page.goto(`${ws.bridge.url}/#/results`);
    await page.getByTestId('results-screen').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="result-row"]').length === 3);
    await expect(page.getByTestId('outside-range-mark').count()).resolves.toBe(1);
    await shot('gate-04-results');
    await page.getByTestId('filter-cannot_assess').check({ force: true });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="result-row"]').length === 1);
    await expect(page.getByTestId('result-row').textContent()).resolves.toMatch(/black-frame\.png/);
    await expect(page.getByTestId('cannot-assess-reason').textContent()).resolves.toMatch(/^Cannot assess — image too dark/);
  });

  it('raised no page or console errors and no internal errors', () => {
    expect(problems).toEqual([]);
    expect(ws.internalErrors).toEqual([]);
  });
});
