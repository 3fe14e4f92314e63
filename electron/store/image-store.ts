import { randomBytes } from 'node:crypto';
import { mkdirSync, existsSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../util/hash.ts';

const SHA256 = /^[0-9a-f]{64}$/;

export interface StoredBlob {
  readonly sha256: string;
  readonly path: string;
  readonly byteSize: number;
  /** True when these bytes were already in the store (nothing was written). */
  readonly existed: boolean;
}

/**
 * Content-addressed folder (images/, overlays/): a file's name is the sha256 of its bytes, fanned out by the
 * first two hex digits (`ab/cdef…`) so no directory grows past a few thousand entries. Files
 * are written to a temporary name and renamed, so a reader (or a crash) never sees a partial
 * image under its final name. The user's original file is only ever read.
 */
export class ContentStore {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  /** Absolute path of the stored file for a hash; throws on anything that is not a sha256 (no path tricks). */
  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
    return join(this.root, sha256.slice(0, 2), sha256.slice(2));
  }

  has(sha256: string): boolean {
    return SHA256.test(sha256) && existsSync(this.pathOf(sha256));
  }

  /** Stores bytes already in memory (the batch hashes and classifies the same buffer). */
  async putBytes(bytes: Uint8Array, knownSha256?: string): Promise<StoredBlob> {
    const sha256 = knownSha256 ?? sha256Hex(bytes);
    const path = this.pathOf(sha256);
    const existing = await stat(path).catch(() => null);
    if (existing && existing.size === bytes.byteLength) return { sha256, path, byteSize: bytes.byteLength, existed: true };
    await mkdir(join(this.root, sha256.slice(0, 2)), { recursive: true });
    await writeTemporaryThenRename(path, bytes);
    return { sha256, path, byteSize: bytes.byteLength, existed: false };
  }

  /**
   * Writes bytes under a fresh random key (same shape as a sha256), for files that are unique by
   * nature and not worth hashing (Grad-CAM overlay packs). The key is returned as `sha256`.
   */
  /** Writes several buffers back to back as one file under a fresh random key (writev: no concatenation copy). */
  async putUnique(parts: readonly Uint8Array[]): Promise<StoredBlob> {
    const key = randomBytes(32).toString('hex');
    await mkdir(join(this.root, key.slice(0, 2)), { recursive: true });
    const path = this.pathOf(key);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    let byteSize = 0;
    try {
      const fh = await open(tmp, 'wx');
      try {
        // writev may write less than asked (like write): continue from where it stopped.
        const pending = parts.filter((p) => p.byteLength > 0).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
        while (pending.length) {
          const { bytesWritten } = await fh.writev(pending);
          byteSize += bytesWritten;
          let skip = bytesWritten;
          while (pending.length && skip >= pending[0]!.byteLength) skip -= pending.shift()!.byteLength;
          if (pending.length && skip > 0) pending[0] = pending[0]!.subarray(skip);
        }
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { sha256: key, path, byteSize, existed: false };
  }

  putUniqueSync(bytes: Uint8Array): StoredBlob {
    const key = randomBytes(32).toString('hex');
    mkdirSync(join(this.root, key.slice(0, 2)), { recursive: true });
    const path = this.pathOf(key);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    return { sha256: key, path, byteSize: bytes.byteLength, existed: false };
  }

  /** Synchronous twin of putBytes, for writers that run inside a database transaction. */
  putBytesSync(bytes: Uint8Array, knownSha256?: string): StoredBlob {
    const sha256 = knownSha256 ?? sha256Hex(bytes);
    const path = this.pathOf(sha256);
    if (this.sizeOf(sha256) === bytes.byteLength) return { sha256, path, byteSize: bytes.byteLength, existed: true };
    mkdirSync(join(this.root, sha256.slice(0, 2)), { recursive: true });
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, bytes, { flag: 'wx' });
      renameSync(tmp, path);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
      throw err;
    }
    return { sha256, path, byteSize: bytes.byteLength, existed: false };
  }

  /** Copies a user's file into the store (reads it, never moves or touches it). */
  async putFile(file: string): Promise<StoredBlob & { bytes: Buffer }> {
    const bytes = await readFile(file);
    return { ...(await this.putBytes(bytes)), bytes };
  }

  sizeOf(sha256: string): number | null {
    try {
      return statSync(this.pathOf(sha256)).size;
    } catch {
      return null;
    }
  }
}

async function writeTemporaryThenRename(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The images folder is the first user of the content store; the name stays for callers. */
export { ContentStore as ImageStore };
