// An int8 convolution (stride 1, no padding) with its ReLU and a 2x2 max-pool of stride 2, in one
// pass that writes the pooled outputs already quantized for the next int8 layer, channels last:
// what that layer's convI8 would otherwise make of them (quantizeToHwc's bytes). For the first
// layer of an MNIST CNN (1 channel, 3x3, 32 filters) it spares writing its 26x26x32 outputs, a
// pass over them for the pool and another for the next layer's quantization.
//
// No patch matrix: the window's rows are read from the channels-last bytes of the image, where
// row ky of the window at (oy, ox) is the R·C contiguous bytes from (oy + ky, ox). They are taken
// four at a time (two in the plain build, as int16s), broadcast, into one dot with the weights of
// four filters for those four bytes: ceil(R·C / 4) steps a window row. The weights past R·C in
// the last step are 0, so the bytes read past the row (the next pixels, or the image's slack) count
// for nothing: 3 steps for a 3x3 window of one channel, 12 multiply-adds for 9.
//
// The pool is taken on the int32 sums: the epilogue y = max(scale·Σ + bias, 0) is non-decreasing
// in Σ (scale >= 0), and so is the quantization after it, so the window's max of y is y of its max
// sum, and the bytes are those of conv -> ReLU -> max-pool -> quantization, bit for bit.
//
// Only the outputs the pool reads are computed (an odd last row or column of the convolution's
// output is not), and a dense layer after the pool gets its quantized input rows directly.
//
// Shapes (one image): x [C, H, W] float32; OH = H - R + 1, OW = W - R + 1; the pool's output
// [PH, PW] with PH = OH / 2, PW = OW / 2 (rounded down); filters K, a multiple of 8 (two dots of
// four filters per pass); y [PH, PW, K] bytes, channels last, for a convolution's im2colHwc, or
// [K, PH, PW] values of OPERAND_BYTES (the flattened map, a gemmI8 operand row) for a dense layer.

import { dot16, OPERAND_BYTES, quantize4, quantizeToHwc } from "./int8";
import { relu4 } from "./simd";

/** Bytes of the image a step reads (4 values of the relaxed dot, 2 int16s of the plain one). */
const STEP_VALUES: i32 = 4 / OPERAND_BYTES;

/** Steps of a window row of R·C values. */
function rowSteps(R: i32, C: i32): i32 {
  return (R * C + STEP_VALUES - 1) / STEP_VALUES;
}

/** Bytes packConvPoolI8 writes for K filters of C channels, R x R. */
export function convPoolI8WeightBytes(K: i32, C: i32, R: i32): usize {
  return <usize>(R * rowSteps(R, C) * (K >> 2)) << 4;
}

/** Bytes of one thread's scratch for images [C, H, W]: the channels-last bytes (and slack), and quantizeToHwc's planes. */
export function convPoolI8ScratchBytes(C: i32, H: i32, W: i32): usize {
  return <usize>(2 * C * H * W + 16);
}

/**
 * int8 weights w [K, C, R, R] -> the dots' operands: for window row ky, step s and group g of four
 * filters, one vector of the four filters' values for the step's STEP_VALUES row positions
 * t = s·STEP_VALUES + j (window column t / C, channel t % C; 0 past R·C), filter by filter, each
 * OPERAND_BYTES wide; in order (ky, s, g).
 */
export function packConvPoolI8(w: usize, K: i32, C: i32, R: i32, dst: usize): void {
  const steps = rowSteps(R, C);
  const groups = K >> 2;
  const rowValues = R * C;
  memory.fill(dst, 0, convPoolI8WeightBytes(K, C, R));
  for (let ky = 0; ky < R; ky++) {
    for (let s = 0; s < steps; s++) {
      for (let g = 0; g < groups; g++) {
        const v = dst + (<usize>((ky * steps + s) * groups + g) << 4);
        for (let f = 0; f < 4; f++) {
          for (let j = 0; j < STEP_VALUES; j++) {
            const t = s * STEP_VALUES + j;
            if (t >= rowValues) continue;
            const kx = t / C;
            const c = t % C;
            const value = load<i8>(w + <usize>((((g * 4 + f) * C + c) * R + ky) * R + kx));
            const at = v + <usize>(f * 4 + j * OPERAND_BYTES);
            if (OPERAND_BYTES == 1) store<i8>(at, value);
            else store<i16>(at, <i16>value);
          }
        }
      }
    }
  }
}

