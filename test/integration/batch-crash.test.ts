/**
 * Crash safety: a child process running a batch is SIGKILLed at random moments (and, some runs,
 * from inside a classification, between reading an image and writing its result). After every
 * kill the database must be intact, no settled result may be lost or duplicated, and a final run
 * must complete the set. Random but reproducible: the seed is printed (CRASH_SEED to replay).
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR_NAME, OVERLAYS_DIR_NAME } from '../../electron/store/data-dir.ts';
import { seededRandom as rng } from '../../electron/util/random.ts';

const DRIVER = fileURLToPath(new URL('../helpers/batch-crash-driver.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = 12;

let dir: string;
let folder: string;
let db: string;
let callsLog: string;
const goodShas = new Set<string>();
let goodFiles = 0;
let badFiles = 0;


interface RunOutcome {
  readonly killed: boolean;
  readonly how: string;
  readonly itemsSeen: number;
  readonly finished: boolean;
}

type KillPlan =
  | { kind: 'none' }
  | { kind: 'timer'; ms: number }
  | { kind: 'items'; after: number; jitterMs: number }
  | { kind: 'self'; call: number }
  | { kind: 'transaction'; item: number };

/** Starts the driver and kills it as planned: a delay after it is ready, or just after its n-th settled item. */
function runDriver(plan: KillPlan): Promise<RunOutcome> {
  const env: Record<string, string> =
    plan.kind === 'self' ? { CRASH_ON_CALL: String(plan.call) } : plan.kind === 'transaction' ? { CRASH_IN_TX: String(plan.item) } : {};
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', DRIVER, db, folder, callsLog], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (timer) return;
      if (plan.kind === 'timer' && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), plan.ms);
      if (plan.kind === 'items' && (out.match(/^item /gm) ?? []).length >= plan.after && !before.includes('finished')) {
        timer = setTimeout(() => child.kill('SIGKILL'), plan.jitterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      const finished = out.includes('finished ');
      if (!finished && signal !== 'SIGKILL') {
        reject(new Error(`driver exited with ${code ?? signal} without finishing:\n${err}`));
        return;
      }
      resolve({
        killed: signal === 'SIGKILL',
        how:
          plan.kind === 'self'
            ? `self-kill inside classification #${plan.call}`
            : plan.kind === 'timer'
              ? `SIGKILL ${plan.ms} ms after ready`
              : plan.kind === 'items'
                ? `SIGKILL ${plan.jitterMs} ms after item #${plan.after}`
                : plan.kind === 'transaction'
                  ? `self-kill inside item #${plan.item}'s transaction, before COMMIT`
                  : 'no kill',
        itemsSeen: (out.match(/^item /gm) ?? []).length,
        finished,
      });
    });
  });
}

interface Snapshot {
  readonly predictions: Map<number, string>; // id -> "sha256|model|p"
  readonly doneItems: number;
  readonly errorItems: number;
}

/** Checks every invariant that must hold after any kill, and returns what was settled. */
/**
 * True once the job has finished. A kill can land after the last item committed and the job was
 * marked done; re-running a finished folder is, by design, a new job (linking the existing
 * predictions), so the test stops killing and skips the completing run once the set is done.
 */
function jobFinished(): boolean {
  if (!existsSync(db)) return false;
  const conn = new Database(db, { readonly: true });
  try {
    const row = conn.prepare(`SELECT status FROM batch_jobs ORDER BY id DESC LIMIT 1`).get() as { status: string } | undefined;
    return row?.status === 'done';
  } finally {
    conn.close();
  }
}

