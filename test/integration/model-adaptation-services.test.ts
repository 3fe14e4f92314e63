/**
 * The app's side of clinic adaptation, through the contract's dispatcher on the real services and
 * a real store in a temporary folder: compare on the store's confirmed reviews (too few melanomas:
 * the shipped model stays, recalibration only on request), adopt only with a
 * confirmation and a name, the classifier switching to the local model, reclassification on
 * request, one-call return to the shipped model, the clinician named in every audit entry, and a
 * local model modified after adoption falling back to the shipped one with a notice, as does an
 * unreadable registry until a rollback replaces it; each image showing its prediction by the
 * model in use. The classifier is the real one (shipped or adopted model folder) on stand-in
 * backbones, on coloured images; some predictions lose their stored features, as if made before
 * features were kept.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResult, Channel, EventName, ImageSummary, RequestOf, ResponseOf } from '#common/ipc';
import { createAppServices, type AppServices } from '../../electron/app-services.ts';
import { createDispatcher } from '../../electron/ipc/handlers.ts';
import { loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { modelsDir } from '../../electron/util/paths.ts';
import { caseColours, pinShippedModel, SHIPPED_DIR, standInClassifier } from '../helpers/adapt-fixtures.ts';

// These tests adapt fusion-v2 (the stand-in features fit its head), whichever version ships.
const unpin = pinShippedModel();

const hasShippedModel = existsSync(modelsDir('current.json'));
if (!hasShippedModel) console.warn('model adaptation services test skipped: no shipped model (models/current.json)');

const MELANOMAS = 14;
const BENIGN = 22;

interface Running {
  services: AppServices;
  call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
  raw(channel: Channel, request: unknown): Promise<ApiResult<unknown>>;
  events: { name: EventName; payload: unknown }[];
}

async function start(dataDir: string): Promise<Running> {
  const services = await createAppServices({ dataDir, log: () => {}, loadClassifier: (_settings, model) => standInClassifier(model.dir ?? SHIPPED_DIR) });
  await services.modelReady;
  const dispatcher = createDispatcher(services.channels);
  const events: Running['events'] = [];
  services.events.subscribe((name, payload) => events.push({ name, payload }));
  return {
    services,
    events,
    raw: (channel, request) => dispatcher.dispatch(channel, request),
    async call(channel, request) {
      const result = await dispatcher.dispatch(channel, request);
      if (!result.ok) throw Object.assign(new Error(`${channel}: ${result.error.code}: ${result.error.message}`), { code: result.error.code });
      return result.data as never;
    },
  };
}

/** A plain coloured picture per case: the stand-in backbones turn its colour into features. */
async function pictures(n: number): Promise<{ name: string; dataBase64: string }[]> {
  return Promise.all(
    caseColours(n, 11).map(async ({ rgb }, i) => {
      const png = await sharp({ create: { width: 96, height: 80, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
      return { name: `lesion-${String(i).padStart(2, '0')}.png`, dataBase64: png.toString('base64') };
    }),
  );
}

describe.skipIf(!hasShippedModel)('clinic adaptation in the app services', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dermafuse-adapt-services-'));
  const shippedVersion = hasShippedModel ? loadManifest(shippedModelDir()).version : '';
  let app: Running;
  let candidate: string;
  let imageCount = 0;

  beforeAll(async () => {
    app = await start(dataDir);
    // One patient per lesion: cross-validation keeps a patient's cases on one side of every split.
    const imported: ImageSummary[] = [];
    for (const [i, picture] of (await pictures(MELANOMAS + BENIGN + 1)).entries()) {
      const patient = await app.call('patients.create', { identifier: `AD-${i}`, name: `Adaptation Case ${i}`, dateOfBirth: null, sex: 'unknown' });
      const visit = await app.call('visits.create', { patientId: patient.id, date: '2026-01-05', clinician: '', notes: '' });
      const result = await app.call('images.import', { visitId: visit.id, files: [picture] });
      expect(result.failed).toEqual([]);
      imported.push(...result.imported);
    }
    imageCount = imported.length;
    // Predictions made before features were kept: the adaptation must compute theirs first.
    const forget = app.services.store.db.prepare('DELETE FROM prediction_features WHERE prediction_id = ?');
    for (const s of imported.slice(0, 5)) forget.run(s.prediction!.id);
    // Confirmed diagnoses that follow the shipped model's ranking, with some disagreement, so that
    // the comparison has something to measure; one other malignant diagnosis is kept out.
    const ranked = [...imported].sort((a, b) => b.prediction!.pMalignant - a.prediction!.pMalignant);
    const melanoma = new Set(ranked.slice(0, MELANOMAS + 3).map((s) => s.image.id));
    for (const s of ranked.slice(MELANOMAS - 3, MELANOMAS)) melanoma.delete(s.image.id);
    const other = ranked.at(-1)!.image.id;
    for (const s of ranked) {
      const diagnosis = s.image.id === other ? 'other_malignant' : melanoma.has(s.image.id) ? 'melanoma' : 'benign';
      await app.call('reviews.create', {
        imageId: s.image.id,
        predictionId: s.prediction!.id,
        clinician: 'Dr Reviewer',
        verdict: 'agree',
        confirmedDiagnosis: diagnosis,
        confirmationBasis: 'histopathology',
        confirmedOn: '2026-02-01',
      });
    }
  });

  afterAll(async () => {
    await app?.services.close();
    rmSync(dataDir, { recursive: true, force: true });
    unpin();
  });

  it('lists the shipped model in use and nothing to reclassify before any adaptation', async () => {
    const versions = await app.call('model.versions', {});
    expect(versions.versions).toEqual([expect.objectContaining({ version: shippedVersion, kind: 'shipped', active: true, inUse: true, comparison: null })]);
    expect(versions.notice).toBeNull();
    expect(versions.reclassify).toMatchObject({ pending: 0, running: false });
  });

  it('compares the shipped model with the methods on the confirmed cases; with too few melanomas it keeps the shipped model and writes nothing', async () => {
    const comparison = await app.call('model.adaptation.run', { clinician: 'Dr Ada Lovelace' });
    expect(comparison.base.version).toBe(shippedVersion);
    expect(comparison.cases).toMatchObject({ total: MELANOMAS + BENIGN, melanoma: MELANOMAS, benign: BENIGN });
    expect(comparison.cases.excluded).toEqual([{ reason: expect.stringMatching(/other malignant/), count: 1 }]);
    // Fewer than 30 melanomas: recalibration at most, offered but not chosen, and the comparison says so.
    expect(comparison.tooFewCases).toBe(true);
    expect(comparison.minimumPerClass).toBe(30);
    expect(comparison.reasons[0]).toMatch(/Only 14 confirmed melanoma/);
    expect(comparison.reasons.join('\n')).toMatch(/Recalibration can be requested explicitly, but it is not chosen automatically/);
    expect(comparison.methods.map((m) => m.method).sort()).toEqual(['last_layer', 'members', 'recalibrate']);
    expect(comparison.shipped.auc).toBeGreaterThan(0.6);
    expect(comparison.shipped.roc[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(comparison.shipped.roc.at(-1)).toEqual({ fpr: 1, tpr: 1 });
    expect(comparison).toMatchObject({ chosen: null, requested: 'auto', candidate: null });
    // Recalibration would lower the Brier score here: it is still left to the clinician.
    const recal = comparison.methods.find((m) => m.method === 'recalibrate')!;
    expect(recal.brier).toBeLessThan(comparison.shipped.brier);
    expect(recal.deltaAucCi[0]).toBeLessThanOrEqual(recal.deltaAuc);
    const stages = app.events.filter((e) => e.name === 'adaptation.progress').map((e) => e.payload as { stage: string; done: number; total: number });
    expect(stages).toContainEqual({ stage: 'backfill', done: 5, total: 5 });
    expect(stages.map((p) => p.stage)).toContain('cross-validation');
    expect(stages.map((p) => p.stage)).not.toContain('write');
    expect(existsSync(join(dataDir, 'local-models', `${shippedVersion}+local-1`))).toBe(false);
    expect((await app.call('model.versions', {})).versions.map((v) => v.kind)).toEqual(['shipped']);
    expect(await app.call('audit.list', { entity: 'local_models' })).toEqual([]);
  });

  it('refuses a requested method the case counts do not allow, with the reason, and writes nothing', async () => {
    const refused = await app.raw('model.adaptation.run', { clinician: 'Dr Ada Lovelace', method: 'members' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_input', message: expect.stringMatching(/members is not offered for these cases\. Only 14 confirmed melanoma/) } });
    const unknown = await app.raw('model.adaptation.run', { clinician: 'Dr Ada Lovelace', method: 'retrain' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await app.call('audit.list', { entity: 'local_models' })).toEqual([]);
  });

  it('recalibrates on request and writes that candidate, not adopted', async () => {
    const seen = app.events.length;
    const comparison = await app.call('model.adaptation.run', { clinician: 'Dr Ada Lovelace', method: 'recalibrate' });
    expect(comparison.cases).toMatchObject({ total: MELANOMAS + BENIGN, melanoma: MELANOMAS, benign: BENIGN });
    expect(comparison.tooFewCases).toBe(true);
    expect(comparison.methods.map((m) => m.method)).toEqual(['recalibrate']);
    expect(comparison).toMatchObject({ chosen: 'recalibrate', requested: 'recalibrate', candidate: `${shippedVersion}+local-1` });
    expect(comparison.reasons.at(-1)).toMatch(/recalibrate was requested explicitly, instead of the automatic choice \(keep the shipped model\)/);
    candidate = comparison.candidate!;
    const stages = app.events.slice(seen).filter((e) => e.name === 'adaptation.progress').map((e) => (e.payload as { stage: string }).stage);
    expect(stages).toEqual(expect.arrayContaining(['cross-validation', 'fit', 'write']));

    const versions = await app.call('model.versions', {});
    const local = versions.versions.find((v) => v.version === candidate)!;
    expect(local).toMatchObject({ kind: 'local', active: false, inUse: false, adoptedBy: null });
    // The stored record of the run reads back as the same figures.
    expect(local.comparison).toMatchObject({ chosen: 'recalibrate', requested: 'recalibrate', candidate, shipped: { auc: comparison.shipped.auc }, cases: { melanoma: MELANOMAS, benign: BENIGN } });
    expect((await app.call('app.info', {})).modelVersion).toBe(shippedVersion);
    const audit = await app.call('audit.list', { entity: 'local_models' });
    expect(audit.map((a) => [a.action, a.actor])).toEqual([['model.create', 'Dr Ada Lovelace']]);
  });

  it('adopts only with an explicit confirmation and a name, and refuses unknown versions', async () => {
    const unconfirmed = await app.raw('model.adopt', { version: candidate, clinician: 'Dr Grace Hopper', confirmed: false });
    expect(unconfirmed).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const missing = await app.raw('model.adopt', { version: candidate, confirmed: true });
    expect(missing).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const blank = await app.raw('model.adopt', { version: candidate, clinician: '   ', confirmed: true });
    expect(blank).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const unknown = await app.raw('model.adopt', { version: `${shippedVersion}+local-9`, clinician: 'Dr Grace Hopper', confirmed: true });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect((await app.call('audit.list', { entity: 'local_models' })).map((a) => a.action)).toEqual(['model.create']);
  });

  it('adopting switches the classifier to the local model and offers to reclassify, without touching stored results', async () => {
    const before = await app.call('predictions.list', { pageSize: 200 });
    const versions = await app.call('model.adopt', { version: candidate, clinician: 'Dr Grace Hopper', confirmed: true });
    const local = versions.versions.find((v) => v.version === candidate)!;
    expect(local).toMatchObject({ active: true, inUse: true, adoptedBy: 'Dr Grace Hopper' });
    expect(versions.versions.find((v) => v.kind === 'shipped')).toMatchObject({ active: false, inUse: false });
    expect((await app.call('app.info', {})).modelVersion).toBe(candidate);
    expect(versions.reclassify).toMatchObject({ pending: imageCount, running: false, modelVersion: candidate });
    expect(await app.call('predictions.list', { pageSize: 200 })).toEqual(before);
    const audit = await app.call('audit.list', { entity: 'local_models' });
    expect(audit[0]).toMatchObject({ action: 'model.adopt', actor: 'Dr Grace Hopper' });
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ version: candidate, previous: null });
  });

  it('reclassifies on request: every image gets a prediction by the local model beside its old one', async () => {
    const started = await app.call('model.reclassify.start', {});
    expect(started).toMatchObject({ running: true, total: imageCount, modelVersion: candidate });
    // The model cannot change under a running reclassification.
    const blocked = await app.raw('model.rollback', { clinician: 'Dr Grace Hopper' });
    expect(blocked).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringMatching(/reclassified/) } });
    for (let i = 0; i < 200 && (await app.call('model.versions', {})).reclassify.running; i++) await new Promise((r) => setTimeout(r, 50));
    const { reclassify } = await app.call('model.versions', {});
    expect(reclassify).toMatchObject({ pending: 0, running: false, done: imageCount, failed: 0, error: null });
    const last = app.events.filter((e) => e.name === 'reclassify.progress').at(-1)!.payload;
    expect(last).toMatchObject({ running: false, done: imageCount });
    const page = await app.call('predictions.list', { pageSize: 200 });
    const byModel = new Map<string, number>();
    for (const row of page.items) byModel.set(row.prediction.modelVersion, (byModel.get(row.prediction.modelVersion) ?? 0) + 1);
    expect(byModel.get(candidate)).toBe(imageCount);
    // One row per image: the worklist shows each image's prediction by the model in use.
    expect(page.total).toBe(imageCount);
    const detail = await app.call('images.get', { id: page.items[0]!.image.id });
    expect(detail.prediction?.modelVersion).toBe(candidate);
    expect((await app.services.store.predictions.listForImage(detail.image.id)).map((p) => p.modelVersion).sort()).toEqual([shippedVersion, candidate].sort());
  });

  it('comparing again while the local model is in use computes missing features with the shipped model, loaded apart', async () => {
    const shippedPredictions = app.services.store.db.prepare('SELECT id FROM predictions WHERE model_version = ? ORDER BY id LIMIT 2').all(shippedVersion) as { id: number }[];
    const forget = app.services.store.db.prepare('DELETE FROM prediction_features WHERE prediction_id = ?');
    for (const { id } of shippedPredictions) forget.run(id);
    const seen = app.events.length;
    const comparison = await app.call('model.adaptation.run', { clinician: 'Dr Ada Lovelace', method: 'recalibrate' });
    expect(comparison.base.version).toBe(shippedVersion);
    expect(comparison.cases.total).toBe(MELANOMAS + BENIGN);
    expect(app.events.slice(seen).map((e) => e.payload)).toContainEqual({ stage: 'backfill', done: 2, total: 2 });
    // A new candidate; the adopted local model stays in use.
    expect(comparison.candidate).toBe(`${shippedVersion}+local-2`);
    expect((await app.call('app.info', {})).modelVersion).toBe(candidate);
  });

  it('returns to the shipped model in one call, audited under the name given', async () => {
    const versions = await app.call('model.rollback', { clinician: 'Dr Grace Hopper' });
    expect(versions.versions.find((v) => v.kind === 'shipped')).toMatchObject({ active: true, inUse: true });
    expect(versions.versions.find((v) => v.version === candidate)).toMatchObject({ active: false, inUse: false, adoptedBy: 'Dr Grace Hopper' });
    expect((await app.call('app.info', {})).modelVersion).toBe(shippedVersion);
    const audit = await app.call('audit.list', { entity: 'local_models' });
    expect(audit[0]).toMatchObject({ action: 'model.rollback', actor: 'Dr Grace Hopper' });

    // The screens show the shipped model's results again, though the local model's are newer; both stay stored.
    const page = await app.call('predictions.list', { pageSize: 200 });
    expect(page.total).toBe(imageCount);
    expect(new Set(page.items.map((r) => r.prediction.modelVersion))).toEqual(new Set([shippedVersion]));
    const imageId = page.items[0]!.image.id;
    const detail = await app.call('images.get', { id: imageId });
    expect(detail.prediction?.modelVersion).toBe(shippedVersion);
    expect(detail.overlays.every((o) => o.predictionId === detail.prediction!.id)).toBe(true);
    const tiles = await app.call('images.list', { visitId: detail.visit!.id });
    expect(tiles.map((t) => t.prediction?.modelVersion)).toEqual([shippedVersion]);
    expect(app.services.store.predictions.listForImage(imageId).map((p) => p.modelVersion).sort()).toEqual([shippedVersion, candidate].sort());
    // Every image has a shipped prediction: nothing to reclassify.
    expect(versions.reclassify).toMatchObject({ pending: 0, running: false, modelVersion: shippedVersion });
  });

  it('a local model modified after adoption is not loaded: the shipped model runs, with a notice, until someone acts', async () => {
    await app.call('model.adopt', { version: candidate, clinician: 'Dr Grace Hopper', confirmed: true });
    await app.services.close();
    const registry = JSON.parse(readFileSync(join(dataDir, 'local-models', 'registry.json'), 'utf8')) as { active: string };
    const manifestFile = join(dataDir, 'local-models', candidate, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { threshold: number };
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, threshold: 0.01 }, null, 2));

    app = await start(dataDir);
    const info = await app.call('app.info', {});
    expect(info.modelStatus).toBe('ready');
    expect(info.modelVersion).toBe(shippedVersion);
    expect(info.localModelNotice).toMatch(new RegExp(`${candidate.replace(/[+.]/g, '\\$&')} was modified after it was created: sha256`));
    const versions = await app.call('model.versions', {});
    expect(versions.notice).toBe(info.localModelNotice);
    // The registry is left as it was: the adoption stands until someone rolls back or adopts again.
    expect(versions.versions.find((v) => v.version === candidate)).toMatchObject({ active: true, inUse: false });
    expect(JSON.parse(readFileSync(join(dataDir, 'local-models', 'registry.json'), 'utf8'))).toEqual(registry);
    // Adopting the modified version again is refused with the same reason.
    const again = await app.raw('model.adopt', { version: candidate, clinician: 'Dr Grace Hopper', confirmed: true });
    expect(again).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringMatching(/modified after it was created/) } });

    const back = await app.call('model.rollback', { clinician: 'Dr Alan Turing' });
    expect(back.notice).toBeNull();
    expect((await app.call('app.info', {})).localModelNotice).toBeNull();
    const audit = await app.call('audit.list', { entity: 'local_models' });
    expect(audit[0]).toMatchObject({ action: 'model.rollback', actor: 'Dr Alan Turing' });
  });

  it('an unreadable registry does not block the way back: the shipped model runs with a notice, and a rollback starts a fresh registry', async () => {
    await app.services.close();
    const dir = join(dataDir, 'local-models');
    const file = join(dir, 'registry.json');
    writeFileSync(file, `{ "active": "${candidate}", "versions": [`); // cut short, as by a full disk
    app = await start(dataDir);
    const info = await app.call('app.info', {});
    expect(info.modelVersion).toBe(shippedVersion);
    expect(info.localModelNotice).toMatch(/registry\.json is not valid JSON/);
    expect((await app.call('model.versions', {})).versions.find((v) => v.kind === 'shipped')).toMatchObject({ inUse: true });

    const back = await app.call('model.rollback', { clinician: 'Dr Barbara Liskov' });
    expect(back.notice).toBeNull();
    expect(back.versions).toEqual([expect.objectContaining({ version: shippedVersion, kind: 'shipped', active: true, inUse: true })]);
    expect((await app.call('app.info', {})).localModelNotice).toBeNull();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ active: null, versions: [] });
    const aside = readdirSync(dir).filter((name) => name.startsWith('registry.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!), 'utf8')).toMatch(/^\{ "active"/);
    expect(existsSync(join(dir, candidate, 'manifest.json'))).toBe(true);
    const audit = await app.call('audit.list', { entity: 'local_models' });
    expect(audit[0]).toMatchObject({ action: 'model.rollback', actor: 'Dr Barbara Liskov' });
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ to: 'shipped', registryUnreadable: expect.stringMatching(/not valid JSON/), movedTo: join(dir, aside[0]!) });
  });
});
