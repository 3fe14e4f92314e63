/**
 * The app's own origin, `dermafuse://app/`: it serves the built renderer, stored images and
 * Grad-CAM overlays (same paths as the HTTP test bridge, via ipc/media.ts), every response with
 * the strict CSP. The renderer never gets file:// access; nothing outside renderer/dist and the
 * content-addressed store can be named.
 */
import { protocol, type Session } from 'electron';
import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from './ipc/csp.ts';
import { resolveMedia, resolveStatic, type MediaResponse, type MediaSource } from './ipc/media.ts';

export const APP_SCHEME = 'dermafuse';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

/** Must run before the app is ready: a standard, secure scheme gets an origin, fetch and a CSP. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: false, stream: true, codeCache: true } },
  ]);
}

function toResponse(media: MediaResponse): Response {
  return new Response(new Uint8Array(media.body), {
    status: media.status,
    headers: {
      ...SECURITY_HEADERS,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'Content-Type': media.mime,
      'Cache-Control': media.immutable ? 'private, max-age=31536000, immutable' : 'no-cache',
    },
  });
}

export function handleAppProtocol(session: Session, options: { rendererDir: string; media: MediaSource }): void {
  session.protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'app' || request.method !== 'GET') {
      return new Response('not found', { status: 404, headers: SECURITY_HEADERS });
    }
    try {
      const media = await resolveMedia(options.media, url.pathname);
      return toResponse(media ?? (await resolveStatic(options.rendererDir, url.pathname)));
    } catch (err) {
      return new Response(`error: ${err instanceof Error ? err.message : String(err)}`, { status: 500, headers: SECURITY_HEADERS });
    }
  });
}
