/**
 * Clinical store: with 100,000 predictions in the database, a results page of 50 (joined with
 * image, patient, visit and latest review) and a lesion's timeline, each <= 20 ms; and what the
 * store adds to a batch per image (hash, content-addressed copy, header read, one transaction)
 * <= 5 ms, measured by runBatch itself with a classifier that costs nothing.
 *
 * The 100k rows are seeded with direct INSERTs in one transaction (the repositories would also
 * write 200k audit rows and take minutes); the queries measured are the store's own.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import sharp from 'sharp';
import { runBatch } from '../../electron/batch/run-batch.ts';
import type { Classifier, ClassifyResult } from '../../electron/model/types.ts';
import { openStore, type Store } from '../../electron/store/index.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { largeJpegFrom } from '../images.ts';
import { round, row, timeIt, type Row, type Section } from '../lib.ts';

const PREDICTIONS = 100_000;
const PATIENTS = 2_000;
const VISITS_PER_PATIENT = 5;
const LESIONS_PER_PATIENT = 5;

export async function seed(store: Store, tinyPng: Buffer): Promise<{ patientId: number; lesionId: number }> {
  const db = store.db;
  const t0 = Date.UTC(2024, 0, 1);
  const iso = (ms: number) => new Date(ms).toISOString();
  db.transaction(() => {
    const pat = db.prepare(`INSERT INTO patients (id, identifier, name, date_of_birth, sex, created_at, updated_at, search_text) VALUES (?, ?, ?, ?, 'unknown', ?, ?, ?)`);
    const vis = db.prepare(`INSERT INTO visits (id, patient_id, date, clinician, notes, created_at) VALUES (?, ?, ?, 'dr bench', '', ?)`);
    const les = db.prepare(`INSERT INTO lesions (id, patient_id, body_site, label, created_at) VALUES (?, ?, 'back', '', ?)`);
    const img = db.prepare(
      `INSERT INTO images (id, sha256, original_name, original_path, captured_at, imported_at, patient_id, visit_id, lesion_id, width, height, byte_size)
       VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, 600, 450, 50000)`,
    );
    const pre = db.prepare(
      `INSERT INTO predictions (id, image_id, model_version, p_malignant_raw, p_malignant, threshold, label, tier, uncertainty, backend, timing_ms, created_at)
       VALUES (?, ?, 'bench-1', ?, ?, 0.3, ?, ?, 0.02, 'bench', 120, ?)`,
    );
    const ovl = db.prepare(`INSERT INTO overlays (prediction_id, kind, format, width, height, file_key, byte_offset, byte_size) VALUES (?, 'fused', ?, 16, 16, ?, 0, ?)`);
    const tinySha = sha256Hex(tinyPng);
    const rev = db.prepare(`INSERT INTO reviews (image_id, prediction_id, clinician, verdict, final_diagnosis, note, created_at) VALUES (?, ?, 'dr bench', 'agree', '', '', ?)`);
    for (let p = 1; p <= PATIENTS; p++) {
      pat.run(p, `MRN-${p}`, `Patient ${p}`, '1970-01-01', iso(t0), iso(t0), `mrn-${p}\u0001patient ${p}`);
      for (let v = 0; v < VISITS_PER_PATIENT; v++) {
        vis.run((p - 1) * VISITS_PER_PATIENT + v + 1, p, new Date(t0 + v * 90 * 86_400_000).toISOString().slice(0, 10), iso(t0));
      }
      for (let l = 0; l < LESIONS_PER_PATIENT; l++) les.run((p - 1) * LESIONS_PER_PATIENT + l + 1, p, iso(t0));
    }
    const perPatient = PREDICTIONS / PATIENTS;
    for (let i = 1; i <= PREDICTIONS; i++) {
      const patient = Math.ceil(i / perPatient);
      const k = (i - 1) % perPatient;
      const visit = (patient - 1) * VISITS_PER_PATIENT + (k % VISITS_PER_PATIENT) + 1;
      const lesion = (patient - 1) * LESIONS_PER_PATIENT + (Math.floor(k / VISITS_PER_PATIENT) % LESIONS_PER_PATIENT) + 1;
      const sha = i.toString(16).padStart(64, '0');
      const p = ((i * 2654435761) % 1000) / 1000;
      img.run(i, sha, `img-${i}.jpg`, `/clinic/in/img-${i}.jpg`, iso(t0 + i * 1000), patient, visit, lesion);
      pre.run(i, i, p, p, p >= 0.3 ? 'malignant' : 'benign', p >= 0.6 ? 'high' : p >= 0.3 ? 'review' : 'low', iso(t0 + i * 1000));
      ovl.run(i, 'overlay', tinySha, tinyPng.length);
      ovl.run(i, 'map', tinySha, tinyPng.length);
      if (i % 10 === 0) rev.run(i, i, iso(t0 + i * 1000 + 500));
    }
  })();
  db.pragma('optimize');
  return { patientId: Math.ceil(PATIENTS / 2), lesionId: Math.ceil(PATIENTS / 2) * LESIONS_PER_PATIENT };
}

/** Instant, fixed answer: whatever the batch costs on top of this is the store and the walk. */
function freeClassifier(overlay: Buffer, map: Buffer): Classifier {
  const answer = (name: string): ClassifyResult => ({
    file: name,
    width: 1,
    height: 1,
    classification: {
      pMalignant: 0.2, pMalignantRaw: 0.2, label: 'benign', tier: 'low', uncertainty: 0, threshold: 0.3,
      modelVersion: 'bench-free', backend: { backbones: 'none', head: 'none' }, timingsMs: { total_ms: 0 },
    },
    // As the real classifier stores them: three kinds, a ~1024-px colour overlay and a small grey map each.
    cams: (['fused', 'inception_v3', 'mobilenet_v2'] as const).map((kind) => ({ kind, overlayPng: overlay, mapPng: map })),
  });
  return {
    modelVersion: 'bench-free',
    classifyFile: async (f) => answer(f),
    classifyBuffer: async (_b, name) => answer(name),
    dispose: async () => {},
  };
}

