// Winograd convolution F(4x4, 3x3) (Lavin & Gray, 2016) for 3x3 stride-1 convolutions: each
// 4x4 block of outputs comes from a 6x6 tile of the (zero-padded) input, tiles four apart:
//
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// so the multiply-adds become 36 matrix products M_i[K, T] = U_i[K, C] · V_i[C, T], one per
// position i of the 6x6 transformed tile: 36·C·K multiply-adds per 16 outputs where F(2x2, 3x3)
// (assembly/winograd.ts) takes 64·C·K and the direct product 144·C·K. The price is precision:
// the transforms' coefficients reach 8 and 1/24, so the floats stray further from the direct
// path's than F(2x2, 3x3)'s do (test/assembly/winograd.test.ts bounds both).
//
//   Bᵀ = [4  0 -5  0  1  0]     G = [ 1/4     0     0 ]     Aᵀ = [1  1  1  1  1  0]
//        [0 -4 -4  1  1  0]         [-1/6  -1/6  -1/6 ]          [0  1 -1  2 -2  0]
//        [0  4 -4 -1  1  0]         [-1/6   1/6  -1/6 ]          [0  1  1  4  4  0]
//        [0 -2 -1  2  1  0]         [1/24  1/12   1/6 ]          [0  1 -1  8 -8  1]
//        [0  2 -1 -2  1  0]         [1/24 -1/12   1/6 ]
//        [0  4  0 -5  0  1]         [  0     0     1  ]
//
// Shapes (one image) as in assembly/winograd.ts with 4 for 2 and 36 for 16: output y [K, OH, OW]
// with OH = H + 2·pad - 2; tilesH = ceil(OH / 4), tilesW = ceil(OW / 4), T = tilesH·tilesW, tile
// t = ty·tilesW + tx covers padded rows 4ty..4ty+5 and columns 4tx..4tx+5. U [36, K, C],
// V [36, C, ldv], M [36, K, ldm], an image's tiles in columns col0..col0+T-1. The transforms take
// four tiles of a row at a time, one per lane, and apply each matrix to rows, then columns, the
// rows' results kept in V in place of the tile's (the output transform, which must not write M,
// keeps them in a scratch of its thread's).

import { relu4 } from "./simd";
import { padImage } from "./winograd";

/**
 * U[i, k, c] = (G · w[k, c] · Gᵀ)[i / 6, i % 6] for filters w [K, C, 3, 3], k from first to end - 1,
 * in float64 rounded once.
 */
export function winograd4Filters(w: usize, K: i32, C: i32, u: usize, first: i32, end: i32): void {
  const plane = <usize>(K * C) << 2;
  for (let k = first; k < end; k++) {
    for (let c = 0; c < C; c++) {
      const g = w + (<usize>((k * C + c) * 9) << 2);
      const out = u + (<usize>(k * C + c) << 2);
      for (let r = 0; r < 6; r++) {
        // Row r of G · g (three columns), then that row times Gᵀ.
        const t0 = gRow(r, <f64>load<f32>(g), <f64>load<f32>(g, 12), <f64>load<f32>(g, 24));
        const t1 = gRow(r, <f64>load<f32>(g, 4), <f64>load<f32>(g, 16), <f64>load<f32>(g, 28));
        const t2 = gRow(r, <f64>load<f32>(g, 8), <f64>load<f32>(g, 20), <f64>load<f32>(g, 32));
        for (let j = 0; j < 6; j++) store<f32>(out + <usize>(r * 6 + j) * plane, <f32>gRow(j, t0, t1, t2));
      }
    }
  }
}

// G's fractions, as float64 products (a division costs several multiplications' time).
export const SIXTH: f64 = 1.0 / 6;
export const TWELFTH: f64 = 1.0 / 12;
export const TWENTY_FOURTH: f64 = 1.0 / 24;

/** Row r of G times the column [x0, x1, x2]. */
function gRow(r: i32, x0: f64, x1: f64, x2: f64): f64 {
  if (r == 0) return x0 * 0.25;
  if (r == 1) return -(x0 + x1 + x2) * SIXTH;
  if (r == 2) return -(x0 - x1 + x2) * SIXTH;
  if (r == 3) return x0 * TWENTY_FOURTH + x1 * TWELFTH + x2 * SIXTH;
  if (r == 4) return x0 * TWENTY_FOURTH - x1 * TWELFTH + x2 * SIXTH;
  return x2;
}

/** Rows and columns of the padded copy winograd4Input makes: a group of four tiles reads 20 floats. */
export function padded4Rows(tilesH: i32): i32 {
  return 4 * tilesH + 2;
}

export function padded4Cols(tilesW: i32): i32 {
  return 16 * ((tilesW + 3) >> 2) + 4;
}

/** Bytes of the scratch winograd4Input needs for images of C channels and this many tiles. */
export function winograd4PadBytes(C: i32, tilesH: i32, tilesW: i32): usize {
  return <usize>(C * padded4Rows(tilesH) * padded4Cols(tilesW)) << 2;
}

