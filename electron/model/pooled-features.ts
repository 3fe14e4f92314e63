/**
 * The pooled vectors the head read for one prediction, one per test-time view, in the head's
 * concatenation order (FusionHead.pooledInput). The store keeps them with each prediction so that
 * a clinic can refit the head or its calibration on its own confirmed cases without re-running
 * the backbones. Kept as float32: the head's float64 forward pass on them reproduces the stored
 * logit to within float32 rounding (about 1e-6), not bit for bit.
 */

export interface PooledFeatures {
  /** Length of one view's vector (the head's pooled width). */
  readonly width: number;
  /** The test-time views, in the order their vectors follow each other in `data`. */
  readonly views: readonly string[];
  /** views.length * width values: view 0's vector, then view 1's, ... */
  readonly data: Float32Array;
}

export class PooledFeaturesError extends Error {
  override readonly name = 'PooledFeaturesError';
}

/** Joins per-view pooled vectors (as the head builds them) into one record; every vector must have the same length. */
export function pooledFeatures(views: readonly string[], vectors: readonly ArrayLike<number>[]): PooledFeatures {
  if (views.length === 0 || views.length !== vectors.length) throw new PooledFeaturesError(`${vectors.length} pooled vectors for ${views.length} views`);
  const width = vectors[0]!.length;
  const data = new Float32Array(views.length * width);
  vectors.forEach((v, i) => {
    if (v.length !== width) throw new PooledFeaturesError(`view ${views[i]} has ${v.length} pooled values, view ${views[0]} ${width}`);
    data.set(v, i * width);
  });
  return checkPooledFeatures({ width, views: [...views], data });
}

/** Throws unless the record is self-consistent (a positive width, data = views x width). */
export function checkPooledFeatures(f: PooledFeatures): PooledFeatures {
  if (!Number.isInteger(f.width) || f.width <= 0) throw new PooledFeaturesError(`pooled width must be a positive integer, got ${f.width}`);
  if (f.views.length === 0) throw new PooledFeaturesError('pooled features name no view');
  if (f.data.length !== f.views.length * f.width) {
    throw new PooledFeaturesError(`pooled features hold ${f.data.length} values, ${f.views.length} views x ${f.width} need ${f.views.length * f.width}`);
  }
  return f;
}

/** One view's vector (a view of the same memory). */
export function viewVector(f: PooledFeatures, viewIndex: number): Float32Array {
  if (!(viewIndex >= 0 && viewIndex < f.views.length)) throw new PooledFeaturesError(`no view ${viewIndex} among ${f.views.length}`);
  return f.data.subarray(viewIndex * f.width, (viewIndex + 1) * f.width);
}
