/**
 * The TEST transport: the services client the app's main process uses (requests go on to the
 * services host process), served over HTTP on 127.0.0.1 so a real browser can drive the real
 * handlers. POST /api/<channel> answers the contract's envelope,
 * GET /events streams the contract's events (Server-Sent Events), /media/* serves stored images
 * and overlays, everything else is the built renderer. Not part of the shipped app.
 *
 * Localhost only, and guarded against the usual ways a web page reaches a local server: the Host
 * header must name this server (DNS rebinding), a cross-origin Origin is refused, and API calls
 * must be JSON (a plain HTML form cannot send that without CORS pre-flight, which we never grant).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ApiErrorCode, ApiResult } from '#common/ipc';
import { SECURITY_HEADERS } from '../../electron/ipc/csp.ts';
import type { Dispatcher, EventHub } from '../../electron/ipc/handlers.ts';
import { resolveMedia, resolveStatic, type MediaResponse, type MediaSource } from '../../electron/ipc/media.ts';

export interface HttpBridgeOptions {
  dispatcher: Dispatcher;
  events: EventHub;
  media: MediaSource;
  /** The built renderer (renderer/dist); omitted, only the API and media are served. */
  staticDir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  maxBodyBytes?: number;
}

export interface HttpBridge {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const STATUS_OF: Record<ApiErrorCode, number> = {
  invalid_request: 400,
  unknown_channel: 404,
  not_found: 404,
  invalid_input: 422,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

function sendError(res: ServerResponse, code: ApiErrorCode, message: string): void {
  const envelope: ApiResult<never> = { ok: false, error: { code, message } };
  sendJson(res, STATUS_OF[code], envelope);
}

function sendMedia(res: ServerResponse, media: MediaResponse): void {
  res.writeHead(media.status, {
    ...SECURITY_HEADERS,
    'Content-Type': media.mime,
    'Content-Length': String(media.body.length),
    'Cache-Control': media.immutable ? 'private, max-age=31536000, immutable' : 'no-cache',
  });
  res.end(media.body);
}

export async function startHttpBridge(options: HttpBridgeOptions): Promise<HttpBridge> {
  const maxBody = options.maxBodyBytes ?? 128 * 1024 * 1024;
  const sockets = new Set<Socket>();
  const streams = new Set<ServerResponse>();
  let port = 0;

  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  async function handleApi(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    if (req.method !== 'POST') return sendError(res, 'invalid_request', 'API calls must use POST');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return sendError(res, 'invalid_request', 'API calls must send Content-Type: application/json');
    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) return sendError(res, 'invalid_request', `request body exceeds ${maxBody} bytes`);
      throw err;
    }
    let payload: unknown;
    try {
      payload = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 'invalid_request', 'request body is not valid JSON');
    }
    const result = await options.dispatcher.dispatch(channel, payload);
    sendJson(res, result.ok ? 200 : STATUS_OF[result.error.code], result);
  }

  function handleEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': connected\n\n');
    streams.add(res);
    const unsubscribe = options.events.subscribe((event, payload) => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    req.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHosts().has(req.headers.host ?? '')) return sendError(res, 'invalid_request', 'unexpected Host header');
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin)) return sendError(res, 'invalid_request', 'cross-origin requests are refused');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const api = /^\/api\/([^/]+)$/.exec(url.pathname);
    if (api) return handleApi(req, res, decodeURIComponent(api[1]!));
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'invalid_request', 'method not allowed');
    if (url.pathname === '/events') return handleEvents(req, res);
    const media = await resolveMedia(options.media, url.pathname);
    if (media) return sendMedia(res, media);
    if (!options.staticDir) return sendError(res, 'not_found', 'no renderer is served here');
    return sendMedia(res, await resolveStatic(options.staticDir, url.pathname));
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 'internal', err instanceof Error ? err.message : String(err));
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
