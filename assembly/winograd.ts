// Winograd convolution F(2x2, 3x3) (Lavin & Gray, 2016) for 3x3 stride-1 convolutions: each
// 2x2 block of outputs comes from a 4x4 tile of the (zero-padded) input, tiles two apart:
//
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// so the multiply-adds become 16 matrix products M_i[K, T] = U_i[K, C] · V_i[C, T], one per
// position i of the 4x4 transformed tile (T tiles as columns), made by the GEMM (assembly/gemm.ts):
// 16·C·K multiply-adds per 4 outputs where the direct product takes 36·C·K.
//
//   Bᵀ = [1  0 -1  0]     G = [  1    0    0 ]     Aᵀ = [1  1  1  0]
//        [0  1  1  0]         [ 1/2  1/2  1/2]          [0  1 -1 -1]
//        [0 -1  1  0]         [ 1/2 -1/2  1/2]
//        [0  1  0 -1]         [  0    0    1 ]
//
// Shapes (one image): x [C, H, W]; output y [K, OH, OW] with OH = H + 2·pad - 2 (likewise OW);
// tilesH = ceil(OH / 2), tilesW = ceil(OW / 2), T = tilesH·tilesW, tile t = ty·tilesW + tx covers
// padded rows 2ty..2ty+3 and columns 2tx..2tx+3. U [16, K, C] (U_i = matrix i, row-major);
// V [16, C, ldv] and M [16, K, ldm], an image's tiles in columns col0..col0+T-1: several images
// side by side make one wider product (a 4x4 map has 4 tiles, half an 8-column GEMM tile).
// The transforms take four tiles of a row at a time, one per lane.

import { copyFloats, relu4 } from "./simd";

/** U[i, k, c] = (G · w[k, c] · Gᵀ)[i / 4, i % 4] for filters w [K, C, 3, 3], k from first to end - 1. */
export function winogradFilters(w: usize, K: i32, C: i32, u: usize, first: i32, end: i32): void {
  const plane = <usize>(K * C) << 2;
  for (let k = first; k < end; k++) {
    for (let c = 0; c < C; c++) {
      const g = w + (<usize>((k * C + c) * 9) << 2);
      const out = u + (<usize>(k * C + c) << 2);
      // Row r of t = G · g [4, 3] (rows g0, g1, g2 of g, three columns), then row r of t · Gᵀ.
      for (let r = 0; r < 4; r++) {
        const row = transformedRow(g, r);
        const t0 = f32x4.extract_lane(row, 0);
        const t1 = f32x4.extract_lane(row, 1);
        const t2 = f32x4.extract_lane(row, 2);
        store<f32>(out + <usize>(r * 4) * plane, t0);
        store<f32>(out + <usize>(r * 4 + 1) * plane, (t0 + t1 + t2) * 0.5);
        store<f32>(out + <usize>(r * 4 + 2) * plane, (t0 - t1 + t2) * 0.5);
        store<f32>(out + <usize>(r * 4 + 3) * plane, t2);
      }
    }
  }
}

/** Row r of G · g for a 3x3 filter g (nine floats at `g`), in lanes 0-2. */
// @ts-ignore: decorator
@inline
function transformedRow(g: usize, r: i32): v128 {
  const g0 = f32x4(load<f32>(g), load<f32>(g, 4), load<f32>(g, 8), 0);
  if (r == 0) return g0;
  const g2 = f32x4(load<f32>(g, 24), load<f32>(g, 28), load<f32>(g, 32), 0);
  if (r == 3) return g2;
  const g1 = f32x4(load<f32>(g, 12), load<f32>(g, 16), load<f32>(g, 20), 0);
  const half = f32x4.splat(0.5);
  return r == 1 ? f32x4.mul(f32x4.add(f32x4.add(g0, g1), g2), half) : f32x4.mul(f32x4.add(f32x4.sub(g0, g1), g2), half);
}

/** Rows and columns of the padded copy winogradInput makes: tiles of four lanes read 12 floats. */
export function paddedRows(tilesH: i32): i32 {
  return 2 * tilesH + 2;
}

export function paddedCols(tilesW: i32): i32 {
  return 8 * ((tilesW + 3) >> 2) + 4;
}

