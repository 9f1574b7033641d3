// Single-precision matrix product, the kernel where training spends its time.
//
//   C[m,n] = op(A)[m,k] · op(B)[k,n] + beta · C[m,n]          all row-major
//   op(A) = A stored [m,k]   or  Aᵀ with A stored [k,m]      (transA = 0 / 1)
//   op(B) = B stored [k,n]   or  Bᵀ with B stored [n,k]      (transB = 0 / 1)
//   lda, ldb, ldc: floats between consecutive stored rows of A, B, C (the row length when
//   contiguous). They let a thread compute a band of C's rows in place: see sdk/runtime/threads.ts.
//
// Layout of the work (GotoBLAS order): B is packed in blocks of KC x NC into panels of 8 columns,
// A in blocks of MC x KC into panels of 5 rows, so the 5x8 micro-kernel reads both with unit
// stride. A's values are packed already broadcast (each one four times, a whole f32x4), so the
// micro-kernel's inner loop is plain vector loads whose offsets fold into the address: V8 needs
// an extra instruction per offset for a v128.load32_splat, and that loop is instruction-bound.
// Packing absorbs the transposes: no transposed copy is ever materialised. Edges are
// zero-padded in the packed panels; a partial tile is written through a small scratch tile.
//
// `work` is scratch memory of gemmWorkspaceBytes() bytes, 16-byte aligned, owned by the caller.

import { madd } from "./simd";
import { zeroExtended } from "./zero-extended";

export const MR: i32 = 5; // rows of C per micro-tile
const NR: i32 = 8; // columns of C per micro-tile (two f32x4)
export const KC: i32 = 256; // depth of a packed block
const MC: i32 = 50; // rows of A per packed block: its broadcast packing (200 KB) stays in L2
const NC: i32 = 512; // columns of B per packed block

const PACK_B_BYTES: usize = <usize>(KC * NC) << 2;
const PACK_A_BYTES: usize = <usize>(MC * KC) << 4; // each value stored as a whole f32x4
const TILE_BYTES: usize = <usize>(MR * NR) << 2;

/** Bytes of scratch memory gemm() needs. */
export function gemmWorkspaceBytes(): usize {
  return PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES;
}

export function gemm(
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  m: i32, k: i32, n: i32,
  transA: i32, transB: i32, beta: f32,
  work: usize,
): void {
  if (emptyProduct(c, ldc, m, k, n, beta)) return;
  if (m < MR) {
    // A few rows (one image through a dense layer): packing B would copy all of it for a single
    // pass over it, so stream B directly instead.
    for (let i = 0; i < m; i++) {
      const aRow = a + (<usize>(transA == 0 ? i * lda : i) << 2);
      const aStride: usize = transA == 0 ? 4 : <usize>lda << 2;
      const cRow = c + (<usize>(i * ldc) << 2);
      if (transB == 0) rowTimesB(aRow, aStride, b, ldb, cRow, k, n, beta);
      else rowTimesBt(aRow, aStride, b, ldb, cRow, k, n, beta);
    }
    return;
  }
  blockedGemm(a, lda, transA, 0, b, ldb, c, ldc, m, k, n, transB, beta, work);
}

/** Bytes packA() writes for an op(A) of m x k. */
export function packedABytes(m: i32, k: i32): usize {
  return <usize>(paddedRows(m) * k) << 4;
}

/**
 * Packs all of op(A)[m,k] (see gemm) into `dst` (packedABytes(m, k) bytes, 16-byte aligned), the
 * way gemm packs it block by block, for gemmPacked(): a convolution multiplies the same weights
 * by every image of a batch, and packing them once saves packing them per image.
 * Layout: depth block after depth block (KC deep), each holding all the MR-row panels.
 */
export function packA(a: usize, lda: i32, m: i32, k: i32, transA: i32, dst: usize): void {
  const mPad = paddedRows(m);
  for (let pc = 0; pc < k; pc += KC) {
    packPanelsA(a, lda, dst + (<usize>(pc * mPad) << 4), 0, pc, m, min(KC, k - pc), transA);
  }
}

