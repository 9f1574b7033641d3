// Batch normalization (eq. 28-38) over x viewed as [batch, C, S]: each channel c is normalised
// over its batch·S values (S = 1 after a dense layer, H·W after a convolution).
// Shapes: x, y, xhat, dy, dx [batch, C, S]; gamma, beta, mean, invStd, running*, dgamma, dbeta [C].

/**
 * Training: per channel mean and variance of the batch, xhat = (x - mean) / sqrt(var + eps),
 * y = gamma · xhat + beta. Keeps xhat and 1/sqrt(var + eps) for the backward pass and folds the
 * batch statistics into the running ones: running = momentum · running + (1 - momentum) · batch,
 * with the unbiased variance (eq. 38's m/(m-1)).
 */
export function batchNormTrain(
  x: usize, y: usize, xhat: usize, invStd: usize, gamma: usize, beta: usize,
  runningMean: usize, runningVar: usize, batch: i32, C: i32, S: i32, eps: f32, momentum: f32,
): void {
  const m = batch * S;
  for (let c = 0; c < C; c++) {
    let sum: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) sum += <f64>load<f32>(row + (<usize>s << 2));
    }
    const mean = sum / <f64>m;
    let squares: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) {
        const d = <f64>load<f32>(row + (<usize>s << 2)) - mean;
        squares += d * d;
      }
    }
    const variance = squares / <f64>m;
    const inv = <f32>(1.0 / Math.sqrt(variance + <f64>eps));
    const co = <usize>c << 2;
    store<f32>(invStd + co, inv);
    const g = load<f32>(gamma + co);
    const bt = load<f32>(beta + co);
    const fmean = <f32>mean;
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      for (let s = 0; s < S; s++) {
        const o = off + (<usize>s << 2);
        const h = (load<f32>(x + o) - fmean) * inv;
        store<f32>(xhat + o, h);
        store<f32>(y + o, g * h + bt);
      }
    }
    const unbiased = m > 1 ? variance * <f64>m / <f64>(m - 1) : variance;
    store<f32>(runningMean + co, momentum * load<f32>(runningMean + co) + (1 - momentum) * fmean);
    store<f32>(runningVar + co, momentum * load<f32>(runningVar + co) + (1 - momentum) * <f32>unbiased);
  }
}

/** Inference (eq. 38): y = gamma · (x - runningMean) / sqrt(runningVar + eps) + beta. */
export function batchNormInfer(
  x: usize, y: usize, gamma: usize, beta: usize, runningMean: usize, runningVar: usize,
  batch: i32, C: i32, S: i32, eps: f32,
): void {
  for (let c = 0; c < C; c++) {
    const co = <usize>c << 2;
    const scale = load<f32>(gamma + co) / Mathf.sqrt(load<f32>(runningVar + co) + eps);
    const shift = load<f32>(beta + co) - load<f32>(runningMean + co) * scale;
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      for (let s = 0; s < S; s++) {
        const o = off + (<usize>s << 2);
        store<f32>(y + o, load<f32>(x + o) * scale + shift);
      }
    }
  }
}

/**
 * Backward (eq. 32-37): dbeta = Σ dy, dgamma = Σ dy · xhat, and
 * dx = gamma · invStd / m · (m · dy - dbeta - xhat · dgamma), m = batch · S.
 * dx may be 0 (no input gradient wanted).
 */
export function batchNormBackward(
  dy: usize, xhat: usize, invStd: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  batch: i32, C: i32, S: i32,
): void {
  const m = batch * S;
  for (let c = 0; c < C; c++) {
    let sumDy: f64 = 0;
    let sumDyXhat: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      for (let s = 0; s < S; s++) {
        const o = off + (<usize>s << 2);
        const d = <f64>load<f32>(dy + o);
        sumDy += d;
        sumDyXhat += d * <f64>load<f32>(xhat + o);
      }
    }
    const co = <usize>c << 2;
    store<f32>(dbeta + co, <f32>sumDy);
    store<f32>(dgamma + co, <f32>sumDyXhat);
    if (dx == 0) continue;
    const k = load<f32>(gamma + co) * load<f32>(invStd + co) / <f32>m;
    const fm = <f32>m;
    const fsumDy = <f32>sumDy;
    const fsumDyXhat = <f32>sumDyXhat;
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      for (let s = 0; s < S; s++) {
        const o = off + (<usize>s << 2);
        store<f32>(dx + o, k * (fm * load<f32>(dy + o) - fsumDy - load<f32>(xhat + o) * fsumDyXhat));
      }
    }
  }
}
