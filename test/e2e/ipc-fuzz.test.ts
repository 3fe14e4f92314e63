/**
 * Every channel of the contract, fed invalid payloads over the real test transport (HTTP bridge
 * → services host process → dispatcher → real services on a temporary database). Each must come back as a clear
 * `invalid_request` naming the channel and the offending field, nothing may reach a service as
 * an internal error, and the server must keep answering. Also: the bridge's own guards (JSON
 * only, same origin, its own Host, no path escape from the media routes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelNames, channels, type Channel } from '#common/ipc';
import { buildRenderer, startWorkstation, type Workstation } from './harness.ts';

let ws: Workstation;

beforeAll(async () => {
  await buildRenderer();
  // Validation runs before any service, so the model is not needed: fail its loading on purpose.
  ws = await startWorkstation({ classifier: { export: 'unavailableModel', options: { message: 'no model in the fuzz test' } } });
});
afterAll(async () => {
  await ws?.close();
});

async function post(channel: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: { ok: boolean; error?: { code: string; message: string; issues?: { path: string; message: string }[] } } }> {
  const res = await fetch(`${ws.bridge.url}/api/${encodeURIComponent(channel)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, json: (await res.json()) as never };
}

/** Values of every wrong kind, for any field. */
const WRONG_VALUES: unknown[] = [
  null,
  -1,
  0,
  1.5,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  '1',
  'x'.repeat(100_001),
  true,
  [],
  [1, 2],
  {},
  { nested: { deeper: [null] } },
  '\u0000',
  '../../etc/passwd',
  '<script>alert(1)</script>',
];

/** Raw JSON bodies: a `__proto__` key only survives as text (an object literal would set the prototype). */
const WHOLE_BODIES: string[] = ['null', '42', '"string"', '[]', 'true', '[{}]', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"unexpectedKey":1}'];

/** Invalid bodies for one channel: whole-payload garbage, unknown keys, and each field set to each wrong value. */
function invalidPayloads(channel: Channel): string[] {
  const schema = channels[channel].request as z.ZodType;
  const candidates: unknown[] = [];
  const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : {};
  for (const key of Object.keys(shape)) {
    for (const value of WRONG_VALUES) candidates.push({ [key]: value });
    const inner = shape[key];
    const innerShape = inner instanceof z.ZodObject ? (inner.shape as Record<string, unknown>) : null;
    if (innerShape) for (const sub of Object.keys(innerShape)) for (const value of WRONG_VALUES.slice(0, 6)) candidates.push({ [key]: { [sub]: value } });
  }
  // Keep only what the contract itself calls invalid: the test checks the server agrees.
  return [...WHOLE_BODIES, ...candidates.map((c) => JSON.stringify(c))].filter((body) => !schema.safeParse(JSON.parse(body)).success);
}

describe('IPC contract fuzzing over the HTTP bridge', () => {
  it('covers every channel of the contract', () => {
    expect(channelNames.length).toBeGreaterThanOrEqual(25);
    for (const channel of channelNames) expect(invalidPayloads(channel).length, channel).toBeGreaterThan(5);
  });

  it.each(channelNames)('%s rejects every invalid payload with a clear validation error', async (channel) => {
    const payloads = invalidPayloads(channel);
    for (const body of payloads) {
      const { status, json } = await post(channel, body);
      const shown = body.slice(0, 120);
      expect(json.ok, `${channel} accepted ${shown}`).toBe(false);
      expect(status, shown).toBe(400);
      expect(json.error?.code, shown).toBe('invalid_request');
      expect(json.error?.message, shown).toContain(`invalid request for "${channel}"`);
      expect(json.error?.issues?.length ?? 0, shown).toBeGreaterThan(0);
      for (const issue of json.error!.issues!) {
        expect(typeof issue.path).toBe('string');
        expect(issue.message.length).toBeGreaterThan(0);
      }
    }
    // Still answering, and nothing reached a service as an unexpected error.
    expect((await post('app.info', '{}')).json.ok).toBe(true);
    expect(ws.internalErrors).toEqual([]);
  });

  it('names the offending field in the error', async () => {
    const { json } = await post('patients.create', JSON.stringify({ identifier: 'A1', name: 'X', dateOfBirth: '31/12/1970' }));
    expect(json.error?.issues?.map((i) => i.path)).toEqual(['dateOfBirth']);
    expect(json.error?.message).toMatch(/dateOfBirth: expected YYYY-MM-DD/);
    const extra = await post('patients.create', JSON.stringify({ identifier: 'A1', name: 'X', isAdmin: true }));
    expect(extra.json.error?.message).toMatch(/isAdmin/);
  });

  it('rejects unknown channels, bad JSON, non-JSON bodies and oversized ones', async () => {
    const unknown = await post('patients.drop', '{}');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error?.code).toBe('unknown_channel');
    const proto = await post('__proto__', '{}');
    expect(proto.json.error?.code).toBe('unknown_channel');
    const badJson = await post('patients.list', '{"query":');
    expect(badJson.json.error).toMatchObject({ code: 'invalid_request', message: 'request body is not valid JSON' });
    const form = await post('patients.list', 'query=x', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(form.json.error?.message).toMatch(/Content-Type: application\/json/);
    const deep = await post('patients.list', '['.repeat(5000) + ']'.repeat(5000));
    expect(deep.json.error?.code).toBe('invalid_request');
    const get = await fetch(`${ws.bridge.url}/api/app.info`);
    expect(get.status).toBe(400);
    expect((await post('app.info', '{}')).json.ok).toBe(true);
  });

  it('answers typed errors for well-formed requests about things that do not exist', async () => {
    const missing = await post('patients.get', JSON.stringify({ id: 999_999 }));
    expect(missing.status).toBe(404);
    expect(missing.json.error).toMatchObject({ code: 'not_found' });
    const batch = await post('batch.start', JSON.stringify({ root: '/definitely/not/here' }));
    expect(batch.json.ok).toBe(false);
    expect(['invalid_input', 'unavailable']).toContain(batch.json.error?.code);
    const notOurs = await post('reports.open', JSON.stringify({ path: '/etc/passwd' }));
    expect(notOurs.json.error).toMatchObject({ code: 'invalid_request', message: 'only a report exported in this session can be opened' });
    const relative = await post('batch.start', JSON.stringify({ root: 'relative/path' }));
    expect(relative.json.error?.message).toMatch(/absolute folder path/);
    expect(ws.internalErrors).toEqual([]);
  });

  it('refuses other origins and foreign Host headers (DNS rebinding), and serves nothing outside its folders', async () => {
    const cross = await post('app.info', '{}', { Origin: 'http://evil.example' });
    expect(cross.json.error?.message).toMatch(/cross-origin/);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ws.bridge.port, path: '/api/app.info', method: 'POST', headers: { Host: 'evil.example', 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(400);
    for (const path of ['/media/image/..%2F..%2Fpackage.json', '/media/image/' + 'a'.repeat(64), '/media/overlay/0', '/media/overlay/1e3', '/..%2Fpackage.json', '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await fetch(`${ws.bridge.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toMatch(/"name"\s*:\s*"dermafuse"|root:/);
    }
    const index = await fetch(`${ws.bridge.url}/`);
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  });
});
