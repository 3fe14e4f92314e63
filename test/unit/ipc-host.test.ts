/**
 * The message layer between main and the services host, and the client's restart rules, over
 * in-memory ports (no process): replies match their calls, malformed messages are ignored, a
 * dead peer fails the calls waiting for it, and the client tells the window, restarts the host,
 * and holds new calls until the new host has started. The real host process is exercised by
 * test/e2e/host-restart.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { EventName } from '#common/ipc';
import { createServicesClient, HOST_STOPPED_MESSAGE, type HostProcess } from '../../electron/services-host/client.ts';
import { createPeer, HOST_METHODS, HOST_NOTES, PeerClosedError, type MessagePort } from '../../electron/services-host/messages.ts';

/** Two connected in-memory ports; messages are cloned and delivered asynchronously, as over IPC. */
function pair(): [MessagePort, MessagePort] {
  const listeners: [Set<(m: unknown) => void>, Set<(m: unknown) => void>] = [new Set(), new Set()];
  const port = (mine: 0 | 1): MessagePort => ({
    send: (message) => {
      const copy = structuredClone(message);
      setImmediate(() => listeners[1 - mine]!.forEach((l) => l(copy)));
    },
    onMessage(listener) {
      listeners[mine].add(listener);
      return () => listeners[mine].delete(listener);
    },
  });
  return [port(0), port(1)];
}

describe('message peers', () => {
  it('answers calls by id, reports handler errors and unknown methods, and delivers notes', async () => {
    const [a, b] = pair();
    const notes: unknown[] = [];
    createPeer(b, {
      handlers: { double: async (n) => (n as number) * 2, fail: async () => Promise.reject(new Error('nope')) },
      onNote: (kind, body) => notes.push([kind, body]),
    });
    const caller = createPeer(a);
    await expect(Promise.all([caller.call('double', 2), caller.call('double', 5)])).resolves.toEqual([4, 10]);
    await expect(caller.call('fail')).rejects.toThrow('nope');
    await expect(caller.call('__proto__')).rejects.toThrow(/unknown method/);
    caller.note('hello', { x: 1 });
    await vi.waitFor(() => expect(notes).toEqual([['hello', { x: 1 }]]));
  });

  it('ignores messages of another protocol, and fails waiting calls when closed', async () => {
    const [a, b] = pair();
    const invalid = vi.fn();
    createPeer(b, { handlers: { slow: () => new Promise(() => {}) }, onInvalid: invalid });
    const caller = createPeer(a);
    a.send({ t: 'call', id: -1, method: 'slow' });
    a.send('garbage');
    await vi.waitFor(() => expect(invalid).toHaveBeenCalledTimes(2));
    const waiting = caller.call('slow');
    caller.close('gone');
    await expect(waiting).rejects.toBeInstanceOf(PeerClosedError);
    await expect(caller.call('slow')).rejects.toBeInstanceOf(PeerClosedError);
  });
});

/** A stand-in host: answers start and invoke, hangs on 'hang', locates media as told, and can be killed. */
function fakeHosts(media: { image?: unknown; overlay?: unknown; dataDir?: string } = {}) {
  const dataDir = media.dataDir ?? '/d';
  const spawned: { kill(): void; invokes: string[] }[] = [];
  const spawn = (): HostProcess => {
    const [main, host] = pair();
    let exit: ((reason: string) => void) | null = null;
    const invokes: string[] = [];
    const peer = createPeer(host, {
      handlers: {
        [HOST_METHODS.start]: async () => ({ dataDir, imagesDir: join(dataDir, 'images'), overlaysDir: join(dataDir, 'overlays') }),
        [HOST_METHODS.imageFile]: async () => media.image ?? null,
        [HOST_METHODS.overlayFile]: async () => media.overlay ?? null,
        [HOST_METHODS.invoke]: async (body) => {
          const { channel } = body as { channel: string };
          invokes.push(channel);
          if (channel === 'hang') return new Promise(() => {});
          return { ok: true, data: { host: spawned.length } };
        },
        [HOST_METHODS.stop]: async () => {
          setImmediate(() => exit?.('exit code 0'));
          return null;
        },
      },
    });
    const record = {
      invokes,
      kill() {
        peer.close('killed');
        setImmediate(() => exit?.('killed by SIGKILL'));
      },
    };
    spawned.push(record);
    peer.note(HOST_NOTES.hello);
    peer.note(HOST_NOTES.event, { name: 'model.status', payload: { status: 'ready', modelVersion: 'v1', error: null } });
    return { port: main, onExit: (l) => void (exit = l), kill: () => record.kill() };
  };
  return { spawn, spawned };
}

