// The batch-norm kernels' arithmetic one value at a time, in JavaScript, operation for operation:
// each channel's sums a chain of double additions in the order b, then s; every float32 operation
// rounded with Math.fround. The kernels must give these floats bit for bit (test/assembly/norm.test.ts),
// however they group channels, vectorize rows or share channels between threads.
const f = Math.fround;

export interface ScalarTrain {
  y: Float32Array;
  xhat: Float32Array;
  invStd: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

/** batchNormTrain on [batch, C, S]; runningMean/runningVar are the values before the update. */
export function batchNormTrainScalar(
  x: Float32Array,
  batch: number,
  C: number,
  S: number,
  gamma: Float32Array,
  beta: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  eps: number,
  momentum: number,
): ScalarTrain {
  const n = batch * C * S;
  const out = {
    y: new Float32Array(n),
    xhat: new Float32Array(n),
    invStd: new Float32Array(C),
    runningMean: Float32Array.from(runningMean),
    runningVar: Float32Array.from(runningVar),
  };
  const m = batch * S;
  const [e, mo] = [f(eps), f(momentum)];
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let b = 0; b < batch; b++) for (let s = 0; s < S; s++) sum += x[(b * C + c) * S + s];
    const mean = sum / m;
    let squares = 0;
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const d = x[(b * C + c) * S + s] - mean;
        squares += d * d;
      }
    }
    const variance = squares / m;
    const inv = f(1 / Math.sqrt(variance + e));
    out.invStd[c] = inv;
    const fmean = f(mean);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = (b * C + c) * S + s;
        const h = f(f(x[i] - fmean) * inv);
        out.xhat[i] = h;
        out.y[i] = f(f(gamma[c] * h) + beta[c]);
      }
    }
    const unbiased = m > 1 ? (variance * m) / (m - 1) : variance;
    const rest = f(1 - mo);
    out.runningMean[c] = f(f(mo * runningMean[c]) + f(rest * fmean));
    out.runningVar[c] = f(f(mo * runningVar[c]) + f(rest * f(unbiased)));
  }
  return out;
}

/** batchNormInfer on [batch, C, S]. */
export function batchNormInferScalar(
  x: Float32Array,
  batch: number,
  C: number,
  S: number,
  gamma: Float32Array,
  beta: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  eps: number,
): Float32Array {
  const y = new Float32Array(x.length);
  for (let c = 0; c < C; c++) {
    const scale = f(gamma[c] / f(Math.sqrt(f(runningVar[c] + f(eps)))));
    const shift = f(beta[c] - f(runningMean[c] * scale));
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = (b * C + c) * S + s;
        y[i] = f(f(x[i] * scale) + shift);
      }
    }
  }
  return y;
}

/** batchNormBackward on [batch, C, S]. */
export function batchNormBackwardScalar(
  dy: Float32Array,
  xhat: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array,
  batch: number,
  C: number,
  S: number,
): { dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array } {
  const out = { dx: new Float32Array(dy.length), dgamma: new Float32Array(C), dbeta: new Float32Array(C) };
  const m = batch * S;
  for (let c = 0; c < C; c++) {
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = (b * C + c) * S + s;
        sumDy += dy[i];
        sumDyXhat += dy[i] * xhat[i];
      }
    }
    out.dbeta[c] = sumDy;
    out.dgamma[c] = sumDyXhat;
    const k = f(f(gamma[c] * invStd[c]) / m);
    const [fsumDy, fsumDyXhat] = [f(sumDy), f(sumDyXhat)];
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        const i = (b * C + c) * S + s;
        out.dx[i] = f(k * f(f(f(m * dy[i]) - fsumDy) - f(xhat[i] * fsumDyXhat)));
      }
    }
  }
  return out;
}
