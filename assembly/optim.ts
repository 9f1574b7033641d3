// Parameter update rules (the course's eq. 23, 39-55): one kernel per rule, one pass over a
// parameter tensor of n floats. Shapes: w, g and every state buffer are [n] float32, 4-byte
// aligned; w and the state are updated in place, g is only read.
//
// Every rule first adds L2 weight decay to the gradient, g' = g + decay · w (the gradient of
// loss + decay/2 · |w|²). Each rule's maths is written once, as a step over one vector of four
// lanes (`<rule>Lanes`); its kernel runs that step over the whole vectors, then once over the
// last n % 4 floats, loaded into the low lanes of a vector and stored back from them, so every
// float follows the same formula and nothing beyond the n floats is read or written (a
// parameter may be a view into a larger buffer).

// @ts-ignore: decorator
@inline
function decayed(g: v128, w: v128, decay: v128): v128 {
  return f32x4.add(g, f32x4.mul(decay, w));
}

/** The running average rho · avg + rest · x of the adaptive rules (rest = 1 - rho). */
// @ts-ignore: decorator
@inline
function average(rho: v128, avg: v128, rest: v128, x: v128): v128 {
  return f32x4.add(f32x4.mul(rho, avg), f32x4.mul(rest, x));
}

// @ts-ignore: decorator
@inline
function square(x: v128): v128 {
  return f32x4.mul(x, x);
}

