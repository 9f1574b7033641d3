// assembly/conv.ts (im2col, col2im, the per-channel bias and its gradient) against plain
// double-precision references, on seeded random data and odd shapes (windows that do not tile the
// image, padding wider than the filter, filters larger than the image).
// Every buffer handed to a kernel sits between sentinel guards checked after each test, and
// outputs start as NaN, so an element written out of bounds or left unwritten fails (the guarded
// buffers and comparisons are in test/support/).
//
// Tolerances: copies and single float32 operations per element must match the float32-rounded
// reference exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { convByGemm, type ConvGeom, convOperands, convRef, geom, side } from "../support/conv-kernels";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

// ---------------------------------------------------------------------------------------------
// im2col / col2im references

/**
 * Calls visit(row, col, pixel) for every entry of cols[C·R·R, OH·OW], pixel being the index of
 * x[C,H,W] it copies, or -1 in the zero padding.
 */
function forEachPatchEntry(g: ConvGeom, visit: (row: number, col: number, pixel: number) => void): void {
  const { C, H, W, R, stride, pad, OH, OW } = g;
  for (let c = 0; c < C; c++) {
    for (let ky = 0; ky < R; ky++) {
      for (let kx = 0; kx < R; kx++) {
        const row = (c * R + ky) * R + kx;
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            const iy = oy * stride - pad + ky;
            const ix = ox * stride - pad + kx;
            const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
            visit(row, oy * OW + ox, inside ? (c * H + iy) * W + ix : -1);
          }
        }
      }
    }
  }
}

function im2colRef(x: ArrayLike<number>, g: ConvGeom): Float64Array {
  const cols = new Float64Array(g.C * g.R * g.R * g.OH * g.OW);
  const n = g.OH * g.OW;
  forEachPatchEntry(g, (row, col, pixel) => (cols[row * n + col] = pixel < 0 ? 0 : x[pixel]));
  return cols;
}

