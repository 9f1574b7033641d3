// Batch normalization (eq. 28-38) over x viewed as [batch, C, S]: each channel c is normalised
// over its batch·S values (S = 1 after a dense layer, H·W after a convolution).
// Shapes: x, y, xhat, dy, dx [batch, C, S]; gamma, beta, mean, invStd, running*, dgamma, dbeta [C].
//
// Each kernel works on the channels [c0, c1) only, so that threads can share a layer's channels:
// a channel's figures do not depend on how the channels were shared out.
//
// A channel's sums are one chain of double additions in the order b, then s. Four channels are
// summed side by side, four independent chains in that same order, which hides the latency of a
// double addition without changing a single sum. The element-wise passes run four values of a row
// at a time with the operations of the scalar expression, in its order (no fused multiply-add),
// so they give the same floats as the scalar code.

/**
 * Training: per channel mean and variance of the batch, xhat = (x - mean) / sqrt(var + eps),
 * y = gamma · xhat + beta. Keeps xhat and 1/sqrt(var + eps) for the backward pass and folds the
 * batch statistics into the running ones: running = momentum · running + (1 - momentum) · batch,
 * with the unbiased variance (eq. 38's m/(m-1)).
 */
export function batchNormTrain(
  x: usize, y: usize, xhat: usize, invStd: usize, gamma: usize, beta: usize,
  runningMean: usize, runningVar: usize, batch: i32, C: i32, S: i32, eps: f32, momentum: f32,
  c0: i32, c1: i32,
): void {
  const m = <f64>(batch * S);
  const plane = <usize>S << 2;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    let sum0: f64 = 0, sum1: f64 = 0, sum2: f64 = 0, sum3: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) {
        const p = row + (<usize>s << 2);
        sum0 += <f64>load<f32>(p);
        sum1 += <f64>load<f32>(p + plane);
        sum2 += <f64>load<f32>(p + 2 * plane);
        sum3 += <f64>load<f32>(p + 3 * plane);
      }
    }
    const mean0 = sum0 / m, mean1 = sum1 / m, mean2 = sum2 / m, mean3 = sum3 / m;
    let sq0: f64 = 0, sq1: f64 = 0, sq2: f64 = 0, sq3: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) {
        const p = row + (<usize>s << 2);
        const d0 = <f64>load<f32>(p) - mean0;
        const d1 = <f64>load<f32>(p + plane) - mean1;
        const d2 = <f64>load<f32>(p + 2 * plane) - mean2;
        const d3 = <f64>load<f32>(p + 3 * plane) - mean3;
        sq0 += d0 * d0;
        sq1 += d1 * d1;
        sq2 += d2 * d2;
        sq3 += d3 * d3;
      }
    }
    normalizeChannel(x, y, xhat, invStd, gamma, beta, runningMean, runningVar, batch, C, S, eps, momentum, c, mean0, sq0 / m);
    normalizeChannel(x, y, xhat, invStd, gamma, beta, runningMean, runningVar, batch, C, S, eps, momentum, c + 1, mean1, sq1 / m);
    normalizeChannel(x, y, xhat, invStd, gamma, beta, runningMean, runningVar, batch, C, S, eps, momentum, c + 2, mean2, sq2 / m);
    normalizeChannel(x, y, xhat, invStd, gamma, beta, runningMean, runningVar, batch, C, S, eps, momentum, c + 3, mean3, sq3 / m);
  }
  for (; c < c1; c++) {
    let sum: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) sum += <f64>load<f32>(row + (<usize>s << 2));
    }
    const mean = sum / m;
    let squares: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const row = x + (<usize>((b * C + c) * S) << 2);
      for (let s = 0; s < S; s++) {
        const d = <f64>load<f32>(row + (<usize>s << 2)) - mean;
        squares += d * d;
      }
    }
    normalizeChannel(x, y, xhat, invStd, gamma, beta, runningMean, runningVar, batch, C, S, eps, momentum, c, mean, squares / m);
  }
}