// The STEP_VALUES bytes at p, broadcast to the dot's second operand (int16s in the plain build).
// @ts-ignore: decorator
@inline
function broadcastStep(p: usize): v128 {
  if (OPERAND_BYTES == 1) return v128.load32_splat(p);
  return i16x8.extend_low_i8x16_u(v128.load16_splat(p));
}

/**
 * y = quantize(maxpool2x2(max(conv(x) + bias, 0))) for `batch` images x [batch, C, H, W] float32,
 * the input quantized with (invScale, zero), the conv's int32 sums Σ turned into
 * scale[k]·Σ + bias[k] (sdk/layers/int8.ts: weight scale times input scale, and the bias less the
 * zero point's share), the pooled values quantized with (outInvScale, outZero) as quantizeRows
 * does. Image i's outputs start at y + i·outStride bytes: with channelsLast, bytes [PH, PW, K];
 * else the values [K, PH, PW] of OPERAND_BYTES each, then zeros to the end of the outStride bytes
 * (a dense layer's operand row padded to its kp). With `quantized` set, x is the images' bytes
 * already quantized, channels last ([batch, H, W, C], as this kernel writes them for a
 * convolution, with 4 bytes of slack after the last image), and invScale and zero are not used.
 * w packed by packConvPoolI8; scratch of convPoolI8ScratchBytes(C, H, W).
 */
