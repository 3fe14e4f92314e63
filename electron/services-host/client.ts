/**
 * The main process's side of the services host: starts the host, forwards the renderer's
 * requests to it and its events back, serves the shell's dialogs to it, and reads media files
 * the host locates (only inside the store's folders). When the host dies, the calls in flight
 * fail with a clear `unavailable` error, the window hears `model.status` "loading" with the
 * reason (and `batch.finished` "failed" for a batch that was running), and a new host starts; SQLite transactions and resumable batches mean nothing
 * committed is lost.
 */
import { open } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { z } from 'zod';
import type { BatchProgress } from '#common/domain';
import { isEventName, type ApiResult, type BatchFinished } from '#common/ipc';
import { createEventHub, type Dispatcher, type EventHub } from '../ipc/handlers.ts';
import type { MediaSource } from '../ipc/media.ts';
import type { BootstrapConfig, Dialogs } from '../services/types.ts';
import {
  createPeer,
  EventBody,
  HOST_METHODS,
  HOST_NOTES,
  InternalErrorBody,
  MessageSendError,
  OverlayLocation,
  PeerClosedError,
  SHELL_METHODS,
  StartedBody,
  type HostConfig,
  type MessagePort,
  type Peer,
} from './messages.ts';

/** What the window is told while a new host starts. */
export const HOST_STOPPED_MESSAGE = 'the model process stopped; restarting';

/** One started host process, whatever runs it (Electron utility process, Node child process). */
export interface HostProcess {
  readonly port: MessagePort;
  /** Called once when the process has ended, for whatever reason. */
  onExit(listener: (reason: string) => void): void;
  kill(): void;
}

export interface ServicesClientOptions {
  spawn(): HostProcess;
  config: HostConfig;
  /** Native dialogs for the host's calls; absent, the host is configured without them. */
  dialogs?: Dialogs;
  bootstrap?: Pick<BootstrapConfig, 'write'>;
  log?: (message: string) => void;
  /** An unexpected error in a service, for the log (the caller only sees its message). */
  onInternalError?: (channel: string, err: Error) => void;
  /** First restart delay; doubles while the host keeps dying young, up to 30 s. */
  restartDelayMs?: number;
}

export interface ServicesClient extends Dispatcher {
  readonly events: EventHub;
  readonly media: MediaSource;
  /** Resolves once the current host has opened the store (rejects if it could not). */
  ready(): Promise<void>;
  /** How many times the host was restarted after dying. */
  readonly restarts: number;
  /** Stops the host cleanly (a running batch stops at an item boundary). */
  close(): Promise<void>;
}

interface Running {
  readonly process: HostProcess;
  readonly peer: Peer;
  readonly started: Promise<z.infer<typeof StartedBody>>;
  readonly exited: Promise<void>;
}

const ApiEnvelope = z.union([z.object({ ok: z.literal(true), data: z.unknown() }), z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }).loose() })]);

