// Parameter update rules (the course's eq. 39-55), one pass over a parameter tensor of n floats.
// Every rule first adds L2 weight decay to the gradient, g' = g + decay · w (the gradient of
// loss + decay/2 · |w|²), then updates w and its state in place. All share one loop shape:
// four lanes at a time, then a scalar tail; the scalar tail calls the same rule lane-free.
// Shapes: w, g and every state buffer are [n] float32.

// @ts-ignore: decorator
@inline
function decayed(g: v128, w: v128, decay: v128): v128 {
  return f32x4.add(g, f32x4.mul(decay, w));
}

/** SGD (eq. 23): w -= lr · g'. */
export function sgdUpdate(w: usize, g: usize, n: i32, lr: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    v128.store(w + o, f32x4.sub(vw, f32x4.mul(vlr, decayed(v128.load(g + o), vw, vdecay))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    store<f32>(w + o, vw - lr * (load<f32>(g + o) + decay * vw));
  }
}

/** Momentum SGD (eq. 40-41): v = alpha · v - lr · g'; w += v. */
export function momentumUpdate(w: usize, g: usize, v: usize, n: i32, lr: f32, alpha: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const valpha = f32x4.splat(alpha);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    const vv = f32x4.sub(f32x4.mul(valpha, v128.load(v + o)), f32x4.mul(vlr, decayed(v128.load(g + o), vw, vdecay)));
    v128.store(v + o, vv);
    v128.store(w + o, f32x4.add(vw, vv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vv = alpha * load<f32>(v + o) - lr * (load<f32>(g + o) + decay * vw);
    store<f32>(v + o, vv);
    store<f32>(w + o, vw + vv);
  }
}

/** AdaGrad (eq. 42-43): h += g'²; w -= lr · g' / sqrt(h). h starts at h0 (1e-8), set by the caller. */
export function adagradUpdate(w: usize, g: usize, h: usize, n: i32, lr: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    const vg = decayed(v128.load(g + o), vw, vdecay);
    const vh = f32x4.add(v128.load(h + o), f32x4.mul(vg, vg));
    v128.store(h + o, vh);
    v128.store(w + o, f32x4.sub(vw, f32x4.div(f32x4.mul(vlr, vg), f32x4.sqrt(vh))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vg = load<f32>(g + o) + decay * vw;
    const vh = load<f32>(h + o) + vg * vg;
    store<f32>(h + o, vh);
    store<f32>(w + o, vw - lr * vg / Mathf.sqrt(vh));
  }
}

/** RMSProp (eq. 44-45): h = rho · h + (1 - rho) · g'²; w -= lr · g' / (sqrt(h) + eps). */
export function rmspropUpdate(w: usize, g: usize, h: usize, n: i32, lr: f32, rho: f32, eps: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vrho = f32x4.splat(rho);
  const vrest = f32x4.splat(1 - rho);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    const vg = decayed(v128.load(g + o), vw, vdecay);
    const vh = f32x4.add(f32x4.mul(vrho, v128.load(h + o)), f32x4.mul(vrest, f32x4.mul(vg, vg)));
    v128.store(h + o, vh);
    v128.store(w + o, f32x4.sub(vw, f32x4.div(f32x4.mul(vlr, vg), f32x4.add(f32x4.sqrt(vh), veps))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vg = load<f32>(g + o) + decay * vw;
    const vh = rho * load<f32>(h + o) + (1 - rho) * vg * vg;
    store<f32>(h + o, vh);
    store<f32>(w + o, vw - lr * vg / (Mathf.sqrt(vh) + eps));
  }
}

/**
 * AdaDelta (eq. 46-49), no learning rate: h = rho · h + (1 - rho) · g'²;
 * dw = -sqrt(s + eps) / sqrt(h + eps) · g'; s = rho · s + (1 - rho) · dw²; w += dw.
 */
export function adadeltaUpdate(w: usize, g: usize, h: usize, s: usize, n: i32, rho: f32, eps: f32, decay: f32): void {
  const vrho = f32x4.splat(rho);
  const vrest = f32x4.splat(1 - rho);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    const vg = decayed(v128.load(g + o), vw, vdecay);
    const vh = f32x4.add(f32x4.mul(vrho, v128.load(h + o)), f32x4.mul(vrest, f32x4.mul(vg, vg)));
    const vs = v128.load(s + o);
    const dw = f32x4.neg(f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(vs, veps)), f32x4.sqrt(f32x4.add(vh, veps))), vg));
    v128.store(h + o, vh);
    v128.store(s + o, f32x4.add(f32x4.mul(vrho, vs), f32x4.mul(vrest, f32x4.mul(dw, dw))));
    v128.store(w + o, f32x4.add(vw, dw));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vg = load<f32>(g + o) + decay * vw;
    const vh = rho * load<f32>(h + o) + (1 - rho) * vg * vg;
    const vs = load<f32>(s + o);
    const dw = -Mathf.sqrt(vs + eps) / Mathf.sqrt(vh + eps) * vg;
    store<f32>(h + o, vh);
    store<f32>(s + o, rho * vs + (1 - rho) * dw * dw);
    store<f32>(w + o, vw + dw);
  }
}

/**
 * Adam (eq. 50-55): m = b1 · m + (1 - b1) · g'; v = b2 · v + (1 - b2) · g'²;
 * w -= lr · (m / c1) / (sqrt(v / c2) + eps), with the bias corrections c1 = 1 - b1^t and
 * c2 = 1 - b2^t of step t computed by the caller.
 */
export function adamUpdate(
  w: usize, g: usize, m: usize, v: usize, n: i32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, c1: f32, c2: f32, decay: f32,
): void {
  const vb1 = f32x4.splat(beta1);
  const vr1 = f32x4.splat(1 - beta1);
  const vb2 = f32x4.splat(beta2);
  const vr2 = f32x4.splat(1 - beta2);
  const vstep = f32x4.splat(lr / c1);
  const vinvc2 = f32x4.splat(1 / c2);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    const vw = v128.load(w + o);
    const vg = decayed(v128.load(g + o), vw, vdecay);
    const vm = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vr1, vg));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vr2, f32x4.mul(vg, vg)));
    v128.store(m + o, vm);
    v128.store(v + o, vv);
    const denom = f32x4.add(f32x4.sqrt(f32x4.mul(vv, vinvc2)), veps);
    v128.store(w + o, f32x4.sub(vw, f32x4.div(f32x4.mul(vstep, vm), denom)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vg = load<f32>(g + o) + decay * vw;
    const vm = beta1 * load<f32>(m + o) + (1 - beta1) * vg;
    const vv = beta2 * load<f32>(v + o) + (1 - beta2) * vg * vg;
    store<f32>(m + o, vm);
    store<f32>(v + o, vv);
    store<f32>(w + o, vw - (lr / c1) * vm / (Mathf.sqrt(vv / c2) + eps));
  }
}
