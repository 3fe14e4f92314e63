import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerReport, runReport, ReportUsageError } from '../../electron/cli/report.ts';
import { ReportError, batchReportData } from '../../electron/report/index.ts';
import { syntheticOverlay, tierOf } from '../helpers/report-sample.ts';
import { openStore, type Store } from '../../electron/store/index.ts';
import { adoptLocalModel } from '../helpers/adapt-fixtures.ts';
import {
  canRenderFixtures,
  fixtureSkipReason,
  fixtureFiles,
  imagesOf,
  outputDir,
  readBack,
  squash,
} from './report-helpers.ts';

/**
 * The reports as the app and `dermafuse report` make them: from a real store (SQLite, stored
 * image bytes, overlay PNGs in the database), through the CLI's entry point.
 */
describe.skipIf(!canRenderFixtures)(`reports from the store and the CLI${fixtureSkipReason}`, () => {
  let tmp: string;
  let db: string;
  let out: string;
  const ids = { visit: 0, lesion: 0, batch: 0 };
  const probabilities: number[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dermafuse-report-'));
    out = outputDir('store');
    db = join(tmp, 'dermafuse.sqlite');
    const store: Store = openStore({ file: db, actor: 'test' });
    try {
      store.settings.update({ clinicName: 'Przychodnia Żółkiewska 山田 عيادة' });
      const patient = store.patients.create({ identifier: 'MRN-55', name: '山田太郎', dateOfBirth: '1970-01-02', sex: 'male' });
      const v1 = store.visits.create({ patientId: patient.id, date: '2026-05-04', clinician: 'محمد', notes: 'Follow-up in 6 months.' });
      const v2 = store.visits.create({ patientId: patient.id, date: '2026-11-20', clinician: 'Dr Łukasz Żółć' });
      const lesion = store.lesions.create({ patientId: patient.id, bodySite: 'left forearm', label: 'naevus A' });
      ids.visit = v2.id;
      ids.lesion = lesion.id;
      const files = fixtureFiles(5);
      const job = store.batches.createJob({ root: join(files[0]!, '..', '..'), patientId: patient.id, visitId: v2.id, modelVersion: 'test-1' });
      ids.batch = job.id;
      store.batches.addItems(job.id, [...files.slice(1).map((path) => ({ path })), { path: '/nowhere/missing.jpg', error: 'not_found: /nowhere/missing.jpg' }]);
      const items = store.batches.listItems(job.id, { pageSize: 100 }).items;
      for (const [i, file] of files.entries()) {
        const image = await store.images.importFile(file, { visitId: i === 0 ? v1.id : v2.id, lesionId: i < 2 ? lesion.id : null });
        const p = 0.1 + 0.2 * i;
        probabilities.push(p);
        const overlay = await syntheticOverlay(await readFile(file), i);
        const prediction = store.predictions.create({
          imageId: image.id,
          modelVersion: 'test-1',
          pMalignantRaw: p,
          pMalignant: p,
          threshold: 0.35,
          label: p >= 0.35 ? 'malignant' : 'benign',
          tier: tierOf(p),
          uncertainty: 0.02,
          backend: 'test',
          timingMs: 1,
          overlays: [{ kind: 'fused', format: 'overlay', png: overlay }],
        });
        if (i === 1) store.reviews.create({ imageId: image.id, predictionId: prediction.id, clinician: 'Dr Łukasz Żółć', verdict: 'agree', note: 'Stable since May.' });
        const item = items.find((it) => it.path === file);
        if (item) store.transaction(() => store.batches.completeItem(item.id, { sha256: image.sha256, imageId: image.id, predictionId: prediction.id }));
      }
      store.batches.setStatus(job.id, 'done');
    } finally {
      store.close();
    }
  });

  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes a visit report with the stored originals, overlays and review', async () => {
    const file = join(out, 'visit.pdf');
    const summary = await runReport({ db, visit: String(ids.visit), out: file });
    expect(summary.pages).toBeGreaterThanOrEqual(2);
    const back = readBack(await readFile(file), out, 'visit-store');
    expect(back.pages).toBe(summary.pages);
    const t = squash(back.text);
    for (const s of ['Przychodnia Żółkiewska', '山田太郎', 'MRN-55', '2026-11-20', 'Dr Łukasz Żółć', 'Stable since May.', 'Image 1 of 4', 'Image 4 of 4', 'test-1']) {
      expect(t).toContain(squash(s));
    }
    expect(back.text).toContain('عيادة');
    // Visit 2 holds fixtures 2..5: each has its original and its fused overlay embedded.
    expect(imagesOf(back.file)).toHaveLength(8);
    for (const p of probabilities.slice(1)) expect(back.text).toContain(`${p.toFixed(3)} (${(p * 100).toFixed(1)}%)`);
  });

  it('writes a batch summary that lists the file that could not be read', async () => {
    const file = join(out, 'batch.pdf');
    const summary = await runReport({ db, batch: String(ids.batch), out: file, clinic: 'Override Clinic' });
    const back = readBack(await readFile(file), out, 'batch-store');
    expect(back.text).toContain('Override Clinic');
    expect(back.text).toContain('missing.jpg');
    expect(back.text).toContain('not_found: /nowhere/missing.jpg');
    expect(back.text).toContain('NOT CLASSIFIED');
    expect(summary.pages).toBe(back.pages);
    const store = openStore({ file: db });
    try {
      const data = await batchReportData(store, ids.batch);
      expect(data.rows).toHaveLength(5);
      expect(data.rows.filter((r) => r.prediction)).toHaveLength(4);
    } finally {
      store.close();
    }
  });

  it('writes a lesion follow-up across both visits, times in the zone asked for', async () => {
    const file = join(out, 'lesion.pdf');
    await runReport({ db, lesion: String(ids.lesion), out: file, timeZone: 'Asia/Tokyo' });
    const back = readBack(await readFile(file), out, 'lesion-store');
    expect(back.text).toContain('left forearm');
    expect(back.layout.indexOf('1/2 \u00b7 2026-05-04')).toBeGreaterThanOrEqual(0);
    expect(back.layout.indexOf('2/2 \u00b7 2026-11-20')).toBeGreaterThan(back.layout.indexOf('1/2 \u00b7 2026-05-04'));
    expect(imagesOf(back.file)).toHaveLength(4);
    expect(back.text).toMatch(/Report generated\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2} GMT\+9/);
  });

  it('refuses unknown records, ambiguous targets and missing databases without writing a file', async () => {
    const file = join(out, 'never.pdf');
    await expect(runReport({ db, visit: '999', out: file })).rejects.toThrow(ReportError);
    await expect(runReport({ db, visit: '999', out: file })).rejects.toThrow('visit 999 does not exist');
    await expect(runReport({ db, visit: '1', batch: '1', out: file })).rejects.toThrow(ReportUsageError);
    await expect(runReport({ db, out: file })).rejects.toThrow(ReportUsageError);
    await expect(runReport({ db, lesion: 'abc', out: file })).rejects.toThrow(/positive whole number/);
    await expect(runReport({ db, visit: '1', out: join(out, 'x.txt') })).rejects.toThrow(/\.pdf/);
    await expect(runReport({ db, visit: '1', out: file, timeZone: 'Mars/Olympus' })).rejects.toThrow(/IANA/);
    const missing = join(tmp, 'nope.sqlite');
    await expect(runReport({ db: missing, visit: '1', out: file })).rejects.toThrow(/no database/);
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  it('runs as `dermafuse report` through commander, with --json and exit codes', async () => {
    const program = new Command('dermafuse').exitOverride();
    registerReport(program);
    const file = join(out, 'cli.pdf');
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const errWrite = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'dermafuse', 'report', '--db', db, '--lesion', String(ids.lesion), '--out', file, '--json']);
      const ok = JSON.parse(writes.join('').trim()) as { pages: number; out: string; kind: string };
      expect(ok.kind).toBe('lesion');
      expect(basename(ok.out)).toBe('cli.pdf');
      expect(ok.pages).toBeGreaterThanOrEqual(1);
      expect(existsSync(file)).toBe(true);
      expect(process.exitCode ?? 0).toBe(0);
      writes.length = 0;
      await program.parseAsync(['node', 'dermafuse', 'report', '--db', db, '--visit', '12345', '--out', join(out, 'bad.pdf'), '--json']);
      expect(JSON.parse(writes.join('').trim())).toEqual({ error: 'visit 12345 does not exist' });
      expect(process.exitCode).toBe(1);
    } finally {
      process.stdout.write = write;
      process.stderr.write = errWrite;
      process.exitCode = before;
    }
  });

  it('prints the adopted local model, its version and each image\'s prediction by it, as the app does', async () => {
    const store = openStore({ file: db, actor: 'test' });
    let local: string;
    let imageId: number;
    try {
      local = await adoptLocalModel(store, 0.3);
      imageId = store.images.listForVisit(ids.visit)[0]!.id;
      store.predictions.create({
        imageId,
        modelVersion: local,
        pMalignantRaw: 0.777,
        pMalignant: 0.777,
        threshold: 0.12,
        label: 'malignant',
        tier: 'high',
        uncertainty: 0.02,
        backend: 'test',
        timingMs: 1,
        overlays: [],
      });
      // A newer prediction by a model not in force must not be the one shown.
      store.predictions.create({
        imageId,
        modelVersion: 'test-2',
        pMalignantRaw: 0.555,
        pMalignant: 0.555,
        threshold: 0.35,
        label: 'malignant',
        tier: 'review',
        uncertainty: 0.02,
        backend: 'test',
        timingMs: 1,
        overlays: [],
      });
    } finally {
      store.close();
    }
    const file = join(out, 'visit-local.pdf');
    await runReport({ db, visit: String(ids.visit), out: file });
    const t = squash(readBack(await readFile(file), out, 'visit-local').text);
    expect(t).toContain(squash(`dermafuse fusion (InceptionV3 + MobileNetV2), version ${local}`));
    expect(t).toContain(squash('0.777 (77.7%)'));
    // Neither the newer prediction by a model not in force nor the older one is shown.
    expect(t).not.toContain(squash('0.555 (55.5%)'));
    expect(t).not.toContain(squash(`${probabilities[1]!.toFixed(3)} (${(probabilities[1]! * 100).toFixed(1)}%)`));
  });
});
