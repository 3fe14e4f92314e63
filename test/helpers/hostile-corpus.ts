/**
 * A folder of good and hostile image inputs, generated on the fly (nothing binary is committed).
 * Shared by the preprocess, walker, store and batch tests: keep the returned shape stable and only
 * add to it.
 *
 * Layout under `dir`:
 *   good/   images every decoder path must handle (CMYK, 16-bit, grey, alpha, EXIF-rotated, WebP, TIFF…)
 *   bad/    inputs that must each give an ImageInputError (and never crash a batch)
 *   loop/   a folder with a symbolic link to itself, plus one good image
 */
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { ImageErrorCode } from '../../electron/model/types.ts';

export interface HostileCorpus {
  /** Files that must prepare and classify. */
  good: string[];
  /** Files that must fail with an ImageInputError; `expect` is the code, or 'any' where decoders differ. */
  bad: { file: string; expect: ImageErrorCode | 'any' }[];
  /** Paths a folder walk must report as error entries (symlink loops) rather than hang on. */
  walkErrors: string[];
  /** Hostile cases that cannot be produced in this environment, with the reason. As root, the
   *  mode-000 file is readable: it is then listed in `good` as well as here. */
  skipped: { file: string; reason: string }[];
  /** The EXIF orientation-6 JPEG: stored 60x40 with a red left half and a blue right half, so once
   *  oriented it is 40 wide x 60 high with red on TOP and blue at the bottom. */
  exifRotated: { file: string; width: number; height: number };
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** A lesion-like picture: a brown ellipse on skin tone, so classifiers see something plausible. */
async function lesion(width: number, height: number): Promise<sharp.Sharp> {
  const rx = Math.round(width * 0.3);
  const ry = Math.round(height * 0.3);
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect width="100%" height="100%" fill="#d9a88f"/>` +
      `<ellipse cx="${width / 2}" cy="${height / 2}" rx="${rx}" ry="${ry}" fill="#5a3520"/>` +
      `<ellipse cx="${width / 2 + rx / 4}" cy="${height / 2}" rx="${rx / 3}" ry="${ry / 3}" fill="#2b1a12"/></svg>`,
  );
  const png = await sharp(svg).png().toBuffer();
  return sharp(png);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid tiny PNG whose IHDR is patched (CRC fixed) to declare width x height. */
export async function pngDeclaring(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer(),
  );
  // Signature (8) | length (4) | "IHDR" (4) | width (4) | height (4) | depth, colour, … (5) | CRC (4)
  if (png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('unexpected PNG layout');
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

export async function makeHostileCorpus(dir: string): Promise<HostileCorpus> {
  const goodDir = join(dir, 'good');
  const badDir = join(dir, 'bad');
  const loopDir = join(dir, 'loop');
  await mkdir(goodDir, { recursive: true });
  await mkdir(badDir, { recursive: true });
  await mkdir(loopDir, { recursive: true });

  const good: string[] = [];
  const bad: HostileCorpus['bad'] = [];
  const skipped: HostileCorpus['skipped'] = [];
  const put = async (file: string, bytes: Buffer | string): Promise<string> => {
    await writeFile(file, bytes);
    return file;
  };

  // --- good ---
  const jpeg = await (await lesion(320, 240)).jpeg({ quality: 90 }).toBuffer();
  good.push(await put(join(goodDir, 'plain.jpg'), jpeg));
  good.push(await put(join(goodDir, 'UPPER CASE.JPEG'), jpeg));
  good.push(await put(join(goodDir, 'cmyk.jpg'), await (await lesion(200, 150)).toColourspace('cmyk').jpeg().toBuffer()));
  good.push(await put(join(goodDir, 'deep16.png'), await (await lesion(200, 150)).toColourspace('rgb16').png().toBuffer()));
  good.push(await put(join(goodDir, 'grey.png'), await (await lesion(180, 180)).toColourspace('b-w').png().toBuffer()));
  good.push(await put(join(goodDir, 'grey.jpg'), await (await lesion(180, 180)).toColourspace('b-w').jpeg().toBuffer()));
  good.push(
    await put(
      join(goodDir, 'alpha.png'),
      await sharp(await (await lesion(256, 256)).removeAlpha().png().toBuffer()).ensureAlpha(0.5).png().toBuffer(),
    ),
  );
  good.push(await put(join(goodDir, 'image.webp'), await (await lesion(256, 192)).webp().toBuffer()));
  good.push(await put(join(goodDir, 'image.tiff'), await (await lesion(256, 192)).tiff().toBuffer()));
  good.push(await put(join(goodDir, 'image.tif'), await (await lesion(150, 200)).tiff({ compression: 'lzw' }).toBuffer()));

  const halves = Buffer.alloc(60 * 40 * 3);
  for (let y = 0; y < 40; y++) {
    for (let x = 0; x < 60; x++) {
      const o = (y * 60 + x) * 3;
      if (x < 30) halves[o] = 255;
      else halves[o + 2] = 255;
    }
  }
  const exifFile = await put(
    join(goodDir, 'exif-orientation-6.jpg'),
    await sharp(halves, { raw: { width: 60, height: 40, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer(),
  );
  good.push(exifFile);
  good.push(await put(join(loopDir, 'inside-loop.jpg'), jpeg));

  // --- bad ---
  bad.push({ file: await put(join(badDir, 'zero-bytes.jpg'), Buffer.alloc(0)), expect: 'empty' });
  bad.push({ file: await put(join(badDir, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.6))), expect: 'truncated' });
  bad.push({ file: await put(join(badDir, 'text.jpg'), 'This is a text file, not a photograph.\n'), expect: 'not_an_image' });
  bad.push({ file: await put(join(badDir, 'huge-50000x50000.png'), await pngDeclaring(50_000, 50_000)), expect: 'too_large' });
  const png = await (await lesion(200, 150)).png().toBuffer();
  bad.push({ file: await put(join(badDir, 'truncated.png'), png.subarray(0, Math.floor(png.length * 0.5))), expect: 'any' });
  bad.push({ file: await put(join(badDir, 'gif-named.png'), await (await lesion(64, 48)).gif().toBuffer()), expect: 'unsupported_format' });
  const selfLink = join(badDir, 'self-link.jpg');
  await symlink('self-link.jpg', selfLink);
  bad.push({ file: selfLink, expect: 'unreadable' });

  const noPerm = await put(join(badDir, 'no-permission.jpg'), jpeg);
  await chmod(noPerm, 0o000);
  if (isRoot()) {
    // root bypasses file modes, so the file reads (and classifies) fine: listed as good, noted as skipped.
    good.push(noPerm);
    skipped.push({ file: noPerm, reason: 'running as root: mode 000 does not deny root, so the file is readable (listed in good)' });
  } else {
    bad.push({ file: noPerm, expect: 'unreadable' });
  }

  // --- walker hazards ---
  const loopLink = join(loopDir, 'again');
  await symlink('.', loopLink);

  return {
    good,
    bad,
    walkErrors: [loopLink, selfLink],
    skipped,
    exifRotated: { file: exifFile, width: 40, height: 60 },
  };
}

/**
 * Runs an ES module snippet (TypeScript allowed) in a child process as the unprivileged user
 * 'nobody' (65534), so permission-denied paths can be tested even when the tests run as root.
 * Import project modules by absolute path. Returns the child's stdout + stderr.
 */
export async function runAsNobody(source: string, timeoutMs = 60_000): Promise<string> {
  const sub = await mkdtemp(join(tmpdir(), 'dermafuse-nobody-'));
  try {
    await chmod(sub, 0o755);
    const home = join(sub, 'home'); // tsx needs a writable cache folder
    await mkdir(home);
    await chown(home, 65534, 65534);
    const script = join(sub, 'probe.mts');
    await writeFile(script, source, { mode: 0o644 });
    // Resolved here because the child runs in a folder outside the project.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const res = spawnSync(process.execPath, ['--import', tsx, script], {
      uid: 65534,
      gid: 65534,
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, TMPDIR: home },
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}`;
  } finally {
    await rm(sub, { recursive: true, force: true });
  }
}

