/**
 * The main-process boundary without any transport: validation before the service, defaults
 * filled in, typed errors from services, responses checked against the contract, events checked
 * before they fan out. Fake channel implementations stand in for the services here on purpose:
 * what is under test is the boundary, and the browser tests run it against the real services.
 */
import { describe, expect, it, vi } from 'vitest';
import { channelNames, channels } from '#common/ipc';
import { createDispatcher, createEventHub, ServiceError, type ChannelImplementations } from '../../electron/ipc/handlers.ts';
import { ImageInputError } from '../../electron/model/types.ts';
import { ReportError } from '../../electron/report/from-store.ts';
import { StoreError } from '../../electron/store/errors.ts';

const now = '2026-01-01T00:00:00.000Z';
const patient = { id: 1, identifier: 'A1', name: 'Ann', dateOfBirth: null, sex: 'unknown' as const, createdAt: now, updatedAt: now };

function implementations(overrides: Partial<ChannelImplementations> = {}): ChannelImplementations {
  const refuse = async () => {
    throw new Error('not used in this test');
  };
  const all = Object.fromEntries(channelNames.map((c) => [c, refuse])) as unknown as ChannelImplementations;
  return { ...all, ...overrides };
}

describe('dispatcher', () => {
  it('passes the validated request, defaults filled in, to the implementation', async () => {
    const page = { items: [patient], total: 1, page: 1, pageSize: 100 };
    const list = vi.fn(async () => page);
    const dispatcher = createDispatcher(implementations({ 'patients.list': list }));
    const result = await dispatcher.dispatch('patients.list', { query: 'an' });
    expect(result).toEqual({ ok: true, data: page });
    expect(list).toHaveBeenCalledWith({ query: 'an', page: 1, pageSize: 100 });
  });

  it('never calls the implementation for an invalid request', async () => {
    const create = vi.fn(async () => patient);
    const dispatcher = createDispatcher(implementations({ 'patients.create': create }));
    const result = await dispatcher.dispatch('patients.create', { identifier: '', name: 'x'.repeat(201) });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('invalid_request');
    expect(result.error.issues?.map((i) => i.path).sort()).toEqual(['identifier', 'name']);
    expect(create).not.toHaveBeenCalled();
  });

  it('pages the audit log by offset, defaulting to the newest entries, and refuses a negative offset', async () => {
    const list = vi.fn(async () => []);
    const dispatcher = createDispatcher(implementations({ 'audit.list': list }));
    await dispatcher.dispatch('audit.list', { entity: 'reviews' });
    expect(list).toHaveBeenCalledWith({ entity: 'reviews', entityId: null, limit: 100, offset: 0 });
    await dispatcher.dispatch('audit.list', { limit: 26, offset: 25 });
    expect(list).toHaveBeenLastCalledWith({ entity: null, entityId: null, limit: 26, offset: 25 });
    const bad = await dispatcher.dispatch('audit.list', { offset: -1 });
    expect(bad.ok).toBe(false);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('treats patch fields as optional without inventing defaults', async () => {
    const update = vi.fn(async () => patient);
    const dispatcher = createDispatcher(implementations({ 'patients.update': update }));
    await dispatcher.dispatch('patients.update', { id: 1, patch: { name: 'Ann B' } });
    expect(update).toHaveBeenCalledWith({ id: 1, patch: { name: 'Ann B' } });
  });

  it('maps typed service, store, report and image errors to codes, and hides nothing else but the stack', async () => {
    const onInternalError = vi.fn();
    const failWith = (err: Error) => implementations({ 'patients.get': async () => Promise.reject(err) });
    const cases: [Error, string][] = [
      [new ServiceError('unavailable', 'the model is not available'), 'unavailable'],
      [new StoreError('not_found', 'patient 9 does not exist'), 'not_found'],
      [new StoreError('conflict', 'image 3 already has a prediction from model v1'), 'conflict'],
      [new StoreError('invalid', 'lesion of another patient'), 'invalid_request'],
      [new ReportError('not_found', 'visit 3 does not exist'), 'not_found'],
      [new ImageInputError('truncated', 'x.jpg', 'truncated'), 'invalid_input'],
      [new TypeError('boom'), 'internal'],
    ];
    for (const [err, code] of cases) {
      const result = await createDispatcher(failWith(err), { onInternalError }).dispatch('patients.get', { id: 9 });
      expect(result).toEqual({ ok: false, error: { code, message: err.message } });
    }
    // A store error the boundary has no code for (a database newer than the app) is internal.
    const tooNew = await createDispatcher(failWith(new StoreError('schema_too_new', 'the database is newer than this app')), { onInternalError }).dispatch('patients.get', { id: 9 });
    expect(tooNew).toEqual({ ok: false, error: { code: 'internal', message: 'the database is newer than this app' } });
    expect(onInternalError).toHaveBeenCalledTimes(2);
  });

  it('refuses a response that breaks the contract instead of passing it on', async () => {
    const onInternalError = vi.fn();
    const dispatcher = createDispatcher(implementations({ 'patients.get': async () => ({ ...patient, id: -1 }) }), { onInternalError });
    const result = await dispatcher.dispatch('patients.get', { id: 1 });
    expect(result).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(onInternalError).toHaveBeenCalled();
  });

  it('answers unknown channels, including inherited property names, without throwing', async () => {
    const dispatcher = createDispatcher(implementations());
    for (const name of ['nope', '__proto__', 'constructor', 'toString', 42, null, undefined]) {
      const result = await dispatcher.dispatch(name, {});
      expect(result).toMatchObject({ ok: false, error: { code: 'unknown_channel' } });
    }
  });

  it('every channel has a request and a response schema', () => {
    for (const name of channelNames) {
      expect(typeof channels[name].request.safeParse).toBe('function');
      expect(typeof channels[name].response.safeParse).toBe('function');
    }
  });
});

describe('event hub', () => {
  it('delivers valid events and drops malformed ones with a log line', () => {
    const log = vi.fn();
    const hub = createEventHub(log);
    const seen: unknown[] = [];
    const stop = hub.subscribe((name, payload) => seen.push([name, payload]));
    const progress = { jobId: 1, done: 1, failed: 0, total: 3, ratePerSec: 2, etaSec: 1, current: '/a.jpg' };
    hub.emit('batch.progress', progress);
    hub.emit('batch.progress', { ...progress, done: -1 });
    expect(seen).toEqual([['batch.progress', progress]]);
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/dropped invalid "batch.progress"/));
    stop();
    hub.emit('batch.progress', progress);
    expect(seen).toHaveLength(1);
  });

  it('keeps delivering when one listener throws', () => {
    const hub = createEventHub(() => {});
    const good = vi.fn();
    hub.subscribe(() => {
      throw new Error('bad listener');
    });
    hub.subscribe(good);
    hub.emit('model.status', { status: 'ready', modelVersion: 'v1', error: null });
    expect(good).toHaveBeenCalledTimes(1);
  });
});
