import { readImageFile } from '../model/preprocess.ts';
import { ImageInputError } from '../model/types.ts';

/**
 * Reads a batch input once. The same bytes are hashed, classified and stored, so what the
 * database says was classified is exactly what sits in the image folder, even if the user's
 * file changes meanwhile. Same checks and error codes as the classifier's own file reading.
 */
export const readInput = readImageFile;

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
