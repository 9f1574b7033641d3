// assembly/int8.ts (quantizeRows, quantizeToHwc, im2colHwc, gemmI8, convI8) against plain integer
// references written here, in both builds (relaxed SIMD where the engine has it, and plain SIMD,
// whose product operands are int16s: int8OperandBytes).
// Every kernel is checked on its FIRST call in a fresh runtime: V8 runs a function's first calls
// through its baseline compiler, which has miscompiled a relaxed-SIMD dot before (Node 20 returns 2·dot for i32x4.relaxed_dot_i8x16_i7x16_add_s there),
// and that is what a page sees on its first prediction. Integer sums are exact; the float
// epilogue is one multiply and one add, each rounded to float32, and must match exactly.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/node";
import { BUILDS, f, fresh, ints, quantize } from "../support/int8-kernels";

/** Σ_k a[i, k] · b[j, k] for i < m, j < n: [m, n]. */
function dotsRef(a: ArrayLike<number>, b: ArrayLike<number>, kp: number, m: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < kp; k++) s += a[i * kp + k] * b[j * kp + k];
      out.push(s);
    }
  return out;
}

describe.each(BUILDS)("int8 kernels (relaxed SIMD: %s)", (relaxed) => {
  it("gemmI8: exact int32 sums on the first call, over the extremes and ragged edges", async () => {
    const rng = new Random(1);
    for (const [m, n, kp] of [
      [5, 7, 48],
      [1, 1, 16],
      [2, 4, 512],
      [9, 1, 32],
      [4, 13, 16],
      [3, 13, 2048], // rows of b in blocks of 8 (relaxed) or 4 (plain): three blocks and a ragged end
    ]) {
      const g = await fresh(relaxed);
      const mp = Math.ceil(m / 4) * 4;
      const a = ints(rng, mp * kp, -128, 127);
      a.fill(0, m * kp); // the padding row
      // The extremes: -128 and 127 against 127 (a pair sums to ±32512, still an int16).
      for (let k = 0; k < 16; k++) a[k] = k % 2 ? -128 : 127;
      const b = ints(rng, n * kp, 0, 127);
      for (let k = 0; k < 16; k++) b[k] = 127;
      const y = g.zeros(m * n * 4);
      g.k.gemmI8(
        g.operand(a),
        g.operand(b),
        kp,
        m,
        n,
        g.f32(new Array(mp).fill(1)),
        g.f32(new Array(mp).fill(0)),
        y,
        n,
        1,
        0,
      );
      expect(Array.from(g.rt.f32(y, m * n))).toEqual(dotsRef(a, b, kp, m, n));
      expect(g.guardsIntact()).toBe(true);
      g.rt.dispose();
    }
  });

  it("gemmI8: scale, bias, ReLU and a transposed output (yi = 1, yj = m) on the first call", async () => {
    const rng = new Random(2);
    const [m, n, kp] = [3, 6, 32];
    const g = await fresh(relaxed);
    const a = [...ints(rng, m * kp, -127, 127), ...new Array(kp).fill(0)];
    const b = ints(rng, 8 * kp, 0, 127);
    const scale = [0.01, 0.003, 0.5, 0];
    const bias = [-3, 0.25, 1.5, 0];
    const y = g.zeros(m * n * 4);
    g.k.gemmI8(g.operand(a), g.operand(b), kp, m, n, g.f32(scale), g.f32(bias), y, 1, m, 1);
    const sums = dotsRef(a, b, kp, m, n);
    const want = new Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) want[j * m + i] = Math.max(0, f(f(sums[i * n + j] * f(scale[i])) + f(bias[i])));
    expect(Array.from(g.rt.f32(y, m * n))).toEqual(want);
    expect(g.guardsIntact()).toBe(true);
    g.rt.dispose();
  });

  it("quantizeRows: round half to even, the zero point, clamping to 0..127, zeroed padding", async () => {
    const g = await fresh(relaxed);
    const rng = new Random(3);
    const [rows, cols, kp] = [3, 21, 32];
    const x = Array.from({ length: rows * cols }, () => (rng.uniform() - 0.3) * 4);
    x[0] = 0.5; // ties: 0.5 / 0.25 = 2 exactly, 0.125 / 0.25 = 0.5 -> 0
    x[1] = 0.125;
    x[2] = 0.375; // 1.5 -> 2
    x[3] = 1e9;
    x[4] = -1e9;
    const dst = g.zeros(rows * kp * g.valueBytes);
    g.k.quantizeRows(g.f32(x), dst, rows, cols, kp, 4, 5);
    const want: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) want.push(quantize(x[r * cols + c], 4, 5));
      for (let c = cols; c < kp; c++) want.push(0);
    }
    expect(g.readOperand(dst, rows * kp)).toEqual(want);
    expect(g.guardsIntact()).toBe(true);
    g.rt.dispose();
  });

  it("quantizeToHwc and im2colHwc: channels last, windows in (ky, kx, c) order, the zero point outside", async () => {
    const rng = new Random(4);
    for (const [C, H, W, R, stride, pad] of [
      [3, 6, 5, 3, 1, 1],
      [2, 7, 7, 3, 2, 0],
      [1, 5, 6, 2, 1, 2],
      [32, 5, 7, 3, 1, 0], // 16x16 blocks of the transpose, then 3 pixels byte by byte
      [16, 4, 8, 3, 1, 1],
      [6, 5, 5, 3, 1, 1], // rows of 18 values: 16 widened as a vector in the plain build, 2 one by one
    ]) {
      const g = await fresh(relaxed);
      const zero = 7;
      const x = Array.from({ length: C * H * W }, () => rng.uniform() * 3 - 0.5);
      const hwc = g.zeros(H * W * C);
      g.k.quantizeToHwc(g.f32(x), g.zeros(C * H * W), hwc, C, H, W, 40, zero);
      const q = (c: number, y: number, xx: number) => quantize(x[(c * H + y) * W + xx], 40, zero);
      const wantHwc: number[] = [];
      for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) wantHwc.push(q(c, Math.floor(i / W), i % W));
      expect(Array.from(g.rt.u8(hwc, H * W * C))).toEqual(wantHwc);
      const OH = Math.floor((H + 2 * pad - R) / stride) + 1;
      const OW = Math.floor((W + 2 * pad - R) / stride) + 1;
      const kp = Math.ceil((C * R * R) / 16) * 16;
      const cols = g.zeros(OH * OW * kp * g.valueBytes);
      g.k.im2colHwc(hwc, cols, C, H, W, R, stride, pad, OH, OW, kp, zero);
      const want: number[] = [];
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          for (let ky = 0; ky < R; ky++)
            for (let kx = 0; kx < R; kx++)
              for (let c = 0; c < C; c++) {
                const [iy, ix] = [oy * stride - pad + ky, ox * stride - pad + kx];
                want.push(iy < 0 || iy >= H || ix < 0 || ix >= W ? zero : q(c, iy, ix));
              }
          for (let k = C * R * R; k < kp; k++) want.push(0);
        }
      expect(g.readOperand(cols, OH * OW * kp)).toEqual(want);
      expect(g.guardsIntact()).toBe(true);
      g.rt.dispose();
    }
  });

  it("convI8: a batch of images, each quantized, unfolded and multiplied, on the first call", async () => {
    const rng = new Random(5);
    const [batch, C, H, W, R, pad, m] = [3, 2, 6, 6, 3, 1, 5];
    const [OH, OW] = [6, 6];
    const kp = 32;
    const g = await fresh(relaxed);
    const x = Array.from({ length: batch * C * H * W }, () => rng.uniform() * 2);
    const w = [...ints(rng, m * kp, -127, 127), ...new Array(3 * kp).fill(0)];
    for (let i = 0; i < m; i++) w.fill(0, i * kp + C * R * R, (i + 1) * kp);
    const scale = [0.5, 0.25, 1, 2, 0.125, 0, 0, 0];
    const bias = [1, -2, 0.5, 0, 3, 0, 0, 0];
    const [invScale, zero] = [50, 3];
    const y = g.zeros(batch * m * OH * OW * 4);
    const hwc = g.zeros(2 * H * W * C);
    const cols = g.zeros(OH * OW * kp * g.valueBytes);
    g.k.convI8(
      g.f32(x),
      batch,
      C,
      H,
      W,
      R,
      1,
      pad,
      OH,
      OW,
      invScale,
      zero,
      hwc,
      cols,
      kp,
      g.operand(w),
      m,
      g.f32(scale),
      g.f32(bias),
      y,
      1,
      0,
    );
    const want: number[] = [];
    for (let img = 0; img < batch; img++)
      for (let i = 0; i < m; i++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            let s = 0;
            for (let ky = 0; ky < R; ky++)
              for (let kx = 0; kx < R; kx++)
                for (let c = 0; c < C; c++) {
                  const [iy, ix] = [oy - pad + ky, ox - pad + kx];
                  const v =
                    iy < 0 || iy >= H || ix < 0 || ix >= W
                      ? zero
                      : quantize(x[((img * C + c) * H + iy) * W + ix], invScale, zero);
                  s += w[i * kp + (ky * R + kx) * C + c] * v;
                }
            want.push(Math.max(0, f(f(s * scale[i]) + bias[i])));
          }
    expect(Array.from(g.rt.f32(y, batch * m * OH * OW))).toEqual(want);
    // The images' bytes given already quantized, channels last ([batch, H, W, C]): the same outputs.
    const bytes: number[] = [];
    for (let img = 0; img < batch; img++)
      for (let iy = 0; iy < H; iy++)
        for (let ix = 0; ix < W; ix++)
          for (let c = 0; c < C; c++) bytes.push(quantize(x[((img * C + c) * H + iy) * W + ix], invScale, zero));
    const y2 = g.zeros(batch * m * OH * OW * 4);
    const args = [invScale, zero, 0, cols, kp, g.operand(w), m, g.f32(scale), g.f32(bias), y2, 1, 1] as const;
    g.k.convI8(g.bytes(bytes), batch, C, H, W, R, 1, pad, OH, OW, ...args);
    expect(Array.from(g.rt.f32(y2, batch * m * OH * OW))).toEqual(want);
    expect(g.guardsIntact()).toBe(true);
    g.rt.dispose();
  });
});