/** Bytes of the scratch winogradInput needs for images of C channels and this many tiles. */
export function winogradPadBytes(C: i32, tilesH: i32, tilesW: i32): usize {
  return <usize>(C * paddedRows(tilesH) * paddedCols(tilesW)) << 2;
}

/**
 * V[i, c, col0 + t] = (Bᵀ d B)[i / 4, i % 4] for the 4x4 tile d of channel c at tile t of x
 * [C, H, W] zero-padded by `pad`. `padded` is scratch of winogradPadBytes(C, tilesH, tilesW)
 * bytes. Every row of V is written in whole f32x4 from col0 on, up to three floats past col0 + T:
 * V's rows need that slack (ldv >= col0 + T + 3), and an image's overflow lands on columns that
 * the next image, written after it, overwrites.
 */
export function winogradInput(
  x: usize, C: i32, H: i32, W: i32, pad: i32, tilesH: i32, tilesW: i32,
  padded: usize, v: usize, ldv: i32, col0: i32,
): void {
  const PH = paddedRows(tilesH);
  const PW = paddedCols(tilesW);
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(PH * PW) << 2;
  padImage(x, C, H, W, pad, PH, PW, padded);
  const matrixBytes = <usize>(C * ldv) << 2; // one V_i
  for (let c = 0; c < C; c++) {
    const plane = padded + <usize>c * planeBytes;
    let out = v + (<usize>(c * ldv + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      const top = plane + <usize>(2 * ty) * rowBytes;
      for (let tx = 0; tx < tilesW; tx += 4) {
        // d{r}{j}: lane l holds d[r][j] of tile tx + l, i.e. padded column 2(tx + l) + j.
        const p = top + (<usize>(2 * tx) << 2);
        let a = v128.load(p);
        let b = v128.load(p, 16);
        let e = v128.load(p, 32);
        const d00 = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
        const d01 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
        const d02 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 4, 6, 7), e, 0, 1, 2, 4);
        const d03 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 3, 5, 7, 7), e, 0, 1, 2, 5);
        a = v128.load(p + rowBytes);
        b = v128.load(p + rowBytes, 16);
        e = v128.load(p + rowBytes, 32);
        const d10 = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
        const d11 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
        const d12 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 4, 6, 7), e, 0, 1, 2, 4);
        const d13 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 3, 5, 7, 7), e, 0, 1, 2, 5);
        a = v128.load(p + 2 * rowBytes);
        b = v128.load(p + 2 * rowBytes, 16);
        e = v128.load(p + 2 * rowBytes, 32);
        const d20 = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
        const d21 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
        const d22 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 4, 6, 7), e, 0, 1, 2, 4);
        const d23 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 3, 5, 7, 7), e, 0, 1, 2, 5);
        a = v128.load(p + 3 * rowBytes);
        b = v128.load(p + 3 * rowBytes, 16);
        e = v128.load(p + 3 * rowBytes, 32);
        const d30 = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
        const d31 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
        const d32 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 4, 6, 7), e, 0, 1, 2, 4);
        const d33 = v128.shuffle<f32>(v128.shuffle<f32>(a, b, 3, 5, 7, 7), e, 0, 1, 2, 5);
        // Bᵀ d: rows. e{r}{j}.
        const e00 = f32x4.sub(d00, d20);
        const e01 = f32x4.sub(d01, d21);
        const e02 = f32x4.sub(d02, d22);
        const e03 = f32x4.sub(d03, d23);
        const e10 = f32x4.add(d10, d20);
        const e11 = f32x4.add(d11, d21);
        const e12 = f32x4.add(d12, d22);
        const e13 = f32x4.add(d13, d23);
        const e20 = f32x4.sub(d20, d10);
        const e21 = f32x4.sub(d21, d11);
        const e22 = f32x4.sub(d22, d12);
        const e23 = f32x4.sub(d23, d13);
        const e30 = f32x4.sub(d10, d30);
        const e31 = f32x4.sub(d11, d31);
        const e32 = f32x4.sub(d12, d32);
        const e33 = f32x4.sub(d13, d33);
        // (Bᵀ d) B: columns, stored as V_{4r + j}.
        storeRow(out, matrixBytes, 0, e00, e01, e02, e03);
        storeRow(out, matrixBytes, 4, e10, e11, e12, e13);
        storeRow(out, matrixBytes, 8, e20, e21, e22, e23);
        storeRow(out, matrixBytes, 12, e30, e31, e32, e33);
        out += 16;
      }
      // Back to the start of the next tile row (the last group may have run past tilesW).
      out -= <usize>(((tilesW + 3) >> 2) * 16);
      out += <usize>tilesW << 2;
    }
  }
}