/**
 * V[i, c, col0 + t] = (Bᵀ d B)[i / 6, i % 6] for the 6x6 tile d of channel c at tile t of x
 * [C, H, W] zero-padded by `pad`. `padded` is scratch of winograd4PadBytes(C, tilesH, tilesW)
 * bytes. Every row of V is written in whole f32x4 from col0 on, up to three floats past col0 + T:
 * V's rows need that slack (ldv >= col0 + T + 3), and an image's overflow lands on columns that
 * the next image, written after it, overwrites.
 */
export function winograd4Input(
  x: usize, C: i32, H: i32, W: i32, pad: i32, tilesH: i32, tilesW: i32,
  padded: usize, v: usize, ldv: i32, col0: i32,
): void {
  const PH = padded4Rows(tilesH);
  const PW = padded4Cols(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(PH * PW) << 2;
  padImage(x, C, H, W, pad, PH, PW, padded);
  const matrixBytes = <usize>(C * ldv) << 2; // one V_i
  for (let c = 0; c < C; c++) {
    const plane = padded + <usize>c * planeBytes;
    let out = v + (<usize>(c * ldv + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(4 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        const p = top + (<usize>(4 * tx) << 2);
        // Row r of d (lane l: tile tx + l, padded columns 4(tx + l)..+5) times B, into V_{6r + j}.
        for (let r = 0; r < 6; r++) tileRowTimesB(p + <usize>r * rowBytes, out + <usize>(6 * r) * matrixBytes, matrixBytes);
        // Bᵀ times each column j of that: V_{6i + j} from V_{6r + j}.
        for (let j = 0; j < 6; j++) {
          const q = out + <usize>j * matrixBytes;
          const step = matrixBytes * 6;
          applyBT(
            q,
            step,
            v128.load(q),
            v128.load(q + step),
            v128.load(q + 2 * step),
            v128.load(q + 3 * step),
            v128.load(q + 4 * step),
            v128.load(q + 5 * step),
          );
        }
        out += 16;
      }
      // Back to the start of the next tile row (the last group may have run past tilesW).
      out -= <usize>(((tilesW + 3) >> 2) * 16);
      out += <usize>tilesW << 2;
    }
  }
}

/**
 * One row of four tiles' d (lane l: the six floats from p + 16l) times B, stored at
 * out + j·stride for j < 6. The 20 floats from p, as four rows of a 4x4 transpose (columns 0-3 of
 * each tile) and columns 4 and 5 (the next tile's first two).
 */
// @ts-ignore: decorator
@inline
function tileRowTimesB(p: usize, out: usize, stride: usize): void {
  const a = v128.load(p);
  const b = v128.load(p, 16);
  const c = v128.load(p, 32);
  const e = v128.load(p, 48);
  const f = v128.load(p, 64);
  const abLo = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const abHi = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const ceLo = v128.shuffle<f32>(c, e, 0, 4, 1, 5);
  const ceHi = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
  const bc = v128.shuffle<f32>(b, c, 0, 4, 1, 5);
  const ef = v128.shuffle<f32>(e, f, 0, 4, 1, 5);
  applyBT(
    out,
    stride,
    v128.shuffle<f32>(abLo, ceLo, 0, 1, 4, 5),
    v128.shuffle<f32>(abLo, ceLo, 2, 3, 6, 7),
    v128.shuffle<f32>(abHi, ceHi, 0, 1, 4, 5),
    v128.shuffle<f32>(abHi, ceHi, 2, 3, 6, 7),
    v128.shuffle<f32>(bc, ef, 0, 1, 4, 5),
    v128.shuffle<f32>(bc, ef, 2, 3, 6, 7),
  );
}

/** Bᵀ · [d0..d5], its six rows stored at out + i·stride. */
// @ts-ignore: decorator
@inline
function applyBT(out: usize, stride: usize, d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128): void {
  const four = f32x4.splat(4);
  const five = f32x4.splat(5);
  const t1 = f32x4.sub(d4, f32x4.mul(four, d2));
  const t2 = f32x4.sub(d3, f32x4.mul(four, d1));
  const t3 = f32x4.sub(d4, d2);
  const t4 = f32x4.mul(f32x4.splat(2), f32x4.sub(d3, d1));
  v128.store(out, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4));
  v128.store(out + stride, f32x4.add(t1, t2));
  v128.store(out + 2 * stride, f32x4.sub(t1, t2));
  v128.store(out + 3 * stride, f32x4.add(t3, t4));
  v128.store(out + 4 * stride, f32x4.sub(t3, t4));
  v128.store(out + 5 * stride, f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5));
}

