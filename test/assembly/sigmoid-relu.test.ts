// assembly/sigmoid-relu.ts (the activation kernels) against plain double-precision TypeScript
// references written here, on seeded random data.
// Each buffer handed to a kernel is surrounded by sentinel values of its own, checked after every
// test, so writes out of bounds fail too (the guarded buffers and comparisons are in test/support/).
//
// Tolerances: where the kernel performs one float32 operation per element (bias add, ReLU,
// u8 -> f32 scaling) the reference is the double result rounded to float32 and must match
// exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24), which no correct kernel can exceed and an off-by-one term always does.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

// ---------------------------------------------------------------------------------------------
// Activations

describe("activations", () => {
  const sizes = [1, 3, 8, 37];
  const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
  /** Forward inputs: random, plus saturated and zero values. */
  function inputs(n: number, seed: number): Float64Array {
    const x = normals(new Random(seed), n, 4);
    [0, -100, 100, -20, 20, 88.75, -88.75].forEach((v, i) => i < n && (x[(i * 5) % n] = v));
    return x;
  }
  /** Runs kernel(x, y, n) out of place and in place (y == x); returns both outputs. */
  function both(kernel: (x: number, y: number, n: number) => void, x: ArrayLike<number>): Float32Array[] {
    const n = x.length;
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(new Float64Array(n).fill(NaN), "y");
    kernel(xPtr, yPtr, n);
    const out = readF32(yPtr, n);
    expectExact(readF32(xPtr, n), x, "x (unchanged)");
    const inPlace = f32Buf(x, "x = y");
    kernel(inPlace, inPlace, n);
    return [out, readF32(inPlace, n)];
  }
  /** Runs kernel(y, dy, dx, n) out of place and in place (dx == dy). */
  function bothBackward(
    kernel: (y: number, dy: number, dx: number, n: number) => void,
    y: ArrayLike<number>,
    dy: ArrayLike<number>,
  ): Float32Array[] {
    const n = y.length;
    const yPtr = f32Buf(y, "y");
    const dyPtr = f32Buf(dy, "dy");
    const dxPtr = f32Buf(new Float64Array(n).fill(NaN), "dx");
    kernel(yPtr, dyPtr, dxPtr, n);
    const out = readF32(dxPtr, n);
    const inPlace = f32Buf(dy, "dx = dy");
    kernel(yPtr, inPlace, inPlace, n);
    return [out, readF32(inPlace, n)];
  }

  it.each(sizes)("sigmoidForward: y = 1/(1+e^-x) (n = %i)", (n) => {
    const x = inputs(n, n);
    const want = Array.from(x, sigmoid);
    const tol = want.map((v) => 8 * U * v + 1e-37);
    for (const y of both(rt.kernels.sigmoidForward, x)) expectWithin(y, want, tol, "y");
  });

  it("sigmoidForward over a sweep of [-90, 90] (the vectorised e^x across its whole range)", () => {
    // Steps of 0.0045: every reduction interval of e^x (ln 2 wide) gets about 150 points.
    const x = Array.from({ length: 40001 }, (_, i) => Math.fround(-90 + i * 0.0045));
    const want = x.map(sigmoid);
    const tol = want.map((v) => 8 * U * v + 1e-37);
    for (const y of both(rt.kernels.sigmoidForward, x)) expectWithin(y, want, tol, "y");
  });

  it.each(sizes)("sigmoidBackward: dx = dy·y·(1-y) (n = %i)", (n) => {
    const rng = new Random(n + 50);
    const y = Array.from({ length: n }, () => Math.fround(rng.uniform()));
    y[0] = 0.5;
    const dy = normals(rng, n);
    const want = y.map((v, i) => dy[i] * v * (1 - v));
    const tol = want.map((v) => 4 * U * Math.abs(v));
    for (const dx of bothBackward(rt.kernels.sigmoidBackward, y, dy)) expectWithin(dx, want, tol, "dx");
  });

  it.each(sizes)("reluForward: y = max(x, 0) (n = %i)", (n) => {
    const x = inputs(n, n + 100);
    const want = Array.from(x, (v) => Math.max(v, 0));
    for (const y of both(rt.kernels.reluForward, x)) expectExact(y, want, "y");
  });

  it("reluForward: -0 gives +0, NaN stays NaN, infinities and subnormals as max(x, 0) (vector lanes and the scalar tail)", () => {
    const special = [-0, NaN, -Infinity, Infinity, 1e-45, -1e-45, 0, -3];
    const x = [...special, ...special.slice(0, 3)]; // 8 in vectors, 3 in the tail
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(x.length), "y");
    rt.kernels.reluForward(xPtr, yPtr, x.length);
    readF32(yPtr, x.length).forEach((v, i) => {
      const want = Number.isNaN(x[i]) ? NaN : Math.max(Math.fround(x[i]), 0);
      if (!Object.is(v, want))
        expect.fail(`y[${i}] for x = ${Object.is(x[i], -0) ? "-0" : x[i]}: got ${v}, want ${want}`);
    });
  });

  it.each(sizes)("reluBackward: dx = dy where y > 0, else 0 (n = %i)", (n) => {
    const rng = new Random(n + 200);
    const y = Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : Math.max(0, Math.fround(rng.normal()))));
    const dy = normals(rng, n);
    const want = y.map((v, i) => (v > 0 ? dy[i] : 0));
    for (const dx of bothBackward(rt.kernels.reluBackward, y, dy)) expectExact(dx, want, "dx");
  });
});
