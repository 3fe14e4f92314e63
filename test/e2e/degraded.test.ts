/**
 * The workstation when the model cannot be loaded (missing or corrupt weights): the screens
 * still work, the header says the model is unavailable and why, and every import or batch says
 * so instead of failing silently. Real handlers and store; the model's loading fails on purpose.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer, hasChromium, launchChromium, NO_CHROMIUM_REASON, screenshotsDir, startWorkstation, type Workstation } from './harness.ts';

if (!hasChromium) console.warn(NO_CHROMIUM_REASON);

// Functions passed to page.evaluate run in the browser; the Node typecheck has no DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

describe.skipIf(!hasChromium)('workstation without a usable model', () => {
  let ws: Workstation;
  let browser: Browser;
  let page: Page;
  let scratch: string;
  const problems: string[] = [];

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'dermafuse-degraded-'));
    [, browser, ws] = await Promise.all([
      buildRenderer(),
      launchChromium(),
      startWorkstation({ classifier: { export: 'unavailableModel', options: { message: 'mobilenet weights failed their sha256 check: put the pinned file in $DERMAFUSE_MODEL_MIRROR' } } }),
    ]);
    await ws.modelSettled();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => problems.push(err.message));
    await ws.call('settings.update', { acknowledgedIntendedUse: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('can be used from the keyboard alone: skip link, new patient, save', async () => {
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('patients-screen').waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'new-patient');
    }
    expect(reached, 'Tab reaches the New patient button').toBe(true);
    await page.keyboard.press('Enter');
    await page.getByTestId('patient-form').waitFor();
    await page.keyboard.type('KB-7');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Keyboard Only');
    await page.keyboard.press('Enter');
    await page.getByTestId('patient-screen').waitFor();
    await expect(page.getByTestId('patient-name-heading').textContent()).resolves.toBe('Keyboard Only');
  });

  it('shows the model as unavailable with the reason, and an import fails with it', async () => {
    const patient = await ws.call('patients.create', { identifier: 'D-1', name: 'Degraded Case', dateOfBirth: null, sex: 'unknown' });
    const visit = await ws.call('visits.create', { patientId: patient.id, date: '2026-02-01', clinician: '', notes: '' });
    await page.goto(`${ws.bridge.url}/#/visits/${visit.id}`);
    await page.getByTestId('visit-screen').waitFor();
    const status = page.getByTestId('model-status');
    await expect(status.textContent()).resolves.toMatch(/Model unavailable/);
    await expect(status.getAttribute('title')).resolves.toMatch(/sha256/);
    await expect(page.getByTestId('model-banner').textContent()).resolves.toMatch(/could not be loaded[\s\S]*DERMAFUSE_MODEL_MIRROR/);
    const file = join(scratch, 'lesion.jpg');
    await writeFile(file, Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    await page.getByTestId('file-input').setInputFiles(file);
    const failures = page.getByTestId('import-failures');
    await failures.waitFor();
    await expect(failures.textContent()).resolves.toMatch(/lesion\.jpg: the model is not available: mobilenet weights failed/);
    await page.getByTestId('batch-folder').fill(scratch);
    await page.getByTestId('batch-start').click();
    await page.waitForFunction(() => /model is not available/.test(document.querySelector('[role="status"]')?.textContent ?? ''));
    await page.screenshot({ path: join(screenshotsDir, '11-model-unavailable.png') });
    expect(problems).toEqual([]);
    expect(ws.internalErrors).toEqual([]);
  });
});
