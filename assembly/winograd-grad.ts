// The backward passes of Winograd's F(2x2, 3x3) (assembly/winograd.ts holds the forward one),
// for training. The forward pass of one tile, for filter k and channel c:
//
//   U = G g Gᵀ [4x4],   V = Bᵀ d B [4x4],   M_k = Σ_c U_kc ⊙ V_c [4x4],   Y_k = Aᵀ M_k A [2x2]
//
// Each step is linear, so its gradient is its transpose applied to the gradient of its output:
//
//   dM_k = A dY_k Aᵀ               (2x2 -> 4x4; winogradGradOutput)
//   dV_c = Σ_k U_kc ⊙ dM_k         (per position ξ of the 4x4 tile, dV_ξ[C, T] = U_ξᵀ[C, K] · dM_ξ[K, T]: the GEMM)
//   dU_kc = Σ_tiles dM_k ⊙ V_c     (per ξ, dU_ξ[K, C] = dM_ξ[K, T] · V_ξ[C, T]ᵀ: the GEMM)
//   dd_c = B dV_c Bᵀ               (4x4 -> 4x4, added onto the input where the tile lies, the
//                                   tiles overlapping by two rows and columns; winogradGradInput)
//   dg_kc = Gᵀ dU_kc G             (4x4 -> 3x3; winogradFilterGrad)
//
// with the transposes of the forward matrices:
//
//   A = [1  0]     B = [ 1  0  0  0]     Gᵀ = [1  1/2  1/2  0]
//       [1  1]         [ 0  1 -1  1]          [0  1/2 -1/2  0]
//       [1 -1]         [-1  1  1  0]          [0  1/2  1/2  1]
//       [0 -1]         [ 0  0  0 -1]
//
// Shapes (one image) as in assembly/winograd.ts: dy [K, OH, OW], dx [C, H, W], tile
// t = ty·tilesW + tx at output rows 2ty, 2ty+1 and padded input rows 2ty..2ty+3 (columns likewise);
// dM [16, K, ldm] and dV [16, C, ldv] hold an image's tiles as columns col0..col0+T-1; dU [16, K, C]
// like U. Tiles overhanging an odd output side have dY = 0 there (those outputs do not exist).
// The tile transforms take four tiles of a tile row at a time, one per lane.

import { copyFloats } from "./simd";
import { cropPlane, paddedCols, paddedRows } from "./winograd";

/** Floats in a row of the dy copy winogradGradOutput reads: four tiles a vector, two columns each. */
function gradRowFloats(tilesW: i32): i32 {
  return 8 * ((tilesW + 3) >> 2);
}

// The plane winogradGradInput adds tiles into has the rows and columns of winogradInput's padded
// copy of one channel (paddedRows, paddedCols).

/** Bytes of the scratch winogradGradOutput and winogradGradInput need (one plane of either). */
export function winogradGradPlaneBytes(tilesH: i32, tilesW: i32): usize {
  return <usize>(paddedRows(tilesH) * paddedCols(tilesW)) << 2;
}

/**
 * dM[i, k, col0 + t] = (A · dY · Aᵀ)[i / 4, i % 4] for the 2x2 block dY of dy [K, OH, OW] at tile
 * t (zeros past OH or OW). `plane` is scratch of winogradGradPlaneBytes(tilesH, tilesW) bytes.
 * Every row of dM is written in whole f32x4 from col0 on, up to three floats past col0 + T (as
 * winogradInput writes V): ldm >= col0 + T + 3.
 */
