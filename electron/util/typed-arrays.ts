/**
 * Typed arrays end to end: the pooled head input, cached feature records and stacked training
 * matrices are all built this way.
 */
export function concatArrays<T extends Float32Array | Float64Array>(parts: readonly T[], make: new (length: number) => T): T {
  const out = new make(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Float32 values as little-endian bytes (how stored feature vectors are kept), written through a
 * DataView so the bytes are the same whatever the host's byte order.
 */
export function float32ToLittleEndian(values: ArrayLike<number>): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

/** The inverse of float32ToLittleEndian: a fresh Float32Array (never a view of the caller's bytes). */
export function float32FromLittleEndian(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new Error(`${bytes.byteLength} bytes are not a whole number of float32 values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