/**
 * The padded copy of x [C, H, W] the input transforms read: planes of PH x PW floats at `padded`,
 * zeros around the image (`pad` of them before it) and beyond it up to the tiles' reach.
 */
export function padImage(x: usize, C: i32, H: i32, W: i32, pad: i32, PH: i32, PW: i32, padded: usize): void {
  const rowBytes = <usize>PW << 2;
  const planeBytes = <usize>(PH * PW) << 2;
  memory.fill(padded, 0, <usize>C * planeBytes);
  const rows = min(H, PH - pad);
  const cols = min(W, PW - pad);
  for (let c = 0; c < C; c++) {
    const src = x + (<usize>(c * H * W) << 2);
    const dst = padded + <usize>c * planeBytes + (<usize>(pad * PW + pad) << 2);
    for (let y = 0; y < rows; y++) {
      copyFloats(dst + <usize>y * rowBytes, src + (<usize>(y * W) << 2), cols);
    }
  }
}

/**
 * dx [H, W] of one channel = the plane of PW floats a row at `plane` without its padding (`pad`
 * rows and columns before the image): the gradient transforms' last step.
 */
export function cropPlane(plane: usize, PW: i32, pad: i32, H: i32, W: i32, dx: usize): void {
  const from = plane + (<usize>(pad * PW + pad) << 2);
  const rowBytes = <usize>PW << 2;
  for (let y = 0; y < H; y++) copyFloats(dx + (<usize>(y * W) << 2), from + <usize>y * rowBytes, W);
}

/** V_{first + j} at `out` = row r of Bᵀ d times B (its four entries e0..e3 as four tiles). */
// @ts-ignore: decorator
@inline
function storeRow(out: usize, matrixBytes: usize, first: i32, e0: v128, e1: v128, e2: v128, e3: v128): void {
  const base = out + <usize>first * matrixBytes;
  v128.store(base, f32x4.sub(e0, e2));
  v128.store(base + matrixBytes, f32x4.add(e1, e2));
  v128.store(base + 2 * matrixBytes, f32x4.sub(e2, e1));
  v128.store(base + 3 * matrixBytes, f32x4.sub(e1, e3));
}

/**
 * y[k, 2ty + a, 2tx + b] = (Aᵀ m A)[a, b] + bias[k] (then max(·, 0) when relu is 1), where m is
 * the 4x4 tile M[0..15, k, col0 + t] of tile t = ty·tilesW + tx, for K filters (M's rows from
 * `m`, y [K, OH, OW], bias [K]): outputs past OH or OW (tiles overhanging an odd side) are not
 * written. Reads up to three columns past col0 + T (ldm must leave them; their values are unused).
 */
