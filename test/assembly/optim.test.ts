// assembly/optim.ts against a plain double-precision TypeScript reference, on seeded random data
// (every rule against its double-precision reference, through the SDK's Optimizer, is in
// test/sdk/optim/optimizer.test.ts).
// Each buffer handed to a kernel is surrounded by sentinel values of its own, checked after every
// test, so writes out of bounds fail too (the guarded buffers and comparisons are in test/support/).
//
// Tolerances: where the kernel performs one float32 operation per element (bias add, ReLU,
// u8 -> f32 scaling) the reference is the double result rounded to float32 and must match
// exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24), which no correct kernel can exceed and an off-by-one term always does.
import { describe, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

describe("sgdUpdate", () => {
  it.each([1, 4, 37])("w -= lr · g (n = %i), g unchanged", (n) => {
    const rng = new Random(n + 300);
    const w = normals(rng, n);
    const g = normals(rng, n);
    const lr = Math.fround(0.1);
    const wPtr = f32Buf(w, "w");
    const gPtr = f32Buf(g, "g");
    rt.kernels.sgdUpdate(wPtr, gPtr, n, lr, 0);
    const want = Array.from(w, (v, i) => v - lr * g[i]);
    const tol = Array.from(w, (v, i) => 2 * U * (Math.abs(v) + Math.abs(lr * g[i])));
    expectWithin(readF32(wPtr, n), want, tol, "w");
    expectExact(readF32(gPtr, n), g, "g (unchanged)");
  });
});
