// assembly/sparse.ts (sparseRows, transposeSparseRows, sparseGemm): the nonzeros they list against
// a plain scan, and the products bit for bit against gemm() (assembly/gemm.ts) on the same operands, and within
// float32 summation error of a double-precision reference, on generated inputs of every density,
// odd sizes (depths crossing the GEMM's depth blocks, fewer rows than its micro-tile, ragged
// columns) and with NaN, infinities and -0 among them. Guards around every buffer catch writes out
// of bounds. The runtime's sharing out among threads is tested in test/sdk/runtime/sparse-gemm.test.ts.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, i32Buf, normals, readF32, readI32, rt, useRuntime } from "../support/buffers";
import { expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

/** Depth blocks of assembly/gemm.ts: KC on its packed path (m >= MR rows), ROW_BLOCK below. */
const KC = 256,
  MR = 5,
  ROW_BLOCK = 64;

/** The float32 bits of each value, so that -0 differs from +0 and NaNs compare. */
const bits = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length);

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const g = bits(got),
    w = bits(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i])
      expect.fail(`${what}[${i}]: got ${got[i]} (0x${g[i].toString(16)}), want ${want[i]} (0x${w[i].toString(16)})`);
  }
}

/** op(A)[m,k] with each value nonzero with probability `density` (normal), else 0. */
function sparseMatrix(rng: Random, m: number, k: number, density: number): Float64Array {
  const a = new Float64Array(m * k);
  for (let i = 0; i < a.length; i++) if (rng.uniform() < density) a[i] = Math.fround(rng.normal());
  return a;
}

