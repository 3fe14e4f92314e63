/**
 * Fitting the out-of-distribution statistics (electron/model/input-gate/ood.ts) from pooled
 * training-set features: per-channel standardisation, the top-k principal subspace (subspace
 * iteration with Rayleigh-Ritz, no d x d matrix is ever formed), class means, the shared
 * within-class covariance with Ledoit-Wolf shrinkage, its inverse, and the residual scale.
 */
import type { BranchStats } from '../../../electron/model/input-gate/ood.ts';
import { seededRandom } from '../../../electron/model/metrics.ts';

/** Symmetric eigen-decomposition by cyclic Jacobi rotations (small matrices only). Eigenvalues descending. */
export function symmetricEigen(a: Float64Array, n: number, sweeps = 60): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = m[p * n + p]!;
        const aqq = m[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y]! - m[x * n + x]!);
  const values = Float64Array.from(order, (i) => m[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/** Inverse of a symmetric positive-definite k x k matrix by Cholesky. */
export function spdInverse(a: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j]!;
      for (let p = 0; p < j; p++) s -= l[i * k + p]! * l[j * k + p]!;
      if (i === j) {
        if (!(s > 0)) throw new Error('matrix is not positive definite');
        l[i * k + i] = Math.sqrt(s);
      } else l[i * k + j] = s / l[j * k + j]!;
    }
  }
  // inv(L) then inv(A) = inv(L)^T inv(L).
  const li = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    li[i * k + i] = 1 / l[i * k + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let p = j; p < i; p++) s += l[i * k + p]! * li[p * k + j]!;
      li[i * k + j] = -s / l[i * k + i]!;
    }
  }
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = Math.max(i, j); p < k; p++) s += li[p * k + i]! * li[p * k + j]!;
      inv[i * k + j] = s;
      inv[j * k + i] = s;
    }
  }
  return inv;
}

/**
 * Ledoit-Wolf (2004) shrinkage of the sample covariance of centred rows x (n x k) towards
 * mu I, mu = tr(S)/k: S* = (1 - delta) S + delta mu I with delta = min(1, b2 / d2),
 * d2 = ||S - mu I||_F^2, b2 = (1/n^2) sum_i ||x_i x_i^T - S||_F^2.
 */
export function ledoitWolf(x: Float64Array, n: number, k: number): { covariance: Float64Array; shrinkage: number } {
  const s = new Float64Array(k * k);
  for (let r = 0; r < n; r++) {
    const o = r * k;
    for (let i = 0; i < k; i++) {
      const xi = x[o + i]!;
      for (let j = 0; j < k; j++) s[i * k + j]! += (xi * x[o + j]!) / n;
    }
  }
  let trace = 0;
  for (let i = 0; i < k; i++) trace += s[i * k + i]!;
  const mu = trace / k;
  let d2 = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) d2 += (s[i * k + j]! - (i === j ? mu : 0)) ** 2;
  let b2 = 0;
  for (let r = 0; r < n; r++) {
    const o = r * k;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) b2 += (x[o + i]! * x[o + j]! - s[i * k + j]!) ** 2;
  }
  b2 /= n * n;
  const shrinkage = d2 > 0 ? Math.min(1, b2 / d2) : 1;
  const covariance = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) covariance[i * k + j] = (1 - shrinkage) * s[i * k + j]! + (i === j ? shrinkage * mu : 0);
  return { covariance, shrinkage };
}

/** Gram-Schmidt (twice) orthonormalisation of the columns of a d x m matrix, in place. */
function orthonormalise(q: Float64Array, d: number, m: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < m; j++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[i * m + j]! * q[i * m + p]!;
        for (let i = 0; i < d; i++) q[i * m + j]! -= dot * q[i * m + p]!;
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += q[i * m + j]! ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let i = 0; i < d; i++) q[i * m + j]! /= norm;
    }
  }
}

/**
 * Top-k principal directions of centred rows z (n x d): subspace iteration on Z^T Z with
 * oversampling, then Rayleigh-Ritz. Returns the d x k basis (orthonormal columns) and the
 * variances (eigenvalues of Z^T Z / n) along it, descending, and the total variance.
 */
