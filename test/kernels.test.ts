// Every export of the wasm kernel module (assembly/index.ts) against a plain double-precision
// TypeScript reference written here, on seeded random data. Each buffer handed to a kernel is
// surrounded by sentinel values of its own, checked after every test, so writes out of bounds
// fail too (the guarded buffers and comparisons are in test/support/).
//
// Tolerances: where the kernel performs one float32 operation per element (bias add, ReLU,
// u8 -> f32 scaling) the reference is the double result rounded to float32 and must match
// exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24), which no correct kernel can exceed and an off-by-one term always does.
import { describe, expect, it } from "vitest";
import { Random } from "../sdk/index";
import { bytes, checkGuardsAfterEach, f32Buf, i32Buf, nans, normals, readF32, rt, u8Buf, useRuntime } from "./support/buffers";
import { expectExact, expectWithin, U } from "./support/numeric";

/** Block sizes of assembly/gemm.ts (depth, rows of A, columns of B) and its 5x8 micro-tile. */
const KC = 256, MC = 50, NC = 512, MR = 5, NR = 8;

useRuntime();
checkGuardsAfterEach();

// ---------------------------------------------------------------------------------------------
// gemm: C[m,n] = op(A)[m,k] · op(B)[k,n] + beta · C

/** Row-major [rows, cols] matrix stored as-is or transposed ([cols, rows]). */
function layout(x: ArrayLike<number>, rows: number, cols: number, transposed: boolean): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[transposed ? j * rows + i : i * cols + j] = x[i * cols + j];
  }
  return out;
}

/** Reference product of logical A[m,k] and B[k,n] in double, with Σ_p |a_ip·b_pj| for the bound. */
function matmulRef(a: Float64Array, b: Float64Array, m: number, k: number, n: number) {
  const prod = new Float64Array(m * n);
  const absSum = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      for (let j = 0; j < n; j++) {
        const t = aip * b[p * n + j];
        prod[i * n + j] += t;
        absSum[i * n + j] += Math.abs(t);
      }
    }
  }
  return { prod, absSum };
}

/** What C must hold after C = prod + beta·c0, with the float32 error bound of a k-term sum. */
function expectedProduct(prod: Float64Array, absSum: Float64Array, c0: ArrayLike<number>, beta: number, k: number) {
  const want = new Float64Array(prod.length);
  const tol = new Float64Array(prod.length);
  for (let i = 0; i < prod.length; i++) {
    const betaC = beta === 0 ? 0 : beta * c0[i];
    want[i] = prod[i] + betaC;
    tol[i] = 2 * (k + 2) * U * (absSum[i] + Math.abs(betaC));
  }
  return { want, tol };
}

/** Random A [m,k], B [k,n], C0 [m,n] and A·B in float64 (with Σ|terms| for the bound). */
function gemmOperands(m: number, k: number, n: number, seed: number) {
  const rng = new Random(seed);
  const a = normals(rng, m * k);
  const b = normals(rng, k * n);
  const c0 = normals(rng, m * n);
  return { a, b, c0, ...matmulRef(a, b, m, k, n) };
}

/** Calls `check` with A and B in guarded buffers, stored as op(A) / op(B) need for each transpose case. */
function forEachTranspose(a: Float64Array, b: Float64Array, m: number, k: number, n: number,
  check: (aPtr: number, bPtr: number, transA: boolean, transB: boolean) => void): void {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) check(f32Buf(layout(a, m, k, transA), "A"), f32Buf(layout(b, k, n, transB), "B"), transA, transB);
  }
}

