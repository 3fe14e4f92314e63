/**
 * Whole-or-nothing writes for the adaptation's outputs: a file or folder appears under its final
 * name complete, or not at all, so a SIGKILL mid-adaptation never leaves a half-written model
 * folder or registry that looks valid.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Writes bytes to `<file>.<pid>.tmp`, flushes them to disk, then renames over `file`. */
export function writeFileAtomic(file: string, bytes: string | Uint8Array): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** The temporary name a folder is built under before it is renamed into place. */
export function tempFolderFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
}

const TEMP_FOLDER = /^\.(.+)\.(\d+)\.tmp$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporary folders and files left in `dir` by writers that died (their process is gone). */
export function removeAbandonedTemps(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP_FOLDER.exec(name);
    if (!m || Number(m[2]) === process.pid || alive(Number(m[2]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
