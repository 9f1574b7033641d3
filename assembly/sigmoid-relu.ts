// The activation kernels, sigmoid and ReLU, element-wise over n floats, forward and backward
// (the layer that calls them is sdk/layers/activation.ts). In-place use (y == x, dx == dy) is
// allowed: each element is read before it is written.

import { expVec, relu4 } from "./simd";

/**
 * y = 1 / (1 + e^-x), eight at a time with expVec (within 8 ulp of the exact sigmoid, tested);
 * the last n % 4 through Mathf.exp. Vectors, because Mathf.exp one float at a time is a
 * noticeable share of the MLP's training step (docs/DESIGN.md, "Fusion").
 */
export function sigmoidForward(x: usize, y: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  // Two vectors per step: their two chains of dependent operations overlap.
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const e0 = expVec(f32x4.neg(v128.load(x + off)));
    const e1 = expVec(f32x4.neg(v128.load(x + off, 16)));
    v128.store(y + off, f32x4.div(one, f32x4.add(one, e0)));
    v128.store(y + off, f32x4.div(one, f32x4.add(one, e1)), 16);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, f32x4.div(one, f32x4.add(one, expVec(f32x4.neg(v128.load(x + off))))));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, 1.0 / (1.0 + Mathf.exp(-load<f32>(x + off))));
  }
}

/** dx = dy · y · (1 - y), from the forward output y. */
export function sigmoidBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  const one = f32x4.splat(1);
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const off = <usize>i << 2;
    const vy = v128.load(y + off);
    v128.store(dx + off, f32x4.mul(v128.load(dy + off), f32x4.mul(vy, f32x4.sub(one, vy))));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const v = load<f32>(y + off);
    store<f32>(dx + off, load<f32>(dy + off) * v * (1 - v));
  }
}

/** y = max(x, 0) */
export function reluForward(x: usize, y: usize, n: i32): void {
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, relu4(v128.load(x + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, max(load<f32>(x + off), 0));
  }
}

/** dx = dy where the forward output y > 0, else 0. */
export function reluBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const off = <usize>i << 2;
    const positive = f32x4.gt(v128.load(y + off), zero);
    v128.store(dx + off, v128.and(v128.load(dy + off), positive));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(dx + off, load<f32>(y + off) > 0 ? load<f32>(dy + off) : 0);
  }
}
