import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageRecord, Lesion, LesionTimelineEntry, Patient, PredictionPage, Review, Settings, Visit, type GateResult } from '#common/domain';
import { cannotAssess, outsideValidatedRange, triageOf } from '#common/gate';
import type { ClassifyResult } from '../../electron/model/types.ts';
import { openStore, persistClassification, StoreError, type Store } from '../../electron/store/index.ts';
import type { PredictionInput } from '../../electron/store/repositories/predictions.ts';
import { closeTempStore, openTempStore } from '../helpers/temp-store.ts';

let dir: string;
let store: Store;

beforeEach(() => {
  ({ dir, store } = openTempStore('df-store-'));
});
afterEach(() => closeTempStore({ dir, store }));

async function png(file: string, colour: { r: number; g: number; b: number }, width = 32, height = 24): Promise<string> {
  const path = join(dir, file);
  await sharp({ create: { width, height, channels: 3, background: colour } }).png().toFile(path);
  return path;
}

async function tinyPng(width = 4, height = 3): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } }).greyscale().png().toBuffer();
}

const refusedGate: GateResult = {
  verdict: 'refused',
  reasons: [{ code: 'too_dark', message: 'image too dark: luminance 4% of range in its brightest part (95th percentile; needs at least 44%)', metric: 'lumaP95', value: 0.04, threshold: 0.443 }],
  scores: { quality: { lumaP95: 0.04 } },
  version: 'gate/1 test',
  oodChecked: false,
};

function prediction(imageId: number, p: number, extra: Partial<PredictionInput> = {}): PredictionInput {
  return {
    imageId,
    modelVersion: 'test-1',
    pMalignantRaw: p,
    pMalignant: p,
    threshold: 0.3,
    label: p >= 0.3 ? 'malignant' : 'benign',
    tier: p >= 0.6 ? 'high' : p >= 0.3 ? 'review' : 'low',
    uncertainty: 0.01,
    backend: 'test',
    timingMs: 1,
    ...extra,
  };
}

const HOSTILE = [
  "Robert'); DROP TABLE patients;--",
  '100% _wild_ \\ card',
  'Łukasz Żółć',
  '山田太郎',
  'محمد',
  '<script>alert(1)</script>',
  'line one\nline two\r\n\ttabbed',
  'emoji 🩺 and zero\u200bwidth',
  '${process.exit(1)}',
  'nul\u0000inside',
];

describe('patients', () => {
  it('creates, reads, updates and pages with search; hostile text comes back verbatim', () => {
    const created = HOSTILE.map((name, i) => store.patients.create({ identifier: `MRN-${i}`, name }));
    for (const p of created) expect(Patient.parse(store.patients.get(p.id))).toEqual(p);
    expect(created.map((p) => p.name)).toEqual(HOSTILE);
    expect(store.db.prepare('SELECT count(*) AS n FROM patients').get()).toEqual({ n: HOSTILE.length });

    // % and _ in a search are literal characters, not wildcards.
    expect(store.patients.list({ search: '100%' }).items.map((p) => p.name)).toEqual([HOSTILE[1]]);
    expect(store.patients.list({ search: '_' }).items.map((p) => p.name)).toEqual([HOSTILE[1]]);
    expect(store.patients.list({ search: 'mrn-3' }).items.map((p) => p.identifier)).toEqual(['MRN-3']);
    expect(store.patients.list({ search: 'zolc' }).items.map((p) => p.name)).toEqual([HOSTILE[2]]);
    expect(store.patients.list({ search: 'ŻÓŁĆ' }).total).toBe(1);
    expect(store.patients.list({ search: '山田' }).total).toBe(1);

    const page1 = store.patients.list({ pageSize: 4, page: 1 });
    const page3 = store.patients.list({ pageSize: 4, page: 3 });
    expect(page1.total).toBe(HOSTILE.length);
    expect(page1.items).toHaveLength(4);
    expect(page3.items).toHaveLength(2);

    const updated = store.patients.update(created[0]!.id, { sex: 'female', dateOfBirth: '1970-01-02' });
    expect(updated).toMatchObject({ sex: 'female', dateOfBirth: '1970-01-02', name: HOSTILE[0] });
  });

  it('rejects a duplicate identifier with a conflict and invalid input before touching the file', () => {
    store.patients.create({ identifier: 'A', name: 'first' });
    expect(() => store.patients.create({ identifier: 'A', name: 'second' })).toThrow(StoreError);
    expect(() => store.patients.create({ identifier: '', name: 'x' })).toThrow();
    expect(() => store.patients.create({ identifier: 'B', name: 'x', dateOfBirth: '2020-13-45x' })).toThrow();
    expect(store.patients.list().total).toBe(1);
    expect(store.audit.list({ entity: 'patients' }).total).toBe(1);
  });
});

