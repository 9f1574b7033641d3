// The backward passes of Winograd's F(4x4, 3x3) (assembly/winograd4.ts holds the forward one),
// for training: the steps of assembly/winograd-grad.ts with 6x6 tiles four apart,
//
//   dM_k = A dY_k Aᵀ     (4x4 -> 6x6; winograd4GradOutput)
//   dd_c = B dV_c Bᵀ     (6x6 -> 6x6, added onto the input where the tile lies, the tiles
//                         overlapping by two rows and columns; winograd4GradInput)
//   dg_kc = Gᵀ dU_kc G   (6x6 -> 3x3; winograd4FilterGrad)
//
// between the same GEMMs over 36 positions, with the transposes of the forward matrices:
//
//   A = [1  0  0  0]     B = [ 4  0  0  0  0  0]     Gᵀ = [1/4 -1/6 -1/6 1/24  1/24  0]
//       [1  1  1  1]         [ 0 -4  4 -2  2  4]          [ 0  -1/6  1/6 1/12 -1/12  0]
//       [1 -1  1 -1]         [-5 -4 -4 -1 -1  0]          [ 0  -1/6 -1/6  1/6   1/6  1]
//       [1  2  4  8]         [ 0  1 -1  2 -2 -5]
//       [1 -2  4 -8]         [ 1  1  1  1  1  0]
//       [0  0  0  1]         [ 0  0  0  0  0  1]
//
// Shapes (one image) as in assembly/winograd4.ts: dy [K, OH, OW], dx [C, H, W], tile
// t = ty·tilesW + tx at output rows 4ty..4ty+3 and padded input rows 4ty..4ty+5 (columns
// likewise); dM [36, K, ldm] and dV [36, C, ldv] hold an image's tiles as columns col0..col0+T-1;
// dU [36, K, C] like U. Tiles overhanging the output have dY = 0 there. The tile transforms take
// four tiles of a tile row at a time, one per lane.

import { copyFloats } from "./simd";
import { cropPlane } from "./winograd";
import { padded4Cols, padded4Rows, SIXTH, TWELFTH, TWENTY_FOURTH } from "./winograd4";

/** Floats in a row of the dy copy winograd4GradOutput reads: four tiles a group, four columns each. */
function gradRowFloats(tilesW: i32): i32 {
  return 16 * ((tilesW + 3) >> 2);
}

/** Bytes of winograd4GradInput's tile scratch: a tile group's B dV Bᵀ, 6x6 vectors. */
const TILE_SCRATCH_BYTES: usize = 36 * 16;

/**
 * Bytes of the scratch winograd4GradOutput and winograd4GradInput need (one plane of either: the
 * latter's, a channel of winograd4Input's padded copy, is the larger, and its tile scratch after
 * it).
 */
export function winograd4GradPlaneBytes(tilesH: i32, tilesW: i32): usize {
  return (<usize>(padded4Rows(tilesH) * padded4Cols(tilesW)) << 2) + TILE_SCRATCH_BYTES;
}

/**
 * dM[i, k, col0 + t] = (A · dY · Aᵀ)[i / 6, i % 6] for the 4x4 block dY of dy [K, OH, OW] at tile
 * t (zeros past OH or OW). `plane` is scratch of winograd4GradPlaneBytes(tilesH, tilesW) bytes.
 * Every row of dM is written in whole f32x4 from col0 on, up to three floats past col0 + T:
 * ldm >= col0 + T + 3.
 */