describe("gemm", () => {
  // (m, k, n): tiny, one or two rows (the unpacked path for m < MR), ragged edges (not multiples of MR=5 / NR=8), one exact tile, the shapes of a
  // 784-100-10 MLP's forward/backward, and shapes crossing the KC / MC / NC block edges.
  const shapes: [number, number, number][] = [
    [1, 1, 1], [3, 5, 7], [1, 784, 100], [2, 37, 13], [MR, 8, NR], [5, 9, 3], [13, 300, 17], [100, 784, 100], [784, 100, 100],
    [100, 100, 784], [10, 100, 10], [MC + 2, KC + 1, NC + 8], [2 * MC + 4, 20, 9], [3, 2 * KC + 8, 2 * NC + 6],
  ];

  it.each(shapes)("(m,k,n) = (%i,%i,%i): four transpose cases, beta 0 / 1 / -0.5", (m, k, n) => {
    const { a, b, c0, prod, absSum } = gemmOperands(m, k, n, 1000 * m + 10 * k + n);
    forEachTranspose(a, b, m, k, n, (aPtr, bPtr, transA, transB) => {
      for (const beta of [0, 1, -0.5]) {
        // With beta 0, C's old contents must not be read at all (NaN must not leak through).
        const cPtr = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C");
        rt.gemm(aPtr, bPtr, cPtr, m, k, n, transA, transB, beta);
        const { want, tol } = expectedProduct(prod, absSum, c0, beta, k);
        expectWithin(readF32(cPtr, m * n), want, tol, `C (transA=${transA}, transB=${transB}, beta=${beta})`);
      }
    });
  });

  // The shapes of a convolution's weights (conv2 of the LeNet-like net: W [64, 288] and Wᵀ), a
  // single panel's worth, fewer rows than a panel, and depths crossing KC.
  it.each([[64, 288, 121], [288, 64, 121], [MR, 7, NR], [3, 20, 9], [2 * MC + 3, KC + 5, 17]])(
    "packA + gemmPacked = gemm, bit for bit, (m,k,n) = (%i,%i,%i)", (m, k, n) => {
      const { a, b, c0, prod, absSum } = gemmOperands(m, k, n, m + 7 * k + 13 * n);
      forEachTranspose(a, b, m, k, n, (aPtr, bPtr, transA, transB) => {
        const packed = f32Buf(new Float64Array(rt.kernels.packedABytes(m, k) / 4).fill(NaN), "packed A");
        rt.kernels.packA(aPtr, transA ? m : k, m, k, transA ? 1 : 0, packed);
        for (const beta of [0, -0.5]) {
          const viaGemm = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C gemm");
          const viaPacked = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C packed");
          // m >= MR: gemm packs A itself the same way, so the sums are the same floats.
          if (m >= MR) rt.gemm(aPtr, bPtr, viaGemm, m, k, n, transA, transB, beta);
          rt.kernels.gemmPacked(packed, bPtr, transB ? k : n, viaPacked, n, m, k, n, transB ? 1 : 0, beta, rt.gemmWorkspace(0));
          const got = readF32(viaPacked, m * n);
          if (m >= MR) expectExact(got, readF32(viaGemm, m * n), `gemmPacked vs gemm (transA=${transA}, transB=${transB}, beta=${beta})`);
          const { want, tol } = expectedProduct(prod, absSum, c0, beta, k);
          expectWithin(got, want, tol, `gemmPacked (transA=${transA}, transB=${transB}, beta=${beta})`);
        }
      });
    });

  it("k = 0 scales C by beta (beta 0 gives zeros even over NaN)", () => {
    const m = 5, n = 11;
    const c0 = normals(new Random(7), m * n);
    for (const beta of [0, 1, -0.5]) {
      const cPtr = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C");
      rt.gemm(0, 0, cPtr, m, 0, n, false, false, beta);
      expectExact(readF32(cPtr, m * n), Array.from(c0, (v) => (beta === 0 ? 0 : Math.fround(beta * v))), `C (beta=${beta})`);
    }
  });

  it("operands at addresses that are only 4-byte aligned (a view starting one float in)", () => {
    const m = 6, k = 11, n = 9;
    const rng = new Random(5);
    const a = normals(rng, m * k);
    const b = normals(rng, k * n);
    const { prod, absSum } = matmulRef(a, b, m, k, n);
    for (const [transA, transB] of [[false, false], [true, true]]) {
      // One leading element in every buffer, and the kernel gets the address after it.
      const aPtr = f32Buf([0, ...layout(a, m, k, transA)], "A") + 4;
      const bPtr = f32Buf([0, ...layout(b, k, n, transB)], "B") + 4;
      const cPtr = f32Buf(new Float64Array(m * n + 1).fill(NaN), "C") + 4;
      rt.gemm(aPtr, bPtr, cPtr, m, k, n, transA, transB, 0);
      expectWithin(readF32(cPtr, m * n), prod, absSum.map((s) => 2 * (k + 2) * U * s), `C (transA=${transA})`);
      expect(rt.f32(cPtr - 4, 1)[0], "C[-1]").toBeNaN();
    }
  });

  it("m = 0 or n = 0 writes nothing", () => {
    const c0 = normals(new Random(8), 12);
    const cPtr = f32Buf(c0, "C");
    const aPtr = f32Buf(normals(new Random(9), 12), "A");
    rt.gemm(aPtr, aPtr, cPtr, 0, 3, 4, false, false, 0);
    rt.gemm(aPtr, aPtr, cPtr, 4, 3, 0, false, false, 0);
    expectExact(readF32(cPtr, 12), c0, "C");
  });

  it("the workspace covers the packed blocks and the scratch tile", () => {
    // B's block as floats, A's block with every value broadcast to a whole f32x4 (16 bytes), the tile.
    expect(rt.kernels.gemmWorkspaceBytes()).toBe(KC * NC * 4 + MC * KC * 16 + MR * NR * 4);
    expect(rt.kernels.heapBase()).toBeGreaterThan(0);
    expect(rt.gemmWorkspace(0)).toBeGreaterThanOrEqual(rt.kernels.heapBase());
  });
});

