import { readFile, stat } from 'node:fs/promises';
import { DEFAULT_MAX_FILE_BYTES, fsErrorToImageError } from '../model/preprocess.ts';
import { ImageInputError } from '../model/types.ts';

/**
 * Reads a batch input once. The same bytes are hashed, classified and stored, so what the
 * database says was classified is exactly what sits in the image folder, even if the user's
 * file changes meanwhile.
 */
export async function readInput(file: string): Promise<Buffer> {
  let size: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    // FIFOs and devices would block or never end.
    if (!st.isFile()) throw new ImageInputError('unreadable', file, 'not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof ImageInputError) throw err;
    throw fsErrorToImageError(err, file);
  }
  if (size === 0) throw new ImageInputError('empty', file, 'file is empty (0 bytes)');
  if (size > DEFAULT_MAX_FILE_BYTES) throw new ImageInputError('too_large', file, `file is ${size} bytes`);
  try {
    return await readFile(file);
  } catch (err) {
    throw fsErrorToImageError(err, file);
  }
}

/** One line for the item's error column: "<code>: <detail>", without repeating the path. */
export function describeItemError(err: unknown, file: string): string {
  if (err instanceof ImageInputError) {
    const detail = err.message.startsWith(`${err.file}: `) ? err.message.slice(err.file.length + 2) : err.message;
    return `${err.code}: ${detail}`;
  }
  const msg = err instanceof Error ? err.message : String(err);
  const line = (msg.split('\n')[0] ?? '').replace(`${file}: `, '').replace(file, '<file>');
  return `failed: ${line}`;
}
