// assembly/conv-direct.ts (packConvFilters, convDirect: a stride-1 unpadded convolution with its
// bias and optional ReLU) against the path it replaces (im2col + gemm + addBiasChannels(Relu)), bit
// for bit, and against a plain double-precision convolution.
// Every buffer handed to a kernel sits between sentinel guards checked after each test, and
// outputs start as NaN, so an element written out of bounds or left unwritten fails (the guarded
// buffers and comparisons are in test/support/).
//
// Tolerances: copies and single float32 operations per element must match the float32-rounded
// reference exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24).
import { describe, it } from "vitest";
import { checkGuardsAfterEach, f32Buf, nans, readF32, rt, useRuntime } from "../support/buffers";
import { convByGemm, convOperands, convRef, geom } from "../support/conv-kernels";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

describe("convDirect = im2col + gemm + addBiasChannels(Relu), bit for bit", () => {
  // (C, H, W, K, R), stride 1, no padding: one eight-pixel tile per row (OW 8); a last tile
  // overlapping the one before (OW 9, 11, 15, 26) and a last filter group overlapping the one
  // before (K 5, 6, 7); the LeNet-like nets' first layers; two and three channels; 1x1 filters.
  const cases: [number, number, number, number, number][] = [
    [1, 10, 10, 4, 3],
    [1, 12, 11, 5, 3],
    [1, 28, 28, 32, 3],
    [1, 28, 28, 12, 5],
    [2, 9, 12, 7, 2],
    [3, 10, 13, 6, 3],
    [1, 8, 15, 4, 1],
  ];

  it.each(cases)("C=%i, %ix%i, K=%i, R=%i", (C, H, W, K, R) => {
    const batch = 2;
    const g = geom(C, H, W, R, 1, 0);
    const depth = C * R * R,
      n = g.OH * g.OW;
    const { x, w, b, xPtr, wPtr, bPtr } = convOperands(batch, K, g, C * 100 + H * 10 + W + K * 7 + R);
    const packedPtr = f32Buf(nans(rt.kernels.packedFiltersBytes(K, depth) / 4), "packed filters");
    rt.kernels.packConvFilters(wPtr, K, depth, packedPtr);
    const ref = convRef(x, w, b, batch, K, g);
    for (const relu of [0, 1]) {
      const viaGemm = f32Buf(nans(batch * K * n), "y (gemm)");
      const direct = f32Buf(nans(batch * K * n), "y (direct)");
      convByGemm(xPtr, wPtr, viaGemm, batch, K, g);
      for (let i = 0; i < batch; i++) {
        rt.kernels.convDirect(xPtr + i * C * H * W * 4, packedPtr, bPtr, direct + i * K * n * 4, K, C, H, W, R, relu);
      }
      if (relu) rt.kernels.addBiasChannelsRelu(viaGemm, bPtr, batch, K, n);
      else rt.kernels.addBiasChannels(viaGemm, bPtr, batch, K, n);
      const y = readF32(direct, batch * K * n);
      expectExact(y, readF32(viaGemm, batch * K * n), `y (relu ${relu})`);
      const want = relu ? ref.y.map((v) => Math.max(v, 0)) : ref.y;
      expectWithin(
        y,
        want,
        Array.from(ref.absSum, (s) => 2 * (depth + 3) * U * s),
        `y against the reference (relu ${relu})`,
      );
    }
    expectExact(readF32(xPtr, x.length), x, "x (unchanged)");
  });
});