function verify(): Snapshot {
  const conn = new Database(db);
  try {
    expect(conn.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(conn.pragma('foreign_key_check')).toEqual([]);
    const predictions = conn
      .prepare(`SELECT p.id AS id, i.sha256 AS sha, p.model_version AS model, p.p_malignant AS p FROM predictions p JOIN images i ON i.id = p.image_id`)
      .all() as { id: number; sha: string; model: string; p: number }[];
    // No duplicate: one prediction per bytes + model (this batch files everything in one place).
    expect(new Set(predictions.map((p) => `${p.sha}|${p.model}`)).size).toBe(predictions.length);
    for (const p of predictions) expect(goodShas.has(p.sha), `prediction for unexpected bytes ${p.sha}`).toBe(true);
    // No half-written result: each prediction has its overlays, an audit entry, and a done item.
    const orphans = conn
      .prepare(
        `SELECT p.id FROM predictions p WHERE (SELECT count(*) FROM overlays o WHERE o.prediction_id = p.id) != 2
           OR NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.entity = 'predictions' AND a.entity_id = p.id)
           OR NOT EXISTS (SELECT 1 FROM batch_items b WHERE b.prediction_id = p.id AND b.status = 'done')`,
      )
      .all();
    expect(orphans).toEqual([]);
    const badDone = conn.prepare(`SELECT id FROM batch_items WHERE status = 'done' AND (prediction_id IS NULL OR image_id IS NULL)`).all();
    expect(badDone).toEqual([]);
    // Job counters agree with the items.
    const jobs = conn
      .prepare(
        `SELECT j.id, j.done, j.failed, j.total,
           (SELECT count(*) FROM batch_items b WHERE b.job_id = j.id AND b.status = 'done') AS d,
           (SELECT count(*) FROM batch_items b WHERE b.job_id = j.id AND b.status = 'error') AS f,
           (SELECT count(*) FROM batch_items b WHERE b.job_id = j.id) AS t FROM batch_jobs j`,
      )
      .all() as { id: number; done: number; failed: number; total: number; d: number; f: number; t: number }[];
    for (const j of jobs) expect([j.done, j.failed]).toEqual([j.d, j.f]);
    expect(jobs.length).toBeLessThanOrEqual(1); // every re-run continued the same job
    // Every recorded image's and overlay's bytes are in their content-addressed folders, complete.
    const images = conn.prepare('SELECT sha256, byte_size AS size FROM images').all() as { sha256: string; size: number }[];
    for (const i of images) {
      const file = join(dir, IMAGES_DIR_NAME, i.sha256.slice(0, 2), i.sha256.slice(2));
      expect(existsSync(file), file).toBe(true);
      expect(statSync(file).size).toBe(i.size);
    }
    const overlays = conn.prepare('SELECT file_key AS k, byte_offset AS o, byte_size AS n FROM overlays').all() as { k: string; o: number; n: number }[];
    for (const o of overlays) {
      const file = join(dir, OVERLAYS_DIR_NAME, o.k.slice(0, 2), o.k.slice(2));
      expect(existsSync(file), file).toBe(true);
      expect(statSync(file).size).toBeGreaterThanOrEqual(o.o + o.n);
      const png = readFileSync(file).subarray(o.o, o.o + 8);
      expect(png.toString('latin1', 1, 4)).toBe('PNG');
    }
    const count = (status: string) => (conn.prepare('SELECT count(*) AS n FROM batch_items WHERE status = ?').get(status) as { n: number }).n;
    return {
      predictions: new Map(predictions.map((p) => [p.id, `${p.sha}|${p.model}|${p.p}`])),
      doneItems: count('done'),
      errorItems: count('error'),
    };
  } finally {
    conn.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'df-crash-'));
  folder = join(dir, 'in');
  db = join(dir, 'crash.sqlite');
  callsLog = join(dir, 'calls.log');
  writeFileSync(callsLog, '');
  for (let i = 0; i < 100; i++) {
    const sub = join(folder, `d${i % 4}`);
    mkdirSync(sub, { recursive: true });
    const file = join(sub, `lesion-${String(i).padStart(2, '0')}.png`);
    await sharp({ create: { width: 64, height: 48 + (i % 7), channels: 3, background: { r: (i * 41) % 256, g: (i * 17) % 256, b: 120 } } })
      .png()
      .toFile(file);
    goodShas.add(createHash('sha256').update(readFileSync(file)).digest('hex'));
    goodFiles++;
  }
  writeFileSync(join(folder, 'd0', 'zero.jpg'), '');
  writeFileSync(join(folder, 'd1', 'text.png'), 'not a png');
  badFiles = 2;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('batch crash safety', () => {
  it(`survives ${KILLS} SIGKILLs at random moments and a final run completes the set`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    const random = rng(seed);
    const log: string[] = [`seed ${seed}`];
    let previous: Snapshot = { predictions: new Map(), doneItems: 0, errorItems: 0 };
    let kills = 0;
    let runs = 0;
    while (kills < KILLS && runs < KILLS * 3) {
      runs++;
      // Rotate: a random moment after start (scan, first images), mid-stream just after an item
      // settled (inside the next one's read, hash, copy or transaction), inside a classification,
      // and inside an item's transaction after all its rows are written.
      const plans: KillPlan[] = [
        { kind: 'timer', ms: Math.floor(random() * 900) },
        { kind: 'items', after: 1 + Math.floor(random() * 8), jitterMs: Math.floor(random() * 25) },
        { kind: 'self', call: 1 + Math.floor(random() * 6) },
        { kind: 'transaction', item: 1 + Math.floor(random() * 6) },
      ];
      const outcome = await runDriver(plans[runs % plans.length]!);
      if (outcome.killed) kills++;
      const now = verify();
      // Nothing settled is ever lost or changed.
      for (const [id, value] of previous.predictions) expect(now.predictions.get(id), `prediction ${id} lost or changed`).toBe(value);
      expect(now.doneItems).toBeGreaterThanOrEqual(previous.doneItems);
      expect(now.errorItems).toBeGreaterThanOrEqual(previous.errorItems);
      log.push(`${outcome.how}: killed=${outcome.killed} items this run=${outcome.itemsSeen} done=${now.doneItems} errors=${now.errorItems} predictions=${now.predictions.size}`);
      previous = now;
      if (outcome.finished || jobFinished()) break; // the set completed before it could be killed
    }
    if (!jobFinished()) {
      const last = await runDriver({ kind: 'none' });
      expect(last.finished).toBe(true);
    }
    const final = verify();
    log.push(`final run: done=${final.doneItems} errors=${final.errorItems} predictions=${final.predictions.size}`);
    const calls = readFileSync(callsLog, 'utf8').split('\n').filter(Boolean);
    log.push(`classifications across all runs: ${calls.length} for ${goodShas.size + badFiles} inputs, ${kills} kills`);
    console.log(log.join('\n'));

    expect(kills).toBeGreaterThanOrEqual(10);
    expect(final.doneItems).toBe(goodFiles);
    expect(final.errorItems).toBe(badFiles);
    expect(final.predictions.size).toBe(goodShas.size);
    // Work is only repeated for images in flight at a kill (at most 2 per kill with concurrency 2);
    // bad files fail before being recorded, so each kill may also retry those.
    expect(calls.length).toBeLessThanOrEqual(goodShas.size + badFiles + 2 * kills);
    // The final run re-classified nothing that an earlier run had settled.
    for (const [id, value] of previous.predictions) expect(final.predictions.get(id)).toBe(value);
  });
});
