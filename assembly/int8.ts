// int8 inference kernels (docs: sdk/layers/int8.ts). Weights are signed int8, one scale per
// output channel; activations are quantized to unsigned 7 bits, q = clamp(round(x / s) + z, 0, 127),
// which the relaxed dot's second operand needs (its result is implementation-defined beyond 0..127).
// Sums are exact in int32; the epilogue turns them into float32 with the channel's scale and bias.
//
// Both operands of the product are laid out with the reduction dimension K contiguous and padded to
// a multiple of 16 (weights [mp, kp], activations [n, kp]), each value one element of
// OPERAND_BYTES: a byte in the relaxed build (16 values per load, into the relaxed dot), an int16
// in the plain one (8 per load, into i32x4.dot_i16x8_s), widened once where the operand is made
// rather than at every use in the product's inner loop (half the instructions there).

import { relu4 } from "./simd";

/** Bytes per value of gemmI8's operands: 1 in the relaxed SIMD build, 2 (int16) in the plain one. */
export const OPERAND_BYTES: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 2;

/** OPERAND_BYTES, for the SDK, which lays out the weights and sizes the operands' buffers. */
export function int8OperandBytes(): i32 {
  return OPERAND_BYTES;
}

// round(x · invScale) + zero as int32 lanes, not yet clamped to 0..127 (quantizeRows narrows four
// of them with saturation, then clamps the bytes). The float is clamped to ±256 first, so that
// adding the zero point cannot overflow; pmin/pmax are one instruction each where V8 spends nine
// on min/max's NaN rules (a NaN passes them, and trunc_sat makes it 0).
// @ts-ignore: decorator
@inline
export function quantize4(x: v128, invScale: v128, zero: v128): v128 {
  const t = f32x4.pmin(f32x4.pmax(f32x4.nearest(f32x4.mul(x, invScale)), f32x4.splat(-256)), f32x4.splat(256));
  return i32x4.add(i32x4.trunc_sat_f32x4_s(t), zero);
}

// @ts-ignore: decorator
@inline
function quantize1(x: f32, invScale: f32, zero: i32): u8 {
  // As quantize4: NaN counts as 0 (trunc_sat), so it gives `zero`; beyond ±256 saturates either way.
  let t = nearest<f32>(x * invScale);
  t = t == t ? (t > -256 ? (t < 256 ? t : 256) : -256) : 0;
  const q = <i32>t + zero;
  return <u8>(q < 0 ? 0 : q > 127 ? 127 : q);
}

/**
 * Float rows [rows, cols] -> gemmI8 operand rows [rows, kp] (kp >= cols) of OPERAND_BYTES values:
 * q = clamp(round(x · invScale) + zero, 0, 127), columns cols..kp-1 set to 0 (the weights there
 * are 0). A NaN quantizes to `zero`, an infinity to 0 or 127.
 */
export function quantizeRows(src: usize, dst: usize, rows: i32, cols: i32, kp: i32, invScale: f32, zero: i32): void {
  quantizeInto(src, dst, rows, cols, kp, invScale, zero, OPERAND_BYTES);
}

// quantizeRows with values of `width` bytes (1, or 2: each byte zero-extended to an int16).
// @ts-ignore: decorator
@inline
function quantizeInto(
  src: usize,
  dst: usize,
  rows: i32,
  cols: i32,
  kp: i32,
  invScale: f32,
  zero: i32,
  width: i32,
): void {
  const vs = f32x4.splat(invScale);
  const vz = i32x4.splat(zero);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * <usize>cols * 4;
    const d = dst + <usize>r * <usize>kp * <usize>width;
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      const p = s + <usize>c * 4;
      const q0 = quantize4(v128.load(p), vs, vz);
      const q1 = quantize4(v128.load(p, 16), vs, vz);
      const q2 = quantize4(v128.load(p, 32), vs, vz);
      const q3 = quantize4(v128.load(p, 48), vs, vz);
      const q = i8x16.max_s(
        i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)),
        i8x16.splat(0),
      );
      if (width == 1) {
        v128.store(d + <usize>c, q);
      } else {
        v128.store(d + <usize>c * 2, i16x8.extend_low_i8x16_u(q));
        v128.store(d + <usize>c * 2, i16x8.extend_high_i8x16_u(q), 16);
      }
    }
    for (; c < cols; c++) {
      const q = quantize1(load<f32>(s + <usize>c * 4), invScale, zero);
      if (width == 1) store<u8>(d + <usize>c, q);
      else store<u16>(d + <usize>c * 2, q);
    }
    memory.fill(d + <usize>cols * <usize>width, 0, <usize>(kp - cols) * <usize>width);
  }
}