/** dx = Σ of the patch entries copied from each pixel, with Σ|terms| and the count of terms. */
function col2imRef(dcols: ArrayLike<number>, g: ConvGeom) {
  const size = g.C * g.H * g.W;
  const dx = new Float64Array(size);
  const absSum = new Float64Array(size);
  const count = new Float64Array(size);
  const n = g.OH * g.OW;
  forEachPatchEntry(g, (row, col, pixel) => {
    if (pixel < 0) return;
    const v = dcols[row * n + col];
    dx[pixel] += v;
    absSum[pixel] += Math.abs(v);
    count[pixel]++;
  });
  return { dx, absSum, count };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** (C, H, W, R, stride, pad) for every channel count, stride and padding that fits the image. */
function convCases(): [number, number, number, number, number, number][] {
  // (H, W, R): odd and non-square, even filter, 1x1, filter larger than the image, filter larger
  // than the padded image in one direction only, wide rows (the stride-1 copy path), and rows of
  // 11, 12 and 16 outputs from 13, 14 and 20 inputs (the whole-vector paths of im2col and
  // col2im for stride 1 without padding; conv2 of the LeNet-like net is 13 -> 11).
  const images: [number, number, number][] = [
    [7, 5, 3],
    [6, 6, 2],
    [1, 1, 1],
    [2, 3, 5],
    [5, 4, 4],
    [4, 11, 3],
    [3, 2, 1],
    [4, 13, 3],
    [3, 14, 3],
    [3, 20, 5],
  ];
  const out: [number, number, number, number, number, number][] = [];
  for (const [H, W, R] of images) {
    for (const C of [1, 3]) {
      for (const stride of [1, 2]) {
        for (const pad of [0, 1, 2]) {
          if (side(H, R, stride, pad) > 0 && side(W, R, stride, pad) > 0) out.push([C, H, W, R, stride, pad]);
        }
      }
    }
  }
  return out;
}

describe("im2col / col2im", () => {
  const cases = convCases();

  it("the case list covers what it claims", () => {
    expect(cases.length).toBeGreaterThan(60);
    expect(cases.some(([, H, , R, , pad]) => R > H && pad > 0)).toBe(true); // R larger than H, padded
    expect(cases.some(([, , , R, , pad]) => pad > R / 2)).toBe(true); // rows and columns of padding only
    expect(cases.some(([C, H, W, R]) => C === 1 && H === 1 && W === 1 && R === 1)).toBe(true);
    // col2im's masked-vector path: stride 1, no padding, rows of at most 12 from at least 12.
    expect(cases.some(([, , W, R, stride, pad]) => stride === 1 && pad === 0 && W >= 12 && W - R + 1 <= 12)).toBe(true);
  });

  it.each(cases)(
    "C=%i H=%i W=%i R=%i stride=%i pad=%i: im2col exact, col2im = reference and adjoint",
    (C, H, W, R, stride, pad) => {
      const g = geom(C, H, W, R, stride, pad);
      const rows = C * R * R,
        n = g.OH * g.OW;
      const rng = new Random(((C * 31 + H) * 31 + W) * 97 + R * 11 + stride * 5 + pad);
      const x = normals(rng, C * H * W);
      // Every x value is non-zero, so a padding zero in the wrong place cannot match by luck.
      for (let i = 0; i < x.length; i++) if (x[i] === 0) x[i] = 1;

      // im2col: a pure copy (zeros in the padding); every entry overwritten (the buffer starts NaN).
      const xPtr = f32Buf(x, "x");
      const colsPtr = f32Buf(nans(rows * n), "cols");
      rt.kernels.im2col(xPtr, colsPtr, C, H, W, R, stride, pad, g.OH, g.OW);
      const cols = readF32(colsPtr, rows * n);
      expectExact(cols, im2colRef(x, g), "cols");
      expectExact(readF32(xPtr, x.length), x, "x (unchanged)");

      // col2im: overwrites dx (starts NaN) with the sum of the patch entries of each pixel.
      const dcols = normals(rng, rows * n);
      const dcolsPtr = f32Buf(dcols, "dcols");
      const dxPtr = f32Buf(nans(x.length), "dx");
      rt.kernels.col2im(dcolsPtr, dxPtr, C, H, W, R, stride, pad, g.OH, g.OW);
      const dx = readF32(dxPtr, x.length);
      const ref = col2imRef(dcols, g);
      expectWithin(
        dx,
        ref.dx,
        Array.from(ref.absSum, (s, i) => 2 * (ref.count[i] + 1) * U * s),
        "dx",
      );
      expectExact(readF32(dcolsPtr, dcols.length), dcols, "dcols (unchanged)");

      // Adjoint: <im2col(x), dcols> = <x, col2im(dcols)>. im2col is exact, so the only error is
      // col2im's rounding, at most Σ|x_i|·tol_i.
      const lhs = dot(cols, dcols);
      const rhs = dot(x, dx);
      let bound = 1e-30;
      for (let i = 0; i < x.length; i++) bound += Math.abs(x[i]) * 2 * (ref.count[i] + 1) * U * ref.absSum[i];
      expect(Math.abs(lhs - rhs), `<im2col(x), c> = ${lhs} vs <x, col2im(c)> = ${rhs}`).toBeLessThanOrEqual(bound);
    },
  );

  it("col2im overwrites dx instead of accumulating into it", () => {
    const g = geom(2, 5, 4, 3, 2, 1);
    const rng = new Random(77);
    const dcols = normals(rng, 2 * 9 * g.OH * g.OW);
    const dcolsPtr = f32Buf(dcols, "dcols");
    const dxPtr = f32Buf(normals(rng, 2 * 5 * 4, 100), "dx");
    rt.kernels.col2im(dcolsPtr, dxPtr, 2, 5, 4, 3, 2, 1, g.OH, g.OW);
    const ref = col2imRef(dcols, g);
    expectWithin(
      readF32(dxPtr, 40),
      ref.dx,
      Array.from(ref.absSum, (s, i) => 2 * (ref.count[i] + 1) * U * s),
      "dx",
    );
  });

  it("the reference itself: 1 channel 3x3, R=2, pad 1, stride 2", () => {
    // OH = OW = 2; patches centred at the corners: top-left patch sees only x[0,0] at (ky,kx)=(1,1).
    const g = geom(1, 3, 3, 2, 2, 1);
    expect([g.OH, g.OW]).toEqual([2, 2]);
    const cols = im2colRef([1, 2, 3, 4, 5, 6, 7, 8, 9], g);
    expect(Array.from(cols)).toEqual([
      0,
      0,
      0,
      5, // (ky,kx) = (0,0)
      0,
      0,
      4,
      6, // (0,1)
      0,
      2,
      0,
      8, // (1,0)
      1,
      3,
      7,
      9, // (1,1)
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Convolution as the SDK computes it (im2col, then gemm with the [K, C·R·R] filters, then the
// per-filter bias) against a direct 7-loop convolution.

describe("convolution = im2col + gemm + addBiasChannels", () => {
  // (batch, C, H, W, K, R, stride, pad)
  const cases: [number, number, number, number, number, number, number, number][] = [
    [1, 1, 7, 5, 2, 3, 1, 0],
    [2, 1, 7, 5, 3, 3, 2, 1],
    [2, 3, 7, 5, 4, 3, 2, 2],
    [3, 3, 6, 6, 2, 2, 2, 0],
    [2, 3, 9, 8, 5, 3, 1, 1],
    [1, 1, 2, 3, 2, 5, 1, 2],
    [2, 3, 5, 5, 3, 4, 2, 1],
    [1, 3, 1, 1, 2, 1, 1, 0],
    [2, 3, 11, 13, 6, 5, 2, 2],
    [1, 1, 28, 28, 8, 3, 1, 0],
  ];

  it.each(cases)("batch %i, C=%i, %ix%i, K=%i, R=%i, stride %i, pad %i", (batch, C, H, W, K, R, stride, pad) => {
    const g = geom(C, H, W, R, stride, pad);
    const rows = C * R * R,
      n = g.OH * g.OW;
    const { x, w, b, xPtr, wPtr, bPtr } = convOperands(
      batch,
      K,
      g,
      batch * 1000 + C * 100 + H * 10 + W + K + R + stride + pad,
    );
    const yPtr = f32Buf(nans(batch * K * n), "y");
    convByGemm(xPtr, wPtr, yPtr, batch, K, g);
    rt.kernels.addBiasChannels(yPtr, bPtr, batch, K, n);
    const ref = convRef(x, w, b, batch, K, g);
    expectWithin(
      readF32(yPtr, batch * K * n),
      ref.y,
      Array.from(ref.absSum, (s) => 2 * (rows + 3) * U * s),
      "y",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Per-channel bias and its gradient

describe("addBiasChannels / sumChannels", () => {
  // (batch, channels, spatial): spatial 1, below 4, not a multiple of 4, a multiple of 4.
  const shapes: [number, number, number][] = [
    [2, 3, 5],
    [1, 4, 1],
    [3, 2, 7],
    [2, 2, 8],
    [1, 1, 13],
    [2, 5, 3],
    [4, 3, 169],
  ];

  it.each(shapes)(
    "addBiasChannels: y[b,c,s] += bias[c] (batch %i, channels %i, spatial %i)",
    (batch, channels, spatial) => {
      const rng = new Random(batch * 10000 + channels * 100 + spatial);
      const y = normals(rng, batch * channels * spatial);
      const bias = normals(rng, channels);
      const yPtr = f32Buf(y, "y");
      const bPtr = f32Buf(bias, "bias");
      rt.kernels.addBiasChannels(yPtr, bPtr, batch, channels, spatial);
      const want = Array.from(y, (v, i) => Math.fround(v + bias[Math.floor(i / spatial) % channels]));
      expectExact(readF32(yPtr, y.length), want, "y");
      expectExact(readF32(bPtr, channels), bias, "bias (unchanged)");
    },
  );

  it.each(shapes)(
    "addBiasChannelsRelu: y[b,c,s] = max(y + bias[c], 0) (batch %i, channels %i, spatial %i)",
    (batch, channels, spatial) => {
      const rng = new Random(batch * 10000 + channels * 100 + spatial + 3);
      const y = normals(rng, batch * channels * spatial);
      const bias = normals(rng, channels);
      const yPtr = f32Buf(y, "y");
      const bPtr = f32Buf(bias, "bias");
      rt.kernels.addBiasChannelsRelu(yPtr, bPtr, batch, channels, spatial);
      const want = Array.from(y, (v, i) => Math.max(Math.fround(v + bias[Math.floor(i / spatial) % channels]), 0));
      expectExact(readF32(yPtr, y.length), want, "y");
      expectExact(readF32(bPtr, channels), bias, "bias (unchanged)");
    },
  );

  it.each(shapes)(
    "sumChannels: out[c] = Σ_{b,s} dy[b,c,s] + beta·out[c] (batch %i, channels %i, spatial %i)",
    (batch, channels, spatial) => {
      const rng = new Random(batch * 10000 + channels * 100 + spatial + 1);
      const dy = normals(rng, batch * channels * spatial);
      const out0 = normals(rng, channels);
      for (const beta of [0, 1, 0.5]) {
        const dyPtr = f32Buf(dy, "dy");
        // With beta 0 the old contents must not be read (NaN must not leak through).
        const outPtr = f32Buf(beta === 0 ? nans(channels) : out0, "out");
        rt.kernels.sumChannels(dyPtr, outPtr, batch, channels, spatial, beta);
        const want = new Float64Array(channels);
        const tol = new Float64Array(channels);
        for (let c = 0; c < channels; c++) {
          let sum = beta === 0 ? 0 : beta * out0[c];
          let abs = Math.abs(sum);
          for (let b = 0; b < batch; b++) {
            for (let s = 0; s < spatial; s++) {
              const v = dy[(b * channels + c) * spatial + s];
              sum += v;
              abs += Math.abs(v);
            }
          }
          want[c] = sum;
          tol[c] = 2 * (batch * spatial + 3) * U * abs;
        }
        expectWithin(readF32(outPtr, channels), want, tol, `out (beta=${beta})`);
        expectExact(readF32(dyPtr, dy.length), dy, "dy (unchanged)");
      }
    },
  );

  it.each(shapes)(
    "sumChannelBand: each band of channels gives sumChannels' floats, the others untouched (batch %i, channels %i, spatial %i)",
    (batch, channels, spatial) => {
      const rng = new Random(batch * 1000 + channels * 10 + spatial);
      const dyPtr = f32Buf(normals(rng, batch * channels * spatial), "dy");
      const whole = f32Buf(nans(channels), "whole");
      rt.kernels.sumChannels(dyPtr, whole, batch, channels, spatial, 0);
      const want = readF32(whole, channels);
      for (let split = 0; split <= channels; split++) {
        const out = f32Buf(nans(channels), "bands");
        rt.kernels.sumChannelBand(dyPtr, out, batch, channels, spatial, 0, split, 0);
        const first = readF32(out, channels);
        for (let c = split; c < channels; c++) expect(first[c], `channel ${c} outside the band`).toBeNaN();
        rt.kernels.sumChannelBand(dyPtr, out, batch, channels, spatial, split, channels, 0);
        expectExact(readF32(out, channels), want, `bands [0, ${split}) and [${split}, ${channels})`);
      }
    },
  );
});
