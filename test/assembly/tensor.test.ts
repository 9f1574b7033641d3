// assembly/tensor.ts (row helpers and the data path) against plain double-precision TypeScript
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
import {
  bytes,
  checkGuardsAfterEach,
  f32Buf,
  i32Buf,
  normals,
  readF32,
  rt,
  u8Buf,
  useRuntime,
} from "../support/buffers";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

// ---------------------------------------------------------------------------------------------
// Row helpers and the data path

describe("row and data kernels", () => {
  it.each([
    [7, 13],
    [3, 8],
    [5, 1],
    [1, 4],
  ])("addBiasRows: y[r,j] += bias[j] (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * 100 + cols);
    const y = normals(rng, rows * cols);
    const bias = normals(rng, cols);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasRows(yPtr, bPtr, rows, cols);
    expectExact(
      readF32(yPtr, rows * cols),
      Array.from(y, (v, i) => Math.fround(v + bias[i % cols])),
      "y",
    );
    expectExact(readF32(bPtr, cols), bias, "bias (unchanged)");
  });

  it.each([
    [7, 13],
    [3, 8],
    [5, 1],
    [1, 4],
  ])("addBiasRowsRelu: y[r,j] = max(y + bias[j], 0) (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * 100 + cols + 7);
    const y = normals(rng, rows * cols);
    const bias = normals(rng, cols);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasRowsRelu(yPtr, bPtr, rows, cols);
    expectExact(
      readF32(yPtr, rows * cols),
      Array.from(y, (v, i) => Math.max(Math.fround(v + bias[i % cols]), 0)),
      "y",
    );
    expectExact(readF32(bPtr, cols), bias, "bias (unchanged)");
  });

  it.each([
    [7, 13],
    [100, 10],
    [1, 4],
    [3, 1],
  ])("sumRows: out[j] = Σ_r x[r,j] + beta·out[j] (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * 100 + cols + 1);
    const x = normals(rng, rows * cols);
    const out0 = normals(rng, cols);
    for (const beta of [0, 1, 0.25]) {
      const xPtr = f32Buf(x, "x");
      const outPtr = f32Buf(beta === 0 ? new Float64Array(cols).fill(NaN) : out0, "out");
      rt.kernels.sumRows(xPtr, outPtr, rows, cols, beta);
      const want = new Float64Array(cols);
      const tol = new Float64Array(cols);
      for (let j = 0; j < cols; j++) {
        let sum = beta === 0 ? 0 : beta * out0[j];
        let abs = Math.abs(sum);
        for (let r = 0; r < rows; r++) {
          sum += x[r * cols + j];
          abs += Math.abs(x[r * cols + j]);
        }
        want[j] = sum;
        tol[j] = 2 * (rows + 2) * U * abs;
      }
      expectWithin(readF32(outPtr, cols), want, tol, `out (beta=${beta})`);
    }
  });

  it.each([0, 5, 16, 37, 256 + 3])("scaleU8: dst[i] = src[i] · scale over every byte value (n = %i)", (n) => {
    const src = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 255) % 256); // includes 0 and 255
    const scale = Math.fround(1 / 255);
    const srcPtr = u8Buf(src, "src");
    const dstPtr = f32Buf(new Float64Array(n).fill(NaN), "dst");
    rt.kernels.scaleU8(srcPtr, dstPtr, n, scale);
    expectExact(
      readF32(dstPtr, n),
      Array.from(src, (v) => Math.fround(v * scale)),
      "dst",
    );
  });

  it.each([
    [37, 5],
    [784, 6],
    [16, 0],
  ])("gatherImagesU8: dst[i] = src[indices[i]] · scale (rowLen %i, count %i)", (rowLen, count) => {
    const rng = new Random(rowLen + count);
    const rowsInSrc = 9;
    const src = bytes(rng, rowsInSrc * rowLen);
    const indices = Int32Array.from({ length: count }, (_, i) => (i === 2 ? 0 : rng.int(rowsInSrc)));
    if (count > 3) indices[3] = indices[1]; // a repeated row
    if (count > 4) indices[4] = rowsInSrc - 1; // the last row
    const scale = Math.fround(1 / 255);
    const srcPtr = u8Buf(src, "src");
    const idxPtr = i32Buf(indices, "indices");
    const dstPtr = f32Buf(new Float64Array(count * rowLen).fill(NaN), "dst");
    rt.kernels.gatherImagesU8(srcPtr, idxPtr, count, rowLen, dstPtr, scale);
    const want = new Float64Array(count * rowLen);
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < rowLen; j++) want[i * rowLen + j] = Math.fround(src[indices[i] * rowLen + j] * scale);
    }
    expectExact(readF32(dstPtr, count * rowLen), want, "dst");
  });

  it("gatherBytes: dst[i] = src[indices[i]]", () => {
    const rng = new Random(3);
    const src = bytes(rng, 50);
    const indices = Int32Array.from({ length: 13 }, () => rng.int(50));
    indices[0] = 49;
    indices[1] = 0;
    const srcPtr = u8Buf(src, "src");
    const idxPtr = i32Buf(indices, "indices");
    const dstPtr = u8Buf(new Uint8Array(13), "dst");
    rt.kernels.gatherBytes(srcPtr, idxPtr, 13, dstPtr);
    expectExact(
      rt.u8(dstPtr, 13).slice(),
      Array.from(indices, (i) => src[i]),
      "dst",
    );
  });

  /** Index of the first largest value of each row (the reference for argmax and countCorrect). */
  const argmaxRef = (x: ArrayLike<number>, rows: number, cols: number): number[] =>
    Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + best]) best = j;
      return best;
    });

  /** Rows with ties everywhere: few distinct values, plus hand-made rows. */
  function tieRows(rng: Random, rows: number, cols: number): Float64Array {
    const x = new Float64Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = rng.int(4) - 2.5; // values in {-2.5, -1.5, -0.5, 0.5}
    const fixed = [
      [1, 3, 7, 7, 2, 0, 7, -1, 5, 4], // tie for the max at 2, 3 and 6: index 2
      [5, 5, 5, 5, 5, 5, 5, 5, 5, 5], // all equal: index 0
      [-3, -1, -2, -1, -9, -1, -4, -1, -5, -8], // negative tie: index 1
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 9], // max in the last column
    ];
    fixed.forEach((row, r) => row.slice(0, cols).forEach((v, j) => (x[r * cols + j] = v)));
    return x;
  }

  it.each([
    [20, 10],
    [6, 1],
    [9, 7],
  ])("argmaxRows: first index of the row maximum (%i x %i)", (rows, cols) => {
    const rng = new Random(rows + cols);
    const random = normals(rng, rows * cols);
    const ties = tieRows(rng, rows, cols);
    for (const x of [random, ties]) {
      const xPtr = f32Buf(x, "x");
      const outPtr = i32Buf(new Int32Array(rows).fill(-7), "out");
      rt.kernels.argmaxRows(xPtr, rows, cols, outPtr);
      expectExact(rt.i32(outPtr, rows).slice(), argmaxRef(x, rows, cols), "out");
    }
    if (cols === 10) expect(argmaxRef(ties, 4, 10)).toEqual([2, 0, 1, 9]); // the reference itself
  });

  it("countCorrect: rows whose first arg-max equals the label", () => {
    const rng = new Random(11);
    const rows = 40,
      cols = 10;
    const x = tieRows(rng, rows, cols);
    const best = argmaxRef(x, rows, cols);
    // Half the labels are the arg-max, the others random (some right by chance); on the tie rows
    // the label is another index that also holds the maximum, which must not count.
    const labels = Uint8Array.from(best, (b, r) => (r % 2 === 0 ? b : rng.int(cols)));
    labels[0] = 3; // row 0 ties at 2, 3, 6: 3 is not the first
    labels[1] = 4; // row 1 all equal
    const want = best.filter((b, r) => b === labels[r]).length;
    expect(want).toBeGreaterThan(10);
    const xPtr = f32Buf(x, "probs");
    const lPtr = u8Buf(labels, "labels");
    expect(rt.kernels.countCorrect(xPtr, lPtr, rows, cols)).toBe(want);
    expect(rt.kernels.countCorrect(xPtr, lPtr, 0, cols)).toBe(0);
  });

  it.each([1, 4, 13, 37, 64])("copyIfChanged: copies (and says so) only when some bits differ (n = %i)", (n) => {
    const src = normals(new Random(n), n);
    const srcPtr = f32Buf(src, "src");
    const dstPtr = f32Buf(src, "dst");
    expect(rt.kernels.copyIfChanged(srcPtr, dstPtr, n)).toBe(0);
    // One difference anywhere (first, in a sixteen-float step, in the f32x4 and the scalar tails,
    // last), including a sign of zero.
    for (const at of new Set([0, n >> 1, Math.max(0, n - 5), n - 1])) {
      for (const [was, now] of [
        [src[at], src[at] + 1],
        [0, -0],
      ]) {
        rt.f32(srcPtr, n)[at] = now;
        rt.f32(dstPtr, n)[at] = was;
        expect(rt.kernels.copyIfChanged(srcPtr, dstPtr, n), `a change at ${at}`).toBe(1);
        expect(new Uint32Array(readF32(dstPtr, n).buffer)).toEqual(new Uint32Array(readF32(srcPtr, n).buffer));
        expect(rt.kernels.copyIfChanged(srcPtr, dstPtr, n)).toBe(0);
      }
    }
  });

  it.each([0, 1, 3, 4, 15, 16, 17, 37, 100])(
    "allFinite: 1 for finite floats, 0 with a NaN or an infinity anywhere (n = %i)",
    (n) => {
      // Finite extremes: the largest float, the smallest subnormal, -0.
      const values = normals(new Random(n), n);
      if (n > 2) [values[0], values[1], values[2]] = [-3.4028234663852886e38, 2 ** -149, -0];
      expect(rt.kernels.allFinite(f32Buf(values, "x"), n)).toBe(1);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (let at = 0; at < n; at++) {
          const x = values.slice();
          x[at] = bad;
          expect(rt.kernels.allFinite(f32Buf(x, "x"), n), `${bad} at ${at}`).toBe(0);
          // The floats after the n it is given are not read.
          expect(rt.kernels.allFinite(f32Buf(x, "x"), at)).toBe(1);
        }
      }
    },
  );
});
