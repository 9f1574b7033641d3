// Batch normalization in float64, the reference of its kernels' and its layer's tests.

/** Batch norm of x [batch, C, S] per channel, in float64. */
export function batchNormReference(
  x: ArrayLike<number>,
  batch: number,
  C: number,
  S: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
) {
  const m = batch * S;
  const at = (b: number, c: number, s: number): number => (b * C + c) * S + s;
  const mean = new Float64Array(C),
    variance = new Float64Array(C),
    invStd = new Float64Array(C);
  const xhat = new Float64Array(x.length),
    y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let b = 0; b < batch; b++) for (let s = 0; s < S; s++) sum += x[at(b, c, s)];
    mean[c] = sum / m;
    let sq = 0;
    for (let b = 0; b < batch; b++) for (let s = 0; s < S; s++) sq += (x[at(b, c, s)] - mean[c]) ** 2;
    variance[c] = sq / m;
    invStd[c] = 1 / Math.sqrt(variance[c] + eps);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = at(b, c, s);
        xhat[i] = (x[i] - mean[c]) * invStd[c];
        y[i] = gamma[c] * xhat[i] + beta[c];
      }
    }
  }
  const unbiased = variance.map((v) => (m > 1 ? (v * m) / (m - 1) : v));
  return { mean, variance, unbiased, invStd, xhat, y };
}

/** dgamma, dbeta, dx of batch norm (training) for upstream dy, in float64 (eq. 32-37 written out). */
export function batchNormBackwardReference(
  dy: ArrayLike<number>,
  xhat: ArrayLike<number>,
  invStd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  batch: number,
  C: number,
  S: number,
) {
  const m = batch * S;
  const at = (b: number, c: number, s: number): number => (b * C + c) * S + s;
  const dgamma = new Float64Array(C),
    dbeta = new Float64Array(C),
    dx = new Float64Array(dy.length);
  for (let c = 0; c < C; c++) {
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        dbeta[c] += dy[at(b, c, s)];
        dgamma[c] += dy[at(b, c, s)] * xhat[at(b, c, s)];
      }
    }
    // dxhat = dy·gamma; dvar and dmean; dx = dxhat·invStd + dvar·2(x-mean)/m + dmean/m
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = at(b, c, s);
        dx[i] = ((gamma[c] * invStd[c]) / m) * (m * dy[i] - dbeta[c] - xhat[i] * dgamma[c]);
      }
    }
  }
  return { dgamma, dbeta, dx };
}
