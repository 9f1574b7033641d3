// Dropout (eq. 26-27) with "inverted" scaling: in training each value is kept with probability
// keep = 1 - rho and scaled by 1/keep, so at test time the layer is the identity.
// The mask comes from a counter-based hash of (seed, step, index): reproducible from the seed,
// independent of call order, and free of any state in wasm memory.
// Shapes: x, y, mask, dy, dx [n] float32; mask holds 0 or 1/keep.

// @ts-ignore: decorator
@inline
export function hash32(x: u32): u32 {
  // splitmix32 finaliser
  x = (x ^ (x >> 16)) * 0x85ebca6b;
  x = (x ^ (x >> 13)) * 0xc2b2ae35;
  return x ^ (x >> 16);
}

/** mask[i] = (uniform(seed, step, i) < keep) / keep; y = x · mask. */
export function dropoutForward(x: usize, y: usize, mask: usize, n: i32, keep: f32, seed: u32, step: u32): void {
  const scale: f32 = 1.0 / keep;
  const base = hash32(seed ^ hash32(step + 0x9e3779b9));
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const u = <f32>(hash32(base + <u32>i * 0x9e3779b9) >> 8) * (1.0 / 16777216.0);
    const m: f32 = u < keep ? scale : 0;
    store<f32>(mask + o, m);
    store<f32>(y + o, load<f32>(x + o) * m);
  }
}

/** dx = dy · mask */
export function dropoutBackward(dy: usize, mask: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i < (n & ~3); i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), v128.load(mask + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * load<f32>(mask + o));
  }
}
