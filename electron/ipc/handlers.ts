/**
 * The contract's boundary in front of the services. Transport-agnostic: the services host
 * calls `dispatch(channel, payload)` with whatever the main process forwarded (from Electron's
 * IPC or the HTTP test bridge) and answers the envelope it gets back; the main process's
 * services client is a Dispatcher too. Every request is parsed with the contract's schema
 * before a service sees it, every response is parsed on the way out, and no exception crosses
 * the boundary as anything but a typed error.
 */
import { z } from 'zod';
import {
  channels,
  events,
  isChannel,
  type ApiError,
  type ApiErrorCode,
  type ApiResult,
  type Channel,
  type EventName,
  type EventOf,
  type ParsedRequestOf,
  type ResponseOf,
} from '#common/ipc';

/** What a service throws when it wants the caller to see a specific error code. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: number | string): ServiceError => new ServiceError('not_found', `${what} ${id} does not exist`);

/** One implementation per channel, receiving the already validated request. */
export type ChannelImplementations = {
  [C in Channel]: (request: ParsedRequestOf<C>) => Promise<z.input<(typeof channels)[C]['response']>>;
};

export type EventListener = (event: EventName, payload: unknown) => void;

/** Fans events out to whichever transports are attached (the window, the bridge's SSE clients). */
export interface EventHub {
  emit<E extends EventName>(event: E, payload: EventOf<E>): void;
  subscribe(listener: EventListener): () => void;
}

export function createEventHub(log: (message: string) => void = (m) => console.error(m)): EventHub {
  const listeners = new Set<EventListener>();
  return {
    emit(event, payload) {
      const parsed = events[event].safeParse(payload);
      if (!parsed.success) {
        // A malformed event is our bug; drop it rather than hand the renderer garbage.
        log(`dermafuse: dropped invalid "${event}" event: ${formatIssues(parsed.error).map((i) => `${i.path}: ${i.message}`).join('; ')}`);
        return;
      }
      for (const listener of listeners) {
        try {
          listener(event, parsed.data);
        } catch (err) {
          log(`dermafuse: event listener failed: ${String(err)}`);
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function formatIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join('.') : '(payload)',
    message: issue.message,
  }));
}

function failure(error: ApiError): { ok: false; error: ApiError } {
  return { ok: false, error };
}

function describeUnknownError(err: unknown): ApiError {
  if (err instanceof ServiceError) return { code: err.code, message: err.message };
  if (err instanceof Error && err.name === 'ImageInputError') return { code: 'invalid_input', message: err.message };
  // The store's and the reports' typed errors, recognised by shape so this module imports neither.
  if (err instanceof Error && (err.name === 'StoreError' || err.name === 'ReportError')) {
    const code = (err as Error & { code?: unknown }).code;
    const mapped: ApiErrorCode | undefined = code === 'not_found' ? 'not_found' : code === 'conflict' ? 'conflict' : code === 'invalid' ? 'invalid_request' : undefined;
    if (mapped) return { code: mapped, message: err.message };
  }
  if (err instanceof z.ZodError) {
    // A service validated something itself (e.g. a store's input schema).
    const issues = formatIssues(err);
    return { code: 'invalid_request', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: message || 'internal error' };
}

export interface Dispatcher {
  dispatch(channel: unknown, payload: unknown): Promise<ApiResult<unknown>>;
}

export interface DispatcherOptions {
  /** Called with unexpected (internal) errors, for the log; the caller only sees the message. */
  onInternalError?: (channel: string, err: unknown) => void;
}

export function createDispatcher(impl: ChannelImplementations, options: DispatcherOptions = {}): Dispatcher {
  return {
    async dispatch(channel, payload) {
      if (!isChannel(channel)) {
        const shown = typeof channel === 'string' ? JSON.stringify(channel.slice(0, 80)) : typeof channel;
        return failure({ code: 'unknown_channel', message: `unknown channel ${shown}` });
      }
      const request = channels[channel].request.safeParse(payload);
      if (!request.success) {
        const issues = formatIssues(request.error);
        return failure({
          code: 'invalid_request',
          message: `invalid request for "${channel}": ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
          issues,
        });
      }
      let result: unknown;
      try {
        const run = impl[channel] as (req: unknown) => Promise<unknown>;
        result = await run(request.data);
      } catch (err) {
        const error = describeUnknownError(err);
        if (error.code === 'internal') options.onInternalError?.(channel, err);
        return failure(error);
      }
      const response = channels[channel].response.safeParse(result);
      if (!response.success) {
        options.onInternalError?.(channel, response.error);
        return failure({ code: 'internal', message: `the response of "${channel}" broke the contract` });
      }
      return { ok: true, data: response.data as ResponseOf<typeof channel> };
    },
  };
}