export function topPrincipal(z: Float64Array, n: number, d: number, k: number, opts: { iterations?: number; oversample?: number; seed?: number } = {}): { basis: Float64Array; variances: Float64Array; totalVariance: number } {
  const m = Math.min(d, n, k + (opts.oversample ?? 16));
  if (k > m) throw new RangeError(`k = ${k} exceeds min(n, d) = ${Math.min(n, d)}`);
  const random = seededRandom(opts.seed ?? 7);
  let q: Float64Array = new Float64Array(d * m);
  for (let i = 0; i < q.length; i++) q[i] = random() - 0.5;
  orthonormalise(q, d, m);
  const y = new Float64Array(n * m);
  const multiply = (qin: Float64Array): Float64Array => {
    // y = Z q (n x m), then q' = Z^T y (d x m).
    y.fill(0);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < d; i++) {
        const zri = z[r * d + i]!;
        if (zri === 0) continue;
        for (let j = 0; j < m; j++) y[r * m + j]! += zri * qin[i * m + j]!;
      }
    }
    const out = new Float64Array(d * m);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < d; i++) {
        const zri = z[r * d + i]!;
        if (zri === 0) continue;
        for (let j = 0; j < m; j++) out[i * m + j]! += zri * y[r * m + j]!;
      }
    }
    return out;
  };
  for (let it = 0; it < (opts.iterations ?? 10); it++) {
    q = multiply(q);
    orthonormalise(q, d, m);
  }
  // Rayleigh-Ritz: B = Q^T Z^T Z Q / n (m x m), eigen-decomposed; basis = Q W.
  const zq = multiply(q);
  const b = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let c = 0; c < m; c++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[i * m + a]! * zq[i * m + c]!;
    b[a * m + c] = s / n;
  }
  for (let a = 0; a < m; a++) for (let c = a + 1; c < m; c++) b[a * m + c] = b[c * m + a] = (b[a * m + c]! + b[c * m + a]!) / 2;
  const { values, vectors } = symmetricEigen(b, m);
  const basis = new Float64Array(d * k);
  for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) {
    let s = 0;
    for (let a = 0; a < m; a++) s += q[i * m + a]! * vectors[a * m + j]!;
    basis[i * k + j] = s;
  }
  let totalVariance = 0;
  for (let i = 0; i < z.length; i++) totalVariance += z[i]! ** 2;
  return { basis, variances: values.slice(0, k), totalVariance: totalVariance / n };
}

export interface FitOptions {
  readonly k: number;
  /** Added to each channel's standard deviation (dead channels). */
  readonly epsilon?: number;
  readonly seed?: number;
}

/**
 * Statistics of one branch from its pooled training vectors (n x d row-major) and class indices.
 * Classes with no example are left out.
 */
export function fitBranch(name: string, x: ArrayLike<number>, n: number, d: number, labels: readonly number[], classNames: readonly string[], opts: FitOptions): BranchStats & { shrinkage: number; explainedVariance: number } {
  const { k } = opts;
  const eps = opts.epsilon ?? 1e-6;
  const mu = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mu[i]! += x[r * d + i]! / n;
  const scale = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) scale[i]! += (x[r * d + i]! - mu[i]!) ** 2 / n;
  // Guard against dead channels: the floor is a small share of the median channel spread.
  const sorted = Float64Array.from(scale).sort();
  const floor = Math.max(eps, 1e-3 * Math.sqrt(sorted[Math.floor(d / 2)]!));
  for (let i = 0; i < d; i++) scale[i] = Math.max(floor, Math.sqrt(scale[i]!));
  const z = new Float64Array(n * d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) z[r * d + i] = (x[r * d + i]! - mu[i]!) / scale[i]!;

  const { basis, variances, totalVariance } = topPrincipal(z, n, d, k, { seed: opts.seed });
  const p = new Float64Array(n * k);
  let residualSum = 0;
  for (let r = 0; r < n; r++) {
    let zz = 0;
    for (let i = 0; i < d; i++) {
      const zi = z[r * d + i]!;
      zz += zi * zi;
      for (let j = 0; j < k; j++) p[r * k + j]! += zi * basis[i * k + j]!;
    }
    let pp = 0;
    for (let j = 0; j < k; j++) pp += p[r * k + j]! ** 2;
    residualSum += Math.max(0, zz - pp);
  }
  const present = classNames.map((_, c) => labels.some((l) => l === c));
  const kept = classNames.flatMap((name, c) => (present[c] ? [{ name, c }] : []));
  const means = new Float64Array(kept.length * k);
  kept.forEach(({ c }, idx) => {
    const rows = labels.flatMap((l, r) => (l === c ? [r] : []));
    for (const r of rows) for (let j = 0; j < k; j++) means[idx * k + j]! += p[r * k + j]! / rows.length;
  });
  const centred = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    const idx = kept.findIndex((q) => q.c === labels[r]);
    for (let j = 0; j < k; j++) centred[r * k + j] = p[r * k + j]! - means[idx * k + j]!;
  }
  const { covariance, shrinkage } = ledoitWolf(centred, n, k);
  const precision = spdInverse(covariance, k);
  const explained = variances.reduce((a, b) => a + b, 0) / totalVariance;
  return {
    name,
    width: d,
    k,
    mu: Float32Array.from(mu),
    scale: Float32Array.from(scale),
    basis: Float32Array.from(basis),
    classMeans: Float32Array.from(means),
    classes: kept.map((q) => q.name),
    precision: Float32Array.from(precision),
    residualMean: residualSum / n,
    shrinkage,
    explainedVariance: Math.min(1, Math.max(0, explained)),
  };
}

/** The q-th percentile (0..100) by linear interpolation between order statistics. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) throw new Error('percentile of an empty sample');
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}
