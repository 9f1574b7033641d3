// assembly/loss.ts (softmax with cross-entropy, softmax with the mean squared error) against plain
// double-precision TypeScript references written here, on seeded random data.
// Each buffer handed to a kernel is surrounded by sentinel values of its own, checked after every
// test, so writes out of bounds fail too (the guarded buffers and comparisons are in test/support/).
//
// Tolerances: where the kernel performs one float32 operation per element (bias add, ReLU,
// u8 -> f32 scaling) the reference is the double result rounded to float32 and must match
// exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24), which no correct kernel can exceed and an off-by-one term always does.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { bytes, checkGuardsAfterEach, f32Buf, normals, readF32, rt, u8Buf, useRuntime } from "../support/buffers";
import { expectExact, expectWithin } from "../support/numeric";
import { expectClose, Scratch } from "../support/scratch";

useRuntime();
checkGuardsAfterEach();

describe("softmaxCrossEntropy", () => {
  /** Reference in double: probabilities, summed loss -Σ log p[label], gradient (p - onehot)/rows. */
  function reference(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, cols: number) {
    const probs = new Float64Array(rows * cols);
    const grad = new Float64Array(rows * cols);
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: cols }, (_, j) => logits[r * cols + j]);
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      loss -= row[labels[r]] - max - Math.log(sum);
      for (let j = 0; j < cols; j++) {
        const p = Math.exp(row[j] - max) / sum;
        probs[r * cols + j] = p;
        grad[r * cols + j] = (p - (j === labels[r] ? 1 : 0)) / rows;
      }
    }
    return { probs, grad, loss };
  }

  /** Random logits of spread 3 plus rows with huge, equal and underflowing logits. */
  function logitsFor(rows: number, cols: number, seed: number): Float64Array {
    const x = normals(new Random(seed), rows * cols, 3);
    if (cols >= 3 && rows >= 4) {
      x.set([1000, 999, -1000], 0); // exp(1000) would overflow without the max subtracted
      x.fill(7, cols, 2 * cols); // uniform row
      x.set([0, 200, -50], 2 * cols); // p[0] underflows to 0 in float32, loss 200 is still exact
      x.set([-1000, -1000.5, -999], 3 * cols); // all very negative
    }
    return x;
  }

  it.each([
    [8, 10],
    [5, 3],
    [4, 13],
    [3, 1],
  ])("probabilities, summed loss and gradient (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * cols);
    const logits = logitsFor(rows, cols, rows + cols);
    const labels = bytes(rng, rows, cols);
    if (cols >= 3 && rows >= 4) {
      labels[0] = 2; // the -1000 logit in the 1000 row: loss 2000
      labels[2] = 0; // the underflowing class
    }
    const want = reference(logits, labels, rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const labelPtr = u8Buf(labels, "labels");
    const pPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "probs");
    const gPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "dlogits");
    const loss = rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, gPtr, rows, cols, 0);
    expectWithin([loss], [want.loss], 1e-6 * (1 + Math.abs(want.loss)), "loss");
    expectWithin(
      readF32(pPtr, rows * cols),
      want.probs,
      Array.from(want.probs, (p) => 1e-5 * p + 1e-30),
      "probs",
    );
    expectWithin(
      readF32(gPtr, rows * cols),
      want.grad,
      Array.from(want.probs, (p) => (1e-5 * p + 1e-7) / rows),
      "dlogits",
    );
    expectExact(readF32(lPtr, rows * cols), logits, "logits (unchanged)");
    if (cols === 10) expect(want.loss).toBeGreaterThan(2200); // the reference sees the 2000 and 200 rows
  });

  it("labels = 0: probabilities only, returns 0 and leaves dlogits alone", () => {
    const rows = 6,
      cols = 10;
    const logits = logitsFor(rows, cols, 21);
    const want = reference(logits, new Uint8Array(rows), rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const pPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "probs");
    const gPtr = f32Buf(new Float64Array(rows * cols).fill(42), "dlogits");
    expect(rt.kernels.softmaxCrossEntropy(lPtr, 0, pPtr, gPtr, rows, cols, 0)).toBe(0);
    expectWithin(
      readF32(pPtr, rows * cols),
      want.probs,
      Array.from(want.probs, (p) => 1e-5 * p + 1e-30),
      "probs",
    );
    expectExact(readF32(gPtr, rows * cols), new Float64Array(rows * cols).fill(42), "dlogits");
  });

  it("dlogits = 0: loss and probabilities, no gradient written (address 0 untouched)", () => {
    const rows = 6,
      cols = 10;
    const rng = new Random(22);
    const logits = logitsFor(rows, cols, 22);
    const labels = bytes(rng, rows, cols);
    const want = reference(logits, labels, rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const labelPtr = u8Buf(labels, "labels");
    const pPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "probs");
    const low = rt.u8(0, rows * cols * 4).slice();
    const loss = rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, 0, rows, cols, 0);
    expectWithin([loss], [want.loss], 1e-6 * (1 + Math.abs(want.loss)), "loss");
    expectWithin(
      readF32(pPtr, rows * cols),
      want.probs,
      Array.from(want.probs, (p) => 1e-5 * p + 1e-30),
      "probs",
    );
    expectExact(rt.u8(0, rows * cols * 4).slice(), low, "memory at address 0");
  });
});

