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
