import { Command } from 'commander';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkDestination, exitCodeOf, formatSummary, registerBatch, runBatchCli, type BatchCliSummary } from '../../electron/cli/batch.ts';
import { openStore } from '../../electron/store/index.ts';
import { adoptLocalModel } from '../helpers/adapt-fixtures.ts';
import { PixelStatsClassifier } from '../helpers/pixel-stats-classifier.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'df-batch-cli-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const root = join(dir, 'in');
  mkdirSync(join(root, 'nested'), { recursive: true });
  for (let i = 0; i < 5; i++) {
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 30 + i * 50, g: 60, b: 90 } } })
      .png()
      .toFile(join(root, i % 2 ? 'nested' : '', `img${i}.png`));
  }
  writeFileSync(join(root, 'broken.jpg'), 'not an image');
  return root;
}

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += String(d)));
  err.on('data', (d) => (stderr += String(d)));
  return { io: { stdout: out, stderr: err }, text: () => ({ stdout, stderr }) };
}

describe('dermafuse batch', () => {
  it('classifies into the given database, lists failures, attaches to a patient by MRN, and re-runs without re-classifying', async () => {
    const root = await folder();
    const db = join(dir, 'clinic', 'db.sqlite');
    const seed = openStore({ file: db });
    const patient = seed.patients.create({ identifier: 'MRN-77', name: 'Ada' });
    seed.close();

    const classifier = new PixelStatsClassifier();
    const { io: streams } = io();
    const summary = await runBatchCli(root, { db, patient: 'MRN-77', progress: true }, classifier, streams);
    expect(summary).toMatchObject({ status: 'done', total: 6, done: 5, failed: 1, classifiedThisRun: 5, resumed: false });
    expect(summary.errors).toEqual([{ path: join(root, 'broken.jpg'), error: expect.stringMatching(/^not_an_image: /) }]);
    // 40x30 plain colours: the input gate refuses each (too small, mostly uniform); they count apart from the tiers.
    expect(summary.tiers.low + summary.tiers.review + summary.tiers.high + summary.cannotAssess).toBe(5);
    expect(summary.cannotAssess).toBe(5);
    expect(exitCodeOf(summary)).toBe(0);
    const text = formatSummary(summary);
    expect(text).toContain('5 of 6 image(s) classified, 1 failed');
    expect(text).toContain('broken.jpg: not_an_image');
    expect(text).toContain('cannot assess (input gate) 5');

    const store = openStore({ file: db });
    expect(store.listPredictions({ patientId: patient.id }).total).toBe(5);
    // The gate's verdict is stored with each prediction.
    const gate = store.listPredictions({ patientId: patient.id, tier: 'cannot_assess' }).items[0]!.prediction.gate!;
    expect(gate.verdict).toBe('refused');
    expect(gate.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['too_small', 'uniform']));
    expect(gate.shownAnyway).toBeNull();
    store.close();

    const again = await runBatchCli(root, { db, patient: `id:${patient.id}` }, classifier, io().io);
    expect(again).toMatchObject({ classifiedThisRun: 0, reusedThisRun: 5 });
    expect(classifier.calls).toHaveLength(5);
  });

  it('refuses an unknown patient or malformed visit with a clear message', async () => {
    const root = await folder();
    const db = join(dir, 'db.sqlite');
    await expect(runBatchCli(root, { db, patient: 'nobody' }, new PixelStatsClassifier(), io().io)).rejects.toThrow(/no patient with identifier or id "nobody"/);
    await expect(runBatchCli(root, { db, visit: '3; DROP TABLE visits' }, new PixelStatsClassifier(), io().io)).rejects.toThrow(/--visit must be a visit id/);
    // The same checks run before the model is loaded.
    expect(() => checkDestination({ db, visit: '12' })).toThrow(/visit 12 does not exist/);
    expect(() => checkDestination({ db })).not.toThrow();
  });

  it('exits non-zero only when nothing could be classified or the run was interrupted', () => {
    const base: BatchCliSummary = {
      database: 'x', jobId: 1, status: 'done', resumed: false, modelVersion: 'm', total: 2, done: 0, failed: 2,
      classifiedThisRun: 0, reusedThisRun: 0, tiers: { low: 0, review: 0, high: 0 }, cannotAssess: 0, errors: [], elapsedSec: 0, storeMsPerImage: null,
    };
    expect(exitCodeOf(base)).toBe(1);
    expect(exitCodeOf({ ...base, done: 1, failed: 1 })).toBe(0);
    expect(exitCodeOf({ ...base, total: 0, failed: 0 })).toBe(0);
    expect(exitCodeOf({ ...base, status: 'cancelled', done: 1 })).toBe(130);
  });

  it('is wired into commander with --json', async () => {
    const root = await folder();
    const db = join(dir, 'cli.sqlite');
    const program = new Command('dermafuse').exitOverride();
    registerBatch(program, { createClassifier: async () => new PixelStatsClassifier() });
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    await program.parseAsync(['node', 'dermafuse', 'batch', root, '--db', db, '--json', '--no-progress']);
    vi.restoreAllMocks();
    const summary = JSON.parse(out) as BatchCliSummary;
    expect(summary).toMatchObject({ status: 'done', done: 5, failed: 1, database: db });
    expect(process.exitCode ?? 0).toBe(0);
  });

  it('runs the model in force for the data folder: the adopted local version, unless --model names another', async () => {
    const root = await folder();
    const db = join(dir, 'cli.sqlite');
    const seen: (string | undefined)[] = [];
    const program = new Command('dermafuse').exitOverride();
    registerBatch(program, {
      createClassifier: async (o) => {
        seen.push(o.modelDir);
        return new PixelStatsClassifier();
      },
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const run = (...extra: string[]) => program.parseAsync(['node', 'dermafuse', 'batch', root, '--db', db, '--json', '--no-progress', ...extra]);
    await run();
    const store = openStore({ file: db, actor: 'dr.test' });
    let local: string;
    try {
      local = await adoptLocalModel(store, 0.3);
    } finally {
      store.close();
    }
    await run();
    await run('--model', '/somewhere/else');
    expect(seen).toEqual([undefined, join(dir, 'local-models', local), '/somewhere/else']);
  });
});
