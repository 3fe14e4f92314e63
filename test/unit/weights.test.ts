import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WeightsError, decodeWeights, loadPinnedFile, weightSearchDirs, type PinnedFile, type WeightSpec } from '../../electron/model/weights.ts';

const content = Buffer.from('pretend these are model weights\n'.repeat(10));
const pin: PinnedFile = {
  fileName: 'test-weights.bin',
  sha256: createHash('sha256').update(content).digest('hex'),
  size: content.length,
  url: 'https://example.invalid/test-weights.bin',
  what: 'Test weights',
};

let root: string;
const saved = { ...process.env };

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dermafuse-weights-'));
  for (const d of ['mirror', 'shared/models', 'cache']) mkdirSync(join(root, d), { recursive: true });
  process.env.DERMAFUSE_MODEL_MIRROR = join(root, 'mirror');
  process.env.DERMAFUSE_SHARED = join(root, 'shared');
  process.env.DERMAFUSE_CACHE = join(root, 'cache');
});

afterEach(() => {
  process.env = { ...saved };
  rmSync(root, { recursive: true, force: true });
});

const neverFetch = (() => {
  throw new Error('fetch must not be called');
}) as unknown as typeof fetch;

describe('pinned weight lookup', () => {
  it('searches the mirror, then the shared models folder, then the download cache', () => {
    expect(weightSearchDirs().map((d) => d.dir)).toEqual([join(root, 'mirror'), join(root, 'shared', 'models'), join(root, 'cache', 'weights')]);
    delete process.env.DERMAFUSE_MODEL_MIRROR;
    expect(weightSearchDirs().map((d) => d.label)).toEqual(['shared models folder', 'download cache']);
  });

  it('returns a verified copy from the shared folder without downloading', async () => {
    writeFileSync(join(root, 'shared/models', pin.fileName), content);
    expect((await loadPinnedFile(pin, { fetchImpl: neverFetch })).equals(content)).toBe(true);
  });

  it('skips a corrupt mirror copy and uses the next valid one', async () => {
    const bad = Buffer.from(content);
    bad[3] = bad[3]! ^ 0xff;
    writeFileSync(join(root, 'mirror', pin.fileName), bad);
    writeFileSync(join(root, 'shared/models', pin.fileName), content);
    expect((await loadPinnedFile(pin, { fetchImpl: neverFetch })).equals(content)).toBe(true);
  });

  it('reports a corrupt file with one clear message saying what to do', async () => {
    writeFileSync(join(root, 'mirror', pin.fileName), Buffer.alloc(content.length, 7));
    const err = await loadPinnedFile(pin, { download: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeightsError);
    const we = err as WeightsError;
    expect(we.code).toBe('corrupt');
    expect(we.message).toMatch(/corrupt \(sha256/);
    expect(we.message).toContain('DERMAFUSE_MODEL_MIRROR');
    expect(we.message).toContain(pin.sha256);
    expect(we.message).not.toMatch(/\n\s+at /); // no stack trace in the message
  });

  it('reports a wrong-size file before hashing it', async () => {
    writeFileSync(join(root, 'shared/models', pin.fileName), content.subarray(0, 10));
    const err = (await loadPinnedFile(pin, { download: false }).catch((e: unknown) => e)) as WeightsError;
    expect(err.code).toBe('corrupt');
    expect(err.message).toContain(`wrong size (10 bytes, expected ${content.length})`);
  });

  it('reports a missing file when downloads are off', async () => {
    const err = (await loadPinnedFile(pin, { download: false }).catch((e: unknown) => e)) as WeightsError;
    expect(err).toBeInstanceOf(WeightsError);
    expect(err.code).toBe('missing');
    expect(err.message).toContain('not present');
  });

  it('downloads from the pinned URL into the cache, verified, and reuses it offline', async () => {
    const urls: string[] = [];
    const fetchImpl = (async (url: string) => {
      urls.push(url);
      return new Response(content, { status: 200 });
    }) as unknown as typeof fetch;
    expect((await loadPinnedFile(pin, { fetchImpl })).equals(content)).toBe(true);
    expect(urls).toEqual([pin.url]);
    const cached = join(root, 'cache', 'weights', pin.fileName);
    expect(readFileSync(cached).equals(content)).toBe(true);
    expect((await loadPinnedFile(pin, { fetchImpl: neverFetch })).equals(content)).toBe(true);
  });

  it('refuses a download whose bytes do not match the pin, and leaves nothing behind', async () => {
    const fetchImpl = (async () => new Response(Buffer.alloc(content.length, 1), { status: 200 })) as unknown as typeof fetch;
    const err = (await loadPinnedFile(pin, { fetchImpl }).catch((e: unknown) => e)) as WeightsError;
    expect(err.code).toBe('download_failed');
    expect(err.message).toMatch(/downloaded file has sha256/);
    expect(existsSync(join(root, 'cache', 'weights', pin.fileName))).toBe(false);
  });

  it('turns HTTP and network failures into download_failed with the reason', async () => {
    const http404 = (async () => new Response('nope', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch;
    expect(((await loadPinnedFile(pin, { fetchImpl: http404 }).catch((e: unknown) => e)) as WeightsError).message).toContain('HTTP 404');
    const offline = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } });
    }) as unknown as typeof fetch;
    const err = (await loadPinnedFile(pin, { fetchImpl: offline }).catch((e: unknown) => e)) as WeightsError;
    expect(err.code).toBe('download_failed');
    expect(err.message).toContain('network error (ENOTFOUND)');
    expect(err.message).toContain('To fix');
  });
});