/** [rows, cols] stored as-is, or transposed ([cols, rows]). */
function stored(x: Float64Array, rows: number, cols: number, transposed: boolean): Float64Array {
  if (!transposed) return x;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/**
 * The nonzeros of op(A) = `a` [m,k], as a dense layer lists them: sparseRows of A stored [m,k];
 * for A stored transposed ([k,m]), sparseRows of that, then transposeSparseRows. Returns the
 * list's address, its total and A's address (stored as `transA` says, for gemm).
 */
function listNonzeros(a: Float64Array, m: number, k: number, transA: boolean) {
  const aPtr = f32Buf(stored(a, m, k, transA), "A");
  // Entries (index i32, value f32) then counts: filled with garbage the kernels must overwrite where they count.
  const garbage = (rows: number, cols: number) => new Int32Array(rt.sparseRowsBytes(rows, cols) / 4).fill(-7);
  const rows = i32Buf(garbage(m, k), "nonzeros");
  if (!transA) {
    const total = rt.kernels.sparseRows(aPtr, k, m, k, rows + m * k * 8, rows);
    return { rows, total, aPtr };
  }
  const byStoredRow = i32Buf(garbage(k, m), "nonzeros of A stored [k,m]");
  const total = rt.kernels.sparseRows(aPtr, m, k, m, byStoredRow + k * m * 8, byStoredRow);
  rt.kernels.transposeSparseRows(byStoredRow + k * m * 8, byStoredRow, k, m, rows + m * k * 8, rows);
  return { rows, total, aPtr };
}

describe("sparseRows and transposeSparseRows", () => {
  it.each([
    [4, 9, false],
    [4, 9, true],
    [7, 13, false],
    [7, 13, true],
    [1, 3, false],
    [6, 1, true],
  ])("list the nonzeros of a %i x %i op(A) (A stored transposed: %s) in order, and count them", (m, k, transA) => {
    const rng = new Random(m * 31 + k);
    const a = sparseMatrix(rng, m, k, 0.5);
    // The special values: NaN and ±Infinity are nonzeros, -0 is a zero.
    a[0] = NaN;
    a[1] = -0;
    a[a.length - 1] = -Infinity;
    if (a.length > 3) a[2] = Infinity;
    const { rows, total } = listNonzeros(a, m, k, transA);
    const counts = readI32(rows + m * k * 8, m);
    const entries = rt.i32(rows, m * k * 2).slice();
    const values = new Float32Array(entries.buffer);
    let expectedTotal = 0;
    for (let i = 0; i < m; i++) {
      const want: [number, number][] = [];
      for (let p = 0; p < k; p++) if (a[i * k + p] !== 0 || Number.isNaN(a[i * k + p])) want.push([p, a[i * k + p]]);
      expectedTotal += want.length;
      expect(counts[i], `count of row ${i}`).toBe(want.length);
      const got = want.map((_, e) => [entries[(i * k + e) * 2], values[(i * k + e) * 2 + 1]]);
      expect(got, `entries of row ${i}`).toEqual(want);
    }
    expect(total).toBe(expectedTotal);
  });

  it("an all-zero op(A) has no entries; -0 counts as zero", () => {
    for (const transA of [false, true]) {
      const a = new Float64Array(5 * 11).fill(-0);
      const { rows, total } = listNonzeros(a, 5, 11, transA);
      expect(total).toBe(0);
      expect(Array.from(readI32(rows + 5 * 11 * 8, 5))).toEqual([0, 0, 0, 0, 0]);
    }
  });
});

describe("sparseGemm", () => {
  // (m, k, n): one row and odd sizes (rowTimesB's 64-deep blocks, its scalar last columns), a
  // depth across ROW_BLOCK, m = MR exactly, depths across KC (packed path), ragged columns, the
  // MLP's first layer (x·W) and its dW (xᵀ·dY).
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 3],
    [2, ROW_BLOCK + 9, 31],
    [4, 3 * ROW_BLOCK + 1, 30],
    [MR, 11, 5],
    [7, KC + 3, 27],
    [13, 2 * KC + 21, 53],
    [100, 784, 100],
    [784, 100, 100],
  ];
  const densities = [0, 0.05, 0.2, 0.6, 1];

  it.each(shapes)("(m,k,n) = (%i,%i,%i): gemm's floats at every density, op(A) stored both ways", (m, k, n) => {
    const rng = new Random(m * 1000 + k * 10 + n);
    const b = normals(rng, k * n);
    const c0 = normals(rng, m * n);
    for (const density of densities) {
      const a = sparseMatrix(rng, m, k, density);
      for (const transA of [false, true]) {
        const { rows, aPtr } = listNonzeros(a, m, k, transA);
        const bPtr = f32Buf(b, "B");
        for (const beta of [0, 1]) {
          const what = `density ${density}, transA ${transA}, beta ${beta}`;
          const viaGemm = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C gemm");
          const viaSparse = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C sparse");
          rt.gemm(aPtr, bPtr, viaGemm, m, k, n, transA, false, beta);
          rt.kernels.sparseGemm(rows + m * k * 8, rows, k, bPtr, n, viaSparse, n, m, n, beta);
          const got = readF32(viaSparse, m * n);
          expectSameBits(got, readF32(viaGemm, m * n), `sparseGemm vs gemm (${what})`);
          // And the product itself: Σ_p a·b in double, within float32 summation error.
          const want = new Float64Array(m * n);
          const tol = new Float64Array(m * n);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let sum = beta * c0[i * n + j];
              let abs = Math.abs(sum);
              for (let p = 0; p < k; p++) {
                const t = a[i * k + p] * b[p * n + j];
                sum += t;
                abs += Math.abs(t);
              }
              want[i * n + j] = sum;
              tol[i * n + j] = 2 * (k + 2) * U * abs;
            }
          }
          expectWithin(got, want, tol, `sparseGemm vs double reference (${what})`);
        }
      }
    }
  });

  it("a row band and a column band of C, as the threads take them (ldb, ldc wider than n)", () => {
    const m = 12,
      k = 300,
      n = 40;
    const rng = new Random(99);
    const a = sparseMatrix(rng, m, k, 0.3);
    const b = normals(rng, k * n);
    const { rows, aPtr } = listNonzeros(a, m, k, false);
    const bPtr = f32Buf(b, "B");
    const whole = f32Buf(new Float64Array(m * n).fill(NaN), "C whole");
    rt.gemm(aPtr, bPtr, whole, m, k, n, false, false, 0);
    const banded = f32Buf(new Float64Array(m * n).fill(NaN), "C banded");
    const counts = rows + m * k * 8;
    // Rows 0..5 all columns; rows 5..12 in column bands 0..16 and 16..40.
    rt.kernels.sparseGemm(counts, rows, k, bPtr, n, banded, n, 5, n, 0);
    const rest = [counts + 5 * 4, rows + 5 * k * 8, banded + 5 * n * 4] as const;
    rt.kernels.sparseGemm(rest[0], rest[1], k, bPtr, n, rest[2], n, 7, 16, 0);
    rt.kernels.sparseGemm(rest[0], rest[1], k, bPtr + 16 * 4, n, rest[2] + 16 * 4, n, 7, n - 16, 0);
    expectSameBits(readF32(banded, m * n), readF32(whole, m * n), "banded sparseGemm vs gemm");
  });

  it("NaN, ±Infinity and -0 in op(A) give what gemm gives", () => {
    for (const [m, k, n] of [
      [3, 70, 9],
      [10, 300, 19],
    ]) {
      const rng = new Random(k);
      const a = sparseMatrix(rng, m, k, 0.3);
      a[5] = NaN;
      a[k + 2] = Infinity;
      a[2 * k + 1] = -Infinity;
      a[2 * k + 3] = -0;
      const b = normals(rng, k * n);
      for (const transA of [false, true]) {
        const { rows, aPtr } = listNonzeros(a, m, k, transA);
        const bPtr = f32Buf(b, "B");
        const viaGemm = f32Buf(new Float64Array(m * n), "C gemm");
        const viaSparse = f32Buf(new Float64Array(m * n), "C sparse");
        rt.gemm(aPtr, bPtr, viaGemm, m, k, n, transA, false, 0);
        rt.kernels.sparseGemm(rows + m * k * 8, rows, k, bPtr, n, viaSparse, n, m, n, 0);
        const got = readF32(viaSparse, m * n);
        expect(got.some(Number.isNaN), "a NaN or infinite input reaches C").toBe(true);
        expectSameBits(got, readF32(viaGemm, m * n), `sparseGemm vs gemm (m ${m}, transA ${transA})`);
      }
    }
  });

  it("an infinity in B where op(A) is 0: gemm gives NaN (0·∞), sparseGemm the sum of the other terms", () => {
    const m = 6,
      k = 20,
      n = 8;
    const rng = new Random(3);
    const a = sparseMatrix(rng, m, k, 0.5);
    for (let i = 0; i < m; i++) a[i * k + 4] = 0;
    const b = normals(rng, k * n);
    b[4 * n + 2] = Infinity;
    const { rows, aPtr } = listNonzeros(a, m, k, false);
    const bPtr = f32Buf(b, "B");
    const viaGemm = f32Buf(new Float64Array(m * n), "C gemm");
    const viaSparse = f32Buf(new Float64Array(m * n), "C sparse");
    rt.gemm(aPtr, bPtr, viaGemm, m, k, n, false, false, 0);
    rt.kernels.sparseGemm(rows + m * k * 8, rows, k, bPtr, n, viaSparse, n, m, n, 0);
    const dense = readF32(viaGemm, m * n);
    const sparse = readF32(viaSparse, m * n);
    for (let i = 0; i < m; i++) {
      expect(Number.isNaN(dense[i * n + 2]), `gemm, row ${i}`).toBe(true);
      expect(Number.isFinite(sparse[i * n + 2]), `sparseGemm, row ${i}`).toBe(true);
    }
    // Every other column is the same.
    for (let i = 0; i < m * n; i++) if (i % n !== 2) expect(Object.is(sparse[i], dense[i]), `C[${i}]`).toBe(true);
  });
});