/**
 * Why the user 'nobody' cannot run these project files in a child process here, or null when it
 * can. A checkout inside a private folder (a home directory is mode 700) is closed to other users:
 * runAsNobody would then fail for a reason that has nothing to do with the code under test, so
 * such tests skip with this reason instead. Probed as 'nobody' itself, like runAsNobody runs.
 */
export function nobodyCannotRead(files: string[]): string | null {
  const paths = [...files, createRequire(import.meta.url).resolve('tsx')];
  const probe = 'const fs = require("node:fs"); for (const p of JSON.parse(process.argv[1])) { try { fs.accessSync(p, fs.constants.R_OK); } catch { console.log(p); } }';
  const res = spawnSync(process.execPath, ['-e', probe, JSON.stringify(paths)], {
    uid: 65534,
    gid: 65534,
    cwd: '/',
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (res.error || res.status !== 0) return `the user 'nobody' (65534) cannot run ${process.execPath}: ${res.error?.message ?? res.stderr.trim().split('\n')[0]}`;
  const unreadable = res.stdout.split('\n').filter(Boolean);
  if (unreadable.length === 0) return null;
  return `the user 'nobody' (65534) cannot read the checkout (${unreadable[0]}), probably because it lies in a private folder (mode 700); run the tests from a world-readable folder to include this test`;
}

/** Absolute path of a project module, for snippets passed to runAsNobody. */
export function projectModule(relativeToRepo: string): string {
  return fileURLToPath(new URL(`../../${relativeToRepo}`, import.meta.url));
}