export function winograd4GradOutput(
  dy: usize, K: i32, OH: i32, OW: i32, tilesH: i32, tilesW: i32,
  plane: usize, dm: usize, ldm: i32, col0: i32,
): void {
  const PW = gradRowFloats(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(4 * tilesH * PW) << 2;
  const matrixBytes = <usize>(K * ldm) << 2; // one dM_i
  const step = matrixBytes * 6;
  // Beyond OH x OW the copy stays zero: the fill is made once, the copies overwrite the rest.
  memory.fill(plane, 0, planeBytes);
  for (let k = 0; k < K; k++) {
    const src = dy + (<usize>(k * OH * OW) << 2);
    for (let y = 0; y < OH; y++) copyFloats(plane + <usize>y * rowBytes, src + (<usize>(y * OW) << 2), OW);
    let out = dm + (<usize>(k * ldm + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(4 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        const p = top + (<usize>(4 * tx) << 2);
        // Row r of dY (lane l: tile tx + l, its four floats from 16l) times Aᵀ, into dM_{6r + j}.
        for (let r = 0; r < 4; r++) {
          const q = p + <usize>r * rowBytes;
          const a = v128.load(q);
          const b = v128.load(q, 16);
          const c = v128.load(q, 32);
          const e = v128.load(q, 48);
          const abLo = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
          const abHi = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
          const ceLo = v128.shuffle<f32>(c, e, 0, 4, 1, 5);
          const ceHi = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
          applyA(
            out + <usize>(6 * r) * matrixBytes,
            matrixBytes,
            v128.shuffle<f32>(abLo, ceLo, 0, 1, 4, 5),
            v128.shuffle<f32>(abLo, ceLo, 2, 3, 6, 7),
            v128.shuffle<f32>(abHi, ceHi, 0, 1, 4, 5),
            v128.shuffle<f32>(abHi, ceHi, 2, 3, 6, 7),
          );
        }
        // A times each column j of that: dM_{6i + j} from dM_{6r + j}, r < 4.
        for (let j = 0; j < 6; j++) {
          const q = out + <usize>j * matrixBytes;
          applyA(q, step, v128.load(q), v128.load(q + step), v128.load(q + 2 * step), v128.load(q + 3 * step));
        }
        out += 16;
      }
      out -= <usize>(((tilesW + 3) >> 2) * 16);
      out += <usize>tilesW << 2;
    }
  }
}

/** A · [y0..y3], its six rows stored at out + i·stride. */
// @ts-ignore: decorator
@inline
function applyA(out: usize, stride: usize, y0: v128, y1: v128, y2: v128, y3: v128): void {
  const s02 = f32x4.add(y0, y2);
  const s13 = f32x4.add(y1, y3);
  const q = f32x4.add(y0, f32x4.mul(f32x4.splat(4), y2));
  const w = f32x4.add(f32x4.mul(f32x4.splat(2), y1), f32x4.mul(f32x4.splat(8), y3));
  v128.store(out, y0);
  v128.store(out + stride, f32x4.add(s02, s13));
  v128.store(out + 2 * stride, f32x4.sub(s02, s13));
  v128.store(out + 3 * stride, f32x4.add(q, w));
  v128.store(out + 4 * stride, f32x4.sub(q, w));
  v128.store(out + 5 * stride, y3);
}

/**
 * dx [C, H, W] = the sum over tiles t of B · dV_t · Bᵀ (dV_t the 6x6 tile dV[0..35, c, col0 + t])
 * placed at padded rows 4ty..4ty+5 and columns 4tx..4tx+5, the padding cropped: dx is written, not
 * added to. `plane` is scratch of winograd4GradPlaneBytes(tilesH, tilesW) bytes: the padded plane,
 * then the tiles' transforms (dV itself is not written, as the columns past a tile row's last
 * tile belong to the next row). Reads up to three columns of dV past col0 + T (ldv must leave
 * them; their values are not used).
 */
export function winograd4GradInput(
  dv: usize, ldv: i32, col0: i32, C: i32, tilesH: i32, tilesW: i32, pad: i32, H: i32, W: i32,
  plane: usize, dx: usize,
): void {
  const PW = padded4Cols(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(padded4Rows(tilesH) * PW) << 2;
  const tile = plane + planeBytes; // B dV Bᵀ of a tile group, row i at 6i
  const matrixBytes = <usize>(C * ldv) << 2; // one dV_i
  const lanes = i32x4(0, 1, 2, 3);
  for (let c = 0; c < C; c++) {
    memory.fill(plane, 0, planeBytes);
    let src = dv + (<usize>(c * ldv + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(4 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        // Lanes past the tile row's last tile hold other columns: they add nothing.
        const mask = i32x4.lt_s(lanes, i32x4.splat(tilesW - tx));
        // dV Bᵀ: row r of dV (dV_{6r + j}) times Bᵀ, into tile[6r + j'].
        for (let r = 0; r < 6; r++) {
          const q = src + <usize>(6 * r) * matrixBytes;
          applyB(
            tile + <usize>(96 * r),
            16,
            v128.and(v128.load(q), mask),
            v128.and(v128.load(q + matrixBytes), mask),
            v128.and(v128.load(q + 2 * matrixBytes), mask),
            v128.and(v128.load(q + 3 * matrixBytes), mask),
            v128.and(v128.load(q + 4 * matrixBytes), mask),
            v128.and(v128.load(q + 5 * matrixBytes), mask),
          );
        }
        // B (dV Bᵀ): each column j, in place.
        for (let j = 0; j < 6; j++) {
          const q = tile + <usize>(16 * j);
          applyB(
            q,
            96,
            v128.load(q),
            v128.load(q, 96),
            v128.load(q, 192),
            v128.load(q, 288),
            v128.load(q, 384),
            v128.load(q, 480),
          );
        }
        const p = top + (<usize>(4 * tx) << 2);
        for (let i = 0; i < 6; i++) {
          const q = tile + <usize>(96 * i);
          addTileRow(
            p + <usize>i * rowBytes,
            v128.load(q),
            v128.load(q, 16),
            v128.load(q, 32),
            v128.load(q, 48),
            v128.load(q, 64),
            v128.load(q, 80),
          );
        }
        src += 16;
      }
      src -= <usize>(((tilesW + 3) >> 2) * 16);
      src += <usize>tilesW << 2;
    }
    // The image is the plane without its padding.
    cropPlane(plane, PW, pad, H, W, dx + (<usize>(c * H * W) << 2));
  }
}

/** B · [d0..d5] (B's rows are Bᵀ's columns), its six rows stored at out + i·stride. */
// @ts-ignore: decorator
@inline
function applyB(out: usize, stride: usize, d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128): void {
  const four = f32x4.splat(4);
  const two = f32x4.splat(2);
  const five = f32x4.splat(5);
  v128.store(out, f32x4.mul(four, d0));
  v128.store(out + stride, f32x4.add(f32x4.mul(four, f32x4.add(f32x4.sub(d2, d1), d5)), f32x4.mul(two, f32x4.sub(d4, d3))));
  v128.store(
    out + 2 * stride,
    f32x4.neg(f32x4.add(f32x4.add(f32x4.mul(five, d0), f32x4.mul(four, f32x4.add(d1, d2))), f32x4.add(d3, d4))),
  );
  v128.store(out + 3 * stride, f32x4.sub(f32x4.add(f32x4.sub(d1, d2), f32x4.mul(two, f32x4.sub(d3, d4))), f32x4.mul(five, d5)));
  v128.store(out + 4 * stride, f32x4.add(f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3)), d4));
  v128.store(out + 5 * stride, d5);
}

/**
 * Adds one row [o0..o5] of four tiles (lane l: tile tx + l, whose columns start 4l floats after
 * `p`) into the plane: columns 4 and 5 of tile l overlap columns 0 and 1 of tile l + 1, so each
 * tile's first four go in as one vector, with the two of the tile before added to its first two;
 * the last tile's two spill into the two floats after the sixteen.
 */
// @ts-ignore: decorator
@inline
function addTileRow(p: usize, o0: v128, o1: v128, o2: v128, o3: v128, o4: v128, o5: v128): void {
  const zero = f32x4.splat(0);
  const lo01 = v128.shuffle<f32>(o0, o1, 0, 4, 1, 5);
  const hi01 = v128.shuffle<f32>(o0, o1, 2, 6, 3, 7);
  const lo23 = v128.shuffle<f32>(o2, o3, 0, 4, 1, 5);
  const hi23 = v128.shuffle<f32>(o2, o3, 2, 6, 3, 7);
  const lo45 = v128.shuffle<f32>(o4, o5, 0, 4, 1, 5); // tiles 0 and 1: [o4, o5, o4, o5]
  const hi45 = v128.shuffle<f32>(o4, o5, 2, 6, 3, 7); // tiles 2 and 3
  const t0 = v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5);
  const t1 = f32x4.add(v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), v128.shuffle<f32>(lo45, zero, 0, 1, 4, 5));
  const t2 = f32x4.add(v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), v128.shuffle<f32>(lo45, zero, 2, 3, 4, 5));
  const t3 = f32x4.add(v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), v128.shuffle<f32>(hi45, zero, 0, 1, 4, 5));
  v128.store(p, f32x4.add(v128.load(p), t0));
  v128.store(p, f32x4.add(v128.load(p, 16), t1), 16);
  v128.store(p, f32x4.add(v128.load(p, 32), t2), 32);
  v128.store(p, f32x4.add(v128.load(p, 48), t3), 48);
  store<f32>(p, load<f32>(p, 64) + f32x4.extract_lane(hi45, 2), 64);
  store<f32>(p, load<f32>(p, 68) + f32x4.extract_lane(hi45, 3), 68);
}

