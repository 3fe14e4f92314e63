/**
 * The clinician's whole path through the workstation, in a real Chromium, against the real
 * services in their host process (HTTP test bridge), a temporary database and the real classifier: first run, create a
 * patient, a lesion and two visits, import by file picker and by drag-and-drop, classify a folder
 * (with a file that is not an image), open an image, toggle the Grad-CAM overlay and its branch,
 * review it, compare the lesion over time, export the three PDFs, restart the services and
 * reload, and find everything still there. Screenshots of each screen go to
 * test-output/screenshots/ for a person to look at.
 */
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_STOPPED_MESSAGE } from '../../electron/services-host/client.ts';
import { loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { modelsDir, sharedDir } from '../../electron/util/paths.ts';
import { buildRenderer, hasChromium, launchChromium, NO_CHROMIUM_REASON, screenshotsDir, startWorkstation, type Workstation } from './harness.ts';

const fixtures = sharedDir('data', 'fixtures');
const mobilenetWeights = sharedDir('models', 'coral_tf2_mobilenet_v2_1.0_224_ptq.tflite');
const hasFixtures = existsSync(join(fixtures, 'labels.csv'));
const hasShippedModel = existsSync(modelsDir('current.json'));
/** Branches the shipped model's head reads (the random stand-in head reads both). */
const shippedBranches: readonly string[] = hasShippedModel ? loadManifest(shippedModelDir()).head.branches : ['inception', 'mobilenet'];
const canRun = hasChromium && hasFixtures && (hasShippedModel || existsSync(mobilenetWeights));
if (!hasChromium) console.warn(NO_CHROMIUM_REASON);
else if (!hasFixtures) console.warn(`browser end-to-end test skipped: no fixture images at ${fixtures} (the shared data folder)`);
else if (!canRun) console.warn(`browser end-to-end test skipped: no shipped model (models/current.json) and no backbone weights at ${mobilenetWeights}`);

// Functions passed to page.evaluate run in the browser; the Node typecheck has no DOM library.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any, window: any, DataTransfer: any, getComputedStyle: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

function firstImages(folder: string, n: number): string[] {
  return readdirSync(join(fixtures, folder))
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort()
    .slice(0, n)
    .map((f) => join(fixtures, folder, f));
}

describe.skipIf(!canRun)('workstation in a real browser', () => {
  let scratch: string;
  let dataDir: string;
  let batchFolder: string;
  let batchGate: string;
  let ws: Workstation;
  let browser: Browser;
  let page: Page;
  let port = 0;
  const problems: string[] = [];
  const benign = hasFixtures ? firstImages('benign', 5) : [];
  const malignant = hasFixtures ? firstImages('malignant', 5) : [];

  async function start(): Promise<void> {
    // The shipped model (or the real pipeline with a random head); the folder batch waits after
    // its first two images until the test opens the gate, so its progress is seen for certain.
    const gate = { under: batchFolder, pass: 2, open: batchGate };
    ws = await startWorkstation({ dataDir, port, classifier: { export: 'realModel', options: { scratch, gate } } });
    port = ws.bridge.port;
    await ws.modelSettled();
  }

  /**
   * Controls in view whose centre hit-tests to a notice instead of to the control. "In view" is
   * below the sticky top bar (content scrolled under it is out of view, as under any header).
   */
  async function controlsUnderNotices(): Promise<string[]> {
    return page.evaluate(() => {
      const tray = document.querySelector('[data-testid="notices"]');
      const top = document.querySelector('[data-testid="chrome"]')?.getBoundingClientRect().bottom ?? 0;
      return [...document.querySelectorAll('button, a[href], input:not([type="hidden"]), select, textarea')]
        .filter((el: { getBoundingClientRect(): { left: number; top: number; width: number; height: number } }) => {
          if (tray?.contains(el)) return false;
          const r = el.getBoundingClientRect();
          const x = r.left + r.width / 2;
          const y = r.top + r.height / 2;
          if (r.width < 2 || r.height < 2 || x < 0 || y < top || x >= window.innerWidth || y >= window.innerHeight) return false;
          const hit = document.elementFromPoint(x, y);
          return hit !== null && tray?.contains(hit) === true;
        })
        .map((el: { outerHTML: string }) => el.outerHTML.slice(0, 80));
    });
  }

  async function shot(name: string): Promise<void> {
    await page.waitForLoadState('networkidle').catch(() => undefined);
    // Every image on screen must have decoded: a broken image is a bug, not a look.
    const broken = await page.evaluate(() => [...document.images].filter((img: { currentSrc: string; complete: boolean; naturalWidth: number }) => img.currentSrc && img.complete && img.naturalWidth === 0).map((img: { src: string }) => img.src));
    expect(broken, `broken images on ${name}`).toEqual([]);
    // Every control a clinician can reach has a name a screen reader can say.
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input:not([type="hidden"]):not([tabindex="-1"]), select, textarea, button')]
        .filter((el: { labels?: unknown[] | null; getAttribute(n: string): string | null; textContent: string | null }) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !(el.textContent ?? '').trim())
        .map((el: { outerHTML: string }) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed, `controls without a name on ${name}`).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${name} at 1280x800`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(screenshotsDir, `${name}.png`), fullPage: true });
  }

  beforeAll(async () => {
    await mkdir(screenshotsDir, { recursive: true });
    scratch = await mkdtemp(join(tmpdir(), 'dermafuse-e2e-'));
    dataDir = join(scratch, 'data');
    batchFolder = join(scratch, 'camera-export');
    batchGate = join(scratch, 'batch-gate-open');
    await mkdir(join(batchFolder, 'nested'), { recursive: true });
    for (const file of [...benign.slice(0, 3), ...malignant.slice(0, 2)]) await copyFile(file, join(batchFolder, file.split('/').pop()!));
    await copyFile(malignant[2]!, join(batchFolder, 'nested', malignant[2]!.split('/').pop()!));
    await writeFile(join(batchFolder, 'notes-not-an-image.jpg'), 'this is a text file with a .jpg name\n');
    [, browser] = await Promise.all([buildRenderer(), launchChromium(), start()]);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e: { violatedDirective: string; blockedURI: string }) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('first run asks for the intended use to be acknowledged, then the settings', async () => {
    await page.goto(`${ws.bridge.url}/`);
    await page.getByTestId('first-run').waitFor();
    await expect(page.getByTestId('intended-use').textContent()).resolves.toMatch(/not a diagnosis/);
    await expect(page.getByTestId('first-run-start').isDisabled()).resolves.toBe(true);
    await page.getByTestId('settings-clinic').fill('Dermatology Clinic · Station 2');
    await page.getByTestId('settings-threshold').selectOption('balanced');
    await shot('01-first-run');
    await page.getByTestId('ack-intended-use').check();
    await page.getByTestId('first-run-start').click();
    await page.getByTestId('patients-screen').waitFor();
  });

  it('creates a patient (non-Latin name) and finds it by a folded search', async () => {
    await page.getByTestId('new-patient').click();
    await page.getByTestId('patient-identifier').fill('MRN-0042');
    await page.getByTestId('patient-name').fill('Łukasz Żółć');
    await page.getByTestId('patient-dob').fill('1961-07-15');
    await page.getByTestId('patient-save').click();
    await page.getByTestId('patient-screen').waitFor();
    await expect(page.getByTestId('patient-name-heading').textContent()).resolves.toBe('Łukasz Żółć');
    // Edit: the form starts from the stored record and only what changed is sent.
    await page.getByTestId('edit-patient').click();
    await expect(page.getByTestId('patient-dob').inputValue()).resolves.toBe('1961-07-15');
    await page.getByTestId('patient-sex').selectOption('male');
    await page.getByTestId('patient-save').click();
    await page.getByTestId('edit-patient').waitFor();
    await expect(page.getByTestId('patient-screen').textContent()).resolves.toMatch(/born Jul 15, 1961 \(\d+ y\) · male/);
    // Another patient, so the list and the search have something to tell apart.
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('new-patient').click();
    await page.getByTestId('patient-identifier').fill('MRN-0043');
    await page.getByTestId('patient-name').fill('山田太郎');
    await page.getByTestId('patient-save').click();
    await page.getByTestId('patient-screen').waitFor();
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('patient-search').fill('zolc');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="patient-link"]').length === 1);
    await page.getByTestId('patient-search').fill('');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="patient-link"]').length === 2);
    await shot('02-patients');
  });

  it('records a lesion and an earlier visit imported with the file picker', async () => {
    await page.getByTestId('patient-link').filter({ hasText: 'Łukasz' }).click();
    await page.getByTestId('patient-screen').waitFor();
    await page.getByTestId('new-lesion').click();
    await page.getByTestId('lesion-site').fill('upper back');
    await page.getByTestId('lesion-label').fill('left scapula, 6 mm, irregular border');
    await page.getByTestId('lesion-save').click();
    await page.getByTestId('lesion-link').waitFor();

    await page.getByTestId('new-visit').click();
    await page.getByTestId('visit-date').fill('2025-06-02');
    await page.getByTestId('visit-clinician').fill('Dr. A. Nowak');
    await page.getByTestId('visit-save').click();
    await page.getByTestId('visit-screen').waitFor();
    await page.getByTestId('import-lesion').selectOption({ label: 'upper back — left scapula, 6 mm, irregular border' });
    await page.getByTestId('file-input').setInputFiles([malignant[3]!, benign[4]!]);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 2, undefined, { timeout: 120_000 });
    const badge = page.getByTestId('risk-badge').first();
    await expect(badge.getAttribute('data-tier')).resolves.toMatch(/^(low|review|high)$/);
    await expect(badge.textContent()).resolves.toMatch(/(Low risk|Review|High risk)\s*\d+%/);
  });

  it('classifies a folder as a batch with progress, and lists the file that failed and why', async () => {
    await page.getByRole('link', { name: 'Łukasz Żółć' }).click();
    await page.getByTestId('patient-screen').waitFor();
    await page.getByTestId('new-visit').click();
    await page.getByTestId('visit-clinician').fill('Dr. A. Nowak');
    await page.getByTestId('visit-save').click();
    await page.getByTestId('visit-screen').waitFor();
    await page.getByTestId('edit-visit').click();
    await page.getByTestId('visit-edit-form').getByLabel('Notes').fill('Routine total-body check.\nPatient reports itching of the upper-back lesion.');
    await page.getByTestId('visit-edit-form').getByRole('button', { name: 'Save visit' }).click();
    await page.getByTestId('edit-visit').waitFor();
    await expect(page.getByTestId('visit-screen').textContent()).resolves.toMatch(/reports itching/);
    await page.getByTestId('batch-folder').fill(batchFolder);
    await page.getByTestId('batch-start').click();
    const progress = page.getByTestId('batch-progress');
    const summary = page.getByTestId('batch-summary');
    // Two images settle, then the batch waits at the gate: the bar is on screen part-way.
    await progress.waitFor({ timeout: 60_000 });
    await expect(page.getByTestId('batch-cancel').isEnabled()).resolves.toBe(true);
    await page.waitForFunction(() => /^[12] \/ 7 images/.test(document.querySelector('[data-testid="batch-count"]')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 50 });
    expect(await summary.count()).toBe(0);
    await page.screenshot({ path: join(screenshotsDir, '04-visit-batch-running.png') });
    await writeFile(batchGate, '');
    await summary.waitFor({ timeout: 180_000 });
    await expect(summary.textContent()).resolves.toMatch(/done: 6 classified, 1 failed of 7/);
    const failures = page.getByTestId('batch-failures');
    await expect(failures.textContent()).resolves.toMatch(/notes-not-an-image\.jpg/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 6);
  });

  it('imports by drag and drop onto the visit, and says which dropped file failed and why', async () => {
    const bytes = (await readFile(benign[3]!)).toString('base64');
    const name = benign[3]!.split('/').pop()!;
    const transfer = await page.evaluateHandle(
      ({ b64, fileName }) => {
        const raw = atob(b64);
        const data = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) data[i] = raw.charCodeAt(i);
        const dt = new DataTransfer();
        dt.items.add(new File([data], fileName, { type: 'image/jpeg' }));
        // A truncated JPEG: the first 300 bytes of the same picture.
        dt.items.add(new File([data.slice(0, 300)], 'truncated-copy.jpg', { type: 'image/jpeg' }));
        return dt;
      },
      { b64: bytes, fileName: name },
    );
    await page.getByTestId('dropzone').dispatchEvent('dragover', { dataTransfer: transfer });
    await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer: transfer });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 7, undefined, { timeout: 120_000 });
    const failures = page.getByTestId('import-failures');
    await failures.waitFor();
    await expect(failures.textContent()).resolves.toMatch(/truncated-copy\.jpg: .*truncated-copy\.jpg/);
    const tiers = await page.getByTestId('risk-badge').evaluateAll((els) => els.map((e) => e.getAttribute('data-tier')));
    // A tier each, or "Cannot assess" where the input gate refused the image (one fixture of the batch is out of distribution).
    expect(tiers.every((t) => t === 'low' || t === 'review' || t === 'high' || t === 'cannot_assess')).toBe(true);
    await shot('05-visit');
  });

  it('shows an image with its prediction and a Grad-CAM overlay that toggles, switches branch and fades', async () => {
    await page.getByTestId('image-tile').first().click();
    await page.getByTestId('image-screen').waitFor();
    await expect(page.getByTestId('probability').textContent()).resolves.toMatch(/^\d{1,3}\.\d%$/);
    await expect(page.getByTestId('tier').textContent()).resolves.toMatch(/Low risk|Review|High risk/);
    await expect(page.getByTestId('uncertainty').textContent()).resolves.toMatch(/%$/);
    const info = await ws.call('app.info', {});
    await expect(page.getByTestId('model-version').textContent()).resolves.toBe(info.modelVersion);
    const overlay = page.getByTestId('overlay-image');
    await overlay.waitFor();
    await expect(overlay.getAttribute('data-kind')).resolves.toBe('fused');
    // The raw map, recoloured on a canvas; drawn means it loaded and decoded.
    await page.waitForSelector('[data-testid="overlay-image"][data-ready="true"]');
    const fusedSrc = await overlay.getAttribute('data-source');
    const heat = await overlay.evaluate((el: { tagName: string; width: number; height: number; getContext?: (t: string) => { getImageData: (...a: number[]) => { data: Uint8ClampedArray } } }) => {
      if (el.tagName !== 'CANVAS' || !el.getContext) return { canvas: false, maxAlpha: 255 };
      const data = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
      let maxAlpha = 0;
      for (let i = 3; i < data.length; i += 4) maxAlpha = Math.max(maxAlpha, data[i]!);
      return { canvas: true, maxAlpha };
    });
    expect(heat.maxAlpha, 'the heatmap is not blank').toBeGreaterThan(100);
    await shot('06-image');

    await page.getByTestId('overlay-toggle').uncheck();
    await expect(page.getByTestId('overlay-image').count()).resolves.toBe(0);
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('o'); // the keyboard shortcut brings it back
    await page.getByTestId('overlay-image').waitFor();
    if (shippedBranches.includes('inception')) {
      await page.getByTestId('branch-inception_v3').check({ force: true });
      await expect(page.getByTestId('overlay-image').getAttribute('data-kind')).resolves.toBe('inception_v3');
      expect(await page.getByTestId('overlay-image').getAttribute('data-source')).not.toBe(fusedSrc);
    } else {
      // A single-branch model has no InceptionV3 map: its control is offered but disabled.
      await expect(page.getByTestId('branch-inception_v3').isDisabled()).resolves.toBe(true);
      await page.keyboard.press('2'); // its shortcut is ignored
      await expect(page.getByTestId('overlay-image').getAttribute('data-kind')).resolves.toBe('fused');
    }
    await page.keyboard.press('3');
    await expect(page.getByTestId('overlay-image').getAttribute('data-kind')).resolves.toBe('mobilenet_v2');
    // The slider is keyboard-operable: six steps of 5% down from 60%.
    await page.getByTestId('overlay-opacity').focus();
    for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowLeft');
    await expect(page.getByTestId('overlay-image').evaluate((img) => getComputedStyle(img).opacity)).resolves.toBe('0.4');
  });

  it("records the clinician's review and links the image to the lesion", async () => {
    await page.getByTestId('image-lesion').selectOption({ label: 'upper back — left scapula, 6 mm, irregular border' });
    await page.getByRole('link', { name: 'follow-up' }).waitFor();
    await page.getByTestId('verdict-disagree').check();
    await page.getByTestId('review-diagnosis').fill('dysplastic nevus');
    await page.getByTestId('review-note').fill('Symmetric network on dermoscopy; excise if it changes. <b>not markup</b>');
    await page.getByTestId('review-clinician').fill('Dr. A. Nowak');
    await page.getByTestId('review-save').click();
    const history = page.getByTestId('review-history');
    await history.waitFor();
    await expect(history.textContent()).resolves.toMatch(/Disagreed — dysplastic nevus[\s\S]*<b>not markup<\/b>/);
    // Notices never cover a control: with the success notice and an earlier error showing, every
    // button, link and field on screen still receives its own clicks, at the top and scrolled down.
    expect(await page.getByTestId('notice').count()).toBeGreaterThanOrEqual(2);
    for (const scrollY of [0, 100_000]) {
      await page.evaluate((y: number) => window.scrollTo(0, y), scrollY);
      expect(await controlsUnderNotices(), `controls hidden by notices at scrollY ${scrollY}`).toEqual([]);
    }
    await page.getByTestId('review-save').scrollIntoViewIfNeeded();
    expect(await controlsUnderNotices()).toEqual([]);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('07-image-reviewed');
  });

  it('compares the lesion across visits and exports the follow-up PDF', async () => {
    await page.getByRole('link', { name: 'follow-up' }).click();
    await page.getByTestId('followup-screen').waitFor();
    // Two images from the earlier visit (imported onto the lesion) and the one just linked.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="followup-strip"] li').length === 3);
    await expect(page.getByTestId('risk-chart').locator('circle').count()).resolves.toBe(3);
    await shot('08-followup');
    // Notices never pile up: at most three, info ones leave by themselves, errors wait for the clinician (Esc dismisses).
    expect(await page.getByTestId('notice').count()).toBeLessThanOrEqual(3);
    const errors = page.locator('[data-testid="notice"][data-kind="error"]');
    const errorCount = await errors.count();
    expect(errorCount, 'the failed drop of an earlier step is still shown').toBeGreaterThan(0);
    await page.waitForFunction(() => !document.querySelector('[data-testid="notice"]:not([data-kind="error"])'), undefined, { timeout: 8_000 });
    expect(await errors.count()).toBe(errorCount);
    await errors.first().getByRole('button').focus();
    await page.keyboard.press('Escape');
    await page.waitForFunction((n: number) => document.querySelectorAll('[data-testid="notice"][data-kind="error"]').length === n - 1, errorCount);
    await page.getByTestId('export-lesion').click();
    const path = await page.getByTestId('export-path').getAttribute('title', { timeout: 60_000 });
    expect((await readFile(path!)).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('exports the visit and batch PDFs', async () => {
    await page.goBack();
    await page.getByTestId('image-screen').waitFor();
    await page.goBack();
    await page.getByTestId('visit-screen').waitFor();
    await page.getByTestId('export-visit').click();
    const visitPdf = await page.getByTestId('export-path').first().getAttribute('title', { timeout: 60_000 });
    expect((await readFile(visitPdf!)).subarray(0, 5).toString()).toBe('%PDF-');
    await page.getByTestId('export-batch').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="export-path"]').length === 2, undefined, { timeout: 60_000 });
    const batchPdf = await page.getByTestId('export-path').nth(1).getAttribute('title');
    expect(batchPdf).toMatch(/batch/);
    const pdf = await readFile(batchPdf!);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.length).toBeGreaterThan(5_000);
  });

  it('tells the clinician when the model process dies, and works again once it is back', async () => {
    ws.host().kill('SIGKILL');
    await page.getByTestId('notice').filter({ hasText: HOST_STOPPED_MESSAGE }).waitFor();
    await shot('09b-model-process-restarting');
    await expect.poll(async () => (await ws.call('app.info', {})).modelStatus, { timeout: 60_000 }).toBe('ready');
  });

  it('finds everything still there after the services restart and the page reloads', async () => {
    const imageUrl = page.url();
    await ws.close();
    await start(); // same data folder, same port
    await page.reload();
    await page.getByTestId('visit-screen').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 7);
    await expect(page.getByTestId('batch-summary').textContent()).resolves.toMatch(/6 classified, 1 failed/);
    await page.getByTestId('image-tile').first().click();
    await page.getByTestId('review-history').waitFor();
    await expect(page.getByTestId('review-history').textContent()).resolves.toMatch(/dysplastic nevus/);
    await page.getByTestId('overlay-image').waitFor();
    await shot('10-image-after-restart');
    expect(imageUrl).toContain('#/visits/');
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="patient-link"]').length === 2);
    await page.getByTestId('patient-link').filter({ hasText: 'Łukasz' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="visit-link"]').length === 2);
    await shot('03-patient');
    await page.goto(`${ws.bridge.url}/#/settings`);
    await page.getByTestId('settings-screen').waitFor();
    await expect(page.getByTestId('settings-clinic').inputValue()).resolves.toBe('Dermatology Clinic · Station 2');
    await expect(page.getByTestId('settings-threshold').inputValue()).resolves.toBe('balanced');
    if (hasShippedModel) {
      // The chosen preset's validation numbers come from the loaded model's manifest.
      await page.getByTestId('settings-threshold-numbers').waitFor();
      await expect(page.getByTestId('settings-threshold-numbers').textContent()).resolves.toMatch(/sensitivity \d+%, specificity \d+%/);
    }
    await shot('09-settings');

    // The worklist across patients: riskiest first, filterable by tier, the review visible.
    await page.getByRole('link', { name: 'Results' }).click();
    await page.getByTestId('results-screen').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="result-row"]').length === 9);
    // Rows the input gate refused show no probability ("Cannot assess"); the others are riskiest first.
    const percents = (await page.getByTestId('result-row').evaluateAll((rows) => rows.map((r) => Number(/(\d+)%/.exec(r.textContent ?? '')?.[1])))).filter((p) => !Number.isNaN(p));
    expect(percents).toEqual([...percents].sort((a, b) => b - a));
    await expect(page.getByTestId('results-table').textContent()).resolves.toMatch(/Disagreed — dysplastic nevus/);
    await shot('12-results');
    await page.getByTestId('filter-high').check({ force: true });
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="result-row"] [data-testid="risk-badge"]')].every((b: { getAttribute(n: string): string | null }) => b.getAttribute('data-tier') === 'high'));
  });

  it('cancels a running batch from the screen, and the same folder resumes to the end', async () => {
    const folder = join(scratch, 'second-export');
    await mkdir(folder, { recursive: true });
    const more = [...firstImages('benign', 13).slice(5), ...firstImages('malignant', 13).slice(5)];
    for (const file of more) await copyFile(file, join(folder, file.split('/').pop()!));
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('patient-link').filter({ hasText: 'Łukasz' }).click();
    await page.getByTestId('new-visit').click();
    await page.getByTestId('visit-date').fill('2026-01-15');
    await page.getByTestId('visit-save').click();
    await page.getByTestId('visit-screen').waitFor();
    await page.getByTestId('batch-folder').fill(folder);
    await page.getByTestId('batch-start').click();
    // A picture of the bar part-way (first image done), then cancel.
    await page.waitForFunction(() => /^[1-9]\d* \/ 16 images/.test(document.querySelector('[data-testid="batch-count"]')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 50 });
    await page.screenshot({ path: join(screenshotsDir, '04-visit-batch-running.png') });
    await page.getByTestId('batch-cancel').click();
    const summary = page.getByTestId('batch-summary');
    await summary.waitFor({ timeout: 60_000 });
    const cancelled = (await summary.textContent()) ?? '';
    expect(cancelled).toMatch(/Batch cancelled: \d+ classified, 0 failed of 16/);
    expect(Number(/(\d+) classified/.exec(cancelled)?.[1] ?? 0)).toBeLessThan(16);
    await expect(page.getByTestId('batch-start').textContent()).resolves.toBe('Resume batch');
    await page.getByTestId('batch-start').click();
    await page.waitForFunction(() => /Batch done: 16 classified, 0 failed of 16/.test(document.querySelector('[data-testid="batch-summary"]')?.textContent ?? ''), undefined, { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="image-tile"]').length === 16);
  });

  it('shows who did what in the audit log, reached from the top navigation by keyboard, newest first, paged and filtered', async () => {
    await page.goto(`${ws.bridge.url}/#/patients`);
    await page.getByTestId('patients-screen').waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('audit-screen').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 25);
    // Newest first: the times never increase down the page.
    const times = await page.locator('[data-testid="audit-row"] time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''));
    expect(times).toEqual([...times].sort().reverse());
    await expect(page.getByTestId('audit-row').first().textContent()).resolves.toMatch(/clinician/);
    await shot('13-audit');
    // The whole flow wrote more than a page: the next page follows on from the first.
    const firstPage = await page.getByTestId('audit-row').evaluateAll((rows) => rows.map((r) => r.textContent));
    await page.getByTestId('audit-next').click();
    await page.waitForFunction(() => document.querySelector('[aria-label="Audit log pages"]')?.textContent?.includes('Page 2'));
    // The page number changes at once; the rows when the next page has arrived.
    await page.waitForFunction((first: string | null) => {
      const row = document.querySelector('[data-testid="audit-row"]');
      return row !== null && row.textContent !== first;
    }, firstPage[0] ?? null);
    const secondTimes = await page.locator('[data-testid="audit-row"] time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''));
    expect(secondTimes[0]! <= times.at(-1)!).toBe(true);
    expect(await page.getByTestId('audit-row').evaluateAll((rows) => rows.map((r) => r.textContent))).not.toEqual(firstPage);
    // The review this test made, filtered by record type, linked to its image.
    await page.getByTestId('audit-filter').selectOption('reviews');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="audit-row"]')] as { getAttribute(n: string): string | null }[];
      return rows.length === 1 && rows.every((r) => r.getAttribute('data-action') === 'review.create');
    });
    const review = page.getByTestId('audit-row').first();
    await expect(review.textContent()).resolves.toMatch(/Review created[\s\S]*Review #\d+[\s\S]*verdict: disagree/);
    await expect(review.getByRole('link').getAttribute('href')).resolves.toMatch(/^#\/images\/\d+$/);
    await expect(page.getByTestId('audit-next').count()).resolves.toBe(0);
  });

  it('raised no page errors, console errors or CSP violations, and no internal errors', () => {
    expect(problems).toEqual([]);
    expect(ws.internalErrors).toEqual([]);
  });
});
