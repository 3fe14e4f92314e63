import { createHash, webcrypto } from 'node:crypto';

/** Lower-case hex sha256 of some bytes: the one content hash of images, weights and graphs. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The same hash computed on libuv's thread pool (WebCrypto), so a batch keeps its event loop free. */
export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
}