export function winogradOutput(
  m: usize, ldm: i32, col0: i32, K: i32, tilesH: i32, tilesW: i32,
  bias: usize, relu: i32, y: usize, OH: i32, OW: i32,
): void {
  const matrixBytes = <usize>(K * ldm) << 2; // one M_i
  for (let k = 0; k < K; k++) {
    const vb = v128.load32_splat(bias + (<usize>k << 2));
    const plane = y + (<usize>(k * OH * OW) << 2);
    let src = m + (<usize>(k * ldm + col0) << 2);
    for (let ty = 0; ty < tilesH; ty++) {
      for (let tx = 0; tx < tilesW; tx += 4) {
        // Aᵀ m: t{a}{j} = row a of Aᵀ times column j of m.
        let m0 = v128.load(src);
        let m1 = v128.load(src + matrixBytes);
        let m2 = v128.load(src + 2 * matrixBytes);
        let m3 = v128.load(src + 3 * matrixBytes);
        let s = f32x4.add(m1, m2);
        const t00 = f32x4.add(m0, s);
        const t10 = f32x4.sub(f32x4.sub(m1, m2), m3);
        m0 = v128.load(src + 4 * matrixBytes);
        m1 = v128.load(src + 5 * matrixBytes);
        m2 = v128.load(src + 6 * matrixBytes);
        m3 = v128.load(src + 7 * matrixBytes);
        const r0 = f32x4.add(m0, f32x4.add(m1, m2));
        const r1 = f32x4.sub(f32x4.sub(m1, m2), m3);
        m0 = v128.load(src + 8 * matrixBytes);
        m1 = v128.load(src + 9 * matrixBytes);
        m2 = v128.load(src + 10 * matrixBytes);
        m3 = v128.load(src + 11 * matrixBytes);
        const q0 = f32x4.add(m0, f32x4.add(m1, m2));
        const q1 = f32x4.sub(f32x4.sub(m1, m2), m3);
        m0 = v128.load(src + 12 * matrixBytes);
        m1 = v128.load(src + 13 * matrixBytes);
        m2 = v128.load(src + 14 * matrixBytes);
        m3 = v128.load(src + 15 * matrixBytes);
        s = f32x4.add(m0, f32x4.add(m1, m2));
        const w1 = f32x4.sub(f32x4.sub(m1, m2), m3);
        // Rows of m give rows of (m A): row 0 = [t00, t10], row 1 = [r0, r1], row 2 = [q0, q1],
        // row 3 = [s, w1]; Aᵀ combines the rows.
        let y00 = f32x4.add(f32x4.add(f32x4.add(t00, r0), q0), vb);
        let y01 = f32x4.add(f32x4.add(f32x4.add(t10, r1), q1), vb);
        let y10 = f32x4.add(f32x4.sub(f32x4.sub(r0, q0), s), vb);
        let y11 = f32x4.add(f32x4.sub(f32x4.sub(r1, q1), w1), vb);
        if (relu) {
          y00 = relu4(y00);
          y01 = relu4(y01);
          y10 = relu4(y10);
          y11 = relu4(y11);
        }
        const oy = 2 * ty;
        const ox = 2 * tx;
        // Output row oy + a: lanes interleaved (tile l's two outputs at columns 2(tx + l), +1).
        const lo0 = v128.shuffle<f32>(y00, y01, 0, 4, 1, 5);
        const hi0 = v128.shuffle<f32>(y00, y01, 2, 6, 3, 7);
        const lo1 = v128.shuffle<f32>(y10, y11, 0, 4, 1, 5);
        const hi1 = v128.shuffle<f32>(y10, y11, 2, 6, 3, 7);
        const row0 = plane + (<usize>(oy * OW + ox) << 2);
        if (ox + 8 <= OW) {
          v128.store(row0, lo0);
          v128.store(row0, hi0, 16);
          if (oy + 1 < OH) {
            const row1 = row0 + (<usize>OW << 2);
            v128.store(row1, lo1);
            v128.store(row1, hi1, 16);
          }
        } else {
          storeEdge(row0, OW - ox, lo0, hi0);
          if (oy + 1 < OH) storeEdge(row0 + (<usize>OW << 2), OW - ox, lo1, hi1);
        }
        src += 16;
      }
      src -= <usize>(((tilesW + 3) >> 2) * 16);
      src += <usize>tilesW << 2;
    }
  }
}

/** The first `n` (< 8) of the eight floats lo, hi at `p`. */
// @ts-ignore: decorator
@inline
function storeEdge(p: usize, n: i32, lo: v128, hi: v128): void {
  if (n > 0) store<f32>(p, f32x4.extract_lane(lo, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(lo, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(lo, 2), 8);
  if (n > 3) store<f32>(p, f32x4.extract_lane(lo, 3), 12);
  if (n > 4) store<f32>(p, f32x4.extract_lane(hi, 0), 16);
  if (n > 5) store<f32>(p, f32x4.extract_lane(hi, 1), 20);
  if (n > 6) store<f32>(p, f32x4.extract_lane(hi, 2), 24);
}
