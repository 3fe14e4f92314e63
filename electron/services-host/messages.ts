/**
 * The message layer between the main process and the services host, independent of the
 * transport (Electron's utility-process port, Node's child-process IPC, anything that carries
 * structured-clone or JSON values). Both ends are peers: each can call the other and wait for the
 * reply, and send notes that need none.
 *
 *   { t: 'call', id, method, body }           → { t: 'reply', id, ok: true, value } | { t: 'reply', id, ok: false, error }
 *   { t: 'note', kind, body }                 (no reply)
 *
 * The contract's requests travel as the call `invoke` with body `{ channel, payload }`; the host
 * validates them with the contract before any service runs, exactly as in-process.
 */
import { z } from 'zod';

/** What a transport must offer: send a message, and hear the other end's. */
export interface MessagePort {
  send(message: unknown): void;
  /** Returns a function that stops listening. */
  onMessage(listener: (message: unknown) => void): () => void;
}

const Call = z.object({ t: z.literal('call'), id: z.number().int().nonnegative(), method: z.string().min(1).max(64), body: z.unknown() });
const Reply = z.union([
  z.object({ t: z.literal('reply'), id: z.number().int().nonnegative(), ok: z.literal(true), value: z.unknown() }),
  z.object({ t: z.literal('reply'), id: z.number().int().nonnegative(), ok: z.literal(false), error: z.string() }),
]);
const Note = z.object({ t: z.literal('note'), kind: z.string().min(1).max(64), body: z.unknown() });
const Message = z.union([Call, Reply, Note]);

export type CallHandler = (body: unknown) => Promise<unknown>;

/** The other end is gone: every call waiting for it fails with this. */
export class PeerClosedError extends Error {
  override readonly name = 'PeerClosedError';
}

/** A message could not be sent (e.g. a payload too deeply nested to serialise): the caller's fault, not the peer's. */
export class MessageSendError extends Error {
  override readonly name = 'MessageSendError';
}

export interface Peer {
  call(method: string, body?: unknown): Promise<unknown>;
  note(kind: string, body?: unknown): void;
  /** Rejects every call still waiting with PeerClosedError(reason) and stops listening. */
  close(reason: string): void;
  readonly closed: boolean;
}

export interface PeerOptions {
  /** Methods the other end may call; an unknown method answers an error. */
  handlers?: Record<string, CallHandler>;
  onNote?: (kind: string, body: unknown) => void;
  /** A message that is not of this protocol (a bug on the other end): logged, never thrown. */
  onInvalid?: (message: unknown) => void;
}

export function createPeer(port: MessagePort, options: PeerOptions = {}): Peer {
  let nextId = 0;
  let closed = false;
  const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  const handlers = options.handlers ?? {};

  function answer(id: number, run: () => Promise<unknown>): void {
    run().then(
      (value) => !closed && port.send({ t: 'reply', id, ok: true, value }),
      (err: unknown) => !closed && port.send({ t: 'reply', id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  const stop = port.onMessage((raw) => {
    const parsed = Message.safeParse(raw);
    if (!parsed.success) {
      options.onInvalid?.(raw);
      return;
    }
    const message = parsed.data;
    if (message.t === 'call') {
      const handler = Object.prototype.hasOwnProperty.call(handlers, message.method) ? handlers[message.method] : undefined;
      answer(message.id, () => (handler ? handler(message.body) : Promise.reject(new Error(`unknown method ${JSON.stringify(message.method)}`))));
    } else if (message.t === 'reply') {
      const pending = waiting.get(message.id);
      if (!pending) return;
      waiting.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(new Error(message.error));
    } else {
      options.onNote?.(message.kind, message.body);
    }
  });

  return {
    call(method, body) {
      if (closed) return Promise.reject(new PeerClosedError('the services process is not running'));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        try {
          port.send({ t: 'call', id, method, body });
        } catch (err) {
          waiting.delete(id);
          reject(new MessageSendError(err instanceof Error ? err.message : String(err)));
        }
      });
    },
    note(kind, body) {
      if (!closed) port.send({ t: 'note', kind, body });
    },
    close(reason) {
      if (closed) return;
      closed = true;
      stop();
      for (const pending of waiting.values()) pending.reject(new PeerClosedError(reason));
      waiting.clear();
    },
    get closed() {
      return closed;
    },
  };
}

// ---------------------------------------------------------------- what the two ends say

/** The first call main makes: how to build the services. Plain data, so it crosses any transport. */
export const HostConfig = z.object({
  dataDir: z.string().nullable().default(null),
  appVersion: z.string().optional(),
  reportsDir: z.string().optional(),
  /** The shell answers dialog calls (folder picker, save-as, open a file). */
  nativeDialogs: z.boolean().default(false),
  /** The shell keeps the data-folder choice and answers `shell.writeBootstrap`. */
  bootstrap: z.object({ dataDir: z.string().nullable().optional() }).optional(),
  /**
   * A module whose named export builds the classifier, instead of the shipped model (tests use
   * it to stand in a fake or a failing model): called with the settings and `options`.
   */
  classifier: z.object({ module: z.string().min(1), export: z.string().min(1), options: z.unknown().optional() }).optional(),
});
export type HostConfig = z.input<typeof HostConfig>;

/** Calls main makes to the host. */
export const HOST_METHODS = {
  start: 'start',
  invoke: 'invoke',
  imageFile: 'media.imageFile',
  overlayFile: 'media.overlayFile',
  stop: 'stop',
} as const;

/** Calls the host makes to main (the shell's native parts). */
export const SHELL_METHODS = {
  pickFolder: 'shell.pickFolder',
  pickSavePath: 'shell.pickSavePath',
  openPath: 'shell.openPath',
  writeBootstrap: 'shell.writeBootstrap',
} as const;

/** Notes the host sends to main. */
export const HOST_NOTES = {
  /** The host listens: main sends `start` only after it, so no transport has to queue. */
  hello: 'hello',
  event: 'event',
  internalError: 'internal-error',
  log: 'log',
} as const;

export const InvokeBody = z.object({ channel: z.unknown(), payload: z.unknown() });
export const EventBody = z.object({ name: z.string(), payload: z.unknown() });
export const InternalErrorBody = z.object({ channel: z.string(), message: z.string() });
/** Where an overlay's PNG lies: a byte range of one pack file. */
export const OverlayLocation = z.object({ path: z.string(), offset: z.number().int().nonnegative(), length: z.number().int().nonnegative() }).nullable();
/** The folders main may read media from, reported by the host once the store is open. */
export const StartedBody = z.object({ imagesDir: z.string(), overlaysDir: z.string(), dataDir: z.string() });
