// assembly/pixel-loss.ts (sigmoid with binary cross-entropy, squared error: the losses of a model
// whose target is its input) against double-precision references written here, on seeded random
// data with logits from -100 to 100. Buffers are guarded by sentinels (test/support/buffers.ts).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

/** Targets in [0, 1] with exact 0s and 1s, as pixels are. */
function targetsFor(n: number, seed: number): Float64Array {
  const rng = new Random(seed);
  return Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : i % 7 === 0 ? 1 : Math.fround(rng.uniform())));
}

/** Logits of spread 4, with ±30 and ±100 (σ saturates in float32) among them. */
function logitsFor(n: number, seed: number): Float64Array {
  const z = normals(new Random(seed), n, 4);
  for (let i = 0; i < n; i += 11) z[i] = [30, -30, 100, -100][(i / 11) % 4];
  return Float64Array.from(z, Math.fround);
}

describe("sigmoidBinaryCrossEntropy", () => {
  function reference(z: ArrayLike<number>, t: ArrayLike<number>, rows: number) {
    let loss = 0;
    const out = new Float64Array(z.length);
    const grad = new Float64Array(z.length);
    for (let i = 0; i < z.length; i++) {
      const s = 1 / (1 + Math.exp(-z[i]));
      out[i] = s;
      // softplus(z) - t·z, in the form that stays finite at |z| = 100
      loss += Math.max(z[i], 0) - t[i] * z[i] + Math.log1p(Math.exp(-Math.abs(z[i])));
      grad[i] = (s - t[i]) / rows;
    }
    return { loss, out, grad };
  }

  it.each([
    [4, 784],
    [3, 13],
    [5, 3],
    [1, 1],
  ])("reconstruction, summed loss and gradient (%i x %i)", (rows, cols) => {
    const n = rows * cols;
    const z = logitsFor(n, n);
    const t = targetsFor(n, n + 1);
    const want = reference(z, t, rows);
    const zPtr = f32Buf(z, "logits");
    const tPtr = f32Buf(t, "targets");
    const outPtr = f32Buf(new Float64Array(n).fill(NaN), "out");
    const gPtr = f32Buf(new Float64Array(n).fill(NaN), "dz");
    const loss = rt.kernels.sigmoidBinaryCrossEntropy(zPtr, tPtr, outPtr, gPtr, rows, cols);
    // Each term within a few ulp of its size, summed in float32 lanes: n·u of the sum of |terms|.
    const terms = Array.from(z, (v, i) => Math.abs(Math.max(v, 0) - t[i] * v) + Math.log1p(Math.exp(-Math.abs(v))));
    const scale = terms.reduce((a, b) => a + b, 0);
    expectWithin([loss], [want.loss], 4 * (cols + 8) * 2 ** -24 * scale + 1e-6, "loss");
    expectWithin(
      readF32(outPtr, n),
      want.out,
      Array.from(want.out, (s) => 8 * 2 ** -24 * s + 1e-38),
      "sigmoid",
    );
    expectWithin(readF32(gPtr, n), want.grad, 1e-6 / rows, "dz");
    expectExact(readF32(zPtr, n), z, "logits (unchanged)");
  });

  it("targets = 0: the reconstruction only, returns 0 and writes no gradient", () => {
    const n = 40;
    const z = logitsFor(n, 3);
    const outPtr = f32Buf(new Float64Array(n).fill(NaN), "out");
    const gPtr = f32Buf(new Float64Array(n).fill(42), "dz");
    expect(rt.kernels.sigmoidBinaryCrossEntropy(f32Buf(z, "logits"), 0, outPtr, gPtr, 4, 10)).toBe(0);
    expectWithin(readF32(outPtr, n), reference(z, new Float64Array(n), 4).out, 1e-6, "sigmoid");
    expectExact(readF32(gPtr, n), new Float64Array(n).fill(42), "dz (untouched)");
  });

  it("is the cross-entropy of σ(z) against t where neither log underflows", () => {
    const z = Float64Array.from([-3, -0.5, 0, 0.25, 2, 5]);
    const t = Float64Array.from([0, 0.3, 0.5, 1, 0.9, 1]);
    const loss = rt.kernels.sigmoidBinaryCrossEntropy(
      f32Buf(z, "z"),
      f32Buf(t, "t"),
      f32Buf(new Float64Array(6), "out"),
      0,
      1,
      6,
    );
    let want = 0;
    z.forEach((v, i) => {
      const s = 1 / (1 + Math.exp(-v));
      want -= Math.fround(t[i]) * Math.log(s) + (1 - Math.fround(t[i])) * Math.log(1 - s);
    });
    expect(loss).toBeCloseTo(want, 5);
  });
});

describe("squaredError", () => {
  it.each([
    [4, 784],
    [3, 13],
    [2, 3],
  ])("summed ½|y - t|² and gradient (%i x %i)", (rows, cols) => {
    const n = rows * cols;
    const y = Float64Array.from(normals(new Random(n), n, 1), Math.fround);
    const t = targetsFor(n, n + 2);
    let want = 0;
    const grad = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      want += 0.5 * (y[i] - t[i]) ** 2;
      grad[i] = (y[i] - t[i]) / rows;
    }
    const gPtr = f32Buf(new Float64Array(n).fill(NaN), "dy");
    const loss = rt.kernels.squaredError(f32Buf(y, "y"), f32Buf(t, "t"), gPtr, rows, cols);
    expectWithin([loss], [want], 4 * (cols + 8) * 2 ** -24 * want, "loss");
    expectWithin(
      readF32(gPtr, n),
      grad,
      Array.from(grad, (g) => 4 * 2 ** -24 * Math.abs(g) + 1e-12),
      "dy",
    );
  });

  it("dy = 0: the loss alone", () => {
    const y = Float64Array.from([0.5, 1, 0]);
    const t = Float64Array.from([0, 1, 1]);
    expect(rt.kernels.squaredError(f32Buf(y, "y"), f32Buf(t, "t"), 0, 1, 3)).toBeCloseTo(0.5 * (0.25 + 1), 7);
  });
});
