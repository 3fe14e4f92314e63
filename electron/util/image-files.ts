/**
 * Expands the paths a user gave (files and folders) into image files, for the CLI, the batch
 * service and the app's folder import. Folders are walked recursively in a deterministic order
 * (names compared by code unit, so the order is the same on every machine and locale). Only image
 * extensions are taken from folders; a file named explicitly is always yielded, so that a wrong
 * file gets an error row instead of silently vanishing. Hidden files and folders (".name") are
 * skipped inside folders. Anything that cannot be walked (missing path, unreadable folder,
 * symbolic-link loop) becomes an error entry and the walk goes on. Yielded paths are absolute.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

export type WalkErrorCode = 'not_found' | 'unreadable' | 'symlink_loop' | 'not_a_file';

export type WalkEntry = { file: string } | { file: string; error: string; code: WalkErrorCode };

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

export function isWalkError(e: WalkEntry): e is { file: string; error: string; code: WalkErrorCode } {
  return 'error' in e;
}

function fsError(file: string, err: unknown): WalkEntry {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { file, code: 'not_found', error: 'not_found: no such file or folder' };
  if (code === 'ELOOP') return { file, code: 'symlink_loop', error: 'symlink_loop: symbolic link loop' };
  if (code === 'EACCES' || code === 'EPERM') return { file, code: 'unreadable', error: 'unreadable: permission denied' };
  const msg = err instanceof Error ? err.message : String(err);
  return { file, code: 'unreadable', error: `unreadable: ${code ?? msg}` };
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function* walkImageFiles(paths: string[]): AsyncGenerator<WalkEntry> {
  // Real paths of folders already entered. A link back to an ancestor is a loop and is reported;
  // a folder reached a second time by another route is skipped quietly (its files were yielded).
  const visited = new Set<string>();
  const seenFiles = new Set<string>();

  async function* walkDir(dir: string, ancestors: ReadonlySet<string> = new Set()): AsyncGenerator<WalkEntry> {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (err) {
      yield fsError(dir, err);
      return;
    }
    if (ancestors.has(real)) {
      yield { file: dir, code: 'symlink_loop', error: `symlink_loop: link back to an enclosing folder (${real})` };
      return;
    }
    if (visited.has(real)) return;
    visited.add(real);
    const inside = new Set(ancestors).add(real);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      yield fsError(dir, err);
      return;
    }
    entries.sort((a, b) => byCodeUnit(a.name, b.name));
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      const full = join(dir, ent.name);
      if (ent.isDirectory()) {
        yield* walkDir(full, inside);
      } else if (ent.isFile()) {
        if (isImageFileName(ent.name)) yield* emitFile(full);
      } else if (ent.isSymbolicLink()) {
        let st;
        try {
          st = await stat(full);
        } catch (err) {
          // Dangling or self-referencing links: only worth reporting when they look like images or loop.
          const e = fsError(full, err);
          if (isImageFileName(ent.name) || (isWalkError(e) && e.code === 'symlink_loop')) yield e;
          continue;
        }
        if (st.isDirectory()) yield* walkDir(full, inside);
        else if (st.isFile() && isImageFileName(ent.name)) yield* emitFile(full);
      }
      // Sockets, FIFOs and devices are never images and could block a reader: skipped.
    }
  }

  async function* emitFile(file: string): AsyncGenerator<WalkEntry> {
    // The same file named twice (or reached through a link and directly) is classified once.
    let key = file;
    try {
      key = await realpath(file);
    } catch {
      // keep the literal path; the reader will report the problem
    }
    if (seenFiles.has(key)) return;
    seenFiles.add(key);
    yield { file };
  }

  for (const p of paths) {
    const abs = resolve(p);
    let st;
    try {
      st = await stat(abs);
    } catch (err) {
      yield fsError(abs, err);
      continue;
    }
    if (st.isDirectory()) yield* walkDir(abs);
    else if (st.isFile()) yield* emitFile(abs);
    else yield { file: abs, code: 'not_a_file', error: 'not_a_file: not a regular file or folder' };
  }
}

/** Convenience for callers that want the whole list (small folders, tests). */
export async function listImageFiles(paths: string[]): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const e of walkImageFiles(paths)) out.push(e);
  return out;
}