describe('images', () => {
  it('copies into the content-addressed folder without touching the original; same bytes filed once', async () => {
    const patient = store.patients.create({ identifier: 'P1', name: 'A' });
    const visit = store.visits.create({ patientId: patient.id, date: '2026-01-10', clinician: 'dr', notes: HOSTILE.join(' | ') });
    expect(store.visits.get(visit.id)?.notes).toBe(HOSTILE.join(' | '));
    const original = await png('lesion one.png', { r: 200, g: 80, b: 60 });
    const before = { bytes: readFileSync(original), mtime: statSync(original).mtimeMs };

    const image = await store.images.importFile(original, { visitId: visit.id });
    expect(ImageRecord.parse(image)).toMatchObject({ originalName: 'lesion one.png', originalPath: original, width: 32, height: 24, visitId: visit.id });
    const stored = store.imagePath(image.sha256);
    expect(stored).toBe(join(store.imagesDir, image.sha256.slice(0, 2), image.sha256.slice(2)));
    expect(readFileSync(stored).equals(before.bytes)).toBe(true);
    expect(readFileSync(original).equals(before.bytes)).toBe(true);
    expect(statSync(original).mtimeMs).toBe(before.mtime);

    const copy = join(dir, 'renamed copy.png');
    writeFileSync(copy, before.bytes);
    const again = await store.images.importFile(copy, { visitId: visit.id });
    expect(again.id).toBe(image.id);
    const elsewhere = await store.images.importFile(copy); // same bytes, not filed under a visit: its own record, same blob
    expect(elsewhere.id).not.toBe(image.id);
    expect(elsewhere.sha256).toBe(image.sha256);
    expect(store.images.findBySha256(image.sha256)).toHaveLength(2);
    expect(() => store.imagePath('../../etc/passwd')).toThrow();
  });

  it('refuses a file that is not an image, and placements that mix patients', async () => {
    const text = join(dir, 'notes.jpg');
    writeFileSync(text, 'this is not a JPEG');
    await expect(store.images.importFile(text)).rejects.toThrow(/not a readable image/);
    expect(store.db.prepare('SELECT count(*) AS n FROM images').get()).toEqual({ n: 0 });

    const a = store.patients.create({ identifier: 'A', name: 'A' });
    const b = store.patients.create({ identifier: 'B', name: 'B' });
    const visitA = store.visits.create({ patientId: a.id, date: '2026-01-01' });
    const lesionB = store.lesions.create({ patientId: b.id, bodySite: 'back' });
    const file = await png('x.png', { r: 1, g: 2, b: 3 });
    await expect(store.images.importFile(file, { visitId: visitA.id, lesionId: lesionB.id })).rejects.toThrow(/another patient/);
    await expect(store.images.importFile(file, { patientId: b.id, visitId: visitA.id })).rejects.toThrow(/another patient/);
    await expect(store.images.importFile(file, { visitId: 999 })).rejects.toThrow(/does not exist/);
  });
});