/** C[m,n] = op(A) · op(B) + beta · C as gemm() does it, with op(A) already packed by packA(). */
export function gemmPacked(
  packedA: usize, b: usize, ldb: i32, c: usize, ldc: i32,
  m: i32, k: i32, n: i32, transB: i32, beta: f32, work: usize,
): void {
  if (emptyProduct(c, ldc, m, k, n, beta)) return;
  blockedGemm(0, 0, 0, packedA, b, ldb, c, ldc, m, k, n, transB, beta, work);
}

/**
 * `count` products of the same shape, gemm() for each: product i reads A, B and writes C at byte
 * offsets i·strideA, i·strideB, i·strideC from a, b, c. One call for a convolution's 16 Winograd
 * products (assembly/winograd.ts) instead of 16 calls from JavaScript.
 */
export function gemmSeries(
  a: usize, strideA: usize, lda: i32, b: usize, strideB: usize, ldb: i32, c: usize, strideC: usize, ldc: i32,
  m: i32, k: i32, n: i32, transA: i32, transB: i32, beta: f32, work: usize, count: i32,
): void {
  for (let i = 0; i < count; i++) {
    const at = <usize>i;
    gemm(a + at * strideA, lda, b + at * strideB, ldb, c + at * strideC, ldc, m, k, n, transA, transB, beta, work);
  }
}

/** gemmSeries with each op(A) packed by packA: product i's packing at packedA + i·strideA. */
export function gemmPackedSeries(
  packedA: usize, strideA: usize, b: usize, strideB: usize, ldb: i32, c: usize, strideC: usize, ldc: i32,
  m: i32, k: i32, n: i32, transB: i32, beta: f32, work: usize, count: i32,
): void {
  for (let i = 0; i < count; i++) {
    const at = <usize>i;
    gemmPacked(packedA + at * strideA, b + at * strideB, ldb, c + at * strideC, ldc, m, k, n, transB, beta, work);
  }
}

/** Handles a product with no rows, columns or depth (C = beta · C for k = 0); true if it was one. */
function emptyProduct(c: usize, ldc: i32, m: i32, k: i32, n: i32, beta: f32): bool {
  if (m <= 0 || n <= 0) return true;
  if (k > 0) return false;
  scaleC(c, ldc, m, n, beta);
  return true;
}

/** Rows of op(A) rounded up to whole panels. */
function paddedRows(m: i32): i32 {
  return (m + MR - 1) / MR * MR;
}

/** The blocked product (packing and micro-kernels); op(A) comes packed when packedA is not 0. */
function blockedGemm(
  a: usize, lda: i32, transA: i32, packedA: usize,
  b: usize, ldb: i32, c: usize, ldc: i32,
  m: i32, k: i32, n: i32, transB: i32, beta: f32, work: usize,
): void {
  const packB = work;
  const packA = work + PACK_B_BYTES;
  const tile = packA + PACK_A_BYTES;
  const mPad = paddedRows(m);
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      // Only the first depth block sees the caller's beta; later blocks accumulate.
      const betaBlock: f32 = pc == 0 ? beta : 1.0;
      packPanelsB(b, ldb, packB, pc, jc, kc, nc, transB);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        let panels = packA;
        if (packedA == 0) packPanelsA(a, lda, packA, ic, pc, mc, kc, transA);
        else panels = packedA + (<usize>(pc * mPad + ic * kc) << 4);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const panelB = packB + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const panelA = panels + (<usize>(ir * kc) << 4);
            const cTile = c + (<usize>((ic + ir) * ldc + jc + jr) << 2);
            micro5x8(panelA, panelB, kc, cTile, ldc, betaBlock, mr, nr, tile);
          }
        }
      }
    }
  }
}

/** Depths of B per block of rowTimesB: 64 rows of a 100-wide B are 25 KB, inside L1. */
export const ROW_BLOCK: i32 = 64;

/**
 * c[n] = a[k] · B[k,n] + beta · c, B stored [k,n] (row stride ldb), a's elements `aStride` bytes
 * apart. B is taken ROW_BLOCK rows at a time and each block is swept in chunks of 24 columns
 * held in six registers, so the chunks after the first find the block in L1; c accumulates the
 * blocks' sums. Blocks, not each 24-column chunk swept down all of B: for the MLP's first layer
 * that sweep strides 400 bytes through 313 KB, out of L1, and spills eight registers
 * (docs/DESIGN.md, "The GEMM"). The last columns go four, then one, at a time.
 */
