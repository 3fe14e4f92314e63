/**
 * Logistic regression pulled toward a shipped direction, solved exactly by Newton's method
 * (Cholesky, float64, deterministic). Model: p = sigmoid(w · x + c). Penalty:
 *
 *   l2 / 2 · min over s of Σ_j r_j² (w_j − s · anchor_j)²
 *
 * i.e. the weights may scale freely ALONG the shipped direction (that is exactly a Platt refit of
 * the shipped logit, so the fit nests `recalibrate`), and everything else costs l2 per squared
 * logit unit: r_j is the root-mean-square of feature j on the cases, so (w_j − s·anchor_j)·r_j is
 * the typical change feature j makes to a case's logit. The loss is the SUM of the cases'
 * cross-entropies, so l2 is a fixed prior precision and its pull fades as cases accrue (≈ l2 / n
 * per case). The intercept is free (it carries the clinic's prevalence).
 */
import { fitPlatt } from '../operating-rules.ts';

/** A tiny ridge on every weight so the Hessian stays invertible when the cases separate perfectly. */
const RIDGE = 1e-4;
const MAX_ITERATIONS = 50;

export interface AnchoredFit {
  /** Weights in the features' own units. */
  readonly weights: Float64Array;
  readonly intercept: number;
  readonly iterations: number;
}

function logLoss(eta: number, y: number): number {
  // log(1 + e^eta) − y·eta without overflow.
  return Math.max(eta, 0) + Math.log1p(Math.exp(-Math.abs(eta))) - y * eta;
}

/** In-place Cholesky of a symmetric positive definite matrix (row-major, size m); returns false if not PD. */
function cholesky(a: Float64Array, m: number): boolean {
  for (let j = 0; j < m; j++) {
    let d = a[j * m + j]!;
    for (let k = 0; k < j; k++) d -= a[j * m + k]! ** 2;
    if (!(d > 0)) return false;
    const l = Math.sqrt(d);
    a[j * m + j] = l;
    for (let i = j + 1; i < m; i++) {
      let s = a[i * m + j]!;
      for (let k = 0; k < j; k++) s -= a[i * m + k]! * a[j * m + k]!;
      a[i * m + j] = s / l;
    }
  }
  return true;
}

function choleskySolve(l: Float64Array, m: number, b: Float64Array): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * m + k]! * y[k]!;
    y[i] = s / l[i * m + i]!;
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * y[k]!;
    y[i] = s / l[i * m + i]!;
  }
  return y;
}

/**
 * Fits the anchored logistic regression. `rows` are the cases' features (all of one length D),
 * `anchor` the shipped weights (its direction is free, the rest is penalised by `l2`).
 */
export function fitAnchoredLogistic(rows: readonly Float64Array[], labels: ArrayLike<number>, anchor: Float64Array, l2: number): AnchoredFit {
  const n = rows.length;
  const d = anchor.length;
  if (n === 0 || labels.length !== n) throw new Error('fitAnchoredLogistic needs one label per case');
  // Work in scaled features x̃_j = x_j / r_j, so the penalty is isotropic.
  const r = new Float64Array(d);
  for (const x of rows) for (let j = 0; j < d; j++) r[j]! += x[j]! ** 2;
  for (let j = 0; j < d; j++) r[j] = r[j]! > 0 ? Math.sqrt(r[j]! / n) : 1;
  const xs = rows.map((x) => Float64Array.from(x, (v, j) => v / r[j]!));
  const a = Float64Array.from(anchor, (v, j) => v * r[j]!);
  const aNorm2 = a.reduce((s, v) => s + v * v, 0);
  const u = aNorm2 > 0 ? a.map((v) => v / Math.sqrt(aNorm2)) : new Float64Array(d);

  // P w = w − u (u · w): the part of w off the shipped direction.
  const offAnchor = (w: Float64Array): Float64Array => {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += u[j]! * w[j]!;
    return Float64Array.from(w, (v, j) => v - u[j]! * dot);
  };

  const m = d + 1; // weights, then the intercept
  const theta = new Float64Array(m);
  // Start at the infinitely-pulled solution: a Platt refit along the anchor.
  const anchorLogits = xs.map((x) => x.reduce((s, v, j) => s + v * a[j]!, 0));
  const platt = fitPlatt(anchorLogits, labels);
  for (let j = 0; j < d; j++) theta[j] = a[j]! / platt.temperature;
  theta[d] = platt.bias;

  const objective = (t: Float64Array): number => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      let eta = t[d]!;
      const x = xs[i]!;
      for (let j = 0; j < d; j++) eta += t[j]! * x[j]!;
      f += logLoss(eta, labels[i]!);
    }
    const w = t.subarray(0, d);
    const pw = offAnchor(w);
    for (let j = 0; j < d; j++) f += 0.5 * l2 * pw[j]! ** 2 + 0.5 * RIDGE * w[j]! ** 2;
    return f;
  };

  let loss = objective(theta);
  let iterations = 0;
  for (; iterations < MAX_ITERATIONS; iterations++) {
    const g = new Float64Array(m);
    const h = new Float64Array(m * m);
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      let eta = theta[d]!;
      for (let j = 0; j < d; j++) eta += theta[j]! * x[j]!;
      const p = 1 / (1 + Math.exp(-eta));
      const res = p - labels[i]!;
      const wt = Math.max(p * (1 - p), 1e-12);
      for (let j = 0; j < d; j++) {
        const xj = x[j]!;
        g[j]! += res * xj;
        if (xj === 0) continue;
        const wx = wt * xj;
        const row = j * m;
        for (let k = 0; k <= j; k++) h[row + k]! += wx * x[k]!;
        h[row + d]! += wx;
      }
      g[d]! += res;
      h[d * m + d]! += wt;
    }
    // Mirror the lower triangle (and the intercept column) and add the penalty's curvature.
    for (let j = 0; j < d; j++) {
      for (let k = 0; k < j; k++) h[k * m + j] = h[j * m + k]!;
      h[d * m + j] = h[j * m + d]!;
    }
    const w = theta.subarray(0, d);
    const pw = offAnchor(w);
    for (let j = 0; j < d; j++) {
      g[j]! += l2 * pw[j]! + RIDGE * w[j]!;
      for (let k = 0; k < d; k++) h[j * m + k]! += l2 * ((j === k ? 1 : 0) - u[j]! * u[k]!);
      h[j * m + j]! += RIDGE;
    }
    h[d * m + d]! += 1e-9;
    if (!cholesky(h, m)) break;
    const step = choleskySolve(h, m, g);
    let scale = 1;
    let next = theta.map((v, j) => v - step[j]!);
    let nextLoss = objective(next);
    while (!(nextLoss <= loss) && scale > 1e-8) {
      scale /= 2;
      next = theta.map((v, j) => v - scale * step[j]!);
      nextLoss = objective(next);
    }
    if (!(nextLoss <= loss)) break;
    theta.set(next);
    const decrease = loss - nextLoss;
    loss = nextLoss;
    if (decrease < 1e-10 * Math.max(1, loss)) {
      iterations++;
      break;
    }
  }
  return { weights: Float64Array.from({ length: d }, (_, j) => theta[j]! / r[j]!), intercept: theta[d]!, iterations };
}
