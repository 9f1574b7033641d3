// Products whose left factor is mostly zeros, the zeros skipped: a first layer's input (about
// 80% of MNIST's pixels are 0), x·W in a dense layer's forward pass and xᵀ·dY for its dW.
//
//   C[m,n] = S[m,k] · B[k,n] + beta · C        B stored [k,n] (row stride ldb), C row-major (ldc),
//                                              beta 0 or 1 (C = S·B or C += S·B)
//
// S is op(A) of gemm() given by its nonzeros, row by row (sparseRows writes them from A stored
// [m,k]; transposeSparseRows those of Aᵀ from A's):
//   counts[m]    i32, the nonzeros of row i
//   entries      row i's at entries + i·k·8, each 8 bytes: (index p: i32, value S[i,p]: f32), p ascending
// A row has room for all k, so rows are written and read independently (a thread, a band of rows).
//
// The sums are gemm()'s, term for term, without the zero terms (assembly/gemm.ts): per element,
// depth blocks summed separately from +0 by madd in increasing depth, the first block stored (or
// added to beta·C), each later one added to C. The blocks are gemm's for the same m: KC deep when
// m >= MR (the packed path), ROW_BLOCK deep below (rowTimesB, whose last n % 4 columns multiply
// and add separately; the packed path uses madd for every column). Leaving out a term 0·b changes
// no float: a partial sum that started at +0 is never -0 when products are rounded before the add,
// and x + (±0) = x for any other x. So the result is gemm's bit for bit where B is finite; with
// a NaN or an infinity in a row of B that meets a zero of S, gemm gives NaN (0·∞) and this does
// not (sdk/layers/dense.ts checks B first, kernels.allFinite). (For a beta other than 0 and 1, gemm's full and partial tiles would round beta·C + sum
// differently: fused, and not.) In the relaxed-SIMD build (fused madd) a sum whose exact value lies in (-2^-150, 0) rounds
// to -0, and there the two may differ in the sign of a zero: products under 2^-149 (subnormal
// weights) only.

import { KC, MR, ROW_BLOCK } from "./gemm";
import { madd } from "./simd";

/** Bytes of the nonzeros of an S of m x k (see the top of this file): the entries, then the counts. */
export function sparseRowsBytes(m: i32, k: i32): usize {
  return (<usize>m * <usize>k << 3) + (<usize>m << 2);
}

/**
 * Writes the nonzeros of A [m,k] (row stride lda) as counts and entries (see the top of this
 * file); returns how many there are. A NaN is a nonzero, -0 a zero. Four values at a time: a
 * group of four zeros costs one compare; the others are appended without a branch (written
 * always, counted when nonzero).
 */
export function sparseRows(a: usize, lda: i32, m: i32, k: i32, counts: usize, entries: usize): i32 {
  const zero = f32x4.splat(0);
  let total = 0;
  for (let i = 0; i < m; i++) {
    const row = a + (<usize>(i * lda) << 2);
    const start = entries + <usize>i * (<usize>k << 3);
    let q = start;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const v = v128.load(row + (<usize>p << 2));
      if (!v128.any_true(f32x4.ne(v, zero))) continue;
      q = append(q, p, f32x4.extract_lane(v, 0));
      q = append(q, p + 1, f32x4.extract_lane(v, 1));
      q = append(q, p + 2, f32x4.extract_lane(v, 2));
      q = append(q, p + 3, f32x4.extract_lane(v, 3));
    }
    for (; p < k; p++) q = append(q, p, load<f32>(row + (<usize>p << 2)));
    const count = <i32>((q - start) >> 3);
    store<i32>(counts + (<usize>i << 2), count);
    total += count;
  }
  return total;
}

/**
 * Writes the nonzeros of Sᵀ [k,m] (countsT, entriesT, as sparseRows writes them) from those of
 * S [m,k]: the same values, each row of Sᵀ in increasing index. One pass over the nonzeros, a
 * few times faster than sparseRows reading S's columns (a dense layer's dW takes xᵀ so).
 */
export function transposeSparseRows(counts: usize, entries: usize, m: i32, k: i32, countsT: usize, entriesT: usize): void {
  memory.fill(countsT, 0, <usize>k << 2);
  const rowEntries = <usize>k << 3;
  const rowEntriesT = <usize>m << 3;
  for (let i = 0; i < m; i++) {
    let q = entries + <usize>i * rowEntries;
    const end = q + (<usize>load<i32>(counts + (<usize>i << 2)) << 3);
    for (; q < end; q += 8) {
      const p = load<i32>(q);
      const pc = countsT + (<usize>p << 2);
      const count = load<i32>(pc);
      const out = entriesT + <usize>p * rowEntriesT + (<usize>count << 3);
      store<i32>(out, i);
      store<f32>(out, load<f32>(q, 4), 4);
      store<i32>(pc, count + 1);
    }
  }
}

/** Writes (p, v) at q; returns q advanced past it when v is not 0 (no branch). */
// @ts-ignore: decorator
@inline
function append(q: usize, p: i32, v: f32): usize {
  store<i32>(q, p);
  store<f32>(q, v, 4);
  return q + (v != 0 ? 8 : 0);
}

/**
 * C[m,n] = S · B + beta · C, S [m,k] from sparseRows (counts, entries), B stored [k,n]: gemm()'s
 * floats for op(A) = S and transB = 0 (see the top of this file). Per row of C, 24 columns at a
 * time in six registers over the row's nonzeros, then 4, then one.
 */