// ---------------------------------------------------------------------------------------------
// Row helpers and the data path

describe("row and data kernels", () => {
  it.each([[7, 13], [3, 8], [5, 1], [1, 4]])("addBiasRows: y[r,j] += bias[j] (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * 100 + cols);
    const y = normals(rng, rows * cols);
    const bias = normals(rng, cols);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasRows(yPtr, bPtr, rows, cols);
    expectExact(readF32(yPtr, rows * cols), Array.from(y, (v, i) => Math.fround(v + bias[i % cols])), "y");
    expectExact(readF32(bPtr, cols), bias, "bias (unchanged)");
  });

  it.each([[7, 13], [3, 8], [5, 1], [1, 4]])("addBiasRowsRelu: y[r,j] = max(y + bias[j], 0) (%i x %i)", (rows, cols) => {
    const rng = new Random(rows * 100 + cols + 7);
    const y = normals(rng, rows * cols);
    const bias = normals(rng, cols);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasRowsRelu(yPtr, bPtr, rows, cols);
    expectExact(readF32(yPtr, rows * cols), Array.from(y, (v, i) => Math.max(Math.fround(v + bias[i % cols]), 0)), "y");
    expectExact(readF32(bPtr, cols), bias, "bias (unchanged)");
  });

  it.each([[7, 13], [100, 10], [1, 4], [3, 1]])("sumRows: out[j] = Σ_r x[r,j] + beta·out[j] (%i x %i)", (rows, cols) => {
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
    expectExact(readF32(dstPtr, n), Array.from(src, (v) => Math.fround(v * scale)), "dst");
  });

  it.each([[37, 5], [784, 6], [16, 0]])("gatherImagesU8: dst[i] = src[indices[i]] · scale (rowLen %i, count %i)", (rowLen, count) => {
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
    expectExact(rt.u8(dstPtr, 13).slice(), Array.from(indices, (i) => src[i]), "dst");
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

  it.each([[20, 10], [6, 1], [9, 7]])("argmaxRows: first index of the row maximum (%i x %i)", (rows, cols) => {
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
    const rows = 40, cols = 10;
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
      for (const [was, now] of [[src[at], src[at] + 1], [0, -0]]) {
        rt.f32(srcPtr, n)[at] = now;
        rt.f32(dstPtr, n)[at] = was;
        expect(rt.kernels.copyIfChanged(srcPtr, dstPtr, n), `a change at ${at}`).toBe(1);
        expect(new Uint32Array(readF32(dstPtr, n).buffer)).toEqual(new Uint32Array(readF32(srcPtr, n).buffer));
        expect(rt.kernels.copyIfChanged(srcPtr, dstPtr, n)).toBe(0);
      }
    }
  });
});

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
  function bothBackward(kernel: (y: number, dy: number, dx: number, n: number) => void,
    y: ArrayLike<number>, dy: ArrayLike<number>): Float32Array[] {
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
      if (!Object.is(v, want)) expect.fail(`y[${i}] for x = ${Object.is(x[i], -0) ? "-0" : x[i]}: got ${v}, want ${want}`);
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

// ---------------------------------------------------------------------------------------------
// Loss and optimiser

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

  it.each([[8, 10], [5, 3], [4, 13], [3, 1]])("probabilities, summed loss and gradient (%i x %i)", (rows, cols) => {
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
    const loss = rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, gPtr, rows, cols);
    expectWithin([loss], [want.loss], 1e-6 * (1 + Math.abs(want.loss)), "loss");
    expectWithin(readF32(pPtr, rows * cols), want.probs, Array.from(want.probs, (p) => 1e-5 * p + 1e-30), "probs");
    expectWithin(readF32(gPtr, rows * cols), want.grad, Array.from(want.probs, (p) => (1e-5 * p + 1e-7) / rows), "dlogits");
    expectExact(readF32(lPtr, rows * cols), logits, "logits (unchanged)");
    if (cols === 10) expect(want.loss).toBeGreaterThan(2200); // the reference sees the 2000 and 200 rows
  });

  it("labels = 0: probabilities only, returns 0 and leaves dlogits alone", () => {
    const rows = 6, cols = 10;
    const logits = logitsFor(rows, cols, 21);
    const want = reference(logits, new Uint8Array(rows), rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const pPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "probs");
    const gPtr = f32Buf(new Float64Array(rows * cols).fill(42), "dlogits");
    expect(rt.kernels.softmaxCrossEntropy(lPtr, 0, pPtr, gPtr, rows, cols)).toBe(0);
    expectWithin(readF32(pPtr, rows * cols), want.probs, Array.from(want.probs, (p) => 1e-5 * p + 1e-30), "probs");
    expectExact(readF32(gPtr, rows * cols), new Float64Array(rows * cols).fill(42), "dlogits");
  });

  it("dlogits = 0: loss and probabilities, no gradient written (address 0 untouched)", () => {
    const rows = 6, cols = 10;
    const rng = new Random(22);
    const logits = logitsFor(rows, cols, 22);
    const labels = bytes(rng, rows, cols);
    const want = reference(logits, labels, rows, cols);
    const lPtr = f32Buf(logits, "logits");
    const labelPtr = u8Buf(labels, "labels");
    const pPtr = f32Buf(new Float64Array(rows * cols).fill(NaN), "probs");
    const low = rt.u8(0, rows * cols * 4).slice();
    const loss = rt.kernels.softmaxCrossEntropy(lPtr, labelPtr, pPtr, 0, rows, cols);
    expectWithin([loss], [want.loss], 1e-6 * (1 + Math.abs(want.loss)), "loss");
    expectWithin(readF32(pPtr, rows * cols), want.probs, Array.from(want.probs, (p) => 1e-5 * p + 1e-30), "probs");
    expectExact(rt.u8(0, rows * cols * 4).slice(), low, "memory at address 0");
  });
});

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