describe('tfjs weight decoding', () => {
  it('dequantises uint8 (q*scale+min), uint16, float16 and reads float32, in manifest order', () => {
    const specs: WeightSpec[] = [
      { name: 'a', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.5 } },
      { name: 'b', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', min: 10, scale: 0.25 } },
      { name: 'c', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'd', shape: [1], dtype: 'float32' },
    ];
    const buf = new ArrayBuffer(3 + 4 + 4 + 4);
    const v = new DataView(buf);
    [0, 2, 255].forEach((q, i) => v.setUint8(i, q));
    v.setUint16(3, 4, true);
    v.setUint16(5, 400, true);
    v.setUint16(7, 0x3c00, true); // 1.0
    v.setUint16(9, 0xc000, true); // -2.0
    v.setFloat32(11, 3.25, true);
    const w = decodeWeights(specs, buf);
    expect(Array.from(w.get('a')!)).toEqual([-1, 0, 126.5]);
    expect(Array.from(w.get('b')!)).toEqual([11, 110]);
    expect(Array.from(w.get('c')!)).toEqual([1, -2]);
    expect(Array.from(w.get('d')!)).toEqual([3.25]);
  });

  it('rejects weight data that does not match the manifest', () => {
    const specs: WeightSpec[] = [{ name: 'a', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', min: 0, scale: 1 } }];
    expect(() => decodeWeights(specs, new ArrayBuffer(3))).toThrow(WeightsError);
    expect(() => decodeWeights(specs, new ArrayBuffer(5))).toThrow(/manifest describes 4/);
  });
});

describe('nsfwjs InceptionV3 source', () => {
  it('loads the pinned npm files: topology, 382 weight specs, and exactly the bytes they describe', async () => {
    const { loadInceptionSource, INCEPTION_SOURCE_SHA256 } = await import('../../electron/model/weights.ts');
    const source = await loadInceptionSource();
    expect(source.sha256).toBe(INCEPTION_SOURCE_SHA256);
    expect(source.modelTopology.model_config?.config.layers.some((l) => l.name === 'mixed6')).toBe(true);
    expect(source.weightSpecs.length).toBe(382);
    const weights = decodeWeights(source.weightSpecs, source.weightData);
    expect(weights.get('conv2d_1/kernel')?.length).toBe(3 * 3 * 3 * 32);
  });

  it('falls back from a corrupt mirror copy to the npm package', async () => {
    const { loadInceptionSource } = await import('../../electron/model/weights.ts');
    mkdirSync(join(root, 'mirror', 'nsfwjs-inception_v3'), { recursive: true });
    writeFileSync(join(root, 'mirror', 'nsfwjs-inception_v3', 'model.min.js'), 'module.exports = {}');
    expect((await loadInceptionSource()).weightSpecs.length).toBe(382);
  });
});