function rowTimesB(a: usize, aStride: usize, b: usize, ldb: i32, c: usize, k: i32, n: i32, beta: f32): void {
  const rowBytes = <usize>ldb << 2;
  for (let p0 = 0; p0 < k; p0 += ROW_BLOCK) {
    // The first block sees the caller's beta; later blocks add to what is in c.
    const betaBlock: f32 = p0 == 0 ? beta : 1;
    const aBlock = a + <usize>p0 * aStride;
    const aEnd = a + <usize>min(k, p0 + ROW_BLOCK) * aStride;
    const bBlock = b + <usize>p0 * rowBytes;
    let j = 0;
    for (; j + 24 <= n; j += 24) {
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      let acc4 = f32x4.splat(0);
      let acc5 = f32x4.splat(0);
      let pb = bBlock + (<usize>j << 2);
      for (let pa = aBlock; pa < aEnd; pa += aStride) {
        const va = v128.load32_splat(pa);
        acc0 = madd(va, v128.load(pb), acc0);
        acc1 = madd(va, v128.load(pb, 16), acc1);
        acc2 = madd(va, v128.load(pb, 32), acc2);
        acc3 = madd(va, v128.load(pb, 48), acc3);
        acc4 = madd(va, v128.load(pb, 64), acc4);
        acc5 = madd(va, v128.load(pb, 80), acc5);
        pb += rowBytes;
      }
      const pc = c + (<usize>j << 2);
      if (betaBlock != 0) {
        const vbeta = f32x4.splat(betaBlock);
        acc0 = madd(vbeta, v128.load(pc), acc0);
        acc1 = madd(vbeta, v128.load(pc, 16), acc1);
        acc2 = madd(vbeta, v128.load(pc, 32), acc2);
        acc3 = madd(vbeta, v128.load(pc, 48), acc3);
        acc4 = madd(vbeta, v128.load(pc, 64), acc4);
        acc5 = madd(vbeta, v128.load(pc, 80), acc5);
      }
      v128.store(pc, acc0);
      v128.store(pc, acc1, 16);
      v128.store(pc, acc2, 32);
      v128.store(pc, acc3, 48);
      v128.store(pc, acc4, 64);
      v128.store(pc, acc5, 80);
    }
    for (; j + 4 <= n; j += 4) {
      let acc = f32x4.splat(0);
      let pb = bBlock + (<usize>j << 2);
      for (let pa = aBlock; pa < aEnd; pa += aStride) {
        acc = madd(v128.load32_splat(pa), v128.load(pb), acc);
        pb += rowBytes;
      }
      const pc = c + (<usize>j << 2);
      if (betaBlock != 0) acc = madd(f32x4.splat(betaBlock), v128.load(pc), acc);
      v128.store(pc, acc);
    }
    for (; j < n; j++) {
      let sum: f32 = 0;
      let pb = bBlock + (<usize>j << 2);
      for (let pa = aBlock; pa < aEnd; pa += aStride) {
        sum += load<f32>(pa) * load<f32>(pb);
        pb += rowBytes;
      }
      const pc = c + (<usize>j << 2);
      store<f32>(pc, betaBlock == 0 ? sum : sum + betaBlock * load<f32>(pc));
    }
  }
}

/**
 * c[n] = a[k] · Bᵀ + beta · c, B stored [n,k] (row stride ldb): one dot product per column,
 * four depths at a time when a is contiguous.
 */
function rowTimesBt(a: usize, aStride: usize, b: usize, ldb: i32, c: usize, k: i32, n: i32, beta: f32): void {
  const vecEnd = aStride == 4 ? k & ~3 : 0;
  for (let j = 0; j < n; j++) {
    const bRow = b + (<usize>(j * ldb) << 2);
    let vsum = f32x4.splat(0);
    let p = 0;
    for (; p < vecEnd; p += 4) vsum = madd(v128.load(a + (<usize>p << 2)), v128.load(bRow + (<usize>p << 2)), vsum);
    let sum: f32 = f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1) + f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3);
    for (; p < k; p++) sum += load<f32>(a + <usize>p * aStride) * load<f32>(bRow + (<usize>p << 2));
    const pc = c + (<usize>j << 2);
    store<f32>(pc, beta == 0 ? sum : sum + beta * load<f32>(pc));
  }
}