/**
 * Stands in for the real classifier's timing: one image at a time (the real one runs its
 * backbones through a serial queue) taking `ms` of wall time, so the batch can overlap the
 * store's work on one image with the model's work on the next, as it does in production.
 */
function serialClassifier(ms: number, overlay: Buffer, map: Buffer): Classifier {
  const free = freeClassifier(overlay, map);
  let queue: Promise<unknown> = Promise.resolve();
  const slow = <T>(answer: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => new Promise((r) => setTimeout(r, ms))).then(answer);
    queue = run.catch(() => undefined);
    return run;
  };
  return { ...free, classifyFile: (f, o) => slow(() => free.classifyFile(f, o)), classifyBuffer: (b, n, o) => slow(() => free.classifyBuffer(b, n, o)) };
}

/** process.cpuUsage() is in microseconds and counts every thread (the hash and file writes run on the pool). */
function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

const section: Section = {
  name: 'store (SQLite: 100k predictions, results page, lesion timeline, per-image batch cost)',
  async run(ctx) {
    const rows: Row[] = [];
    const notes: string[] = [];
    const store = openStore({ dataDir: join(ctx.tmp, 'store-bench'), actor: 'bench' });
    try {
      const tiny = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#804020' } }).png().toBuffer();
      const s0 = performance.now();
      const { patientId, lesionId } = await seed(store, tiny);
      const seedSec = (performance.now() - s0) / 1000;
      notes.push(`seeded ${PREDICTIONS} predictions (${PATIENTS} patients, ${PATIENTS * VISITS_PER_PATIENT} visits, 2 overlays each, 10% reviewed) in ${seedSec.toFixed(1)} s`);

      const runs = Math.max(ctx.runs, 30);
      const q = <T>(fn: () => T) => timeIt(fn, runs, 5);
      const page = await q(() => store.listPredictions({ page: 1, pageSize: 50, sort: 'newest' }));
      rows.push(row('page of 50, newest first (all patients)', page));
      const risk = await q(() => store.listPredictions({ page: 1, pageSize: 50, sort: 'risk_desc' }));
      rows.push(row('page of 50, highest risk first', risk));
      const deep = await q(() => store.listPredictions({ page: 1000, pageSize: 50, sort: 'newest' }));
      rows.push(row('page 1000 of 50 (offset 49,950)', deep));
      const patient = await q(() => store.listPredictions({ page: 1, pageSize: 50, patientId, sort: 'risk_desc' }));
      rows.push(row(`one patient's page (${PREDICTIONS / PATIENTS} predictions)`, patient));
      const tier = await q(() => store.listPredictions({ page: 1, pageSize: 50, tier: 'high', sort: 'newest' }));
      rows.push(row('page of 50, tier high, newest first', tier));
      const timeline = await q(() => store.lesionTimeline(lesionId));
      rows.push(row(`lesion timeline (${store.lesionTimeline(lesionId).length} images across visits)`, timeline));
      const search = await q(() => store.patients.list({ search: 'patient 1234' }));
      rows.push(row(`patient search over ${PATIENTS}`, search));

      // Per-image cost the store adds to a batch, into the 100k database.
      const n = Math.min(ctx.quick ? 30 : 100, Math.max(ctx.images.length, 1) * 4);
      const folder = join(ctx.tmp, 'store-bench-in');
      await mkdir(folder, { recursive: true });
      for (let i = 0; i < n; i++) {
        const src = ctx.images[i % ctx.images.length]!;
        if (i < ctx.images.length) await copyFile(src, join(folder, `${i}-${basename(src)}`));
        // Beyond the distinct images, re-encode so every file has distinct bytes (no dedupe shortcut).
        else await sharp(src).rotate(90 * (1 + (i % 3))).jpeg({ quality: 80 + (i % 15) }).toFile(join(folder, `${i}-r.jpg`));
      }
      // A photographic overlay PNG compresses far worse than a flat one: use a real image at overlay size.
      const overlay = await sharp(ctx.images[0]!).resize(1024, 1024, { fit: 'inside', withoutEnlargement: true }).png().toBuffer();
      const map = await sharp(ctx.images[0]!).resize(68, 68, { fit: 'fill' }).greyscale().png().toBuffer();
      notes.push(`batch overlays: 3 kinds x (overlay ${Math.round(overlay.length / 1024)} KiB + map ${Math.round(map.length / 1024)} KiB) per image`);
      let c0 = process.cpuUsage();
      const result = await runBatch({ store, classifier: freeClassifier(overlay, map), root: folder, concurrency: 1 });
      const cpuPerImage = cpuMs(process.cpuUsage(c0)) / Math.max(1, result.job.total);
      const perImage = result.elapsedMs / Math.max(1, result.job.total);

      // The clinic's case: camera-sized originals (4000x3000 JPEG) and 1024-px overlays, as the
      // classifier renders them; their PNGs are ~1 MB each, which is what the store has to write.
      const camFolder = join(ctx.tmp, 'store-bench-camera');
      await mkdir(camFolder, { recursive: true });
      const camN = ctx.quick ? 4 : 8;
      for (let i = 0; i < camN; i++) await largeJpegFrom(ctx.images[i % ctx.images.length]!, join(camFolder, `camera-${i}.jpg`), 4000 - i, 3000);
      const camOverlay = await sharp(join(camFolder, 'camera-0.jpg')).resize(1024, 1024, { fit: 'inside' }).png().toBuffer();
      c0 = process.cpuUsage();
      const camResult = await runBatch({ store, classifier: freeClassifier(camOverlay, map), root: camFolder, concurrency: 1 });
      const camCpuPerImage = cpuMs(process.cpuUsage(c0)) / Math.max(1, camResult.job.total);
      const camBytes = Math.round((await sharp(join(camFolder, 'camera-0.jpg')).toBuffer()).length / 1024);
      // What the store adds to the batch's wall time when it runs as in production: image k is
      // stored while the model works on image k+1. Fresh bytes (a new folder) so nothing is reused.
      const MODEL_MS = 200;
      const pipeFolder = join(ctx.tmp, 'store-bench-camera-2');
      await mkdir(pipeFolder, { recursive: true });
      // Distinct bytes without generating more camera images: a few bytes after the JPEG's end marker.
      const pipeN = ctx.quick ? 8 : 30;
      for (let i = 0; i < pipeN; i++) {
        const original = await readFile(join(camFolder, `camera-${i % camN}.jpg`));
        await writeFile(join(pipeFolder, `camera-${i}.jpg`), Buffer.concat([original, Buffer.from(`pipelined-${i}`)]));
      }
      const piped = await runBatch({ store, classifier: serialClassifier(MODEL_MS, camOverlay, map), root: pipeFolder, concurrency: 2 });
      const addedPiped = piped.elapsedMs / Math.max(1, piped.job.total) - MODEL_MS;
      notes.push('wall figures for big files swing with the machine load (every CPU ms costs ~load/cores ms of wall time); the cpu column does not');
      notes.push(`camera case: ${camN} originals of ~${camBytes} KiB, 3 kinds x (overlay ${Math.round(camOverlay.length / 1024)} KiB + map) per image`);
      rows.push({ what: `store work per image in a batch (${result.classified} images: hash, copy, header, 1 transaction)`, median: result.storeMsPerItem ?? NaN, unit: 'ms', extra: 'mean' });
      rows.push({ what: 'whole batch per image with a zero-cost classifier (walk + read + store)', median: perImage, cpu: cpuPerImage, unit: 'ms', extra: 'mean' });
      rows.push({ what: `store work per image, camera case (${camResult.classified} x 4000x3000, 1024-px overlays)`, median: camResult.storeMsPerItem ?? NaN, cpu: camCpuPerImage, unit: 'ms', extra: 'mean; cpu = whole batch' });
      rows.push({ what: `camera case, batch wall time added per image over a ${MODEL_MS} ms serial model (${piped.classified} images, pipelined)`, median: addedPiped, unit: 'ms', extra: 'mean' });

      return {
        rows,
        notes,
        record: {
          store_page50_ms: round(page.median, 2),
          store_page50_risk_ms: round(risk.median, 2),
          store_patient_page_ms: round(patient.median, 2),
          store_timeline_ms: round(timeline.median, 2),
          store_page_worst_ms: round(Math.max(page.median, risk.median, patient.median, tier.median, deep.median), 2),
          store_ms_per_image: result.storeMsPerItem === null ? null : round(result.storeMsPerItem, 2),
          store_ms_per_image_camera: camResult.storeMsPerItem === null ? null : round(camResult.storeMsPerItem, 2),
          store_added_ms_per_image_camera: round(addedPiped, 2),
          store_cpu_ms_per_image: round(cpuPerImage, 2),
          store_cpu_ms_per_image_camera: round(camCpuPerImage, 2),
          store_seed_100k_s: round(seedSec, 1),
        },
        targets: [
          { key: 'store_page_worst_ms', op: '<=', value: 20, label: 'page of 50 with patient + image info, 100k predictions (worst of newest/risk/patient/tier/page 1000)' },
          { key: 'store_timeline_ms', op: '<=', value: 20, label: "a patient's lesion timeline, 100k predictions" },
          { key: 'store_ms_per_image', op: '<=', value: 5, label: 'store work added to a batch per image (fixture images)' },
          { key: 'store_ms_per_image_camera', op: '<=', value: 5, label: 'store work per image, sequential (4000x3000 originals, 1024-px overlays)' },
          { key: 'store_added_ms_per_image_camera', op: '<=', value: 5, label: 'batch time the store adds per image, pipelined as in production (camera case)' },
          { key: 'store_cpu_ms_per_image_camera', op: '<=', value: 5, label: 'CPU the batch spends per image outside the model, all threads (camera case; robust to machine load)' },
        ],
      };
    } finally {
      store.close();
    }
  },
};

export default section;
