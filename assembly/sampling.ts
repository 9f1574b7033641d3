// The VAE's sampling layer (the reparameterisation trick): each sample's input is [2d] floats,
// the mean mu (first d) and the log-variance logvar (last d) of a diagonal Gaussian; the output
// is z [d] = mu + exp(½·logvar)·eps with eps ~ N(0, 1), and the layer's loss term is the KL
// divergence of that Gaussian from N(0, I): KL = -½ Σ (1 + logvar - mu² - exp(logvar)).
// Shapes: x, dx [batch, 2d]; eps, z, dz [batch, d]. The noise comes from a counter-based hash of
// (seed, step, index), like dropout's masks: reproducible from the seed, free of state in wasm.

import { hash32 } from "./dropout";
import { expVec } from "./simd";

/** Salt that keeps the noise of a seed apart from the dropout masks of the same seed. */
const NOISE_SALT: u32 = 0x5bd1e995;

/**
 * eps[n] ~ N(0, 1) by Box–Muller, pair j (values 2j and 2j + 1) from the uniforms of counters 2j
 * and 2j + 1: u1 in (0, 1], u2 in [0, 1); eps = √(-2 ln u1)·(cos 2πu2, sin 2πu2). Each value
 * depends on (seed, step, index) alone, so a longer run starts with the same values. The
 * uniforms have 24 bits, so |eps| <= √(2·ln 2²⁴) ≈ 5.8 (a tail of 10⁻⁸ cut off). Scalar (the
 * logarithm and the sine and cosine per pair), in float64, rounded to float32.
 */
export function gaussianNoise(eps: usize, n: i32, seed: u32, step: u32): void {
  const base = hash32(seed ^ NOISE_SALT ^ hash32(step + 0x9e3779b9));
  for (let i = 0; i < n; i += 2) {
    const h1 = hash32(base + <u32>i * 0x9e3779b9);
    const h2 = hash32(base + <u32>(i + 1) * 0x9e3779b9);
    const u1 = <f64>((h1 >> 8) + 1) * (1.0 / 16777216.0);
    const u2 = <f64>(h2 >> 8) * (1.0 / 16777216.0);
    const radius = Math.sqrt(-2.0 * Math.log(u1));
    const angle = 2.0 * Math.PI * u2;
    store<f32>(eps + (<usize>i << 2), <f32>(radius * Math.cos(angle)));
    if (i + 1 < n) store<f32>(eps + (<usize>(i + 1) << 2), <f32>(radius * Math.sin(angle)));
  }
}

/**
 * z = mu + exp(½·logvar)·eps (noise != 0) or z = mu (noise == 0: the mean, eps unread); returns
 * KL = -½ Σ (1 + logvar - mu² - exp(logvar)) summed over the batch (each sample's sum in float32
 * lanes, the batch's in float64). exp by expVec: logvar beyond ±176 is clamped.
 */
export function samplingForward(x: usize, eps: usize, z: usize, batch: i32, d: i32, noise: i32): f64 {
  const half = f32x4.splat(0.5);
  const one = f32x4.splat(1);
  let total: f64 = 0;
  for (let b = 0; b < batch; b++) {
    const mu = x + (<usize>(2 * b * d) << 2);
    const logvar = mu + (<usize>d << 2);
    const e = eps + (<usize>(b * d) << 2);
    const out = z + (<usize>(b * d) << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const off = <usize>j << 2;
      const m = v128.load(mu + off);
      const l = v128.load(logvar + off);
      const s = expVec(f32x4.mul(half, l));
      v128.store(out + off, noise != 0 ? f32x4.add(m, f32x4.mul(s, v128.load(e + off))) : m);
      acc = f32x4.add(acc, f32x4.sub(f32x4.sub(f32x4.add(one, l), f32x4.mul(m, m)), f32x4.mul(s, s)));
    }
    let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) +
      f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; j < d; j++) {
      const off = <usize>j << 2;
      const m = load<f32>(mu + off);
      const l = load<f32>(logvar + off);
      const s = Mathf.exp(0.5 * l);
      store<f32>(out + off, noise != 0 ? m + s * load<f32>(e + off) : m);
      sum += 1 + l - m * m - s * s;
    }
    total += <f64>sum;
  }
  return -0.5 * total;
}

/**
 * The gradients of L + scale·KL, given dz = dL/dz of the forward pass that drew eps (or took the
 * mean: noise == 0): dmu = dz + scale·mu, dlogvar = dz·½·eps·exp(½·logvar) + scale·½(exp(logvar) - 1)
 * (the first term only with noise). `scale` is 1/batch for a loss that is a mean over the batch.
 */
export function samplingBackward(
  x: usize, eps: usize, dz: usize, dx: usize, batch: i32, d: i32, scale: f32, noise: i32,
): void {
  const half = f32x4.splat(0.5);
  const one = f32x4.splat(1);
  const vscale = f32x4.splat(scale);
  const halfScale = f32x4.splat(0.5 * scale);
  for (let b = 0; b < batch; b++) {
    const mu = x + (<usize>(2 * b * d) << 2);
    const logvar = mu + (<usize>d << 2);
    const dmu = dx + (<usize>(2 * b * d) << 2);
    const dlogvar = dmu + (<usize>d << 2);
    const e = eps + (<usize>(b * d) << 2);
    const g = dz + (<usize>(b * d) << 2);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const off = <usize>j << 2;
      const m = v128.load(mu + off);
      const s = expVec(f32x4.mul(half, v128.load(logvar + off)));
      const grad = v128.load(g + off);
      v128.store(dmu + off, f32x4.add(grad, f32x4.mul(vscale, m)));
      let dl = f32x4.mul(halfScale, f32x4.sub(f32x4.mul(s, s), one));
      if (noise != 0) dl = f32x4.add(dl, f32x4.mul(f32x4.mul(f32x4.mul(half, grad), v128.load(e + off)), s));
      v128.store(dlogvar + off, dl);
    }
    for (; j < d; j++) {
      const off = <usize>j << 2;
      const m = load<f32>(mu + off);
      const s = Mathf.exp(0.5 * load<f32>(logvar + off));
      const grad = load<f32>(g + off);
      store<f32>(dmu + off, grad + scale * m);
      let dl: f32 = 0.5 * scale * (s * s - 1);
      if (noise != 0) dl += 0.5 * grad * load<f32>(e + off) * s;
      store<f32>(dlogvar + off, dl);
    }
  }
}
