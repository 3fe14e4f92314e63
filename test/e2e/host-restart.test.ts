/**
 * The services host dying mid-session (SIGKILL while a batch runs and a request is in flight):
 * the request fails with a clear "unavailable" error, the window's event stream hears that the
 * model process stopped and is restarting and that the batch stopped, a new host starts on the same data folder, and
 * everything committed before the kill is still there; the interrupted batch resumes to the end
 * without classifying anything twice. The pixel-statistics stand-in classifies, slowed down so
 * the batch is still running when the host is killed.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventName } from '#common/ipc';
import { HOST_STOPPED_MESSAGE } from '../../electron/services-host/client.ts';
import { startWorkstation, type Workstation } from './harness.ts';

let scratch: string;
let ws: Workstation;
const seen: { name: EventName; payload: unknown }[] = [];

async function jpeg(file: string, shade: number): Promise<void> {
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: shade, g: 100, b: 255 - shade } } }).jpeg().toFile(file);
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'dermafuse-host-restart-'));
  ws = await startWorkstation({ dataDir: join(scratch, 'data'), classifier: { export: 'pixelStats', options: { delayMs: 150 } } });
  ws.client.events.subscribe((name, payload) => seen.push({ name, payload }));
  await ws.modelSettled();
}, 120_000);

afterAll(async () => {
  await ws?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the services host process', () => {
  it('is restarted after a SIGKILL, and nothing committed before it is lost', async () => {
    const patient = await ws.call('patients.create', { identifier: 'HR-1', name: 'Host Restart', dateOfBirth: null, sex: 'unknown' });
    const visit = await ws.call('visits.create', { patientId: patient.id, date: '2026-03-01', clinician: 'Dr. K', notes: '' });
    const single = join(scratch, 'single.jpg');
    await jpeg(single, 30);
    const imported = await ws.call('images.import', { visitId: visit.id, files: [{ name: 'single.jpg', dataBase64: (await readFile(single)).toString('base64') }] });
    expect(imported.failed).toEqual([]);

    const folder = join(scratch, 'folder');
    mkdirSync(folder);
    for (let i = 0; i < 10; i++) await jpeg(join(folder, `img${i}.jpg`), 40 + i * 20);
    const job = await ws.call('batch.start', { root: folder, visitId: visit.id });
    await until('two batch images', () => seen.find((e) => e.name === 'batch.progress' && (e.payload as { done: number }).done >= 2));

    const before = ws.host();
    // A request in flight when the host dies: the import of one more image (the stand-in takes 150 ms).
    const inFlight = ws.client.dispatch('images.import', { visitId: visit.id, files: [{ name: 'late.jpg', dataBase64: (await readFile(join(folder, 'img9.jpg'))).toString('base64') }] });
    await new Promise((r) => setTimeout(r, 30));
    before.kill('SIGKILL');
    await expect(inFlight).resolves.toEqual({ ok: false, error: { code: 'unavailable', message: HOST_STOPPED_MESSAGE } });

    // The window hears it (this event stream is what the renderer and the HTTP bridge subscribe to).
    await until('the restart event', () => seen.find((e) => e.name === 'model.status' && (e.payload as { error: string | null }).error === HOST_STOPPED_MESSAGE));
    const stopped = seen.find((e) => e.name === 'batch.finished' && (e.payload as { jobId: number }).jobId === job.id);
    expect(stopped?.payload).toMatchObject({ status: 'failed', error: HOST_STOPPED_MESSAGE });
    await ws.client.ready();
    expect(ws.host().pid).not.toBe(before.pid);
    expect(ws.client.restarts).toBe(1);
    await until('the model in the new host', async () => ((await ws.call('app.info', {})).modelStatus === 'ready' ? true : undefined));

    // Everything committed before the kill is there, whole: every image has its prediction.
    await expect(ws.call('patients.get', { id: patient.id })).resolves.toMatchObject({ name: 'Host Restart' });
    const interrupted = await ws.call('batch.get', { id: job.id });
    expect(interrupted.job.status).toBe('running');
    expect(interrupted.job.done).toBeGreaterThanOrEqual(2);
    expect(interrupted.job.done).toBeLessThan(10);
    const images = await ws.call('images.list', { visitId: visit.id });
    expect(images.length).toBeGreaterThanOrEqual(1 + interrupted.job.done);
    expect(images.every((i) => i.prediction !== null)).toBe(true);
    const [summary] = await ws.call('visits.list', { patientId: patient.id });
    expect(summary).toMatchObject({ id: visit.id, imageCount: images.length });

    // The same folder continues the same job to the end, and nothing is filed twice.
    const resumed = await ws.call('batch.start', { root: folder, visitId: visit.id });
    expect(resumed.id).toBe(job.id);
    await until('the batch to finish', () => seen.find((e) => e.name === 'batch.finished' && (e.payload as { jobId: number; status: string }).jobId === job.id && (e.payload as { status: string }).status === 'done'));
    const finished = await ws.call('batch.get', { id: job.id });
    expect(finished.job).toMatchObject({ status: 'done', done: 10, failed: 0, total: 10 });
    const after = await ws.call('images.list', { visitId: visit.id });
    const hashes = after.map((i) => i.image.sha256);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(after.length).toBe(11);

    // Media still come from the store, through main's file reads.
    const overlayId = (await ws.call('images.get', { id: after[0]!.image.id })).overlays[0]!.id;
    for (const path of [`/media/image/${after[0]!.image.sha256}`, `/media/overlay/${overlayId}`]) {
      const res = await fetch(`${ws.bridge.url}${path}`);
      expect(res.status, path).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect(ws.internalErrors).toEqual([]);
  });
});