/**
 * dw[k, c] = Gᵀ · dU[·, k, c] · G [3x3] for dU [36, K, C] (position-major, as winograd4Filters
 * writes U) into dw [K, C, 3, 3] (written, not added to) for k from first to end - 1, in float64
 * rounded once.
 */
export function winograd4FilterGrad(du: usize, K: i32, C: i32, dw: usize, first: i32, end: i32): void {
  const plane = <usize>(K * C) << 2;
  for (let k = first; k < end; k++) {
    for (let c = 0; c < C; c++) {
      const at = du + (<usize>(k * C + c) << 2);
      const out = dw + (<usize>((k * C + c) * 9) << 2);
      for (let a = 0; a < 3; a++) {
        // h_j = (Gᵀ dU)[a, j], then (h G)[b] = row b of Gᵀ times h.
        const h0 = columnOfGtdU(a, at, plane, 0);
        const h1 = columnOfGtdU(a, at, plane, 1);
        const h2 = columnOfGtdU(a, at, plane, 2);
        const h3 = columnOfGtdU(a, at, plane, 3);
        const h4 = columnOfGtdU(a, at, plane, 4);
        const h5 = columnOfGtdU(a, at, plane, 5);
        for (let b = 0; b < 3; b++) store<f32>(out + (<usize>(a * 3 + b) << 2), <f32>gtRow(b, h0, h1, h2, h3, h4, h5));
      }
    }
  }
}

/** (Gᵀ dU)[a, j] of the dU whose entry (r, j) is at at + (6r + j)·plane. */
function columnOfGtdU(a: i32, at: usize, plane: usize, j: i32): f64 {
  const q = at + <usize>j * plane;
  const step = plane * 6;
  return gtRow(
    a,
    <f64>load<f32>(q),
    <f64>load<f32>(q + step),
    <f64>load<f32>(q + 2 * step),
    <f64>load<f32>(q + 3 * step),
    <f64>load<f32>(q + 4 * step),
    <f64>load<f32>(q + 5 * step),
  );
}

/** Row a of Gᵀ (column a of G) times [u0..u5]. */
function gtRow(a: i32, u0: f64, u1: f64, u2: f64, u3: f64, u4: f64, u5: f64): f64 {
  if (a == 0) return u0 * 0.25 - (u1 + u2) * SIXTH + (u3 + u4) * TWENTY_FOURTH;
  if (a == 1) return (u2 - u1) * SIXTH + (u3 - u4) * TWELFTH;
  return (u3 + u4 - u1 - u2) * SIXTH + u5;
}