/** C[m,n] *= beta (the k = 0 case). */
function scaleC(c: usize, ldc: i32, m: i32, n: i32, beta: f32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const p = c + (<usize>(i * ldc + j) << 2);
      store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
    }
  }
}

/**
 * Packs op(B)[pc:pc+kc, jc:jc+nc] into panels of NR columns: panel j holds, for each depth p,
 * NR consecutive floats (zero beyond column nc).
 */
function packPanelsB(
  b: usize, ldb: i32, dst: usize,
  pc: i32, jc: i32, kc: i32, nc: i32, transB: i32,
): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const panel = dst + (<usize>(jr * kc) << 2);
    const col0 = jc + jr;
    if (transB == 0) {
      // B stored [k,n]: row pc+p, columns col0..col0+cols are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = b + (<usize>((pc + p) * ldb + col0) << 2);
        const out = panel + (<usize>(p * NR) << 2);
        if (cols == NR) {
          v128.store(out, v128.load(src));
          v128.store(out, v128.load(src, 16), 16);
        } else {
          for (let j = 0; j < NR; j++) {
            store<f32>(out + (<usize>j << 2), j < cols ? load<f32>(src + (<usize>j << 2)) : 0);
          }
        }
      }
    } else if (cols == NR) {
      // B stored [n,k]: op(B)[p, j] = B[j, p]. Four depths of the panel's eight rows of B at a
      // time, transposed in registers (two 4x4 blocks): a scalar copy, as below, is a large share
      // of a convolution's weight-gradient product (docs/DESIGN.md, "Convolution").
      const src = b + (<usize>(col0 * ldb + pc) << 2);
      const rowBytes = <usize>ldb << 2;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const s = src + (<usize>p << 2);
        const out = panel + (<usize>(p * NR) << 2);
        transpose4x4Into(s, rowBytes, out);
        transpose4x4Into(s + 4 * rowBytes, rowBytes, out + 16);
      }
      for (; p < kc; p++) {
        const out = panel + (<usize>(p * NR) << 2);
        for (let j = 0; j < NR; j++) store<f32>(out + (<usize>j << 2), load<f32>(src + <usize>j * rowBytes + (<usize>p << 2)));
      }
    } else {
      // B stored [n,k], the last, partial panel: column j of the panel is a contiguous row of B.
      for (let j = 0; j < NR; j++) {
        const out = panel + (<usize>j << 2);
        if (j < cols) {
          const src = b + (<usize>((col0 + j) * ldb + pc) << 2);
          for (let p = 0; p < kc; p++) {
            store<f32>(out + (<usize>(p * NR) << 2), load<f32>(src + (<usize>p << 2)));
          }
        } else {
          for (let p = 0; p < kc; p++) store<f32>(out + (<usize>(p * NR) << 2), 0);
        }
      }
    }
  }
}

/**
 * Reads four rows of four floats (rows `rowBytes` apart, from `src`) and writes them transposed
 * as four f32x4 one panel row (NR floats) apart from `out`: out[p][j] = src[j][p].
 */
// @ts-ignore: decorator
@inline
function transpose4x4Into(src: usize, rowBytes: usize, out: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + rowBytes);
  const r2 = v128.load(src + 2 * rowBytes);
  const r3 = v128.load(src + 3 * rowBytes);
  const lo01 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const lo23 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const hi01 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const hi23 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
  v128.store(out, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), NR * 4);
  v128.store(out, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), NR * 8);
  v128.store(out, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), NR * 12);
}

/**
 * Packs op(A)[ic:ic+mc, pc:pc+kc] into panels of MR rows, each value broadcast to a whole f32x4:
 * panel i holds, for each depth p, MR consecutive f32x4 (zero beyond row mc).
 */
