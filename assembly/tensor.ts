// Row-wise helpers of the dense layers and the data path.

import { relu4 } from "./simd";

/** y[rows,cols] += bias[cols] broadcast over rows. */
export function addBiasRows(y: usize, bias: usize, rows: i32, cols: i32): void {
  biasRows(y, bias, rows, cols, false);
}

/**
 * y[rows,cols] = max(y + bias[cols], 0): a dense layer's bias and the ReLU after it in one pass
 * (the model fuses them; see sdk/model.ts).
 */
export function addBiasRowsRelu(y: usize, bias: usize, rows: i32, cols: i32): void {
  biasRows(y, bias, rows, cols, true);
}

// @ts-ignore: decorator
@inline
function biasRows(y: usize, bias: usize, rows: i32, cols: i32, relu: bool): void {
  const vecEnd = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const row = y + (<usize>(r * cols) << 2);
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const p = row + (<usize>j << 2);
      const v = f32x4.add(v128.load(p), v128.load(bias + (<usize>j << 2)));
      v128.store(p, relu ? relu4(v) : v);
    }
    for (; j < cols; j++) {
      const p = row + (<usize>j << 2);
      const v = load<f32>(p) + load<f32>(bias + (<usize>j << 2));
      store<f32>(p, relu ? max(v, 0) : v);
    }
  }
}

/** out[cols] = sum over rows of x[rows,cols] (+ beta · out): the bias gradient. */
export function sumRows(x: usize, out: usize, rows: i32, cols: i32, beta: f32): void {
  const vecEnd = cols & ~3;
  for (let j = 0; j < cols; j++) {
    const p = out + (<usize>j << 2);
    store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
  }
  for (let r = 0; r < rows; r++) {
    const row = x + (<usize>(r * cols) << 2);
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const p = out + (<usize>j << 2);
      v128.store(p, f32x4.add(v128.load(p), v128.load(row + (<usize>j << 2))));
    }
    for (; j < cols; j++) {
      const p = out + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(row + (<usize>j << 2)));
    }
  }
}

/** dst[n] = f32(src[n]) · scale: uint8 pixels to floats (16 lanes at a time). */
export function scaleU8(src: usize, dst: usize, n: i32, scale: f32): void {
  const vscale = f32x4.splat(scale);
  const vecEnd = n & ~15;
  let i = 0;
  for (; i < vecEnd; i += 16) {
    const bytes = v128.load(src + <usize>i);
    const lo = i16x8.extend_low_i8x16_u(bytes);
    const hi = i16x8.extend_high_i8x16_u(bytes);
    const out = dst + (<usize>i << 2);
    v128.store(out, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(lo)), vscale));
    v128.store(out, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(lo)), vscale), 16);
    v128.store(out, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(hi)), vscale), 32);
    v128.store(out, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(hi)), vscale), 48);
  }
  for (; i < n; i++) {
    store<f32>(dst + (<usize>i << 2), <f32>load<u8>(src + <usize>i) * scale);
  }
}

/**
 * Mini-batch of images: dst[count,rowLen] = src[indices[i], rowLen] · scale, where src holds
 * uint8 rows and indices holds `count` i32 row numbers.
 */
export function gatherImagesU8(
  src: usize, indices: usize, count: i32, rowLen: i32, dst: usize, scale: f32,
): void {
  for (let i = 0; i < count; i++) {
    const row = <usize>load<i32>(indices + (<usize>i << 2));
    scaleU8(src + row * <usize>rowLen, dst + (<usize>(i * rowLen) << 2), rowLen, scale);
  }
}

/** Mini-batch of labels: dst[i] = src[indices[i]] for i < count (bytes). */
export function gatherBytes(src: usize, indices: usize, count: i32, dst: usize): void {
  for (let i = 0; i < count; i++) {
    const row = <usize>load<i32>(indices + (<usize>i << 2));
    store<u8>(dst + <usize>i, load<u8>(src + row));
  }
}

/** out[r] = index of the largest of x[r, 0..cols) (first one on ties), as i32. */
export function argmaxRows(x: usize, rows: i32, cols: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = x + (<usize>(r * cols) << 2);
    let best = 0;
    let bestValue = load<f32>(row);
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    store<i32>(out + (<usize>r << 2), best);
  }
}

/** Number of rows r of probs[rows,cols] whose arg-max equals labels[r] (uint8). */
export function countCorrect(probs: usize, labels: usize, rows: i32, cols: i32): i32 {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const row = probs + (<usize>(r * cols) << 2);
    let best = 0;
    let bestValue = load<f32>(row);
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    if (best == <i32>load<u8>(labels + <usize>r)) correct++;
  }
  return correct;
}

/**
 * dst = src (n floats) unless they are already the same bits; returns 1 if it copied. A layer
 * keeps a copy of the weights it last packed and repacks only when they changed: comparing
 * conv2's 18 K weights takes a few microseconds, packing them broadcast ten. Sixteen floats per
 * step, their differing bits or'ed together and tested once, not once per f32x4, so
 * the compare stays a small part of a one-image inference.
 */
export function copyIfChanged(src: usize, dst: usize, n: i32): i32 {
  let i = 0;
  let same = true;
  for (; i + 16 <= n && same; i += 16) {
    const s = src + (<usize>i << 2);
    const d = dst + (<usize>i << 2);
    let bits = v128.xor(v128.load(s), v128.load(d));
    bits = v128.or(bits, v128.xor(v128.load(s, 16), v128.load(d, 16)));
    bits = v128.or(bits, v128.xor(v128.load(s, 32), v128.load(d, 32)));
    bits = v128.or(bits, v128.xor(v128.load(s, 48), v128.load(d, 48)));
    same = !v128.any_true(bits);
  }
  for (; i + 4 <= n && same; i += 4) {
    const off = <usize>i << 2;
    same = !v128.any_true(v128.xor(v128.load(src + off), v128.load(dst + off)));
  }
  for (; i < n && same; i++) {
    const off = <usize>i << 2;
    same = load<i32>(src + off) == load<i32>(dst + off);
  }
  if (same) return 0;
  memory.copy(dst, src, <usize>n << 2);
  return 1;
}

/**
 * 1 when the n floats at x are all finite, else 0 (a NaN or an infinity among them). x - x is +0
 * for a finite x and NaN otherwise: its bits, or'ed over sixteen floats a step, are 0 only when
 * all were finite. The sparse products check the weights so (sdk/layers/dense.ts): 78 K of them
 * in a few microseconds.
 */
export function allFinite(x: usize, n: i32): i32 {
  let bits = v128.splat<i32>(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    const a = v128.load(p);
    const b = v128.load(p, 16);
    const c = v128.load(p, 32);
    const d = v128.load(p, 48);
    bits = v128.or(bits, v128.or(v128.or(f32x4.sub(a, a), f32x4.sub(b, b)), v128.or(f32x4.sub(c, c), f32x4.sub(d, d))));
  }
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    bits = v128.or(bits, f32x4.sub(v, v));
  }
  let finite = !v128.any_true(bits);
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v - v != 0) finite = false;
  }
  return finite ? 1 : 0;
}
