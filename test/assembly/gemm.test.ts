// assembly/gemm.ts (gemm, packA, gemmPacked, the workspace) against a plain double-precision
// TypeScript reference written here, on seeded random data.
// Each buffer handed to a kernel is surrounded by sentinel values of its own, checked after every
// test, so writes out of bounds fail too (the guarded buffers and comparisons are in test/support/).
//
// Tolerances: where the kernel performs one float32 operation per element (bias add, ReLU,
// u8 -> f32 scaling) the reference is the double result rounded to float32 and must match
// exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24), which no correct kernel can exceed and an off-by-one term always does.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

/** Block sizes of assembly/gemm.ts (depth, rows of A, columns of B) and its 5x8 micro-tile. */
const KC = 256,
  MC = 50,
  NC = 512,
  MR = 5,
  NR = 8;

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
function forEachTranspose(
  a: Float64Array,
  b: Float64Array,
  m: number,
  k: number,
  n: number,
  check: (aPtr: number, bPtr: number, transA: boolean, transB: boolean) => void,
): void {
  for (const transA of [false, true]) {
    for (const transB of [false, true])
      check(f32Buf(layout(a, m, k, transA), "A"), f32Buf(layout(b, k, n, transB), "B"), transA, transB);
  }
}

describe("gemm", () => {
  // (m, k, n): tiny, one or two rows (the unpacked path for m < MR), ragged edges (not multiples of MR=5 / NR=8), one exact tile, the shapes of a
  // 784-100-10 MLP's forward/backward, and shapes crossing the KC / MC / NC block edges.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [1, 784, 100],
    [2, 37, 13],
    [MR, 8, NR],
    [5, 9, 3],
    [13, 300, 17],
    [100, 784, 100],
    [784, 100, 100],
    [100, 100, 784],
    [10, 100, 10],
    [MC + 2, KC + 1, NC + 8],
    [2 * MC + 4, 20, 9],
    [3, 2 * KC + 8, 2 * NC + 6],
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
  it.each([
    [64, 288, 121],
    [288, 64, 121],
    [MR, 7, NR],
    [3, 20, 9],
    [2 * MC + 3, KC + 5, 17],
  ])("packA + gemmPacked = gemm, bit for bit, (m,k,n) = (%i,%i,%i)", (m, k, n) => {
    const { a, b, c0, prod, absSum } = gemmOperands(m, k, n, m + 7 * k + 13 * n);
    forEachTranspose(a, b, m, k, n, (aPtr, bPtr, transA, transB) => {
      const packed = f32Buf(new Float64Array(rt.kernels.packedABytes(m, k) / 4).fill(NaN), "packed A");
      rt.kernels.packA(aPtr, transA ? m : k, m, k, transA ? 1 : 0, packed);
      for (const beta of [0, -0.5]) {
        const viaGemm = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C gemm");
        const viaPacked = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C packed");
        // m >= MR: gemm packs A itself the same way, so the sums are the same floats.
        if (m >= MR) rt.gemm(aPtr, bPtr, viaGemm, m, k, n, transA, transB, beta);
        rt.kernels.gemmPacked(
          packed,
          bPtr,
          transB ? k : n,
          viaPacked,
          n,
          m,
          k,
          n,
          transB ? 1 : 0,
          beta,
          rt.gemmWorkspace(0),
        );
        const got = readF32(viaPacked, m * n);
        if (m >= MR)
          expectExact(
            got,
            readF32(viaGemm, m * n),
            `gemmPacked vs gemm (transA=${transA}, transB=${transB}, beta=${beta})`,
          );
        const { want, tol } = expectedProduct(prod, absSum, c0, beta, k);
        expectWithin(got, want, tol, `gemmPacked (transA=${transA}, transB=${transB}, beta=${beta})`);
      }
    });
  });

  it.each([
    [64, 72, 32],
    [32, 64, 72],
    [3, 9, 5],
  ])(
    "gemmSeries / gemmPackedSeries = one gemm / gemmPacked per product, bit for bit, (m,k,n) = (%i,%i,%i)",
    (m, k, n) => {
      const count = 3;
      const rng = new Random(m * 31 + k * 7 + n);
      // Products i at strides a few floats longer than their matrices (gaps left untouched).
      const [sa, sb, sc] = [m * k + 3, k * n + 5, m * n + 2];
      const a = normals(rng, count * sa);
      const b = normals(rng, count * sb);
      const c0 = normals(rng, count * sc);
      const aPtr = f32Buf(a, "A");
      const bPtr = f32Buf(b, "B");
      const work = rt.gemmWorkspace(0);
      for (const transA of [0, 1]) {
        for (const transB of [0, 1]) {
          const [lda, ldb] = [transA ? m : k, transB ? k : n];
          for (const beta of [0, 1, -0.5]) {
            const series = f32Buf(c0, "C (series)");
            const single = f32Buf(c0, "C (one by one)");
            rt.kernels.gemmSeries(
              aPtr,
              sa * 4,
              lda,
              bPtr,
              sb * 4,
              ldb,
              series,
              sc * 4,
              n,
              m,
              k,
              n,
              transA,
              transB,
              beta,
              work,
              count,
            );
            for (let i = 0; i < count; i++)
              rt.kernels.gemm(
                aPtr + i * sa * 4,
                lda,
                bPtr + i * sb * 4,
                ldb,
                single + i * sc * 4,
                n,
                m,
                k,
                n,
                transA,
                transB,
                beta,
                work,
              );
            const want = readF32(single, count * sc);
            expectExact(
              readF32(series, count * sc),
              want,
              `gemmSeries (transA=${transA}, transB=${transB}, beta=${beta})`,
            );
            // The gaps between the products' C keep their values.
            for (let i = 0; i < count; i++)
              expectExact(
                want.subarray(i * sc + m * n, (i + 1) * sc),
                Float32Array.from(c0.subarray(i * sc + m * n, (i + 1) * sc)),
                "C gaps",
              );
            // The same with each A packed first.
            const packedBytes = rt.kernels.packedABytes(m, k);
            const packed = f32Buf(new Float64Array((count * packedBytes) / 4).fill(NaN), "packed A");
            for (let i = 0; i < count; i++)
              rt.kernels.packA(aPtr + i * sa * 4, lda, m, k, transA, packed + i * packedBytes);
            const packedSeries = f32Buf(c0, "C (packed series)");
            const packedSingle = f32Buf(c0, "C (packed, one by one)");
            rt.kernels.gemmPackedSeries(
              packed,
              packedBytes,
              bPtr,
              sb * 4,
              ldb,
              packedSeries,
              sc * 4,
              n,
              m,
              k,
              n,
              transB,
              beta,
              work,
              count,
            );
            for (let i = 0; i < count; i++)
              rt.kernels.gemmPacked(
                packed + i * packedBytes,
                bPtr + i * sb * 4,
                ldb,
                packedSingle + i * sc * 4,
                n,
                m,
                k,
                n,
                transB,
                beta,
                work,
              );
            expectExact(
              readF32(packedSeries, count * sc),
              readF32(packedSingle, count * sc),
              `gemmPackedSeries (transA=${transA}, transB=${transB}, beta=${beta})`,
            );
          }
        }
      }
    },
  );

  it("k = 0 scales C by beta (beta 0 gives zeros even over NaN)", () => {
    const m = 5,
      n = 11;
    const c0 = normals(new Random(7), m * n);
    for (const beta of [0, 1, -0.5]) {
      const cPtr = f32Buf(beta === 0 ? new Float64Array(m * n).fill(NaN) : c0, "C");
      rt.gemm(0, 0, cPtr, m, 0, n, false, false, beta);
      expectExact(
        readF32(cPtr, m * n),
        Array.from(c0, (v) => (beta === 0 ? 0 : Math.fround(beta * v))),
        `C (beta=${beta})`,
      );
    }
  });

  it("operands at addresses that are only 4-byte aligned (a view starting one float in)", () => {
    const m = 6,
      k = 11,
      n = 9;
    const rng = new Random(5);
    const a = normals(rng, m * k);
    const b = normals(rng, k * n);
    const { prod, absSum } = matmulRef(a, b, m, k, n);
    for (const [transA, transB] of [
      [false, false],
      [true, true],
    ]) {
      // One leading element in every buffer, and the kernel gets the address after it.
      const aPtr = f32Buf([0, ...layout(a, m, k, transA)], "A") + 4;
      const bPtr = f32Buf([0, ...layout(b, k, n, transB)], "B") + 4;
      const cPtr = f32Buf(new Float64Array(m * n + 1).fill(NaN), "C") + 4;
      rt.gemm(aPtr, bPtr, cPtr, m, k, n, transA, transB, 0);
      expectWithin(
        readF32(cPtr, m * n),
        prod,
        absSum.map((s) => 2 * (k + 2) * U * s),
        `C (transA=${transA})`,
      );
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
