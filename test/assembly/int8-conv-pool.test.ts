// assembly/int8-conv-pool.ts (packConvPoolI8, convPoolI8: an int8 convolution with its ReLU and a
// 2x2 max-pool, written quantized for the next layer, a convolution's bytes channels last or a
// dense layer's operand rows) against a plain reference of the layers it replaces: quantize the
// input, the integer convolution, the float epilogue, ReLU, max-pool, quantize again. Integer sums are exact and the epilogue is the same float32 operations, so the
// bytes must match exactly; in both builds, each kernel on its first call in a fresh runtime.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/node";
import { BUILDS, f, fresh, ints, quantize } from "../support/int8-kernels";

/** The bytes [batch, PH, PW, K] that conv -> ReLU -> 2x2 max-pool -> quantization make. */
function reference(
  x: number[],
  w: number[],
  scale: number[],
  bias: number[],
  s: { batch: number; C: number; H: number; W: number; R: number; K: number },
  q: { invScale: number; zero: number; outInvScale: number; outZero: number },
): number[] {
  const { batch, C, H, W, R, K } = s;
  const [OH, OW] = [H - R + 1, W - R + 1];
  const [PH, PW] = [OH >> 1, OW >> 1];
  const out: number[] = [];
  const y = (img: number, k: number, oy: number, ox: number): number => {
    let sum = 0;
    for (let c = 0; c < C; c++)
      for (let ky = 0; ky < R; ky++)
        for (let kx = 0; kx < R; kx++)
          sum +=
            w[((k * C + c) * R + ky) * R + kx] *
            quantize(x[((img * C + c) * H + oy + ky) * W + ox + kx], q.invScale, q.zero);
    return Math.max(0, f(f(sum * scale[k]) + bias[k]));
  };
  for (let img = 0; img < batch; img++)
    for (let py = 0; py < PH; py++)
      for (let px = 0; px < PW; px++)
        for (let k = 0; k < K; k++) {
          let m = -Infinity;
          for (let d = 0; d < 4; d++) m = Math.max(m, y(img, k, 2 * py + (d >> 1), 2 * px + (d & 1)));
          out.push(quantize(m, q.outInvScale, q.outZero));
        }
  return out;
}

describe.each(BUILDS)("convPoolI8 (relaxed SIMD: %s)", (relaxed) => {
  // (batch, C, H, W, R, K): MNIST's first layer; odd outputs (the last row and column not pooled)
  // of several channels; a 5x5 window; a window row of 8 values (two steps of the relaxed dot).
  it.each([
    [2, 1, 28, 28, 3, 32],
    [3, 2, 8, 10, 3, 8],
    [1, 1, 13, 12, 5, 16],
    [2, 4, 6, 7, 2, 8],
  ])(
    "batch %i, C=%i, %ix%i, window %i, K=%i: the bytes of conv, ReLU, pool and quantization",
    async (batch, C, H, W, R, K) => {
      const g = await fresh(relaxed);
      const rng = new Random(batch * 1000 + C * 100 + H + W + R + K);
      const x = Array.from({ length: batch * C * H * W }, () => rng.uniform() * 2);
      const w = ints(rng, K * C * R * R, -127, 127);
      // Scales of either sign of bias, and one filter whose scale is 0 (its outputs all the bias).
      const scale = Array.from({ length: K }, (_, k) => (k === 3 ? 0 : f(rng.uniform() * 2e-4)));
      const bias = Array.from({ length: K }, () => f(rng.normal() * 2));
      for (const q of [
        { invScale: 60, zero: 0, outInvScale: 20, outZero: 0 },
        { invScale: 50, zero: 3, outInvScale: 35, outZero: 5 },
      ]) {
        const packed = g.zeros(g.k.convPoolI8WeightBytes(K, C, R));
        g.k.packConvPoolI8(g.bytes(w), K, C, R, packed);
        const [PH, PW] = [(H - R + 1) >> 1, (W - R + 1) >> 1];
        const map = PH * PW;
        const want = reference(x, w, scale, bias, { batch, C, H, W, R, K }, q);
        // Outputs both cut by the ReLU (to the zero point) and above it.
        expect(want.some((v) => v > q.outZero) && want.some((v) => v === q.outZero)).toBe(true);
        const xPtr = g.f32(x);
        // The input given already quantized, channels last, with 4 bytes of slack after it.
        const hwcBytes: number[] = [];
        for (let img = 0; img < batch; img++)
          for (let iy = 0; iy < H; iy++)
            for (let ix = 0; ix < W; ix++)
              for (let c = 0; c < C; c++)
                hwcBytes.push(quantize(x[((img * C + c) * H + iy) * W + ix], q.invScale, q.zero));
        const hwcPtr = g.bytes([...hwcBytes, 0, 0, 0, 0]);
        const run = (y: number, outStride: number, channelsLast: number, quantized = 0) =>
          g.k.convPoolI8(
            quantized ? hwcPtr : xPtr,
            batch,
            C,
            H,
            W,
            R,
            q.invScale,
            q.zero,
            g.zeros(g.k.convPoolI8ScratchBytes(C, H, W)),
            packed,
            K,
            g.f32(scale),
            g.f32(bias),
            q.outInvScale,
            q.outZero,
            y,
            outStride,
            channelsLast,
            quantized,
          );
        // For a convolution: bytes [batch, PH, PW, K].
        const y = g.zeros(batch * map * K);
        run(y, map * K, 1);
        expect(Array.from(g.rt.u8(y, want.length))).toEqual(want);
        const fromBytes = g.zeros(batch * map * K);
        run(fromBytes, map * K, 1, 1);
        expect(Array.from(g.rt.u8(fromBytes, want.length)), "from quantized bytes").toEqual(want);
        // For a dense layer: operand rows [K, PH, PW] (int16s in the plain build), zeros to kp.
        const kp = Math.ceil((K * map) / 16) * 16 + 16;
        const rows = g.zeros(batch * kp * g.valueBytes);
        run(rows, kp * g.valueBytes, 0);
        const got = g.readOperand(rows, batch * kp);
        const wantRows: number[] = [];
        for (let img = 0; img < batch; img++) {
          for (let k = 0; k < K; k++) for (let p = 0; p < map; p++) wantRows.push(want[(img * map + p) * K + k]);
          for (let i = K * map; i < kp; i++) wantRows.push(0);
        }
        expect(got).toEqual(wantRows);
      }
      expect(g.guardsIntact()).toBe(true);
      g.rt.dispose();
    },
  );
});