export function sparseGemm(
  counts: usize, entries: usize, k: i32,
  b: usize, ldb: i32, c: usize, ldc: i32,
  m: i32, n: i32, beta: f32,
): void {
  if (m <= 0 || n <= 0) return;
  const packedPath = m >= MR;
  const block = packedPath ? KC : ROW_BLOCK;
  const rowBytes = <usize>ldb << 2;
  for (let i = 0; i < m; i++) {
    const first = entries + <usize>i * (<usize>k << 3);
    const end = first + (<usize>load<i32>(counts + (<usize>i << 2)) << 3);
    const cRow = c + (<usize>(i * ldc) << 2);
    let j = 0;
    for (; j + 24 <= n; j += 24) columns24(first, end, block, b + (<usize>j << 2), rowBytes, cRow + (<usize>j << 2), beta);
    for (; j + 4 <= n; j += 4) columns4(first, end, block, b + (<usize>j << 2), rowBytes, cRow + (<usize>j << 2), beta);
    for (; j < n; j++) column1(first, end, block, b + (<usize>j << 2), rowBytes, cRow + (<usize>j << 2), beta, packedPath);
  }
}

/** The start of the depth block holding the entry at q. */
// @ts-ignore: decorator
@inline
function blockOf(q: usize, block: i32): i32 {
  return load<i32>(q) / block * block;
}

/**
 * c[0..24) = Σ over entries [q, end) of value · B[index, 0..24), in depth blocks (see sparseGemm).
 * The first block is always written (C = acc, or beta·C + acc); blocks without entries after it
 * would add +0, so they are skipped.
 */
function columns24(q: usize, end: usize, block: i32, b: usize, rowBytes: usize, c: usize, beta: f32): void {
  let blockEnd = block;
  let scale = beta;
  for (;;) {
    let acc0 = f32x4.splat(0);
    let acc1 = f32x4.splat(0);
    let acc2 = f32x4.splat(0);
    let acc3 = f32x4.splat(0);
    let acc4 = f32x4.splat(0);
    let acc5 = f32x4.splat(0);
    for (; q < end; q += 8) {
      const p = load<i32>(q);
      if (p >= blockEnd) break;
      const va = v128.load32_splat(q, 4);
      const pb = b + <usize>p * rowBytes;
      acc0 = madd(va, v128.load(pb), acc0);
      acc1 = madd(va, v128.load(pb, 16), acc1);
      acc2 = madd(va, v128.load(pb, 32), acc2);
      acc3 = madd(va, v128.load(pb, 48), acc3);
      acc4 = madd(va, v128.load(pb, 64), acc4);
      acc5 = madd(va, v128.load(pb, 80), acc5);
    }
    if (scale != 0) {
      const vs = f32x4.splat(scale);
      acc0 = madd(vs, v128.load(c), acc0);
      acc1 = madd(vs, v128.load(c, 16), acc1);
      acc2 = madd(vs, v128.load(c, 32), acc2);
      acc3 = madd(vs, v128.load(c, 48), acc3);
      acc4 = madd(vs, v128.load(c, 64), acc4);
      acc5 = madd(vs, v128.load(c, 80), acc5);
    }
    v128.store(c, acc0);
    v128.store(c, acc1, 16);
    v128.store(c, acc2, 32);
    v128.store(c, acc3, 48);
    v128.store(c, acc4, 64);
    v128.store(c, acc5, 80);
    if (q >= end) return;
    blockEnd = blockOf(q, block) + block;
    scale = 1;
  }
}

/** columns24 for four columns. */
function columns4(q: usize, end: usize, block: i32, b: usize, rowBytes: usize, c: usize, beta: f32): void {
  let blockEnd = block;
  let scale = beta;
  for (;;) {
    let acc = f32x4.splat(0);
    for (; q < end; q += 8) {
      const p = load<i32>(q);
      if (p >= blockEnd) break;
      acc = madd(v128.load32_splat(q, 4), v128.load(b + <usize>p * rowBytes), acc);
    }
    if (scale != 0) acc = madd(f32x4.splat(scale), v128.load(c), acc);
    v128.store(c, acc);
    if (q >= end) return;
    blockEnd = blockOf(q, block) + block;
    scale = 1;
  }
}

/**
 * columns24 for one column. The packed path sums it by madd like the others (one lane used);
 * rowTimesB multiplies and adds separately (`packedPath` false).
 */
function column1(q: usize, end: usize, block: i32, b: usize, rowBytes: usize, c: usize, beta: f32, packedPath: bool): void {
  let blockEnd = block;
  let scale = beta;
  for (;;) {
    let sum: f32 = 0;
    for (; q < end; q += 8) {
      const p = load<i32>(q);
      if (p >= blockEnd) break;
      const x = load<f32>(q, 4);
      const y = load<f32>(b + <usize>p * rowBytes);
      sum = packedPath ? madd1(x, y, sum) : sum + x * y;
    }
    if (scale != 0) sum = packedPath ? madd1(scale, load<f32>(c), sum) : sum + scale * load<f32>(c);
    store<f32>(c, sum);
    if (q >= end) return;
    blockEnd = blockOf(q, block) + block;
    scale = 1;
  }
}

/** madd on one float: a · b + c as one lane of the four-lane madd computes it (fused or not, as the build). */
// @ts-ignore: decorator
@inline
function madd1(a: f32, b: f32, c: f32): f32 {
  return f32x4.extract_lane(madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
}