export function convPoolI8(
  x: usize,
  batch: i32,
  C: i32,
  H: i32,
  W: i32,
  R: i32,
  invScale: f32,
  zero: i32,
  scratch: usize,
  w: usize,
  K: i32,
  scale: usize,
  bias: usize,
  outInvScale: f32,
  outZero: i32,
  y: usize,
  outStride: i32,
  channelsLast: i32,
  quantized: i32,
): void {
  const OH = H - R + 1;
  const OW = W - R + 1;
  const PH = OH >> 1;
  const PW = OW >> 1;
  const steps = rowSteps(R, C);
  const groups = K >> 2;
  let hwc = scratch;
  const planes = scratch + <usize>(C * H * W) + 16;
  const rowBytes = <usize>(W * C);
  const stepBytes = <usize>groups << 4; // from one step's weights to the next one's
  const ones = i16x8.splat(1);
  const vInv = f32x4.splat(outInvScale);
  const vZero = i32x4.splat(outZero);
  const inBytes = <usize>(C * H * W) << 2;
  const map = PH * PW;
  const valuesBytes = <usize>(K * map) * <usize>(channelsLast ? 1 : OPERAND_BYTES);
  // The slack after the image: a row's last step may read up to three bytes past it.
  store<u32>(hwc + <usize>(C * H * W), 0);
  for (let img = 0; img < batch; img++) {
    if (quantized) hwc = x + <usize>img * <usize>(C * H * W);
    else quantizeToHwc(x + <usize>img * inBytes, planes, hwc, C, H, W, invScale, zero);
    const out = y + <usize>img * <usize>outStride;
    if (<usize>outStride > valuesBytes) memory.fill(out + valuesBytes, 0, <usize>outStride - valuesBytes);
    // Eight filters a pass (two dots of four), every window.
    for (let g = 0; g < groups; g += 2) {
      const wg = w + (<usize>g << 4);
      const s0 = v128.load(scale + (<usize>g << 4));
      const s1 = v128.load(scale + (<usize>g << 4), 16);
      const b0 = v128.load(bias + (<usize>g << 4));
      const b1 = v128.load(bias + (<usize>g << 4), 16);
      for (let py = 0; py < PH; py++) {
        for (let px = 0; px < PW; px++) {
          // The window's four pixels side by side, each step's weights loaded once for them.
          const p00 = hwc + (<usize>(2 * py * W + 2 * px) * <usize>C);
          const p01 = p00 + <usize>C;
          const p10 = p00 + rowBytes;
          const p11 = p10 + <usize>C;
          let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00; // filters g..g+3
          let c00 = a00, c01 = a00, c10 = a00, c11 = a00; // filters g+4..g+7
          let ws = wg;
          let row: usize = 0;
          for (let ky = 0; ky < R; ky++) {
            for (let s = 0; s < steps; s++) {
              const at = row + <usize>(s * STEP_VALUES);
              const w0 = v128.load(ws);
              const w1 = v128.load(ws, 16);
              let xs = broadcastStep(p00 + at);
              a00 = i32x4.add(a00, dot16(w0, xs, ones));
              c00 = i32x4.add(c00, dot16(w1, xs, ones));
              xs = broadcastStep(p01 + at);
              a01 = i32x4.add(a01, dot16(w0, xs, ones));
              c01 = i32x4.add(c01, dot16(w1, xs, ones));
              xs = broadcastStep(p10 + at);
              a10 = i32x4.add(a10, dot16(w0, xs, ones));
              c10 = i32x4.add(c10, dot16(w1, xs, ones));
              xs = broadcastStep(p11 + at);
              a11 = i32x4.add(a11, dot16(w0, xs, ones));
              c11 = i32x4.add(c11, dot16(w1, xs, ones));
              ws += stepBytes;
            }
            row += rowBytes;
          }
          const m0 = i32x4.max_s(i32x4.max_s(a00, a01), i32x4.max_s(a10, a11));
          const m1 = i32x4.max_s(i32x4.max_s(c00, c01), i32x4.max_s(c10, c11));
          const y0 = relu4(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(m0), s0), b0));
          const y1 = relu4(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(m1), s1), b1));
          const q16 = i16x8.narrow_i32x4_s(quantize4(y0, vInv, vZero), quantize4(y1, vInv, vZero));
          const q8 = i8x16.max_s(i8x16.narrow_i16x8_s(q16, q16), i8x16.splat(0));
          if (channelsLast) store<u64>(out + <usize>((py * PW + px) * K + 4 * g), i64x2.extract_lane(q8, 0));
          else storeChannels(out + (<usize>(4 * g * map + py * PW + px) * <usize>OPERAND_BYTES), <usize>map * <usize>OPERAND_BYTES, q8);
        }
      }
    }
  }
}

// The eight bytes of q8 (eight filters' values at one place of the map) as OPERAND_BYTES values,
// `stride` bytes apart (one filter's map to the next).
// @ts-ignore: decorator
@inline
function storeChannels(p: usize, stride: usize, q8: v128): void {
  storeValue(p, i8x16.extract_lane_u(q8, 0));
  storeValue(p + stride, i8x16.extract_lane_u(q8, 1));
  storeValue(p + 2 * stride, i8x16.extract_lane_u(q8, 2));
  storeValue(p + 3 * stride, i8x16.extract_lane_u(q8, 3));
  storeValue(p + 4 * stride, i8x16.extract_lane_u(q8, 4));
  storeValue(p + 5 * stride, i8x16.extract_lane_u(q8, 5));
  storeValue(p + 6 * stride, i8x16.extract_lane_u(q8, 6));
  storeValue(p + 7 * stride, i8x16.extract_lane_u(q8, 7));
}

// One operand value (a byte, or an int16 in the plain build) at p.
// @ts-ignore: decorator
@inline
function storeValue(p: usize, value: u8): void {
  if (OPERAND_BYTES == 1) store<u8>(p, value);
  else store<u16>(p, value);
}