function packPanelsA(
  a: usize, lda: i32, dst: usize,
  ic: i32, pc: i32, mc: i32, kc: i32, transA: i32,
): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const panel = dst + (<usize>(ir * kc) << 4);
    const row0 = ic + ir;
    if (transA == 0) {
      // A stored [m,k]: four depths of each row at a time, broadcast lane by lane in registers,
      // written in panel order (one load and four sequential stores where a value at a time
      // takes a load and a strided store each); a last, partial panel gets zeros for the rows
      // past mc.
      const rowBytes = <usize>lda << 2;
      const src0 = a + (<usize>(row0 * lda + pc) << 2);
      const zero = f32x4.splat(0);
      let out = panel;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const s = src0 + (<usize>p << 2);
        for (let r = 0; r < rows; r++) {
          const v = v128.load(s + <usize>r * rowBytes);
          const o = out + (<usize>r << 4);
          v128.store(o, v128.shuffle<f32>(v, v, 0, 0, 0, 0));
          v128.store(o, v128.shuffle<f32>(v, v, 1, 1, 1, 1), MR * 16);
          v128.store(o, v128.shuffle<f32>(v, v, 2, 2, 2, 2), MR * 32);
          v128.store(o, v128.shuffle<f32>(v, v, 3, 3, 3, 3), MR * 48);
        }
        for (let r = rows; r < MR; r++) {
          const o = out + (<usize>r << 4);
          v128.store(o, zero);
          v128.store(o, zero, MR * 16);
          v128.store(o, zero, MR * 32);
          v128.store(o, zero, MR * 48);
        }
        out += MR * 64;
      }
      for (; p < kc; p++) {
        for (let r = 0; r < MR; r++) {
          const value = r < rows ? v128.load32_splat(src0 + <usize>r * rowBytes + (<usize>p << 2)) : zero;
          v128.store(out + (<usize>r << 4), value);
        }
        out += MR * 16;
      }
    } else {
      // A stored [k,m]: op(A)[i, p] = A[p, i]; the MR rows at depth p are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = a + (<usize>((pc + p) * lda + row0) << 2);
        const out = panel + (<usize>(p * MR) << 4);
        for (let r = 0; r < MR; r++) {
          v128.store(out + (<usize>r << 4), r < rows ? v128.load32_splat(src + (<usize>r << 2)) : f32x4.splat(0));
        }
      }
    }
  }
}

/**
 * The 5x8 micro-kernel: C[5,8] = panelA[kc,5]ᵀ · panelB[kc,8] + beta · C, panelA's values
 * already broadcast. Ten f32x4 accumulators (vaccRxCCCC: row R, columns CCCC), two of B, one of
 * A and, in the plain build, one product: fourteen of the fifteen xmm registers V8 allocates on
 * x64, so nothing spills. Per depth: seven loads and ten multiply-adds for a few instructions of
 * loop; a 4x8 tile spends relatively more on the loop, a 6x8 tile spills an accumulator in the
 * plain build (docs/DESIGN.md, "The GEMM").
 * Writes only the mr x nr valid corner of the tile (through `tile` scratch when partial).
 */
