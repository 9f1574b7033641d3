// Parameter update rules, one pass over a parameter tensor of n floats.

/** Plain SGD (eq. 23): w -= lr · g. */
export function sgdUpdate(w: usize, g: usize, n: i32, lr: f32): void {
  const vlr = f32x4.splat(lr);
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const off = <usize>i << 2;
    v128.store(w + off, f32x4.sub(v128.load(w + off), f32x4.mul(vlr, v128.load(g + off))));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(w + off, load<f32>(w + off) - lr * load<f32>(g + off));
  }
}