/** The `lanes` (1 to 4) floats at p, in the low lanes of a vector (the others 0). */
// @ts-ignore: decorator
@inline
function load4(p: usize, lanes: i32): v128 {
  if (lanes == 4) return v128.load(p);
  let v = f32x4.replace_lane(f32x4.splat(0), 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the low `lanes` (1 to 4) lanes of v at p. */
// @ts-ignore: decorator
@inline
function store4(p: usize, v: v128, lanes: i32): void {
  if (lanes == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** SGD (eq. 23): w -= lr · g'. */
// @ts-ignore: decorator
@inline
function sgdLanes(w: usize, g: usize, lanes: i32, lr: v128, decay: v128): void {
  const vw = load4(w, lanes);
  store4(w, f32x4.sub(vw, f32x4.mul(lr, decayed(load4(g, lanes), vw, decay))), lanes);
}

export function sgdUpdate(w: usize, g: usize, n: i32, lr: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    sgdLanes(w + o, g + o, 4, vlr, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    sgdLanes(w + o, g + o, n - i, vlr, vdecay);
  }
}

/** Momentum SGD (eq. 40-41): v = alpha · v - lr · g'; w += v. */
// @ts-ignore: decorator
@inline
function momentumLanes(w: usize, g: usize, v: usize, lanes: i32, lr: v128, alpha: v128, decay: v128): void {
  const vw = load4(w, lanes);
  const vv = f32x4.sub(f32x4.mul(alpha, load4(v, lanes)), f32x4.mul(lr, decayed(load4(g, lanes), vw, decay)));
  store4(v, vv, lanes);
  store4(w, f32x4.add(vw, vv), lanes);
}

export function momentumUpdate(w: usize, g: usize, v: usize, n: i32, lr: f32, alpha: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const valpha = f32x4.splat(alpha);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    momentumLanes(w + o, g + o, v + o, 4, vlr, valpha, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    momentumLanes(w + o, g + o, v + o, n - i, vlr, valpha, vdecay);
  }
}

/** AdaGrad (eq. 42-43): h += g'²; w -= lr · g' / sqrt(h). h starts at h0, set by the caller. */
// @ts-ignore: decorator
@inline
function adagradLanes(w: usize, g: usize, h: usize, lanes: i32, lr: v128, decay: v128): void {
  const vw = load4(w, lanes);
  const vg = decayed(load4(g, lanes), vw, decay);
  const vh = f32x4.add(load4(h, lanes), square(vg));
  store4(h, vh, lanes);
  store4(w, f32x4.sub(vw, f32x4.div(f32x4.mul(lr, vg), f32x4.sqrt(vh))), lanes);
}

export function adagradUpdate(w: usize, g: usize, h: usize, n: i32, lr: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    adagradLanes(w + o, g + o, h + o, 4, vlr, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    adagradLanes(w + o, g + o, h + o, n - i, vlr, vdecay);
  }
}

/** RMSProp (eq. 44-45): h = rho · h + (1 - rho) · g'²; w -= lr · g' / (sqrt(h) + eps). */
// @ts-ignore: decorator
@inline
function rmspropLanes(w: usize, g: usize, h: usize, lanes: i32, lr: v128, rho: v128, rest: v128, eps: v128, decay: v128): void {
  const vw = load4(w, lanes);
  const vg = decayed(load4(g, lanes), vw, decay);
  const vh = average(rho, load4(h, lanes), rest, square(vg));
  store4(h, vh, lanes);
  store4(w, f32x4.sub(vw, f32x4.div(f32x4.mul(lr, vg), f32x4.add(f32x4.sqrt(vh), eps))), lanes);
}

export function rmspropUpdate(w: usize, g: usize, h: usize, n: i32, lr: f32, rho: f32, eps: f32, decay: f32): void {
  const vlr = f32x4.splat(lr);
  const vrho = f32x4.splat(rho);
  const vrest = f32x4.splat(1 - rho);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    rmspropLanes(w + o, g + o, h + o, 4, vlr, vrho, vrest, veps, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    rmspropLanes(w + o, g + o, h + o, n - i, vlr, vrho, vrest, veps, vdecay);
  }
}

/**
 * AdaDelta (eq. 46-49), no learning rate: h = rho · h + (1 - rho) · g'²;
 * dw = -sqrt(s + eps) / sqrt(h + eps) · g'; s = rho · s + (1 - rho) · dw²; w += dw.
 */
// @ts-ignore: decorator
@inline
function adadeltaLanes(w: usize, g: usize, h: usize, s: usize, lanes: i32, rho: v128, rest: v128, eps: v128, decay: v128): void {
  const vw = load4(w, lanes);
  const vg = decayed(load4(g, lanes), vw, decay);
  const vh = average(rho, load4(h, lanes), rest, square(vg));
  const vs = load4(s, lanes);
  const dw = f32x4.neg(f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(vs, eps)), f32x4.sqrt(f32x4.add(vh, eps))), vg));
  store4(h, vh, lanes);
  store4(s, average(rho, vs, rest, square(dw)), lanes);
  store4(w, f32x4.add(vw, dw), lanes);
}

export function adadeltaUpdate(w: usize, g: usize, h: usize, s: usize, n: i32, rho: f32, eps: f32, decay: f32): void {
  const vrho = f32x4.splat(rho);
  const vrest = f32x4.splat(1 - rho);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    adadeltaLanes(w + o, g + o, h + o, s + o, 4, vrho, vrest, veps, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    adadeltaLanes(w + o, g + o, h + o, s + o, n - i, vrho, vrest, veps, vdecay);
  }
}

/**
 * Adam (eq. 50-55): m = b1 · m + (1 - b1) · g'; v = b2 · v + (1 - b2) · g'²;
 * w -= (lr / c1) · m / (sqrt(v · (1 / c2)) + eps), with the bias corrections c1 = 1 - b1^t and
 * c2 = 1 - b2^t of step t computed by the caller.
 */
// @ts-ignore: decorator
@inline
function adamLanes(
  w: usize, g: usize, m: usize, v: usize, lanes: i32,
  b1: v128, r1: v128, b2: v128, r2: v128, step: v128, invc2: v128, eps: v128, decay: v128,
): void {
  const vw = load4(w, lanes);
  const vg = decayed(load4(g, lanes), vw, decay);
  const vm = average(b1, load4(m, lanes), r1, vg);
  const vv = average(b2, load4(v, lanes), r2, square(vg));
  store4(m, vm, lanes);
  store4(v, vv, lanes);
  const denom = f32x4.add(f32x4.sqrt(f32x4.mul(vv, invc2)), eps);
  store4(w, f32x4.sub(vw, f32x4.div(f32x4.mul(step, vm), denom)), lanes);
}

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
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    adamLanes(w + o, g + o, m + o, v + o, 4, vb1, vr1, vb2, vr2, vstep, vinvc2, veps, vdecay);
  }
  if (i < n) {
    const o = <usize>i << 2;
    adamLanes(w + o, g + o, m + o, v + o, n - i, vb1, vr1, vb2, vr2, vstep, vinvc2, veps, vdecay);
  }
}
