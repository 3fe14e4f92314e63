/**
 * What both transports serve besides the API: the renderer's files, stored images and Grad-CAM
 * overlays, under the same paths (`/media/image/<sha256>`, `/media/overlay/<id>`), so the
 * renderer uses relative URLs whether it runs in the app (custom protocol) or in the test
 * browser (HTTP bridge). Nothing outside the renderer folder and the content-addressed store
 * can be reached.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

/** Where media bytes come from: the services client, which asks the host for a stored file's place and reads it in main. */
export interface MediaSource {
  /** The stored file of an image, or null when no image has those bytes. */
  imageFile(sha256: string): Promise<string | null>;
  /** A stored overlay's PNG bytes, or null when there is none with that id. */
  overlayPng(id: number): Promise<Buffer | null>;
}

export interface MediaResponse {
  status: number;
  mime: string;
  body: Buffer;
  /** Content-addressed bytes never change; the renderer bundle may. */
  immutable: boolean;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Sniffs the stored bytes, since the store keeps images by hash without an extension. */
export function sniffImageMime(bytes: Buffer): string {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (bytes.length >= 4 && (bytes.toString('latin1', 0, 4) === 'II*\0' || bytes.toString('latin1', 0, 4) === 'MM\0*')) return 'image/tiff';
  return 'application/octet-stream';
}

const notFound = (): MediaResponse => ({ status: 404, mime: 'text/plain; charset=utf-8', body: Buffer.from('not found'), immutable: false });

export async function resolveMedia(source: MediaSource, pathname: string): Promise<MediaResponse | null> {
  const image = /^\/media\/image\/([0-9a-f]{64})$/.exec(pathname);
  if (image) {
    const file = await source.imageFile(image[1]!);
    if (!file) return notFound();
    const body = await readFile(file);
    return { status: 200, mime: sniffImageMime(body), body, immutable: true };
  }
  const overlay = /^\/media\/overlay\/([1-9][0-9]{0,15})$/.exec(pathname);
  if (overlay) {
    const body = await source.overlayPng(Number(overlay[1]));
    if (!body) return notFound();
    return { status: 200, mime: 'image/png', body, immutable: true };
  }
  if (pathname.startsWith('/media/')) return notFound();
  return null;
}

/** A file of the built renderer; unknown paths fall back to index.html (hash routing needs none, but reloads stay safe). */
export async function resolveStatic(rootDir: string, pathname: string): Promise<MediaResponse> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return notFound();
  }
  if (decoded.includes('\0')) return notFound();
  const relative = normalize(decoded === '/' ? '/index.html' : decoded).replace(/^([/\\])+/, '');
  const full = join(rootDir, relative);
  if (full !== rootDir && !full.startsWith(rootDir.endsWith(sep) ? rootDir : rootDir + sep)) return notFound();
  try {
    const info = await stat(full);
    if (!info.isFile()) return notFound();
    return { status: 200, mime: MIME[extname(full).toLowerCase()] ?? 'application/octet-stream', body: await readFile(full), immutable: false };
  } catch {
    return notFound();
  }
}