describe('services client', () => {
  it('fails the call in flight, tells the window, restarts the host and then answers again', async () => {
    const { spawn, spawned } = fakeHosts();
    const client = createServicesClient({ spawn, config: { dataDir: '/d' }, log: () => {}, restartDelayMs: 10 });
    const seen: [EventName, unknown][] = [];
    client.events.subscribe((name, payload) => seen.push([name, payload]));
    await client.ready();
    await expect(client.dispatch('app.info', {})).resolves.toEqual({ ok: true, data: { host: 1 } });

    const inFlight = client.dispatch('hang', {});
    await vi.waitFor(() => expect(spawned[0]!.invokes).toContain('hang'));
    spawned[0]!.kill();
    await expect(inFlight).resolves.toEqual({ ok: false, error: { code: 'unavailable', message: HOST_STOPPED_MESSAGE } });
    // A call made while the new host starts waits for it instead of failing.
    await expect(client.dispatch('app.info', {})).resolves.toEqual({ ok: true, data: { host: 2 } });
    expect(client.restarts).toBe(1);
    expect(seen).toContainEqual(['model.status', { status: 'loading', modelVersion: null, error: HOST_STOPPED_MESSAGE }]);
    await client.close();
    expect(spawned).toHaveLength(2);
    await expect(client.dispatch('app.info', {})).resolves.toMatchObject({ ok: false, error: { code: 'unavailable' } });
  });

  it('answers invalid_request for a request too deeply nested to pass to the host', async () => {
    const { spawn } = fakeHosts();
    // What a structured-clone transport does with a payload nested thousands deep.
    const throwing = (): HostProcess => {
      const host = spawn();
      const send = (message: unknown) => {
        if (JSON.stringify(message).includes('"deep"')) throw new RangeError('Maximum call stack size exceeded');
        host.port.send(message);
      };
      return { ...host, port: { send, onMessage: host.port.onMessage } };
    };
    const client = createServicesClient({ spawn: throwing, config: {}, log: () => {} });
    await expect(client.dispatch('patients.list', { deep: true })).resolves.toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await client.close();
  });

  it('reads media only inside the store folders the host reported, and only the located byte range', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'df-host-media-'));
    try {
      mkdirSync(join(dataDir, 'overlays', 'ab'), { recursive: true });
      const pack = join(dataDir, 'overlays', 'ab', 'cd');
      writeFileSync(pack, Buffer.from('0123456789'));
      const open = (image: unknown, overlay: unknown) => createServicesClient({ spawn: fakeHosts({ dataDir, image, overlay }).spawn, config: {}, log: () => {} });
      const inside = open(join(dataDir, 'images', 'ab', 'cd'), { path: pack, offset: 2, length: 5 });
      await expect(inside.media.imageFile('a'.repeat(64))).resolves.toBe(join(dataDir, 'images', 'ab', 'cd'));
      await expect(inside.media.overlayPng(1)).resolves.toEqual(Buffer.from('23456'));
      await inside.close();
      const outside = open('/etc/passwd', { path: join(dataDir, 'overlays', '..', '..', 'etc'), offset: 0, length: 4 });
      await expect(outside.media.imageFile('a'.repeat(64))).resolves.toBeNull();
      await expect(outside.media.overlayPng(1)).resolves.toBeNull();
      await outside.close();
      const short = open(null, { path: pack, offset: 8, length: 5 });
      await expect(short.media.overlayPng(1)).resolves.toBeNull();
      await short.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