function inside(folder: string, file: string): boolean {
  const rel = relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

export function createServicesClient(options: ServicesClientOptions): ServicesClient {
  const log = options.log ?? ((m: string) => console.error(m));
  const events = createEventHub(log);
  const firstDelay = options.restartDelayMs ?? 500;
  let delay = firstDelay;
  let restarts = 0;
  let closing = false;
  const config: HostConfig = { ...options.config, nativeDialogs: options.dialogs !== undefined };

  const shellHandlers = {
    [SHELL_METHODS.pickFolder]: async () => (options.dialogs ? options.dialogs.pickFolder() : null),
    [SHELL_METHODS.pickSavePath]: async (body: unknown) => (options.dialogs ? options.dialogs.pickSavePath(z.string().parse(body)) : null),
    [SHELL_METHODS.openPath]: async (body: unknown) => {
      if (!options.dialogs) throw new Error('this shell cannot open files');
      await options.dialogs.openPath(z.string().parse(body));
      return null;
    },
    [SHELL_METHODS.writeBootstrap]: async (body: unknown) => {
      if (!options.bootstrap) throw new Error('this shell keeps no data-folder choice');
      await options.bootstrap.write(z.object({ dataDir: z.string().nullable() }).parse(body));
      return null;
    },
  };

  // Batches the host reported running: if it dies, the window hears that they stopped (the job
  // stays unfinished in the database, and starting the same folder again continues it).
  const runningBatches = new Map<number, BatchProgress>();
  events.subscribe((name, payload) => {
    if (name === 'batch.progress') runningBatches.set((payload as BatchProgress).jobId, payload as BatchProgress);
    else if (name === 'batch.finished') runningBatches.delete((payload as BatchFinished).jobId);
  });
  function batchesStopped(): void {
    for (const { jobId, done, failed, total } of [...runningBatches.values()]) {
      events.emit('batch.finished', { jobId, status: 'failed', done, failed, total, error: HOST_STOPPED_MESSAGE });
    }
  }

  function onNote(kind: string, body: unknown): void {
    if (kind === HOST_NOTES.event) {
      const event = EventBody.safeParse(body);
      // The hub validates the payload against the contract again before the window sees it.
      if (event.success && isEventName(event.data.name)) events.emit(event.data.name, event.data.payload as never);
    } else if (kind === HOST_NOTES.internalError) {
      const parsed = InternalErrorBody.safeParse(body);
      if (parsed.success) options.onInternalError?.(parsed.data.channel, new Error(parsed.data.message));
    } else if (kind === HOST_NOTES.log && typeof body === 'string') {
      log(body);
    }
  }

  function launch(): Running {
    const proc = options.spawn();
    let hello: () => void = () => {};
    const listening = new Promise<void>((resolve) => (hello = resolve));
    const notes = (kind: string, body: unknown) => (kind === HOST_NOTES.hello ? hello() : onNote(kind, body));
    const peer = createPeer(proc.port, { handlers: shellHandlers, onNote: notes, onInvalid: (m) => log(`dermafuse: ignored a malformed message from the services host: ${JSON.stringify(m)?.slice(0, 200)}`) });
    const startedAt = Date.now();
    const exited = new Promise<void>((resolve) => {
      proc.onExit((reason) => {
        peer.close(HOST_STOPPED_MESSAGE);
        resolve();
        if (closing) return;
        log(`dermafuse: the services process stopped (${reason}); restarting`);
        events.emit('model.status', { status: 'loading', modelVersion: null, error: HOST_STOPPED_MESSAGE });
        batchesStopped();
        // The first restart is quick; a host that keeps dying young waits twice as long each time.
        const wait = Date.now() - startedAt > 60_000 ? firstDelay : delay;
        delay = Math.min(wait * 2, 30_000);
        restarts++;
        current = new Promise<Running>((resolve) => setTimeout(() => resolve(launch()), wait));
      });
    });
    // A host that dies before it says hello fails its start (and the exit above restarts it).
    const started = Promise.race([listening, exited.then(() => Promise.reject(new PeerClosedError(HOST_STOPPED_MESSAGE)))])
      .then(() => peer.call(HOST_METHODS.start, config))
      .then((body) => StartedBody.parse(body));
    started.catch(() => undefined); // observed by ready() and every call
    return { process: proc, peer, started, exited };
  }

  let current: Promise<Running> = Promise.resolve(launch());

  async function live(): Promise<Running> {
    const running = await current;
    await running.started;
    return running;
  }

  function failed(err: unknown): ApiResult<never> {
    if (err instanceof MessageSendError) return { ok: false, error: { code: 'invalid_request', message: `the request could not be passed on: ${err.message}` } };
    const message = err instanceof PeerClosedError ? HOST_STOPPED_MESSAGE : `the services process could not answer: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, error: { code: 'unavailable', message } };
  }

  async function mediaCall(method: string, body: unknown): Promise<{ value: unknown; folders: z.infer<typeof StartedBody> }> {
    const running = await live();
    return { value: await running.peer.call(method, body), folders: await running.started };
  }

  const media: MediaSource = {
    async imageFile(sha256) {
      const { value, folders } = await mediaCall(HOST_METHODS.imageFile, sha256);
      const path = z.string().nullable().parse(value);
      return path !== null && inside(folders.imagesDir, path) ? path : null;
    },
    async overlayPng(id) {
      const { value, folders } = await mediaCall(HOST_METHODS.overlayFile, id);
      const where = OverlayLocation.parse(value);
      if (!where || !inside(folders.overlaysDir, where.path)) return null;
      // The PNG is a byte range of a pack file; a file gone or short answers null, as in-process.
      const file = await open(where.path, 'r').catch(() => null);
      if (!file) return null;
      try {
        const buf = Buffer.alloc(where.length);
        const { bytesRead } = await file.read(buf, 0, where.length, where.offset);
        return bytesRead === where.length ? buf : null;
      } finally {
        await file.close();
      }
    },
  };

  return {
    events,
    media,
    get restarts() {
      return restarts;
    },
    async ready() {
      await live();
    },
    async dispatch(channel, payload) {
      if (closing) return { ok: false, error: { code: 'unavailable', message: 'the workstation is shutting down' } };
      try {
        const running = await live();
        const result = ApiEnvelope.parse(await running.peer.call(HOST_METHODS.invoke, { channel, payload }));
        return result as ApiResult<unknown>;
      } catch (err) {
        return failed(err);
      }
    },
    async close() {
      if (closing) return;
      closing = true;
      const running = await current;
      const stopped = running.peer.call(HOST_METHODS.stop).catch(() => undefined);
      const patience = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 30_000).unref());
      if ((await Promise.race([stopped.then(() => running.exited), patience])) === 'timeout') running.process.kill();
      await running.exited;
    },
  };
}