/** batchNormTrain's work on channel c once its batch mean and (biased) variance are known. */
function normalizeChannel(
  x: usize, y: usize, xhat: usize, invStd: usize, gamma: usize, beta: usize,
  runningMean: usize, runningVar: usize, batch: i32, C: i32, S: i32, eps: f32, momentum: f32,
  c: i32, mean: f64, variance: f64,
): void {
  const m = batch * S;
  const inv = <f32>(1.0 / Math.sqrt(variance + <f64>eps));
  const co = <usize>c << 2;
  store<f32>(invStd + co, inv);
  const g = load<f32>(gamma + co);
  const bt = load<f32>(beta + co);
  const fmean = <f32>mean;
  const meanV = f32x4.splat(fmean), invV = f32x4.splat(inv), gV = f32x4.splat(g), btV = f32x4.splat(bt);
  for (let b = 0; b < batch; b++) {
    const off = <usize>((b * C + c) * S) << 2;
    let s = 0;
    for (; s + 4 <= S; s += 4) {
      const o = off + (<usize>s << 2);
      const h = f32x4.mul(f32x4.sub(v128.load(x + o), meanV), invV);
      v128.store(xhat + o, h);
      v128.store(y + o, f32x4.add(f32x4.mul(gV, h), btV));
    }
    for (; s < S; s++) {
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

/** Inference (eq. 38): y = gamma · (x - runningMean) / sqrt(runningVar + eps) + beta, channels [c0, c1). */
export function batchNormInfer(
  x: usize, y: usize, gamma: usize, beta: usize, runningMean: usize, runningVar: usize,
  batch: i32, C: i32, S: i32, eps: f32, c0: i32, c1: i32,
): void {
  for (let c = c0; c < c1; c++) {
    const co = <usize>c << 2;
    const scale = load<f32>(gamma + co) / Mathf.sqrt(load<f32>(runningVar + co) + eps);
    const shift = load<f32>(beta + co) - load<f32>(runningMean + co) * scale;
    const scaleV = f32x4.splat(scale), shiftV = f32x4.splat(shift);
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const o = off + (<usize>s << 2);
        v128.store(y + o, f32x4.add(f32x4.mul(v128.load(x + o), scaleV), shiftV));
      }
      for (; s < S; s++) {
        const o = off + (<usize>s << 2);
        store<f32>(y + o, load<f32>(x + o) * scale + shift);
      }
    }
  }
}

/**
 * Backward (eq. 32-37): dbeta = Σ dy, dgamma = Σ dy · xhat, and
 * dx = gamma · invStd / m · (m · dy - dbeta - xhat · dgamma), m = batch · S; channels [c0, c1).
 * dx may be 0 (no input gradient wanted).
 */
export function batchNormBackward(
  dy: usize, xhat: usize, invStd: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  batch: i32, C: i32, S: i32, c0: i32, c1: i32,
): void {
  const plane = <usize>S << 2;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    let dy0: f64 = 0, dy1: f64 = 0, dy2: f64 = 0, dy3: f64 = 0;
    let dyx0: f64 = 0, dyx1: f64 = 0, dyx2: f64 = 0, dyx3: f64 = 0;
    for (let b = 0; b < batch; b++) {
      const off = <usize>((b * C + c) * S) << 2;
      for (let s = 0; s < S; s++) {
        const o = off + (<usize>s << 2);
        const d0 = <f64>load<f32>(dy + o);
        const d1 = <f64>load<f32>(dy + o + plane);
        const d2 = <f64>load<f32>(dy + o + 2 * plane);
        const d3 = <f64>load<f32>(dy + o + 3 * plane);
        dy0 += d0;
        dy1 += d1;
        dy2 += d2;
        dy3 += d3;
        dyx0 += d0 * <f64>load<f32>(xhat + o);
        dyx1 += d1 * <f64>load<f32>(xhat + o + plane);
        dyx2 += d2 * <f64>load<f32>(xhat + o + 2 * plane);
        dyx3 += d3 * <f64>load<f32>(xhat + o + 3 * plane);
      }
    }
    channelInputGradient(dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c, dy0, dyx0);
    channelInputGradient(dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c + 1, dy1, dyx1);
    channelInputGradient(dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c + 2, dy2, dyx2);
    channelInputGradient(dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c + 3, dy3, dyx3);
  }
  for (; c < c1; c++) {
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
    channelInputGradient(dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c, sumDy, sumDyXhat);
  }
}

/** batchNormBackward's work on channel c once its sums Σ dy and Σ dy · xhat are known. */
function channelInputGradient(
  dy: usize, xhat: usize, invStd: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  batch: i32, C: i32, S: i32, c: i32, sumDy: f64, sumDyXhat: f64,
): void {
  const m = batch * S;
  const co = <usize>c << 2;
  store<f32>(dbeta + co, <f32>sumDy);
  store<f32>(dgamma + co, <f32>sumDyXhat);
  if (dx == 0) return;
  const k = load<f32>(gamma + co) * load<f32>(invStd + co) / <f32>m;
  const fm = <f32>m;
  const fsumDy = <f32>sumDy;
  const fsumDyXhat = <f32>sumDyXhat;
  const kV = f32x4.splat(k), fmV = f32x4.splat(fm), sumDyV = f32x4.splat(fsumDy), sumDyXhatV = f32x4.splat(fsumDyXhat);
  for (let b = 0; b < batch; b++) {
    const off = <usize>((b * C + c) * S) << 2;
    let s = 0;
    for (; s + 4 <= S; s += 4) {
      const o = off + (<usize>s << 2);
      const t = f32x4.sub(f32x4.sub(f32x4.mul(fmV, v128.load(dy + o)), sumDyV), f32x4.mul(v128.load(xhat + o), sumDyXhatV));
      v128.store(dx + o, f32x4.mul(kV, t));
    }
    for (; s < S; s++) {
      const o = off + (<usize>s << 2);
      store<f32>(dx + o, k * (fm * load<f32>(dy + o) - fsumDy - load<f32>(xhat + o) * fsumDyXhat));
    }
  }
}
