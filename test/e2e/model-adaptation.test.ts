/**
 * The model screen in a real Chromium against the real services (HTTP test bridge, temporary
 * store): compare the shipped model with the local methods on confirmed reviews (fewer than 30
 * melanomas: the notice, the shipped model kept, recalibration only through "Recalibrate anyway"),
 * the comparison table and both ROC curves, adopt
 * through the confirmation dialog under the clinician's name, reclassify on request, return to
 * the shipped model in one click, the audit log naming the clinician, and a local model modified
 * on disk falling back to the shipped model with a banner, and an unreadable registry replaced by
 * the same one-click return. The classifier is the real one on stand-in backbones
 * (test/helpers/adapt-fixtures.ts) reading coloured pictures, so this runs in seconds and needs
 * no backbone weights.
 * Screenshots: test-output/screenshots/model-*.png.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageSummary } from '#common/ipc';
import { modelsDir } from '../../electron/util/paths.ts';
import { caseColours, pinShippedModel } from '../helpers/adapt-fixtures.ts';
import { buildRenderer, hasChromium, launchChromium, NO_CHROMIUM_REASON, screenshotsDir, startWorkstation, watchedPage, type Workstation } from './harness.ts';

// These tests adapt fusion-v2 (the stand-in features fit its head), whichever version ships.
const unpin = pinShippedModel();

const hasShippedModel = existsSync(modelsDir('current.json'));
if (!hasChromium) console.warn(NO_CHROMIUM_REASON);
else if (!hasShippedModel) console.warn('model screen test skipped: no shipped model (models/current.json)');

// Functions passed to page.evaluate run in the browser; the Node typecheck has no DOM library.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any, window: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const MELANOMAS = 12;
const BENIGN = 20;

describe.skipIf(!hasChromium || !hasShippedModel)('model screen: clinic adaptation', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dermafuse-e2e-model-'));
  let ws: Workstation;
  let browser: Browser;
  let page: Page;
  let shipped: string;
  let candidate: string;
  const problems: string[] = [];

  const start = () => startWorkstation({ dataDir, classifier: { export: 'standInBackbones' } });

  async function shot(name: string): Promise<void> {
    await page.waitForLoadState('networkidle').catch(() => undefined);
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input:not([type="hidden"]), select, textarea, button')]
        .filter((el: { labels?: unknown[] | null; getAttribute(n: string): string | null; textContent: string | null; offsetParent: unknown }) => el.offsetParent !== null && !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !(el.textContent ?? '').trim())
        .map((el: { outerHTML: string }) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed, `controls without a name on ${name}`).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${name} at 1280x800`).toBeLessThanOrEqual(0);
    // A full-page capture of a scrolled page draws the sticky top bar mid-page.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(screenshotsDir, `${name}.png`), fullPage: true });
  }

  beforeAll(async () => {
    await mkdir(screenshotsDir, { recursive: true });
    [, browser, ws] = await Promise.all([buildRenderer(), launchChromium(), start()]);
    shipped = (await ws.modelSettled()).modelVersion!;
    await ws.call('settings.update', { acknowledgedIntendedUse: true, clinicName: 'Dermatology Clinic · Station 2' });
    // One patient per lesion: cross-validation keeps a patient's cases on one side of every split.
    const imported: ImageSummary[] = [];
    for (const [i, { rgb }] of caseColours(MELANOMAS + BENIGN, 5).entries()) {
      const png = await sharp({ create: { width: 96, height: 80, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
      const patient = await ws.call('patients.create', { identifier: `MS-${i}`, name: `Model Screen ${i}`, dateOfBirth: null, sex: 'unknown' });
      const visit = await ws.call('visits.create', { patientId: patient.id, date: '2026-01-05', clinician: '', notes: '' });
      imported.push(...(await ws.call('images.import', { visitId: visit.id, files: [{ name: `case-${i}.png`, dataBase64: png.toString('base64') }] })).imported);
    }
    // Confirmed diagnoses that mostly follow the shipped model's ranking.
    const ranked = [...imported].sort((a, b) => b.prediction!.pMalignant - a.prediction!.pMalignant);
    for (const [rank, s] of ranked.entries()) {
      const melanoma = rank < MELANOMAS - 2 || rank === MELANOMAS || rank === MELANOMAS + 2;
      await ws.call('reviews.create', {
        imageId: s.image.id,
        predictionId: s.prediction!.id,
        clinician: 'Dr Reviewer',
        verdict: 'agree',
        confirmedDiagnosis: melanoma ? 'melanoma' : 'benign',
        confirmationBasis: rank % 3 === 0 ? 'clinical_follow_up' : 'histopathology',
        confirmedOn: '2026-02-01',
      });
    }
    page = await watchedPage(browser, problems);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
    await rm(dataDir, { recursive: true, force: true });
    unpin();
  });

  it('shows the shipped model in use and asks for a name before comparing', async () => {
    await page.goto(`${ws.bridge.url}/#/model`);
    await page.getByTestId('model-screen').waitFor();
    await expect(page.getByRole('link', { name: 'Model', exact: true }).getAttribute('aria-current')).resolves.toBe('page');
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);
    await expect(page.getByTestId('model-rollback').count()).resolves.toBe(0);
    await page.getByTestId('adaptation-none').waitFor();
    await page.getByTestId('adaptation-run').click();
    await expect(page.getByTestId('model-name-missing').textContent()).resolves.toMatch(/Enter your name/);
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('model-clinician');
    await shot('model-01-shipped');
  });

  it('compares on the confirmed cases: table, the too-few-melanomas notice, the shipped model kept with its reasons, recalibration offered', async () => {
    await page.getByTestId('model-clinician').fill('Dr Ada Lovelace');
    await page.getByTestId('adaptation-run').click();
    await page.getByTestId('adaptation-result').waitFor({ timeout: 120_000 });
    await expect(page.getByTestId('adaptation-cases').textContent()).resolves.toMatch(new RegExp(`${MELANOMAS + BENIGN}\\s*confirmed cases: ${MELANOMAS} melanoma, ${BENIGN} benign`));
    await expect(page.getByTestId('adaptation-too-few').textContent()).resolves.toMatch(/Only 12 confirmed melanomas and 20 confirmed benign lesions \(fewer than 30\): recalibration at most/);
    const header = await page.getByTestId('comparison-table').locator('thead th').allTextContents();
    expect(header[1]).toBe(`Shipped (${shipped})`);
    expect(header.slice(2).join('|')).toMatch(/Recalibration/);
    for (const row of ['auc', 'delta-auc', 'sensitivity', 'specificity', 'brier', 'ece', 'tier-low', 'tier-review', 'tier-high']) {
      await expect(page.getByTestId(`comparison-row-${row}`).count(), row).resolves.toBe(1);
    }
    await expect(page.getByTestId('comparison-row-auc').locator('td').first().textContent()).resolves.toMatch(/^0\.\d{3} \(0\.\d{3} to (0\.\d{3}|1\.000)\)$/);
    await expect(page.getByTestId('roc-curve-shipped').getAttribute('d')).resolves.toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)*/);
    await expect(page.getByTestId('roc-curve-local').count()).resolves.toBe(0);
    await expect(page.getByTestId('adaptation-decision').locator('h3').textContent()).resolves.toBe('Keep the shipped model');
    await expect(page.getByTestId('adaptation-reasons').locator('li').first().textContent()).resolves.toMatch(/Only 12 confirmed melanoma/);
    await expect(page.getByTestId('adaptation-reasons').textContent()).resolves.toMatch(/Recalibration can be requested explicitly, but it is not chosen automatically/);
    // Nothing written: nothing to adopt, only the secondary offer with its warning.
    await expect(page.getByTestId('adopt').count()).resolves.toBe(0);
    await expect(page.getByTestId('model-version-row').count()).resolves.toBe(1);
    await expect(page.getByTestId('recalibrate-offer').textContent()).resolves.toMatch(/with so few confirmed melanomas the recalibrated cut-offs are\s+unreliable/);
    const anyway = page.getByTestId('recalibrate-anyway');
    await expect(anyway.textContent()).resolves.toBe('Recalibrate anyway');
    // Secondary: not styled as the primary action.
    expect((await anyway.getAttribute('class')) ?? '').not.toMatch(/primary/);
    await shot('model-01b-too-few-cases');
  });

  it('recalibrates on request: the candidate is written, labelled as requested, both ROC curves', async () => {
    await page.getByTestId('recalibrate-anyway').click();
    await page.getByTestId('adaptation-decision').locator('h3', { hasText: 'Requested: Recalibration' }).waitFor({ timeout: 120_000 });
    await expect(page.getByTestId('recalibrate-offer').count()).resolves.toBe(0);
    await expect(page.getByTestId('adaptation-too-few').count()).resolves.toBe(1);
    await expect(page.getByTestId('comparison-column-recalibrate').textContent()).resolves.toMatch(/Recalibration\s*requested/);
    await expect(page.getByTestId('roc-curve-local').count()).resolves.toBe(1);
    await expect(page.getByTestId('adaptation-reasons').locator('li').last().textContent()).resolves.toMatch(/recalibrate was requested explicitly, instead of the automatic choice \(keep the shipped model\)/);
    const adopt = page.getByTestId('adopt');
    candidate = `${shipped}+local-1`;
    await expect(adopt.textContent()).resolves.toContain(`Adopt ${candidate}`);
    // Written, listed, not in use.
    await expect(page.locator(`[data-testid="model-version-row"][data-version="${candidate}"]`).textContent()).resolves.toMatch(/Local model: Recalibration/);
    await expect(page.getByTestId('model-status').textContent()).resolves.toBe(`Model ${shipped}`);
    await shot('model-02-comparison');
  });

  it('adopts only through the confirmation dialog, then offers to reclassify', async () => {
    await page.getByTestId('adopt').click();
    const dialog = page.getByTestId('adopt-dialog');
    await dialog.waitFor();
    await expect(dialog.textContent()).resolves.toMatch(/recorded in the audit log under Dr Ada Lovelace/);
    await expect(page.getByTestId('adopt-requested-warning').textContent()).resolves.toMatch(/requested, not chosen: with so few confirmed melanomas its cut-offs are unreliable/);
    await expect(page.getByTestId('adopt-confirm').isDisabled()).resolves.toBe(true);
    await page.getByTestId('adopt-cancel').click();
    await expect(dialog.isVisible()).resolves.toBe(false);
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);

    await page.getByTestId('model-clinician').fill('Dr Grace Hopper');
    await page.getByTestId('adopt').click();
    await page.getByTestId('adopt-confirm-check').check();
    await page.screenshot({ path: join(screenshotsDir, 'model-03-adopt-dialog.png') });
    await page.getByTestId('adopt-confirm').click();
    await page.waitForFunction((v: string) => document.querySelector('[data-testid="model-in-use"]')?.textContent === v, candidate);
    await expect(page.getByTestId('model-adopted-by').textContent()).resolves.toMatch(/Adopted by Dr Grace Hopper/);
    await page.waitForFunction((v: string) => document.querySelector('[data-testid="model-status"]')?.textContent === `Model ${v}`, candidate);
    await expect(page.getByTestId('candidate-active').textContent()).resolves.toMatch(/is the adopted model/);
    await page.waitForFunction(() => document.querySelector('[data-testid="model-rollback"]')?.disabled === false);
    await expect(page.getByTestId('reclassify-pending').textContent()).resolves.toMatch(new RegExp(`${MELANOMAS + BENIGN}\\s*images were classified by another model version`));
    await shot('model-04-adopted');
  });

  it('reclassifies on request, then returns to the shipped model in one click', async () => {
    await page.getByTestId('reclassify-start').click();
    await page.getByTestId('reclassify-offer').waitFor({ state: 'detached', timeout: 60_000 });
    const worklist = await ws.call('predictions.list', { pageSize: 200 });
    expect(worklist.items.filter((r) => r.prediction.modelVersion === candidate)).toHaveLength(MELANOMAS + BENIGN);

    await page.getByTestId('model-rollback').click();
    await page.waitForFunction((v: string) => document.querySelector('[data-testid="model-in-use"]')?.textContent === v, shipped);
    await expect(page.getByTestId('model-rollback').count()).resolves.toBe(0);
    await page.waitForFunction((v: string) => document.querySelector('[data-testid="model-status"]')?.textContent === `Model ${v}`, shipped);
    await shot('model-05-rolled-back');
    // The image screen shows the shipped model's result again, not the newer one of the local model.
    await page.goto(`${ws.bridge.url}/#/images/${worklist.items[0]!.image.id}`);
    await page.waitForFunction((v: string) => document.querySelector('[data-testid="model-version"]')?.textContent === v, shipped);
  });

  it('the audit log names who created, adopted and rolled back the local model', async () => {
    await page.goto(`${ws.bridge.url}/#/audit`);
    await page.getByTestId('audit-filter').selectOption('local_models');
    const rows = page.locator('[data-testid="audit-row"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 3);
    const text = await rows.allTextContents();
    expect(text[0]).toMatch(/Dr Grace Hopper\s*Local model rolled back\s*Local model .*\+local-1/);
    expect(text[1]).toMatch(/Dr Grace Hopper\s*Local model adopted/);
    expect(text[2]).toMatch(/Dr Ada Lovelace\s*Local model created/);
    await shot('model-06-audit');
  });

  it('a local model modified on disk is not used: the shipped model runs and the screens say why', async () => {
    await ws.call('model.adopt', { version: candidate, clinician: 'Dr Grace Hopper', confirmed: true });
    // Leave the page first: its event stream would otherwise retry the stopped bridge.
    await page.goto('about:blank');
    await ws.close();
    const manifestFile = join(dataDir, 'local-models', candidate, 'manifest.json');
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').replace('"threshold": ', '"threshold":  '));
    ws = await start();
    await ws.modelSettled();
    await page.goto(`${ws.bridge.url}/#/patients`);
    const banner = page.getByTestId('local-model-notice');
    await banner.waitFor();
    await expect(banner.textContent()).resolves.toMatch(/local model is not in use[\s\S]*was modified after it was created: sha256/);
    await shot('model-07-modified-local-model-banner');
    await banner.getByRole('link', { name: 'Model' }).click();
    await page.getByTestId('model-screen').waitFor();
    await expect(page.getByTestId('model-screen-notice').textContent()).resolves.toMatch(/modified after it was created/);
    // The screen says it beside the button that resolves it; the banner would say it twice.
    await expect(banner.count()).resolves.toBe(0);
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);
    await expect(page.locator(`[data-testid="model-version-row"][data-version="${candidate}"]`).textContent()).resolves.toMatch(/Adopted, not loaded/);
    await shot('model-08-modified-local-model');
    await page.getByTestId('model-clinician').fill('Dr Alan Turing');
    await page.getByTestId('model-rollback').click();
    await page.getByTestId('model-screen-notice').waitFor({ state: 'detached' });
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('patients-screen').waitFor();
    await expect(banner.count()).resolves.toBe(0);
    expect(problems).toEqual([]);
    expect(ws.internalErrors).toEqual([]);
  });

  it('an unreadable registry: the model screen offers the way back, which starts a fresh registry', async () => {
    await page.goto('about:blank');
    await ws.close();
    writeFileSync(join(dataDir, 'local-models', 'registry.json'), '{ "active": ');
    ws = await start();
    await ws.modelSettled();
    await page.goto(`${ws.bridge.url}/#/model`);
    await page.getByTestId('model-screen').waitFor();
    await expect(page.getByTestId('model-screen-notice').textContent()).resolves.toMatch(/registry\.json is not valid JSON/);
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);
    await page.getByTestId('model-clinician').fill('Dr Barbara Liskov');
    await page.getByTestId('model-rollback').click();
    await page.getByTestId('model-screen-notice').waitFor({ state: 'detached' });
    await expect(page.getByTestId('model-rollback').count()).resolves.toBe(0);
    await expect(page.getByTestId('model-in-use').textContent()).resolves.toBe(shipped);
    expect(JSON.parse(readFileSync(join(dataDir, 'local-models', 'registry.json'), 'utf8'))).toEqual({ active: null, versions: [] });
    expect(problems).toEqual([]);
    expect(ws.internalErrors).toEqual([]);
  });
});