describe("softmaxCrossEntropy with label smoothing", () => {
  /** Reference in double: loss -Σ_j t_j log p_j with t = (1 - ε)·onehot + ε/cols, gradient (p - t)/rows. */
  function smoothedReference(
    logits: ArrayLike<number>,
    labels: ArrayLike<number>,
    rows: number,
    cols: number,
    eps: number,
  ) {
    const grad = new Float64Array(rows * cols);
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: cols }, (_, j) => logits[r * cols + j]);
      const max = Math.max(...row);
      const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      for (let j = 0; j < cols; j++) {
        const target = (j === labels[r] ? 1 - eps : 0) + eps / cols;
        const logP = row[j] - max - logSum;
        loss -= target * logP;
        grad[r * cols + j] = (Math.exp(logP) - target) / rows;
      }
    }
    return { grad, loss };
  }

  it.each([0.1, 0.3, 0.95])("ε = %s: loss and gradient against the smoothed targets", (eps) => {
    const rows = 7,
      cols = 10;
    const rng = new Random(31);
    const logits = normals(rng, rows * cols, 3);
    const labels = bytes(rng, rows, cols);
    const want = smoothedReference(logits, labels, rows, cols, eps);
    const lPtr = f32Buf(logits, "logits");
    const labelPtr = u8Buf(labels, "labels");
    const pPtr = f32Buf(new Float64Array(rows * cols), "probs");
    const gPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "dlogits");
    const loss = rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, gPtr, rows, cols, eps);
    expectWithin([loss], [want.loss], 1e-5 * (1 + Math.abs(want.loss)), "loss");
    expectWithin(readF32(gPtr, rows * cols), want.grad, 1e-6 / rows, "dlogits");
  });

  it("the gradient is the numerical derivative of the kernel's own loss", () => {
    const rows = 3,
      cols = 5,
      eps = 0.2;
    const rng = new Random(32);
    const logits = normals(rng, rows * cols, 1);
    const labels = bytes(rng, rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const labelPtr = u8Buf(labels, "labels");
    const pPtr = f32Buf(new Float64Array(rows * cols), "probs");
    const gPtr = f32Buf(new Float64Array(rows * cols), "dlogits");
    rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, gPtr, rows, cols, eps);
    const grad = Array.from(readF32(gPtr, rows * cols));
    const h = 1e-2;
    const numerical = Array.from(logits, (_, i) => {
      const at = (delta: number): number => {
        const x = Float64Array.from(logits);
        x[i] += delta;
        rt.f32(lPtr, rows * cols).set(x);
        return rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, 0, rows, cols, eps) / rows;
      };
      return (at(h) - at(-h)) / (2 * h);
    });
    rt.f32(lPtr, rows * cols).set(logits);
    expectWithin(grad, numerical, 2e-4, "dlogits against central differences of the mean loss");
  });
});

describe("softmaxMse", () => {
  /** Per row: probs, loss ½Σ(p - t)², and d loss/d logits = J_softmaxᵀ (p - t), in float64. */
  function mseReference(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, cols: number) {
    const probs = new Float64Array(rows * cols),
      grad = new Float64Array(rows * cols);
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const z = Array.from({ length: cols }, (_, j) => logits[r * cols + j]);
      const top = Math.max(...z);
      const e = z.map((v) => Math.exp(v - top));
      const sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((v) => v / sum);
      const g = p.map((v, j) => v - (j === labels[r] ? 1 : 0));
      loss += 0.5 * g.reduce((a, v) => a + v * v, 0);
      for (let j = 0; j < cols; j++) {
        probs[r * cols + j] = p[j];
        // Σ_k g_k ∂p_k/∂z_j with ∂p_k/∂z_j = p_k (δ_kj - p_j)
        let d = 0;
        for (let k = 0; k < cols; k++) d += g[k] * p[k] * ((k === j ? 1 : 0) - p[j]);
        grad[r * cols + j] = d;
      }
    }
    return { probs, loss, grad };
  }

  it.each([
    [1, 3],
    [4, 5],
    [7, 10],
  ])("softmaxMse kernel, %i rows of %i: probs, summed loss, gradient of the mean loss", (rows, cols) => {
    const rng = new Random(900 + rows * cols);
    const logits = Float32Array.from({ length: rows * cols }, () => 2 * rng.normal());
    logits[0] += 20; // a saturated row
    const labels = Uint8Array.from({ length: rows }, () => rng.int(cols));
    labels[0] = 1; // …whose label is not the dominant class
    const ref = mseReference(logits, labels, rows, cols);
    const s = new Scratch();
    try {
      const p = { logits: s.f32(logits), labels: s.u8(labels), probs: s.f32(rows * cols), grad: s.f32(rows * cols) };
      const loss = rt.kernels.softmaxMse(p.logits, p.labels, p.probs, p.grad, rows, cols);
      expect(loss).toBeCloseTo(ref.loss, 5);
      expectClose(readF32(p.probs, rows * cols), ref.probs, 1e-5, 1e-7, "probs");
      const grad = readF32(p.grad, rows * cols);
      expectClose(
        grad,
        ref.grad.map((v) => v / rows),
        1e-4,
        1e-7,
        "dlogits",
      );
      // The gradient of a row sums to 0 (softmax is shift-invariant).
      for (let r = 0; r < rows; r++)
        expect(Math.abs(grad.subarray(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0))).toBeLessThan(1e-6);
      // Labels 0: probabilities only, loss 0; dlogits 0: nothing written there.
      rt.f32(p.probs, rows * cols).fill(0);
      rt.f32(p.grad, rows * cols).fill(-3);
      expect(rt.kernels.softmaxMse(p.logits, 0, p.probs, p.grad, rows, cols)).toBe(0);
      expectClose(readF32(p.probs, rows * cols), ref.probs, 1e-5, 1e-7, "probs without labels");
      expect(readF32(p.grad, rows * cols).every((v) => v === -3)).toBe(true);
      expect(rt.kernels.softmaxMse(p.logits, p.labels, p.probs, 0, rows, cols)).toBeCloseTo(ref.loss, 5);
      expect(readF32(p.grad, rows * cols).every((v) => v === -3)).toBe(true);
    } finally {
      s.free();
    }
  });
});