/** Aᵀ · [m0..m5], its four rows stored at out + a·stride. */
// @ts-ignore: decorator
@inline
function applyAT(out: usize, stride: usize, m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128): void {
  const s12 = f32x4.add(m1, m2);
  const d12 = f32x4.sub(m1, m2);
  const s34 = f32x4.add(m3, m4);
  const d34 = f32x4.sub(m3, m4);
  v128.store(out, f32x4.add(f32x4.add(m0, s12), s34));
  v128.store(out + stride, f32x4.add(d12, f32x4.mul(f32x4.splat(2), d34)));
  v128.store(out + 2 * stride, f32x4.add(s12, f32x4.mul(f32x4.splat(4), s34)));
  v128.store(out + 3 * stride, f32x4.add(f32x4.add(d12, f32x4.mul(f32x4.splat(8), d34)), m5));
}

/** Bytes of winograd4Output's scratch: a tile group's m A [6, 4] and Aᵀ m A [4, 4], a vector each. */
export function winograd4OutputScratchBytes(): usize {
  return 40 * 16;
}

/**
 * y[k, 4ty + a, 4tx + b] = (Aᵀ m A)[a, b] + bias[k] (then max(·, 0) when relu is 1), where m is
 * the 6x6 tile M[0..35, k, col0 + t] of tile t = ty·tilesW + tx, for K filters (M's rows from
 * `m`, y [K, OH, OW], bias [K]): outputs past OH or OW (tiles overhanging the output) are not
 * written. `scratch` is winograd4OutputScratchBytes() of one thread's: M itself is not written, as the
 * columns past a tile row's last tile belong to the next row. Reads up to three columns past
 * col0 + T (ldm must leave them; their values are unused).
 */
export function winograd4Output(
  m: usize, ldm: i32, col0: i32, K: i32, tilesH: i32, tilesW: i32,
  bias: usize, relu: i32, y: usize, OH: i32, OW: i32, scratch: usize,
): void {
  const matrixBytes = <usize>(K * ldm) << 2; // one M_i
  const rowBytes = <usize>OW << 2;
  const tileRows = scratch + 24 * 16; // Aᵀ m A, row a at 4a
  for (let k = 0; k < K; k++) {
    const vb = v128.load32_splat(bias + (<usize>k << 2));
    const plane = y + (<usize>(k * OH * OW) << 2);
    let src = m + (<usize>(k * ldm + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const rows = min(4, OH - 4 * ty);
      for (let tx = 0; tx < tilesW; tx += 4) {
        // m A: row r of m (M_{6r + j}, j < 6) into scratch[4r + b], b < 4.
        for (let r = 0; r < 6; r++) {
          const q = src + <usize>(6 * r) * matrixBytes;
          applyAT(
            scratch + <usize>(64 * r),
            16,
            v128.load(q),
            v128.load(q + matrixBytes),
            v128.load(q + 2 * matrixBytes),
            v128.load(q + 3 * matrixBytes),
            v128.load(q + 4 * matrixBytes),
            v128.load(q + 5 * matrixBytes),
          );
        }
        // Aᵀ (m A): column b into tileRows[4a + b].
        for (let b = 0; b < 4; b++) {
          const q = scratch + <usize>(16 * b);
          applyAT(
            tileRows + <usize>(16 * b),
            64,
            v128.load(q),
            v128.load(q, 64),
            v128.load(q, 128),
            v128.load(q, 192),
            v128.load(q, 256),
            v128.load(q, 320),
          );
        }
        const tiles = min(4, tilesW - tx);
        const cols = OW - 4 * tx;
        let row = plane + (<usize>(4 * ty * OW + 4 * tx) << 2);
        for (let a = 0; a < rows; a++) {
          const q = tileRows + <usize>(64 * a);
          let y0 = f32x4.add(v128.load(q), vb);
          let y1 = f32x4.add(v128.load(q, 16), vb);
          let y2 = f32x4.add(v128.load(q, 32), vb);
          let y3 = f32x4.add(v128.load(q, 48), vb);
          if (relu) {
            y0 = relu4(y0);
            y1 = relu4(y1);
            y2 = relu4(y2);
            y3 = relu4(y3);
          }
          // Lane l of y_b is output column 4l + b: the transpose gives each tile its four.
          const lo01 = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5);
          const hi01 = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7);
          const lo23 = v128.shuffle<f32>(y2, y3, 0, 4, 1, 5);
          const hi23 = v128.shuffle<f32>(y2, y3, 2, 6, 3, 7);
          storeTile(row, cols, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
          if (tiles > 1) storeTile(row + 16, cols - 4, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7));
          if (tiles > 2) storeTile(row + 32, cols - 8, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5));
          if (tiles > 3) storeTile(row + 48, cols - 12, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7));
          row += rowBytes;
        }
        src += 16;
      }
      src -= <usize>(((tilesW + 3) >> 2) * 16);
      src += <usize>tilesW << 2;
    }
  }
}

/** The first min(n, 4) floats of v at p (n >= 1). */
// @ts-ignore: decorator
@inline
function storeTile(p: usize, n: i32, v: v128): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}
