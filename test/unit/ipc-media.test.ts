/** What the app's protocol and the test bridge may serve: only the renderer folder and the store. */
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveMedia, resolveStatic, sniffImageMime, type MediaSource } from '../../electron/ipc/media.ts';

const root = mkdtempSync(join(tmpdir(), 'dermafuse-media-'));
const site = join(root, 'site');
mkdirSync(join(site, 'assets'), { recursive: true });
writeFileSync(join(site, 'index.html'), '<!doctype html>');
writeFileSync(join(site, 'assets', 'app.js'), 'export {}');
writeFileSync(join(root, 'secret.txt'), 'secret');
const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]);
const imageFile = join(root, 'blob');
writeFileSync(imageFile, jpeg);
const sha = 'a'.repeat(64);

const source: MediaSource = {
  async imageFile(s) {
    return s === sha ? imageFile : null;
  },
  async overlayPng(id) {
    return id === 7 ? Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) : null;
  },
};

describe('media routes', () => {
  it('serves stored images by hash with a sniffed type, and overlays by id', async () => {
    const image = await resolveMedia(source, `/media/image/${sha}`);
    expect(image).toMatchObject({ status: 200, mime: 'image/jpeg', immutable: true });
    expect(image?.body.equals(jpeg)).toBe(true);
    expect(await resolveMedia(source, '/media/overlay/7')).toMatchObject({ status: 200, mime: 'image/png' });
  });

  it('answers 404 for malformed or unknown media and leaves other paths to the static files', async () => {
    for (const path of [`/media/image/${'b'.repeat(64)}`, '/media/image/../../secret.txt', `/media/image/${sha.toUpperCase()}`, '/media/overlay/0', '/media/overlay/8', '/media/overlay/-1', '/media/x']) {
      expect((await resolveMedia(source, path))?.status, path).toBe(404);
    }
    expect(await resolveMedia(source, '/index.html')).toBeNull();
  });

  it('serves the renderer and nothing outside its folder', async () => {
    expect(await resolveStatic(site, '/')).toMatchObject({ status: 200, mime: 'text/html; charset=utf-8' });
    expect(await resolveStatic(site, '/assets/app.js')).toMatchObject({ status: 200, mime: 'text/javascript; charset=utf-8' });
    for (const path of ['/../secret.txt', '/..%2Fsecret.txt', '/%2e%2e/secret.txt', '/assets/../../secret.txt', '/assets', '/nope.js', '/%00', '/%E0%A4%A']) {
      const res = await resolveStatic(site, path);
      expect(res.status, path).toBe(404);
      expect(res.body.toString()).not.toContain('secret');
    }
  });

  it('sniffs the image types the store keeps', () => {
    expect(sniffImageMime(Buffer.from('RIFF0000WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageMime(Buffer.from('II*\0'))).toBe('image/tiff');
    expect(sniffImageMime(Buffer.from('hello'))).toBe('application/octet-stream');
  });
});