describe('predictions, overlays and listing', () => {
  it('writes a prediction with its overlays in one transaction; a bad overlay leaves nothing behind', async () => {
    const image = await store.images.importFile(await png('a.png', { r: 9, g: 9, b: 9 }));
    const overlay = await tinyPng(32, 24);
    const map = await tinyPng(8, 8);
    const p = store.predictions.create({
      ...prediction(image.id, 0.7),
      overlays: [
        { kind: 'fused', format: 'overlay', png: overlay },
        { kind: 'fused', format: 'map', png: map },
      ],
    });
    const overlays = store.overlays.listForPrediction(p.id);
    expect(overlays.map((o) => [o.kind, o.format, o.width, o.height])).toEqual([
      ['fused', 'overlay', 32, 24],
      ['fused', 'map', 8, 8],
    ]);
    expect(store.overlays.png(overlays[0]!.id)?.equals(overlay)).toBe(true);
    expect(store.overlays.png(overlays[1]!.id)?.equals(map)).toBe(true);
    expect(store.overlays.find(p.id, 'fused', 'map')?.png.equals(map)).toBe(true);
    expect(store.overlays.png(9999)).toBeNull();
    expect(store.predictions.findBySha256(image.sha256, 'test-1')?.id).toBe(p.id);

    // Same image and model again: refused, so nothing is ever classified twice.
    expect(() => store.predictions.create(prediction(image.id, 0.1))).toThrow(/already has a prediction/);

    const auditBefore = store.audit.list().total;
    const image2 = await store.images.importFile(await png('b.png', { r: 90, g: 9, b: 9 }));
    expect(() =>
      store.predictions.create({
        ...prediction(image2.id, 0.2),
        overlays: [
          { kind: 'fused', format: 'overlay', png: overlay },
          { kind: 'fused', format: 'map', png: Buffer.from('not a png at all, but long enough') },
        ],
      }),
    ).toThrow(/not a PNG/);
    expect(store.predictions.listForImage(image2.id)).toEqual([]);
    expect(store.db.prepare('SELECT count(*) AS n FROM overlays').get()).toEqual({ n: 2 });
    expect(store.audit.list().total).toBe(auditBefore + 1); // only image2's import
  });

  it('writes an overlay pack off the event loop that reads back PNG by PNG, and copies share it', async () => {
    const image = await store.images.importFile(await png('pack.png', { r: 50, g: 60, b: 70 }));
    const pngs = [await tinyPng(10, 7), await tinyPng(5, 5), await tinyPng(31, 17)];
    const stored = await store.overlays.writePackAsync([
      { kind: 'fused', format: 'overlay', png: pngs[0]! },
      { kind: 'fused', format: 'map', png: pngs[1]! },
      { kind: 'mobilenet_v2', format: 'overlay', png: pngs[2]! },
    ]);
    expect(new Set(stored.map((o) => o.fileKey)).size).toBe(1);
    const p = store.predictions.create({ ...prediction(image.id, 0.5), overlays: stored });
    const overlays = store.overlays.listForPrediction(p.id);
    expect(overlays.map((o) => [o.width, o.height])).toEqual([[10, 7], [5, 5], [31, 17]]);
    overlays.forEach((o, i) => expect(store.overlays.png(o.id)?.equals(pngs[i]!)).toBe(true));

    const other = store.patients.create({ identifier: 'COPY', name: 'Copy' });
    const refiled = store.images.record({ ...image, capturedAt: null }, { patientId: other.id }).image;
    const copy = store.predictions.copyTo(p, refiled.id);
    const copied = store.overlays.listForPrediction(copy.id);
    expect(copied.map((o) => store.overlays.location(o.id)?.path)).toEqual(overlays.map((o) => store.overlays.location(o.id)?.path));
    expect(store.overlays.png(copied[2]!.id)?.equals(pngs[2]!)).toBe(true);
    await expect(store.overlays.writePackAsync([{ kind: 'fused', format: 'map', png: Buffer.from('no png here, just text bytes') }])).rejects.toThrow(/not a PNG/);
  });

  it('lists pages joined with patient, visit and latest review, filtered and sorted', async () => {
    const a = store.patients.create({ identifier: 'A', name: 'Alice' });
    const b = store.patients.create({ identifier: 'B', name: 'Bob' });
    const va = store.visits.create({ patientId: a.id, date: '2026-02-01' });
    const vb = store.visits.create({ patientId: b.id, date: '2026-02-02' });
    const probs = [0.1, 0.9, 0.5, 0.3, 0.7];
    const ids: number[] = [];
    for (const [i, p] of probs.entries()) {
      const image = await store.images.importFile(await png(`i${i}.png`, { r: i * 40, g: 10, b: 10 }), { visitId: i % 2 ? vb.id : va.id });
      ids.push(store.predictions.create(prediction(image.id, p)).id);
    }
    const firstImage = store.predictions.get(ids[0]!)!.imageId;
    store.reviews.create({ imageId: firstImage, clinician: 'dr', verdict: 'agree' });
    const latest = store.reviews.create({ imageId: firstImage, predictionId: ids[0]!, clinician: 'dr', verdict: 'disagree', note: HOSTILE[0] });

    const all = PredictionPage.parse(store.listPredictions({ sort: 'risk_desc' }));
    expect(all.total).toBe(5);
    expect(all.items.map((r) => r.prediction.pMalignant)).toEqual([0.9, 0.7, 0.5, 0.3, 0.1]);
    const row = all.items.find((r) => r.prediction.id === ids[0])!;
    expect(row.patient?.name).toBe('Alice');
    expect(row.visit?.id).toBe(va.id);
    expect(row.review).toEqual(latest);
    Review.parse(latest);
    expect(all.items.filter((r) => r.review === null)).toHaveLength(4);

    const bob = store.listPredictions({ patientId: b.id, sort: 'risk_asc' });
    expect(bob.items.map((r) => r.prediction.pMalignant)).toEqual([0.3, 0.9]);
    expect(store.listPredictions({ visitId: va.id }).total).toBe(3);
    expect(store.listPredictions({ tier: 'high' }).total).toBe(2);
    const paged = store.listPredictions({ page: 2, pageSize: 2, sort: 'oldest' });
    expect(paged.items.map((r) => r.prediction.id)).toEqual([ids[2], ids[3]]);
    expect(store.listPredictions({ page: 9, pageSize: 2 }).items).toEqual([]);
  });

  it('keeps the gate with each prediction; "show anyway" is an audited update and moves the image from Cannot assess to its tier', async () => {
    const v = store.visits.create({ patientId: store.patients.create({ identifier: 'G', name: 'Gate' }).id, date: '2026-02-01' });
    const ok = await store.images.importFile(await png('ok.png', { r: 90, g: 10, b: 10 }), { visitId: v.id });
    const dark = await store.images.importFile(await png('dark.png', { r: 2, g: 2, b: 2 }), { visitId: v.id });
    const old = await store.images.importFile(await png('old.png', { r: 50, g: 10, b: 10 }), { visitId: v.id });
    const okGate: GateResult = { verdict: 'ok', reasons: [], scores: { quality: { lumaP95: 0.7 }, ood: { mahalanobis: 1.2, branches: { inception: { d2: 40, residual: 0.4, score: 1.2 } } } }, version: 'gate/1 test', oodChecked: true };
    const pOk = store.predictions.create(prediction(ok.id, 0.7, { gate: okGate }));
    const pDark = store.predictions.create(prediction(dark.id, 0.8, { gate: refusedGate }));
    const pOld = store.predictions.create(prediction(old.id, 0.2));
    expect(pOk.gate).toEqual({ ...okGate, shownAnyway: null });
    expect(pOld.gate).toBeNull();
    expect(triageOf(pDark)).toBe('cannot_assess');
    expect(store.listPredictions({ tier: 'high' }).items.map((r) => r.prediction.id)).toEqual([pOk.id]);
    expect(store.listPredictions({ tier: 'cannot_assess' }).items.map((r) => r.prediction.id)).toEqual([pDark.id]);
    PredictionPage.parse(store.listPredictions({}));
    // "Riskiest first" never ranks a refused image by the probability nobody may see: it comes after the others.
    expect(store.listPredictions({ visitId: v.id, sort: 'risk_desc' }).items.map((r) => r.prediction.id)).toEqual([pOk.id, pOld.id, pDark.id]);
    expect(store.audit.list({ entity: 'predictions', entityId: pDark.id }).items[0]!.detail).toContain('"too_dark"');

    expect(() => store.predictions.showAnyway(pOk.id, 'Dr. A')).toThrow(StoreError);
    store.setActor('workstation-3');
    const shown = store.predictions.showAnyway(pDark.id, 'Dr. A. Nowak');
    expect(shown.gate?.shownAnyway?.by).toBe('Dr. A. Nowak');
    expect(Date.parse(shown.gate!.shownAnyway!.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(outsideValidatedRange(shown)).toBe(true);
    expect(triageOf(shown)).toBe('high');
    expect(store.listPredictions({ tier: 'high' }).total).toBe(2);
    expect(store.listPredictions({ tier: 'cannot_assess' }).total).toBe(0);
    expect(store.listPredictions({ visitId: v.id, sort: 'risk_desc' }).items.map((r) => r.prediction.id)).toEqual([pDark.id, pOk.id, pOld.id]);
    const entry = store.audit.list({ entity: 'predictions', entityId: pDark.id }).items.find((e) => e.action === 'prediction.show_anyway')!;
    expect(entry.actor).toBe('workstation-3');
    expect(JSON.parse(entry.detail)).toMatchObject({ clinician: 'Dr. A. Nowak', reasons: ['too_dark'], outsideValidatedRange: true });
    // Asking again changes nothing; a copy onto another record of the same bytes is refused again until asked there.
    expect(store.predictions.showAnyway(pDark.id, 'someone else').gate?.shownAnyway).toEqual(shown.gate!.shownAnyway);
    const v2 = store.visits.create({ patientId: v.patientId, date: '2026-03-01' });
    const again = await store.images.importFile(await png('dark.png', { r: 2, g: 2, b: 2 }), { visitId: v2.id });
    const copy = store.predictions.copyTo(shown, again.id);
    expect(copy.gate).toEqual({ ...refusedGate, shownAnyway: null });
  });

  it('builds a lesion timeline across visits in visit-date order with the latest prediction', async () => {
    const patient = store.patients.create({ identifier: 'T', name: 'Timeline' });
    const lesion = store.lesions.create({ patientId: patient.id, bodySite: 'left scapula', label: '6 mm' });
    const later = store.visits.create({ patientId: patient.id, date: '2026-06-01' });
    const earlier = store.visits.create({ patientId: patient.id, date: '2025-12-01' });
    const imgLater = await store.images.importFile(await png('later.png', { r: 1, g: 100, b: 1 }), { visitId: later.id, lesionId: lesion.id });
    const imgEarlier = await store.images.importFile(await png('earlier.png', { r: 100, g: 1, b: 1 }), { visitId: earlier.id, lesionId: lesion.id });
    await store.images.importFile(await png('other.png', { r: 5, g: 5, b: 100 }), { visitId: earlier.id }); // not this lesion
    store.predictions.create(prediction(imgEarlier.id, 0.2, { modelVersion: 'old' }));
    const newest = store.predictions.create({ ...prediction(imgEarlier.id, 0.4, { modelVersion: 'new' }), overlays: [{ kind: 'fused', format: 'map', png: await tinyPng() }] });

    Lesion.parse(lesion);
    Visit.parse(later);
    expect(store.lesions.update(lesion.id, { label: '7 mm' }).label).toBe('7 mm');
    expect(store.lesions.listForPatient(patient.id)).toHaveLength(1);
    expect(store.visits.listForPatient(patient.id).map((v) => v.date)).toEqual(['2026-06-01', '2025-12-01']);
    const timeline = store.lesionTimeline(lesion.id).map((e) => LesionTimelineEntry.parse(e));
    expect(timeline.map((e) => e.image.id)).toEqual([imgEarlier.id, imgLater.id]);
    expect(timeline[0]!.visit?.date).toBe('2025-12-01');
    expect(timeline[0]!.prediction?.id).toBe(newest.id);
    expect(timeline[0]!.overlays.map((o) => o.format)).toEqual(['map']);
    expect(timeline[1]!.prediction).toBeNull();
    expect(timeline[1]!.overlays).toEqual([]);
  });
});

describe('audit log', () => {
  it('records who did what to which record, and cannot be changed or deleted', () => {
    const p = store.patients.create({ identifier: 'AUD', name: 'Audited' });
    store.setActor('dr.other');
    store.patients.update(p.id, { name: 'Renamed' });
    const entries = store.audit.list({ entity: 'patients', entityId: p.id }).items;
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ['patient.update', 'dr.other'],
      ['patient.create', 'dr.test'],
    ]);
    expect(JSON.parse(entries[0]!.detail)).toEqual({ name: { from: 'Audited', to: 'Renamed' } });
    expect(() => store.db.prepare('UPDATE audit_log SET actor = ?').run('mallory')).toThrow(/append-only/);
    expect(() => store.db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(store.audit.list().total).toBe(2);
  });

  it('pages by offset, newest first, so a reader can ask for one more than a page', () => {
    for (const id of ['O1', 'O2', 'O3', 'O4', 'O5']) store.patients.create({ identifier: id, name: id });
    const all = store.audit.list({ entity: 'patients' }).items.map((e) => e.entityId);
    expect(all).toHaveLength(5);
    expect(store.audit.list({ entity: 'patients', pageSize: 3, offset: 2 }).items.map((e) => e.entityId)).toEqual(all.slice(2, 5));
    expect(store.audit.list({ entity: 'patients', pageSize: 3, offset: 4 }).items.map((e) => e.entityId)).toEqual(all.slice(4));
    expect(store.audit.list({ entity: 'patients', pageSize: 2, page: 2 }).items.map((e) => e.entityId)).toEqual(all.slice(2, 4));
  });

  it('is written in the transaction of its change: a change that fails leaves no entry', () => {
    const p = store.patients.create({ identifier: 'X', name: 'X' });
    store.patients.create({ identifier: 'Y', name: 'Y' });
    expect(() => store.patients.update(p.id, { identifier: 'Y' })).toThrow(/already exists/);
    expect(store.audit.list({ entity: 'patients', entityId: p.id }).total).toBe(1);
    expect(() => store.audit.record({ actor: 'a', action: 'x', entity: 'y', entityId: null })).toThrow(/inside the transaction/);
  });
});

describe('settings', () => {
  it('returns defaults, persists changes (audited) and reports the data folder in use', () => {
    const defaults = store.settings.getAll();
    expect(Settings.parse(defaults)).toEqual({
      dataDir: join(dir, 'data'),
      clinicName: '',
      thresholdPreset: 'sensitive',
      executionProvider: 'auto',
      acknowledgedIntendedUse: false,
    });
    const next = store.settings.update({ clinicName: HOSTILE[5], acknowledgedIntendedUse: true });
    expect(next.clinicName).toBe(HOSTILE[5]);
    expect(() => store.settings.update({ thresholdPreset: 'reckless' as 'sensitive' })).toThrow();
    store.close();
    store = openStore({ dataDir: join(dir, 'data') });
    expect(store.settings.getAll()).toMatchObject({ clinicName: HOSTILE[5], acknowledgedIntendedUse: true });
    expect(store.audit.list({ entity: 'settings' }).total).toBe(2);
    expect(existsSync(join(dir, 'data', 'dermafuse.sqlite'))).toBe(true);
  });
});

describe('visit summaries and batch jobs, filtered in SQL', () => {
  it("summarises each visit from its images' newest predictions, as the per-image reads would", async () => {
    const patient = store.patients.create({ identifier: 'VS', name: 'Visits' });
    const other = store.patients.create({ identifier: 'VS2', name: 'Other' });
    const early = store.visits.create({ patientId: patient.id, date: '2026-01-01', clinician: '', notes: '' });
    const late = store.visits.create({ patientId: patient.id, date: '2026-02-01', clinician: '', notes: '' });
    const empty = store.visits.create({ patientId: patient.id, date: '2025-12-01', clinician: '', notes: '' });
    const elsewhere = store.visits.create({ patientId: other.id, date: '2026-03-01', clinician: '', notes: '' });
    const a = await store.images.importFile(await png('a.png', { r: 10, g: 0, b: 0 }), { visitId: early.id });
    const b = await store.images.importFile(await png('b.png', { r: 20, g: 0, b: 0 }), { visitId: early.id });
    const c = await store.images.importFile(await png('c.png', { r: 30, g: 0, b: 0 }), { visitId: early.id }); // never classified
    const d = await store.images.importFile(await png('d.png', { r: 40, g: 0, b: 0 }), { visitId: late.id });
    const e = await store.images.importFile(await png('e.png', { r: 50, g: 0, b: 0 }), { visitId: elsewhere.id });
    store.predictions.create(prediction(a.id, 0.9));
    // A newer model's prediction of the same image is the one that counts.
    store.predictions.create(prediction(a.id, 0.2, { modelVersion: 'test-2' }));
    store.predictions.create(prediction(b.id, 0.7));
    store.predictions.create(prediction(d.id, 0.1));
    store.predictions.create(prediction(e.id, 0.99));
    // Refused by the input gate: counts apart, and its probability is not the visit's maximum.
    const f = await store.images.importFile(await png('f.png', { r: 60, g: 0, b: 0 }), { visitId: early.id });
    const refused = store.predictions.create(prediction(f.id, 0.95, { gate: refusedGate }));
    void c;

    const perImage = store.visits.listForPatient(patient.id).map((visit) => {
      const images = store.images.listForVisit(visit.id);
      const predictions = images.map((i) => store.predictions.latestForImage(i.id)).filter((p) => p !== null);
      return {
        ...visit,
        imageCount: images.length,
        maxPMalignant: predictions.some((p) => !cannotAssess(p)) ? Math.max(...predictions.filter((p) => !cannotAssess(p)).map((p) => p.pMalignant)) : null,
        highCount: predictions.filter((p) => triageOf(p) === 'high').length,
        cannotAssessCount: predictions.filter((p) => triageOf(p) === 'cannot_assess').length,
      };
    });
    const summaries = store.visits.summariesForPatient(patient.id);
    expect(summaries).toEqual(perImage);
    expect(summaries.map((s) => [s.id, s.imageCount, s.maxPMalignant, s.highCount, s.cannotAssessCount])).toEqual([
      [late.id, 1, 0.1, 0, 0],
      [early.id, 4, 0.7, 1, 1],
      [empty.id, 0, null, 0, 0],
    ]);
    // Shown anyway: back in its tier (high), no longer apart.
    store.predictions.showAnyway(refused.id, 'Dr. A. Nowak');
    expect(store.visits.summariesForPatient(patient.id).find((s) => s.id === early.id)).toMatchObject({ maxPMalignant: 0.95, highCount: 2, cannotAssessCount: 0 });
  });

  it("lists one visit's batch jobs newest first, however many other jobs there are", () => {
    const patient = store.patients.create({ identifier: 'BJ', name: 'Jobs' });
    const visit = store.visits.create({ patientId: patient.id, date: '2026-01-01', clinician: '', notes: '' });
    const mine = [1, 2, 3].map((i) => store.batches.createJob({ root: `/mine/${i}`, patientId: patient.id, visitId: visit.id, modelVersion: 'm' }).id);
    for (let i = 0; i < 30; i++) store.batches.createJob({ root: `/other/${i}`, patientId: null, visitId: null, modelVersion: 'm' });
    expect(store.batches.listJobs({ visitId: visit.id, pageSize: 2 }).items.map((j) => j.id)).toEqual([mine[2], mine[1]]);
    expect(store.batches.listJobs({ visitId: visit.id }).total).toBe(3);
    expect(store.batches.listJobs({ pageSize: 5 }).total).toBe(33);
  });
});

describe('persistClassification', () => {
  async function classified(file: string) {
    const bytes = readFileSync(await png(file, { r: 120, g: 60, b: 30 }, 40, 30));
    const overlay = await tinyPng(40, 30);
    const result = {
      file,
      width: 40,
      height: 30,
      classification: {
        modelVersion: 'test-1',
        pMalignantRaw: 0.7,
        pMalignant: 0.7,
        threshold: 0.3,
        label: 'malignant' as const,
        tier: 'high' as const,
        uncertainty: 0.02,
        backend: { backbones: 'cpu', head: 'analytic-js' },
        timingsMs: { total_ms: 5 },
      },
      cams: [{ kind: 'fused' as const, overlayPng: overlay, mapPng: overlay }],
    };
    return { bytes, result: result as unknown as ClassifyResult };
  }

  it('writes the files before one transaction of rows, and a copy shares the prediction and overlays', async () => {
    const patient = store.patients.create({ identifier: 'PC', name: 'Persist' });
    const visit = store.visits.create({ patientId: patient.id, date: '2026-01-01', clinician: '', notes: '' });
    const { bytes, result } = await classified('p.png');
    let inTransactionWhenWritten: boolean | null = null;
    const writePack = store.overlays.writePackAsync.bind(store.overlays);
    store.overlays.writePackAsync = async (o) => {
      inTransactionWhenWritten = store.db.inTransaction;
      return writePack(o);
    };
    const first = await persistClassification(store, { bytes, originalPath: '/camera/p.png' }, { result }, { placement: { visitId: visit.id }, audit: { source: 'import' } });
    expect(inTransactionWhenWritten).toBe(false);
    expect(first.image).toMatchObject({ originalName: 'p.png', width: 40, height: 30, visitId: visit.id });
    expect(store.overlays.listForPrediction(first.prediction.id)).toHaveLength(2);
    expect(JSON.parse(String(store.audit.list({ entity: 'predictions', entityId: first.prediction.id }).items[0]?.detail))).toMatchObject({ source: 'import' });

    // The same bytes at the same place: the same records, nothing new.
    const again = await persistClassification(store, { bytes, originalPath: '/camera/p.png' }, { result }, { placement: { visitId: visit.id }, audit: {} });
    expect([again.image.id, again.prediction.id]).toEqual([first.image.id, first.prediction.id]);

    // Filed elsewhere from the known prediction: no classification, same overlay files.
    const copy = await persistClassification(store, { bytes, originalPath: '/other/p.png' }, { copyOf: first.prediction }, { placement: { patientId: patient.id }, audit: { reused: true } });
    expect(copy.image.id).not.toBe(first.image.id);
    expect(copy.prediction).toMatchObject({ pMalignant: 0.7, imageId: copy.image.id });
    expect(store.overlays.png(store.overlays.listForPrediction(copy.prediction.id)[0]!.id)?.equals(store.overlays.png(store.overlays.listForPrediction(first.prediction.id)[0]!.id)!)).toBe(true);
  });
});
