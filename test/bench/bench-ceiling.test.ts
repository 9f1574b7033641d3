// The GEMM benchmark's ceiling (bench/micro-kernel.mjs, which compiles bench/assembly/micro-kernel.ts):
// the micro-kernel it times alone must be the library's own, instruction for instruction in both
// builds, and must compute the tile's product. Nothing about speed is asserted.
import { describe, expect, it } from "vitest";
import { microKernelGflops } from "../../bench/micro-kernel.mjs";
import { Runtime } from "../../sdk/node";

describe("the micro-kernel the GEMM benchmark measures alone", () => {
  it.each([false, true])(
    "is the library's kernel and computes C = Aᵀ·B (relaxed SIMD: %s)",
    async (relaxed) => {
      // Importing the SDK turned on Node 20's relaxed-SIMD flag; the runtime says whether it took.
      if (relaxed) expect((await Runtime.create()).features.relaxedSimd).toBe(true);
      const rate = await microKernelGflops(relaxed, 0.05);
      expect(rate.sameAsLibrary).toBe(true);
      expect(rate.correct).toBe(true);
      expect(rate.value).toBeGreaterThan(0);
      expect(Number.isFinite(rate.best)).toBe(true);
    },
    60_000,
  );
});