export function winogradGradOutput(
  dy: usize, K: i32, OH: i32, OW: i32, tilesH: i32, tilesW: i32,
  plane: usize, dm: usize, ldm: i32, col0: i32,
): void {
  const PW = gradRowFloats(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(2 * tilesH * PW) << 2;
  const matrixBytes = <usize>(K * ldm) << 2; // one dM_i
  // Beyond OH x OW the copy stays zero: the fill is made once, the copies overwrite the rest.
  memory.fill(plane, 0, planeBytes);
  for (let k = 0; k < K; k++) {
    const src = dy + (<usize>(k * OH * OW) << 2);
    for (let y = 0; y < OH; y++) copyFloats(plane + <usize>y * rowBytes, src + (<usize>(y * OW) << 2), OW);
    let out = dm + (<usize>(k * ldm + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(2 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        // a b / c d: the tile's dY, lane l for tile tx + l (output columns 2(tx + l), +1).
        const p = top + (<usize>(2 * tx) << 2);
        let lo = v128.load(p);
        let hi = v128.load(p, 16);
        const a = v128.shuffle<f32>(lo, hi, 0, 2, 4, 6);
        const b = v128.shuffle<f32>(lo, hi, 1, 3, 5, 7);
        lo = v128.load(p + rowBytes);
        hi = v128.load(p + rowBytes, 16);
        const c = v128.shuffle<f32>(lo, hi, 0, 2, 4, 6);
        const d = v128.shuffle<f32>(lo, hi, 1, 3, 5, 7);
        // A · dY: rows [a, b], [a + c, b + d], [a - c, b - d], [-c, -d]; each row [p, q] times Aᵀ
        // is [p, p + q, p - q, -q].
        storeGradRow(out, matrixBytes, 0, a, b);
        storeGradRow(out, matrixBytes, 4, f32x4.add(a, c), f32x4.add(b, d));
        storeGradRow(out, matrixBytes, 8, f32x4.sub(a, c), f32x4.sub(b, d));
        storeGradRow(out, matrixBytes, 12, f32x4.neg(c), f32x4.neg(d));
        out += 16;
      }
      out -= <usize>(((tilesW + 3) >> 2) * 16);
      out += <usize>tilesW << 2;
    }
  }
}

/** dM_{first + j} at `out` for j = 0..3: the row [p, q] of A · dY times Aᵀ. */
// @ts-ignore: decorator
@inline
function storeGradRow(out: usize, matrixBytes: usize, first: i32, p: v128, q: v128): void {
  const base = out + <usize>first * matrixBytes;
  v128.store(base, p);
  v128.store(base + matrixBytes, f32x4.add(p, q));
  v128.store(base + 2 * matrixBytes, f32x4.sub(p, q));
  v128.store(base + 3 * matrixBytes, f32x4.neg(q));
}

/**
 * dx [C, H, W] = the sum over tiles t of B · dV_t · Bᵀ (dV_t the 4x4 tile dV[0..15, c, col0 + t])
 * placed at padded rows 2ty..2ty+3 and columns 2tx..2tx+3, the padding cropped: dx is written, not
 * added to. `plane` is scratch of winogradGradPlaneBytes(tilesH, tilesW) bytes. Reads up to three
 * columns of dV past col0 + T (ldv must leave them; their values are not used).
 */
export function winogradGradInput(
  dv: usize, ldv: i32, col0: i32, C: i32, tilesH: i32, tilesW: i32, pad: i32, H: i32, W: i32,
  plane: usize, dx: usize,
): void {
  const PW = paddedCols(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(paddedRows(tilesH) * PW) << 2;
  const matrixBytes = <usize>(C * ldv) << 2; // one dV_i
  const lanes = i32x4(0, 1, 2, 3);
  for (let c = 0; c < C; c++) {
    memory.fill(plane, 0, planeBytes);
    let src = dv + (<usize>(c * ldv + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(2 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        // Lanes past the tile row's last tile hold other columns: they add nothing.
        const mask = i32x4.lt_s(lanes, i32x4.splat(tilesW - tx));
        // B · dV: rows z0 = x0, z1 = x1 - x2 + x3, z2 = x1 + x2 - x0, z3 = -x3 (x_r row r of dV).
        const x00 = v128.and(v128.load(src), mask);
        const x01 = v128.and(v128.load(src + matrixBytes), mask);
        const x02 = v128.and(v128.load(src + 2 * matrixBytes), mask);
        const x03 = v128.and(v128.load(src + 3 * matrixBytes), mask);
        const x10 = v128.and(v128.load(src + 4 * matrixBytes), mask);
        const x11 = v128.and(v128.load(src + 5 * matrixBytes), mask);
        const x12 = v128.and(v128.load(src + 6 * matrixBytes), mask);
        const x13 = v128.and(v128.load(src + 7 * matrixBytes), mask);
        const x20 = v128.and(v128.load(src + 8 * matrixBytes), mask);
        const x21 = v128.and(v128.load(src + 9 * matrixBytes), mask);
        const x22 = v128.and(v128.load(src + 10 * matrixBytes), mask);
        const x23 = v128.and(v128.load(src + 11 * matrixBytes), mask);
        const x30 = v128.and(v128.load(src + 12 * matrixBytes), mask);
        const x31 = v128.and(v128.load(src + 13 * matrixBytes), mask);
        const x32 = v128.and(v128.load(src + 14 * matrixBytes), mask);
        const x33 = v128.and(v128.load(src + 15 * matrixBytes), mask);
        const p = top + (<usize>(2 * tx) << 2);
        addTileRow(p, x00, x01, x02, x03);
        addTileRow(
          p + rowBytes,
          f32x4.add(f32x4.sub(x10, x20), x30),
          f32x4.add(f32x4.sub(x11, x21), x31),
          f32x4.add(f32x4.sub(x12, x22), x32),
          f32x4.add(f32x4.sub(x13, x23), x33),
        );
        addTileRow(
          p + 2 * rowBytes,
          f32x4.sub(f32x4.add(x10, x20), x00),
          f32x4.sub(f32x4.add(x11, x21), x01),
          f32x4.sub(f32x4.add(x12, x22), x02),
          f32x4.sub(f32x4.add(x13, x23), x03),
        );
        addTileRow(p + 3 * rowBytes, f32x4.neg(x30), f32x4.neg(x31), f32x4.neg(x32), f32x4.neg(x33));
        src += 16;
      }
      src -= <usize>(((tilesW + 3) >> 2) * 16);
      src += <usize>tilesW << 2;
    }
    // The image is the plane without its padding.
    cropPlane(plane, PW, pad, H, W, dx + (<usize>(c * H * W) << 2));
  }
}

/**
 * Adds the row z = [z0, z1, z2, z3] of B · dV times Bᵀ, [z0, z1 - z2 + z3, z1 + z2 - z0, -z3],
 * of four tiles (lane l: tile tx + l, whose columns start 2l floats after `p`) into the plane:
 * columns 0 and 1 of tile l overlap columns 2 and 3 of tile l - 1, so the even columns get
 * o0 of their tile and o2 of the one before, the odd ones o1 and o3; the last tile's o2, o3 spill
 * into the two floats after the eight.
 */
// @ts-ignore: decorator
@inline
function addTileRow(p: usize, z0: v128, z1: v128, z2: v128, z3: v128): void {
  const o0 = z0;
  const o1 = f32x4.add(f32x4.sub(z1, z2), z3);
  const o2 = f32x4.sub(f32x4.add(z1, z2), z0);
  const o3 = f32x4.neg(z3);
  const zero = f32x4.splat(0);
  const even = f32x4.add(o0, v128.shuffle<f32>(zero, o2, 3, 4, 5, 6));
  const odd = f32x4.add(o1, v128.shuffle<f32>(zero, o3, 3, 4, 5, 6));
  v128.store(p, f32x4.add(v128.load(p), v128.shuffle<f32>(even, odd, 0, 4, 1, 5)));
  v128.store(p, f32x4.add(v128.load(p, 16), v128.shuffle<f32>(even, odd, 2, 6, 3, 7)), 16);
  store<f32>(p, load<f32>(p, 32) + f32x4.extract_lane(o2, 3), 32);
  store<f32>(p, load<f32>(p, 36) + f32x4.extract_lane(o3, 3), 36);
}

/**
 * dw[k, c] = Gᵀ · dU[·, k, c] · G [3x3] for dU [16, K, C] (position-major, as winogradFilters
 * writes U) into dw [K, C, 3, 3] (written, not added to) for k from first to end - 1; four channels
 * a vector.
 */
export function winogradFilterGrad(du: usize, K: i32, C: i32, dw: usize, first: i32, end: i32): void {
  const plane = <usize>(K * C) << 2;
  const half = f32x4.splat(0.5);
  for (let k = first; k < end; k++) {
    for (let c = 0; c < C; c += 4) {
      const lanes = min(4, C - c);
      const at = du + (<usize>(k * C + c) << 2);
      const out = dw + (<usize>((k * C + c) * 9) << 2);
      for (let r = 0; r < 3; r++) {
        // Row r of Gᵀ · dU, [z0, z1, z2, z3], times G: [z0 + (z1 + z2)/2, (z1 - z2)/2, (z1 + z2)/2 + z3].
        const z0 = transposedRow(at, plane, 0, r, lanes);
        const z1 = transposedRow(at, plane, 1, r, lanes);
        const z2 = transposedRow(at, plane, 2, r, lanes);
        const z3 = transposedRow(at, plane, 3, r, lanes);
        const s = f32x4.mul(f32x4.add(z1, z2), half);
        storeLanes(out + (<usize>(r * 3) << 2), f32x4.add(z0, s), lanes);
        storeLanes(out + (<usize>(r * 3 + 1) << 2), f32x4.mul(f32x4.sub(z1, z2), half), lanes);
        storeLanes(out + (<usize>(r * 3 + 2) << 2), f32x4.add(s, z3), lanes);
      }
    }
  }
}

/**
 * (Gᵀ · dU)[r, j] of `lanes` consecutive channels (the rest 0), from x_i = dU[4i + j] at `at`:
 * row 0 is x0 + (x1 + x2)/2, row 1 (x1 - x2)/2, row 2 (x1 + x2)/2 + x3.
 */
function transposedRow(at: usize, plane: usize, j: i32, r: i32, lanes: i32): v128 {
  const half = f32x4.splat(0.5);
  const x1 = loadLanes(at + <usize>(4 + j) * plane, lanes);
  const x2 = loadLanes(at + <usize>(8 + j) * plane, lanes);
  if (r == 1) return f32x4.mul(f32x4.sub(x1, x2), half);
  const s = f32x4.mul(f32x4.add(x1, x2), half);
  return r == 0 ? f32x4.add(loadLanes(at + <usize>j * plane, lanes), s) : f32x4.add(s, loadLanes(at + <usize>(12 + j) * plane, lanes));
}

/** The `lanes` floats at p (1 to 4), zeros after them: nothing past them is read. */
function loadLanes(p: usize, lanes: i32): v128 {
  if (lanes == 4) return v128.load(p);
  return f32x4(
    load<f32>(p),
    lanes > 1 ? load<f32>(p, 4) : 0,
    lanes > 2 ? load<f32>(p, 8) : 0,
    0,
  );
}

/** Lane l of v at p + 36·l (one value of each of `lanes` consecutive 3x3 filters). */
function storeLanes(p: usize, v: v128, lanes: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 36);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 72);
  if (lanes > 3) store<f32>(p, f32x4.extract_lane(v, 3), 108);
}