// Not inlined: as its own function its v128 values get the registers to themselves; inlined into
// the loop nest they share them with the nest's counters and pointers, and some spill.
// Exported from this file (not from the kernels module) for bench/assembly/micro-kernel.ts,
// which measures it alone: the ceiling the GEMM's figures are compared with.
export function micro5x8(
  pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, beta: f32,
  mr: i32, nr: i32, tile: usize,
): void {
  let vacc0x0123 = f32x4.splat(0);
  let vacc0x4567 = f32x4.splat(0);
  let vacc1x0123 = f32x4.splat(0);
  let vacc1x4567 = f32x4.splat(0);
  let vacc2x0123 = f32x4.splat(0);
  let vacc2x4567 = f32x4.splat(0);
  let vacc3x0123 = f32x4.splat(0);
  let vacc3x4567 = f32x4.splat(0);
  let vacc4x0123 = f32x4.splat(0);
  let vacc4x4567 = f32x4.splat(0);
  // Both pointers enter the loop as results of 32-bit adds, so V8 does not zero-extend them at
  // every depth (zero-extended.ts). The loop runs on B's pointer alone (no separate counter): one
  // instruction less per depth.
  pa = zeroExtended(pa, kc);
  pb = zeroExtended(pb, kc);
  const pbEnd = pb + (<usize>kc << 5);
  while (pb < pbEnd) {
    const vb0123 = v128.load(pb);
    const vb4567 = v128.load(pb, 16);
    const va0 = v128.load(pa);
    vacc0x0123 = madd(va0, vb0123, vacc0x0123);
    vacc0x4567 = madd(va0, vb4567, vacc0x4567);
    const va1 = v128.load(pa, 16);
    vacc1x0123 = madd(va1, vb0123, vacc1x0123);
    vacc1x4567 = madd(va1, vb4567, vacc1x4567);
    const va2 = v128.load(pa, 32);
    vacc2x0123 = madd(va2, vb0123, vacc2x0123);
    vacc2x4567 = madd(va2, vb4567, vacc2x4567);
    const va3 = v128.load(pa, 48);
    vacc3x0123 = madd(va3, vb0123, vacc3x0123);
    vacc3x4567 = madd(va3, vb4567, vacc3x4567);
    const va4 = v128.load(pa, 64);
    vacc4x0123 = madd(va4, vb0123, vacc4x0123);
    vacc4x4567 = madd(va4, vb4567, vacc4x4567);
    pa += 80;
    pb += 32;
  }
  const rowBytes = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    const c1 = c + rowBytes;
    const c2 = c1 + rowBytes;
    const c3 = c2 + rowBytes;
    const c4 = c3 + rowBytes;
    if (beta != 0) {
      const vbeta = f32x4.splat(beta);
      vacc0x0123 = madd(vbeta, v128.load(c), vacc0x0123);
      vacc0x4567 = madd(vbeta, v128.load(c, 16), vacc0x4567);
      vacc1x0123 = madd(vbeta, v128.load(c1), vacc1x0123);
      vacc1x4567 = madd(vbeta, v128.load(c1, 16), vacc1x4567);
      vacc2x0123 = madd(vbeta, v128.load(c2), vacc2x0123);
      vacc2x4567 = madd(vbeta, v128.load(c2, 16), vacc2x4567);
      vacc3x0123 = madd(vbeta, v128.load(c3), vacc3x0123);
      vacc3x4567 = madd(vbeta, v128.load(c3, 16), vacc3x4567);
      vacc4x0123 = madd(vbeta, v128.load(c4), vacc4x0123);
      vacc4x4567 = madd(vbeta, v128.load(c4, 16), vacc4x4567);
    }
    v128.store(c, vacc0x0123);
    v128.store(c, vacc0x4567, 16);
    v128.store(c1, vacc1x0123);
    v128.store(c1, vacc1x4567, 16);
    v128.store(c2, vacc2x0123);
    v128.store(c2, vacc2x4567, 16);
    v128.store(c3, vacc3x0123);
    v128.store(c3, vacc3x4567, 16);
    v128.store(c4, vacc4x0123);
    v128.store(c4, vacc4x4567, 16);
    return;
  }
  // Partial tile: spill the accumulators, then write the valid corner element by element.
  v128.store(tile, vacc0x0123);
  v128.store(tile, vacc0x4567, 16);
  v128.store(tile, vacc1x0123, 32);
  v128.store(tile, vacc1x4567, 48);
  v128.store(tile, vacc2x0123, 64);
  v128.store(tile, vacc2x4567, 80);
  v128.store(tile, vacc3x0123, 96);
  v128.store(tile, vacc3x4567, 112);
  v128.store(tile, vacc4x0123, 128);
  v128.store(tile, vacc4x4567, 144);
  for (let r = 0; r < mr; r++) {
    const crow = c + <usize>r * rowBytes;
    const trow = tile + (<usize>(r * NR) << 2);
    for (let j = 0; j < nr; j++) {
      const pc = crow + (<usize>j << 2);
      const acc = load<f32>(trow + (<usize>j << 2));
      store<f32>(pc, beta == 0 ? acc : acc + beta * load<f32>(pc));
    }
  }
}