// 16 rows of 16 bytes at src (rows `stride` apart) -> transposed, 16 rows at dst (`dstStride` apart):
// four rounds of interleaving row r with row r + 8 (each a perfect shuffle of the 8-bit (row,
// column) index; four rotate it by 4 bits, swapping row and column).
// @ts-ignore: decorator
@inline
function transpose16x16(src: usize, stride: usize, dst: usize, dstStride: usize): void {
  let x0 = v128.load(src + 0 * stride);
  let x1 = v128.load(src + 1 * stride);
  let x2 = v128.load(src + 2 * stride);
  let x3 = v128.load(src + 3 * stride);
  let x4 = v128.load(src + 4 * stride);
  let x5 = v128.load(src + 5 * stride);
  let x6 = v128.load(src + 6 * stride);
  let x7 = v128.load(src + 7 * stride);
  let x8 = v128.load(src + 8 * stride);
  let x9 = v128.load(src + 9 * stride);
  let x10 = v128.load(src + 10 * stride);
  let x11 = v128.load(src + 11 * stride);
  let x12 = v128.load(src + 12 * stride);
  let x13 = v128.load(src + 13 * stride);
  let x14 = v128.load(src + 14 * stride);
  let x15 = v128.load(src + 15 * stride);
  const y0_0 = i8x16.shuffle(x0, x8, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y1_0 = i8x16.shuffle(x0, x8, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y2_0 = i8x16.shuffle(x1, x9, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y3_0 = i8x16.shuffle(x1, x9, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y4_0 = i8x16.shuffle(x2, x10, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y5_0 = i8x16.shuffle(x2, x10, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y6_0 = i8x16.shuffle(x3, x11, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y7_0 = i8x16.shuffle(x3, x11, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y8_0 = i8x16.shuffle(x4, x12, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y9_0 = i8x16.shuffle(x4, x12, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y10_0 = i8x16.shuffle(x5, x13, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y11_0 = i8x16.shuffle(x5, x13, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y12_0 = i8x16.shuffle(x6, x14, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y13_0 = i8x16.shuffle(x6, x14, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y14_0 = i8x16.shuffle(x7, x15, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y15_0 = i8x16.shuffle(x7, x15, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  x0 = y0_0;
  x1 = y1_0;
  x2 = y2_0;
  x3 = y3_0;
  x4 = y4_0;
  x5 = y5_0;
  x6 = y6_0;
  x7 = y7_0;
  x8 = y8_0;
  x9 = y9_0;
  x10 = y10_0;
  x11 = y11_0;
  x12 = y12_0;
  x13 = y13_0;
  x14 = y14_0;
  x15 = y15_0;
  const y0_1 = i8x16.shuffle(x0, x8, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y1_1 = i8x16.shuffle(x0, x8, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y2_1 = i8x16.shuffle(x1, x9, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y3_1 = i8x16.shuffle(x1, x9, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y4_1 = i8x16.shuffle(x2, x10, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y5_1 = i8x16.shuffle(x2, x10, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y6_1 = i8x16.shuffle(x3, x11, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y7_1 = i8x16.shuffle(x3, x11, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y8_1 = i8x16.shuffle(x4, x12, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y9_1 = i8x16.shuffle(x4, x12, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y10_1 = i8x16.shuffle(x5, x13, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y11_1 = i8x16.shuffle(x5, x13, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y12_1 = i8x16.shuffle(x6, x14, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y13_1 = i8x16.shuffle(x6, x14, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y14_1 = i8x16.shuffle(x7, x15, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y15_1 = i8x16.shuffle(x7, x15, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  x0 = y0_1;
  x1 = y1_1;
  x2 = y2_1;
  x3 = y3_1;
  x4 = y4_1;
  x5 = y5_1;
  x6 = y6_1;
  x7 = y7_1;
  x8 = y8_1;
  x9 = y9_1;
  x10 = y10_1;
  x11 = y11_1;
  x12 = y12_1;
  x13 = y13_1;
  x14 = y14_1;
  x15 = y15_1;
  const y0_2 = i8x16.shuffle(x0, x8, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y1_2 = i8x16.shuffle(x0, x8, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y2_2 = i8x16.shuffle(x1, x9, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y3_2 = i8x16.shuffle(x1, x9, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y4_2 = i8x16.shuffle(x2, x10, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y5_2 = i8x16.shuffle(x2, x10, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y6_2 = i8x16.shuffle(x3, x11, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y7_2 = i8x16.shuffle(x3, x11, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y8_2 = i8x16.shuffle(x4, x12, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y9_2 = i8x16.shuffle(x4, x12, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y10_2 = i8x16.shuffle(x5, x13, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y11_2 = i8x16.shuffle(x5, x13, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y12_2 = i8x16.shuffle(x6, x14, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y13_2 = i8x16.shuffle(x6, x14, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y14_2 = i8x16.shuffle(x7, x15, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y15_2 = i8x16.shuffle(x7, x15, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  x0 = y0_2;
  x1 = y1_2;
  x2 = y2_2;
  x3 = y3_2;
  x4 = y4_2;
  x5 = y5_2;
  x6 = y6_2;
  x7 = y7_2;
  x8 = y8_2;
  x9 = y9_2;
  x10 = y10_2;
  x11 = y11_2;
  x12 = y12_2;
  x13 = y13_2;
  x14 = y14_2;
  x15 = y15_2;
  const y0_3 = i8x16.shuffle(x0, x8, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y1_3 = i8x16.shuffle(x0, x8, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y2_3 = i8x16.shuffle(x1, x9, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y3_3 = i8x16.shuffle(x1, x9, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y4_3 = i8x16.shuffle(x2, x10, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y5_3 = i8x16.shuffle(x2, x10, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y6_3 = i8x16.shuffle(x3, x11, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y7_3 = i8x16.shuffle(x3, x11, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y8_3 = i8x16.shuffle(x4, x12, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y9_3 = i8x16.shuffle(x4, x12, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y10_3 = i8x16.shuffle(x5, x13, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y11_3 = i8x16.shuffle(x5, x13, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y12_3 = i8x16.shuffle(x6, x14, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y13_3 = i8x16.shuffle(x6, x14, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const y14_3 = i8x16.shuffle(x7, x15, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const y15_3 = i8x16.shuffle(x7, x15, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  x0 = y0_3;
  x1 = y1_3;
  x2 = y2_3;
  x3 = y3_3;
  x4 = y4_3;
  x5 = y5_3;
  x6 = y6_3;
  x7 = y7_3;
  x8 = y8_3;
  x9 = y9_3;
  x10 = y10_3;
  x11 = y11_3;
  x12 = y12_3;
  x13 = y13_3;
  x14 = y14_3;
  x15 = y15_3;
  v128.store(dst + 0 * dstStride, x0);
  v128.store(dst + 1 * dstStride, x1);
  v128.store(dst + 2 * dstStride, x2);
  v128.store(dst + 3 * dstStride, x3);
  v128.store(dst + 4 * dstStride, x4);
  v128.store(dst + 5 * dstStride, x5);
  v128.store(dst + 6 * dstStride, x6);
  v128.store(dst + 7 * dstStride, x7);
  v128.store(dst + 8 * dstStride, x8);
  v128.store(dst + 9 * dstStride, x9);
  v128.store(dst + 10 * dstStride, x10);
  v128.store(dst + 11 * dstStride, x11);
  v128.store(dst + 12 * dstStride, x12);
  v128.store(dst + 13 * dstStride, x13);
  v128.store(dst + 14 * dstStride, x14);
  v128.store(dst + 15 * dstStride, x15);
}

/**
 * One image [C, H, W] of floats -> bytes [H, W, C] (channels last, so that a patch's row of R pixels
 * is R·C contiguous bytes for im2colHwc), quantized as quantizeRows does (but one byte each in
 * either build): first into `planes` ([C, H·W] bytes of scratch) by quantizeRows' vector loop, then transposed: by 16x16 blocks of
 * bytes when C is a multiple of 16, byte by byte for the rest (a scalar quantization straight
 * into the strided layout costs four times as much).
 */
export function quantizeToHwc(
  src: usize,
  planes: usize,
  dst: usize,
  C: i32,
  H: i32,
  W: i32,
  invScale: f32,
  zero: i32,
): void {
  const plane = H * W;
  // The planes are contiguous: one row of C·H·W values keeps the vector loop going across them.
  quantizeInto(src, planes, 1, C * plane, C * plane, invScale, zero, 1);
  let i = 0;
  if ((C & 15) == 0) {
    for (; i + 16 <= plane; i += 16) {
      for (let c = 0; c < C; c += 16) {
        transpose16x16(planes + <usize>c * <usize>plane + <usize>i, <usize>plane, dst + <usize>i * <usize>C + <usize>c, <usize>C);
      }
    }
  }
  for (; i < plane; i++) {
    const d = dst + <usize>i * <usize>C;
    const s = planes + <usize>i;
    for (let c = 0; c < C; c++) store<u8>(d + <usize>c, load<u8>(s + <usize>c * <usize>plane));
  }
}

// n bytes at src -> n operand values at dst (each byte zero-extended to an int16 in the plain
// build). Copies of a few bytes (a 3x3 window's row of one channel is 3) run a byte loop, where
// memory.copy costs a call, more than the bytes.
// @ts-ignore: decorator
@inline
function copyValues(dst: usize, src: usize, n: usize): void {
  if (OPERAND_BYTES == 1) {
    if (n >= 16) memory.copy(dst, src, n);
    else for (let i: usize = 0; i < n; i++) store<u8>(dst + i, load<u8>(src + i));
  } else {
    let i: usize = 0;
    for (; i + 16 <= n; i += 16) {
      const v = v128.load(src + i);
      v128.store(dst + 2 * i, i16x8.extend_low_i8x16_u(v));
      v128.store(dst + 2 * i, i16x8.extend_high_i8x16_u(v), 16);
    }
    for (; i < n; i++) store<u16>(dst + 2 * i, load<u8>(src + i));
  }
}

// n operand values at dst set to `value`.
// @ts-ignore: decorator
@inline
function fillValues(dst: usize, value: u8, n: usize): void {
  if (OPERAND_BYTES == 1) {
    if (n >= 16) memory.fill(dst, value, n);
    else for (let i: usize = 0; i < n; i++) store<u8>(dst + i, value);
  } else {
    for (let i: usize = 0; i < n; i++) store<u16>(dst + 2 * i, value);
  }
}

/**
 * Patches of one image of bytes [H, W, C] -> gemmI8 operand rows [OH·OW, kp] (OPERAND_BYTES a
 * value): row oy·OW + ox holds the R×R×C window at (oy·stride - pad, ox·stride - pad) in the order
 * (ky, kx, c), positions outside the image as `zero` (the quantized 0.0), then kp - R·R·C zeros.
 */
export function im2colHwc(
  src: usize,
  dst: usize,
  C: i32,
  H: i32,
  W: i32,
  R: i32,
  stride: i32,
  pad: i32,
  OH: i32,
  OW: i32,
  kp: i32,
  zero: i32,
): void {
  const rowValues = R * C;
  const patch = R * rowValues;
  const E = <usize>OPERAND_BYTES;
  for (let oy = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++) {
      let d = dst + <usize>(oy * OW + ox) * <usize>kp * E;
      const x0 = ox * stride - pad;
      const inside = x0 >= 0 && x0 + R <= W;
      for (let ky = 0; ky < R; ky++) {
        const iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= H) {
          fillValues(d, <u8>zero, <usize>rowValues);
        } else if (inside) {
          copyValues(d, src + <usize>(iy * W + x0) * <usize>C, <usize>rowValues);
        } else {
          for (let kx = 0; kx < R; kx++) {
            const ix = x0 + kx;
            const to = d + <usize>(kx * C) * E;
            if (ix < 0 || ix >= W) fillValues(to, <u8>zero, <usize>C);
            else copyValues(to, src + <usize>(iy * W + ix) * <usize>C, <usize>C);
          }
        }
        d += <usize>rowValues * E;
      }
      memory.fill(d, 0, <usize>(kp - patch) * E);
    }
  }
}

// Four lanes of int32 sums of a (int8) · b (0..127) over 16 bytes of each. Relaxed: 16 bytes, lane
// i the sum of bytes 4i..4i+3, by the i16 relaxed dot (pairs) then a dot with ones (quads); V8
// lowers the pair to pmaddubsw + pmaddwd. Plain: 8 int16 values, lane i the sum of values 2i, 2i+1.
// (Not the relaxed `_add` form: Node 20's baseline compiler, Liftoff, drops its accumulator and returns 2·dot.)
// @ts-ignore: decorator
@inline
export function dot16(a: v128, b: v128, ones: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(a, b), ones);
  } else {
    return i32x4.dot_i16x8_s(a, b);
  }
}

// [Σ c0, Σ c1, Σ c2, Σ c3]: the four lanes of each accumulator summed.
// @ts-ignore: decorator
@inline
function reduce4(c0: v128, c1: v128, c2: v128, c3: v128): v128 {
  const x01 = i32x4.add(i32x4.shuffle(c0, c1, 0, 4, 1, 5), i32x4.shuffle(c0, c1, 2, 6, 3, 7));
  const x23 = i32x4.add(i32x4.shuffle(c2, c3, 0, 4, 1, 5), i32x4.shuffle(c2, c3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(x01, x23, 0, 1, 4, 5), i32x4.shuffle(x01, x23, 2, 3, 6, 7));
}

// y[i·yi + j·yj] for j = j0..j0+3 (those below n) = sums · scale + bias, max(·, 0) with relu.
// @ts-ignore: decorator
@inline
function storeRow(sums: v128, scale: f32, bias: f32, relu: i32, y: usize, yj: i32, j0: i32, n: i32): void {
  let v = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(sums), f32x4.splat(scale)), f32x4.splat(bias));
  if (relu) v = relu4(v);
  if (yj == 1 && j0 + 4 <= n) {
    v128.store(y, v);
    return;
  }
  const step = <usize>yj * 4;
  if (j0 < n) store<f32>(y, f32x4.extract_lane(v, 0));
  if (j0 + 1 < n) store<f32>(y + step, f32x4.extract_lane(v, 1));
  if (j0 + 2 < n) store<f32>(y + 2 * step, f32x4.extract_lane(v, 2));
  if (j0 + 3 < n) store<f32>(y + 3 * step, f32x4.extract_lane(v, 3));
}

// y[i·yi + j·yj] for i = i0..i0+3 (those below m) = sums · scale[i] + bias[i], max(·, 0) with relu.
// @ts-ignore: decorator
@inline
function storeColumn(sums: v128, scale: usize, bias: usize, relu: i32, y: usize, yi: i32, i0: i32, m: i32): void {
  let v = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(sums), v128.load(scale)), v128.load(bias));
  if (relu) v = relu4(v);
  if (yi == 1 && i0 + 4 <= m) {
    v128.store(y, v);
    return;
  }
  const step = <usize>yi * 4;
  if (i0 < m) store<f32>(y, f32x4.extract_lane(v, 0));
  if (i0 + 1 < m) store<f32>(y + step, f32x4.extract_lane(v, 1));
  if (i0 + 2 < m) store<f32>(y + 2 * step, f32x4.extract_lane(v, 2));
  if (i0 + 3 < m) store<f32>(y + 3 * step, f32x4.extract_lane(v, 3));
}

/**
 * y[i·yi + j·yj] = scale[i] · Σ_k a[i, k] · b[j, k] + bias[i] (then max(·, 0) with relu), for
 * i < m, j < n. a: int8 [mp, kp] (mp = m rounded up to 4, its extra rows 0), b: 0..127 [n, kp],
 * each value OPERAND_BYTES (int16s in the plain build), kp a multiple of 16, scale and bias [mp]
 * float32, y float32 (strides in floats). Sums
 * are exact int32 (|Σ| < 2^31 for kp < 2^17). Tiles of 2 rows of a by 4 rows of b (8
 * accumulators, 6 loads per 16 bytes), over blocks of about 16 KB of b; the last n mod 4 rows of b
 * (all of them for one image through a dense layer) by tiles of 4 rows of a by 1 of b.
 */
export function gemmI8(
  a: usize,
  b: usize,
  kp: i32,
  m: i32,
  n: i32,
  scale: usize,
  bias: usize,
  y: usize,
  yi: i32,
  yj: i32,
  relu: i32,
): void {
  const ones = i16x8.splat(1);
  const rowBytes = <usize>kp * <usize>OPERAND_BYTES;
  const n4 = n & ~3;
  // The rows of b in blocks of about 16 KB, each taken by every pair of rows of a while it is in
  // the L1 cache: a convolution's patches (35 KB for LeNet's conv2, 70 KB as the plain build's
  // int16s) are more than the cache holds. (8% faster in the plain build; the same in the relaxed.)
  const block = max<i32>(4, <i32>(<usize>16384 / rowBytes) & ~3);
  for (let jb = 0; jb < n4; jb += block) {
    const jEnd = min(jb + block, n4);
    for (let i = 0; i < m; i += 2) {
      const a0 = a + <usize>i * rowBytes;
      const a1 = a0 + rowBytes;
      for (let j = jb; j < jEnd; j += 4) {
        const b0 = b + <usize>j * rowBytes;
        const b1 = b0 + rowBytes;
        const b2 = b1 + rowBytes;
        const b3 = b2 + rowBytes;
        let c00 = i32x4.splat(0),
          c01 = i32x4.splat(0),
          c02 = i32x4.splat(0),
          c03 = i32x4.splat(0);
        let c10 = i32x4.splat(0),
          c11 = i32x4.splat(0),
          c12 = i32x4.splat(0),
          c13 = i32x4.splat(0);
        for (let k: usize = 0; k < rowBytes; k += 16) {
          const x0 = v128.load(a0 + k);
          const x1 = v128.load(a1 + k);
          const w0 = v128.load(b0 + k);
          const w1 = v128.load(b1 + k);
          const w2 = v128.load(b2 + k);
          const w3 = v128.load(b3 + k);
          c00 = i32x4.add(c00, dot16(x0, w0, ones));
          c01 = i32x4.add(c01, dot16(x0, w1, ones));
          c02 = i32x4.add(c02, dot16(x0, w2, ones));
          c03 = i32x4.add(c03, dot16(x0, w3, ones));
          c10 = i32x4.add(c10, dot16(x1, w0, ones));
          c11 = i32x4.add(c11, dot16(x1, w1, ones));
          c12 = i32x4.add(c12, dot16(x1, w2, ones));
          c13 = i32x4.add(c13, dot16(x1, w3, ones));
        }
        const out0 = y + (<usize>i * <usize>yi + <usize>j * <usize>yj) * 4;
        const s0 = load<f32>(scale + <usize>i * 4);
        const z0 = load<f32>(bias + <usize>i * 4);
        storeRow(reduce4(c00, c01, c02, c03), s0, z0, relu, out0, yj, j, n);
        if (i + 1 < m) {
          const s1 = load<f32>(scale + <usize>(i + 1) * 4);
          const z1 = load<f32>(bias + <usize>(i + 1) * 4);
          storeRow(reduce4(c10, c11, c12, c13), s1, z1, relu, out0 + <usize>yi * 4, yj, j, n);
        }
      }
    }
  }
  for (let j = n4; j < n; j++) {
    const bj = b + <usize>j * rowBytes;
    for (let i = 0; i < m; i += 4) {
      const a0 = a + <usize>i * rowBytes;
      const a1 = a0 + rowBytes;
      const a2 = a1 + rowBytes;
      const a3 = a2 + rowBytes;
      let c0 = i32x4.splat(0),
        c1 = i32x4.splat(0),
        c2 = i32x4.splat(0),
        c3 = i32x4.splat(0);
      for (let k: usize = 0; k < rowBytes; k += 16) {
        const w = v128.load(bj + k);
        c0 = i32x4.add(c0, dot16(v128.load(a0 + k), w, ones));
        c1 = i32x4.add(c1, dot16(v128.load(a1 + k), w, ones));
        c2 = i32x4.add(c2, dot16(v128.load(a2 + k), w, ones));
        c3 = i32x4.add(c3, dot16(v128.load(a3 + k), w, ones));
      }
      const out = y + (<usize>i * <usize>yi + <usize>j * <usize>yj) * 4;
      storeColumn(reduce4(c0, c1, c2, c3), scale + <usize>i * 4, bias + <usize>i * 4, relu, out, yi, i, m);
    }
  }
}

/**
 * A convolution in int8 over `batch` images x [batch, C, H, W] float32 -> y [batch, m, OH, OW]
 * float32: per image quantizeToHwc into hwc [2·C·H·W] bytes (the bytes channels-last, then its
 * scratch), im2colHwc into cols [OH·OW, kp] values, then gemmI8 with the filters w [mp, kp]
 * values (order (ky, kx, c), see im2colHwc). With `quantized` set, x is the images' bytes already
 * quantized channels-last, [batch, H, W, C] (as convPoolI8 writes them), and hwc is not used.
 */
export function convI8(
  x: usize,
  batch: i32,
  C: i32,
  H: i32,
  W: i32,
  R: i32,
  stride: i32,
  pad: i32,
  OH: i32,
  OW: i32,
  invScale: f32,
  zero: i32,
  hwc: usize,
  cols: usize,
  kp: i32,
  w: usize,
  m: i32,
  scale: usize,
  bias: usize,
  y: usize,
  relu: i32,
  quantized: i32,
): void {
  const imageValues = <usize>(C * H * W);
  const spatial = OH * OW;
  const outBytes = <usize>(m * spatial) * 4;
  for (let img = 0; img < batch; img++) {
    let bytes = x + <usize>img * imageValues;
    if (!quantized) {
      quantizeToHwc(x + <usize>img * imageValues * 4, hwc + imageValues, hwc, C, H, W, invScale, zero);
      bytes = hwc;
    }
    im2colHwc(bytes, cols, C, H, W, R, stride, pad, OH, OW, kp, zero);
    gemmI8(w, cols, kp, m, spatial, scale, bias, y + <usize>img * outBytes, spatial, 1, relu);
  }
}
