// The convolution and pooling kernels (assembly/conv.ts, assembly/pool.ts) against plain
// double-precision references written here, on seeded random data and odd shapes (windows that
// do not tile the image, padding wider than the filter, filters larger than the image). Every
// buffer handed to a kernel sits between sentinel guards checked after each test, and outputs
// start as NaN, so an element written out of bounds or left unwritten fails (the guarded buffers
// and comparisons are in test/support/).
//
// Tolerances: im2col, max pooling, the bias add and a single routed gradient are copies or one
// float32 operation per element, so they must match the float32-rounded reference exactly; sums
// get the standard error bound of float32 summation, c·n·u·Σ|terms| (u = 2^-24).
import { describe, expect, it } from "vitest";
import { Random } from "../sdk/index";
import { checkGuardsAfterEach, f32Buf, i32Buf, nans, normals, readF32, readI32, rt, useRuntime } from "./support/buffers";
import { expectExact, expectWithin, U } from "./support/numeric";

useRuntime();
checkGuardsAfterEach();

/** Output side of a window sweep: floor((n + 2·pad - size) / stride) + 1. */
const side = (n: number, size: number, stride: number, pad: number): number =>
  Math.floor((n + 2 * pad - size) / stride) + 1;

// ---------------------------------------------------------------------------------------------
// im2col / col2im references

interface ConvGeom { C: number; H: number; W: number; R: number; stride: number; pad: number; OH: number; OW: number }

function geom(C: number, H: number, W: number, R: number, stride: number, pad: number): ConvGeom {
  return { C, H, W, R, stride, pad, OH: side(H, R, stride, pad), OW: side(W, R, stride, pad) };
}

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
    [7, 5, 3], [6, 6, 2], [1, 1, 1], [2, 3, 5], [5, 4, 4], [4, 11, 3], [3, 2, 1], [4, 13, 3], [3, 14, 3], [3, 20, 5],
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

  it.each(cases)("C=%i H=%i W=%i R=%i stride=%i pad=%i: im2col exact, col2im = reference and adjoint", (C, H, W, R, stride, pad) => {
    const g = geom(C, H, W, R, stride, pad);
    const rows = C * R * R, n = g.OH * g.OW;
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
    expectWithin(dx, ref.dx, Array.from(ref.absSum, (s, i) => 2 * (ref.count[i] + 1) * U * s), "dx");
    expectExact(readF32(dcolsPtr, dcols.length), dcols, "dcols (unchanged)");

    // Adjoint: <im2col(x), dcols> = <x, col2im(dcols)>. im2col is exact, so the only error is
    // col2im's rounding, at most Σ|x_i|·tol_i.
    const lhs = dot(cols, dcols);
    const rhs = dot(x, dx);
    let bound = 1e-30;
    for (let i = 0; i < x.length; i++) bound += Math.abs(x[i]) * 2 * (ref.count[i] + 1) * U * ref.absSum[i];
    expect(Math.abs(lhs - rhs), `<im2col(x), c> = ${lhs} vs <x, col2im(c)> = ${rhs}`).toBeLessThanOrEqual(bound);
  });

  it("col2im overwrites dx instead of accumulating into it", () => {
    const g = geom(2, 5, 4, 3, 2, 1);
    const rng = new Random(77);
    const dcols = normals(rng, 2 * 9 * g.OH * g.OW);
    const dcolsPtr = f32Buf(dcols, "dcols");
    const dxPtr = f32Buf(normals(rng, 2 * 5 * 4, 100), "dx");
    rt.kernels.col2im(dcolsPtr, dxPtr, 2, 5, 4, 3, 2, 1, g.OH, g.OW);
    const ref = col2imRef(dcols, g);
    expectWithin(readF32(dxPtr, 40), ref.dx, Array.from(ref.absSum, (s, i) => 2 * (ref.count[i] + 1) * U * s), "dx");
  });

  it("the reference itself: 1 channel 3x3, R=2, pad 1, stride 2", () => {
    // OH = OW = 2; patches centred at the corners: top-left patch sees only x[0,0] at (ky,kx)=(1,1).
    const g = geom(1, 3, 3, 2, 2, 1);
    expect([g.OH, g.OW]).toEqual([2, 2]);
    const cols = im2colRef([1, 2, 3, 4, 5, 6, 7, 8, 9], g);
    expect(Array.from(cols)).toEqual([
      0, 0, 0, 5, // (ky,kx) = (0,0)
      0, 0, 4, 6, // (0,1)
      0, 2, 0, 8, // (1,0)
      1, 3, 7, 9, // (1,1)
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Convolution as the SDK computes it (im2col, then gemm with the [K, C·R·R] filters, then the
// per-filter bias) against a direct 7-loop convolution.

/** y[n,k,oy,ox] = b[k] + Σ_{c,ky,kx} w[k,c,ky,kx]·x[n,c,oy·s-p+ky, ox·s-p+kx], with Σ|terms|. */
function convRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, batch: number, K: number, g: ConvGeom) {
  const { C, H, W, R, stride, pad, OH, OW } = g;
  const y = new Float64Array(batch * K * OH * OW);
  const absSum = new Float64Array(y.length);
  for (let n = 0; n < batch; n++) {
    for (let k = 0; k < K; k++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let sum = b[k], abs = Math.abs(b[k]);
          for (let c = 0; c < C; c++) {
            for (let ky = 0; ky < R; ky++) {
              for (let kx = 0; kx < R; kx++) {
                const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const t = w[((k * C + c) * R + ky) * R + kx] * x[((n * C + c) * H + iy) * W + ix];
                sum += t;
                abs += Math.abs(t);
              }
            }
          }
          const o = ((n * K + k) * OH + oy) * OW + ox;
          y[o] = sum;
          absSum[o] = abs;
        }
      }
    }
  }
  return { y, absSum };
}

/** Random images x [batch, C, H, W], filters w [K, C·R·R] and biases b [K], in guarded buffers too. */
function convOperands(batch: number, K: number, g: ConvGeom, seed: number) {
  const rng = new Random(seed);
  const x = normals(rng, batch * g.C * g.H * g.W);
  const w = normals(rng, K * g.C * g.R * g.R);
  const b = normals(rng, K);
  return { x, w, b, xPtr: f32Buf(x, "x"), wPtr: f32Buf(w, "w"), bPtr: f32Buf(b, "bias") };
}

/** y[i] = W · im2col(x[i]) for each image, as the layer computes it (no bias). */
function convByGemm(xPtr: number, wPtr: number, yPtr: number, batch: number, K: number, g: ConvGeom): void {
  const rows = g.C * g.R * g.R, n = g.OH * g.OW;
  const colsPtr = f32Buf(nans(rows * n), "cols");
  for (let i = 0; i < batch; i++) {
    rt.kernels.im2col(xPtr + i * g.C * g.H * g.W * 4, colsPtr, g.C, g.H, g.W, g.R, g.stride, g.pad, g.OH, g.OW);
    rt.gemm(wPtr, colsPtr, yPtr + i * K * n * 4, K, rows, n, false, false, 0);
  }
}

describe("convolution = im2col + gemm + addBiasChannels", () => {
  // (batch, C, H, W, K, R, stride, pad)
  const cases: [number, number, number, number, number, number, number, number][] = [
    [1, 1, 7, 5, 2, 3, 1, 0], [2, 1, 7, 5, 3, 3, 2, 1], [2, 3, 7, 5, 4, 3, 2, 2], [3, 3, 6, 6, 2, 2, 2, 0],
    [2, 3, 9, 8, 5, 3, 1, 1], [1, 1, 2, 3, 2, 5, 1, 2], [2, 3, 5, 5, 3, 4, 2, 1], [1, 3, 1, 1, 2, 1, 1, 0],
    [2, 3, 11, 13, 6, 5, 2, 2], [1, 1, 28, 28, 8, 3, 1, 0],
  ];

  it.each(cases)("batch %i, C=%i, %ix%i, K=%i, R=%i, stride %i, pad %i", (batch, C, H, W, K, R, stride, pad) => {
    const g = geom(C, H, W, R, stride, pad);
    const rows = C * R * R, n = g.OH * g.OW;
    const { x, w, b, xPtr, wPtr, bPtr } = convOperands(batch, K, g, batch * 1000 + C * 100 + H * 10 + W + K + R + stride + pad);
    const yPtr = f32Buf(nans(batch * K * n), "y");
    convByGemm(xPtr, wPtr, yPtr, batch, K, g);
    rt.kernels.addBiasChannels(yPtr, bPtr, batch, K, n);
    const ref = convRef(x, w, b, batch, K, g);
    expectWithin(readF32(yPtr, batch * K * n), ref.y, Array.from(ref.absSum, (s) => 2 * (rows + 3) * U * s), "y");
  });
});

describe("convDirect = im2col + gemm + addBiasChannels(Relu), bit for bit", () => {
  // (C, H, W, K, R), stride 1, no padding: one eight-pixel tile per row (OW 8); a last tile
  // overlapping the one before (OW 9, 11, 15, 26) and a last filter group overlapping the one
  // before (K 5, 6, 7); the LeNet-like nets' first layers; two and three channels; 1x1 filters.
  const cases: [number, number, number, number, number][] = [
    [1, 10, 10, 4, 3], [1, 12, 11, 5, 3], [1, 28, 28, 32, 3], [1, 28, 28, 12, 5], [2, 9, 12, 7, 2], [3, 10, 13, 6, 3], [1, 8, 15, 4, 1],
  ];

  it.each(cases)("C=%i, %ix%i, K=%i, R=%i", (C, H, W, K, R) => {
    const batch = 2;
    const g = geom(C, H, W, R, 1, 0);
    const depth = C * R * R, n = g.OH * g.OW;
    const { x, w, b, xPtr, wPtr, bPtr } = convOperands(batch, K, g, C * 100 + H * 10 + W + K * 7 + R);
    const packedPtr = f32Buf(nans(rt.kernels.packedFiltersBytes(K, depth) / 4), "packed filters");
    rt.kernels.packConvFilters(wPtr, K, depth, packedPtr);
    const ref = convRef(x, w, b, batch, K, g);
    for (const relu of [0, 1]) {
      const viaGemm = f32Buf(nans(batch * K * n), "y (gemm)");
      const direct = f32Buf(nans(batch * K * n), "y (direct)");
      convByGemm(xPtr, wPtr, viaGemm, batch, K, g);
      for (let i = 0; i < batch; i++) {
        rt.kernels.convDirect(xPtr + i * C * H * W * 4, packedPtr, bPtr, direct + i * K * n * 4, K, C, H, W, R, relu);
      }
      if (relu) rt.kernels.addBiasChannelsRelu(viaGemm, bPtr, batch, K, n);
      else rt.kernels.addBiasChannels(viaGemm, bPtr, batch, K, n);
      const y = readF32(direct, batch * K * n);
      expectExact(y, readF32(viaGemm, batch * K * n), `y (relu ${relu})`);
      const want = relu ? ref.y.map((v) => Math.max(v, 0)) : ref.y;
      expectWithin(y, want, Array.from(ref.absSum, (s) => 2 * (depth + 3) * U * s), `y against the reference (relu ${relu})`);
    }
    expectExact(readF32(xPtr, x.length), x, "x (unchanged)");
  });
});

// ---------------------------------------------------------------------------------------------
// Per-channel bias and its gradient

describe("addBiasChannels / sumChannels", () => {
  // (batch, channels, spatial): spatial 1, below 4, not a multiple of 4, a multiple of 4.
  const shapes: [number, number, number][] = [[2, 3, 5], [1, 4, 1], [3, 2, 7], [2, 2, 8], [1, 1, 13], [2, 5, 3], [4, 3, 169]];

  it.each(shapes)("addBiasChannels: y[b,c,s] += bias[c] (batch %i, channels %i, spatial %i)", (batch, channels, spatial) => {
    const rng = new Random(batch * 10000 + channels * 100 + spatial);
    const y = normals(rng, batch * channels * spatial);
    const bias = normals(rng, channels);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasChannels(yPtr, bPtr, batch, channels, spatial);
    const want = Array.from(y, (v, i) => Math.fround(v + bias[Math.floor(i / spatial) % channels]));
    expectExact(readF32(yPtr, y.length), want, "y");
    expectExact(readF32(bPtr, channels), bias, "bias (unchanged)");
  });

  it.each(shapes)("addBiasChannelsRelu: y[b,c,s] = max(y + bias[c], 0) (batch %i, channels %i, spatial %i)", (batch, channels, spatial) => {
    const rng = new Random(batch * 10000 + channels * 100 + spatial + 3);
    const y = normals(rng, batch * channels * spatial);
    const bias = normals(rng, channels);
    const yPtr = f32Buf(y, "y");
    const bPtr = f32Buf(bias, "bias");
    rt.kernels.addBiasChannelsRelu(yPtr, bPtr, batch, channels, spatial);
    const want = Array.from(y, (v, i) => Math.max(Math.fround(v + bias[Math.floor(i / spatial) % channels]), 0));
    expectExact(readF32(yPtr, y.length), want, "y");
    expectExact(readF32(bPtr, channels), bias, "bias (unchanged)");
  });

  it.each(shapes)("sumChannels: out[c] = Σ_{b,s} dy[b,c,s] + beta·out[c] (batch %i, channels %i, spatial %i)", (batch, channels, spatial) => {
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
  });
});

// ---------------------------------------------------------------------------------------------
// Pooling

/** Calls visit(o, i) for every (output o, input pixel i of its window), windows in row-major order. */
function forEachWindowEntry(planes: number, H: number, W: number, size: number, stride: number,
  visit: (o: number, i: number, first: boolean) => void): void {
  const OH = side(H, size, stride, 0), OW = side(W, size, stride, 0);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const o = (p * OH + oy) * OW + ox;
        for (let ky = 0; ky < size; ky++) {
          for (let kx = 0; kx < size; kx++) {
            visit(o, (p * H + oy * stride + ky) * W + ox * stride + kx, ky === 0 && kx === 0);
          }
        }
      }
    }
  }
}

/** Max of each window and the in-plane index (iy·W + ix) of its first maximum. */
function maxPoolRef(x: ArrayLike<number>, planes: number, H: number, W: number, size: number, stride: number) {
  const n = planes * side(H, size, stride, 0) * side(W, size, stride, 0);
  const y = new Float64Array(n);
  const argmax = new Int32Array(n);
  forEachWindowEntry(planes, H, W, size, stride, (o, i, first) => {
    if (first || x[i] > y[o]) {
      y[o] = x[i];
      argmax[o] = i % (H * W);
    }
  });
  return { y, argmax };
}

/** dx[i] = Σ over windows whose arg-max is i of dy, with Σ|terms| and the count of terms. */
function maxPoolBackRef(dy: ArrayLike<number>, argmax: ArrayLike<number>, planes: number, H: number, W: number, outputs: number) {
  const dx = new Float64Array(planes * H * W);
  const absSum = new Float64Array(dx.length);
  const count = new Int32Array(dx.length);
  for (let p = 0; p < planes; p++) {
    for (let j = 0; j < outputs; j++) {
      const o = p * outputs + j;
      const i = p * H * W + argmax[o];
      dx[i] += dy[o];
      absSum[i] += Math.abs(dy[o]);
      count[i]++;
    }
  }
  return { dx, absSum, count };
}

/** (planes, H, W, size, stride) for sizes 2, 3 and strides 1, 2, 3 over odd and even images. */
function poolCases(): [number, number, number, number, number][] {
  // [6, 26]: a row long enough for several of the 2x2 kernels' four-output steps and a leftover.
  const images: [number, number][] = [[7, 5], [6, 6], [9, 8], [3, 4], [5, 11], [6, 26]];
  const out: [number, number, number, number, number][] = [];
  images.forEach(([H, W], k) => {
    for (const size of [2, 3]) {
      for (const stride of [1, 2, 3]) {
        if (side(H, size, stride, 0) > 0 && side(W, size, stride, 0) > 0) out.push([1 + (k % 3), H, W, size, stride]);
      }
    }
  });
  return out;
}

describe("pooling", () => {
  const cases = poolCases();

  it("the case list covers what it claims", () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
    // Windows that do not tile the image exactly (leftover rows or columns).
    expect(cases.some(([, H, W, size, stride]) => (H - size) % stride !== 0 || (W - size) % stride !== 0)).toBe(true);
    expect(cases.some(([, , , size, stride]) => stride < size)).toBe(true); // overlapping windows
    expect(cases.some(([, , , size, stride]) => stride > size)).toBe(true); // gaps between windows
  });

  it.each(cases)("maxPoolForward / maxPoolValues / maxPoolBackward(Relu): planes %i, %ix%i, size %i, stride %i", (planes, H, W, size, stride) => {
    const OH = side(H, size, stride, 0), OW = side(W, size, stride, 0);
    const n = planes * OH * OW;
    const rng = new Random(planes * 1000 + H * 100 + W * 10 + size * 3 + stride);
    // Random values, then values with many ties (few distinct, all negative in one plane) for
    // the first-maximum rule.
    const random = normals(rng, planes * H * W);
    const ties = Float64Array.from({ length: planes * H * W }, (_, i) => rng.int(3) - (i < H * W ? 5 : 1));
    for (const [what, x] of [["random", random], ["ties", ties]] as const) {
      const ref = maxPoolRef(x, planes, H, W, size, stride);
      const xPtr = f32Buf(x, "x");
      const yPtr = f32Buf(nans(n), "y");
      const aPtr = i32Buf(new Int32Array(n).fill(-7), "argmax");
      rt.kernels.maxPoolForward(xPtr, yPtr, aPtr, planes, H, W, size, stride, OH, OW);
      expectExact(readF32(yPtr, n), ref.y, `y (${what})`);
      expectExact(readI32(aPtr, n), ref.argmax, `argmax (${what})`);
      expectExact(readF32(xPtr, x.length), x, `x (${what}, unchanged)`);
      // Inference's variant without the arg-max: the same floats.
      const valuesPtr = f32Buf(nans(n), "y (values)"); // guarded: a write past its end fails the test
      rt.kernels.maxPoolValues(xPtr, valuesPtr, planes, H, W, size, stride, OH, OW);
      expectExact(readF32(valuesPtr, n), ref.y, `maxPoolValues y (${what})`);

      // Backward: dy routed to each arg-max, summed where overlapping windows share one.
      const dy = normals(rng, n);
      const dyPtr = f32Buf(dy, "dy");
      const dxPtr = f32Buf(nans(planes * H * W), "dx");
      rt.kernels.maxPoolBackward(dyPtr, aPtr, dxPtr, planes, H, W, OH, OW);
      const back = maxPoolBackRef(dy, ref.argmax, planes, H, W, OH * OW);
      expectWithin(readF32(dxPtr, planes * H * W), back.dx, Array.from(back.absSum, (s, i) => 2 * (back.count[i] + 1) * U * s), `dx (${what})`);
      // Where one window's gradient lands, it is copied exactly.
      back.count.forEach((c, i) => {
        if (c === 1 && rt.f32(dxPtr + i * 4, 1)[0] !== Math.fround(back.dx[i])) expect.fail(`dx[${i}] (${what}): single gradient not exact`);
      });
      // With a ReLU's mask (x > 0, x standing for the ReLU's output): the routed sums where x > 0, else 0.
      const maskedPtr = f32Buf(nans(planes * H * W), "dx (ReLU masked)");
      rt.kernels.maxPoolBackwardRelu(dyPtr, aPtr, xPtr, maskedPtr, planes, H, W, OH, OW);
      expectExact(readF32(maskedPtr, planes * H * W), readF32(dxPtr, planes * H * W).map((v, i) => (x[i] > 0 ? v : 0)), `dx masked (${what})`);
      // With overlap, the ties data routes several windows to one pixel: the sum is exercised.
      if (stride < size && n > planes && what === "ties") expect(Math.max(...back.count), "a pixel receiving several gradients").toBeGreaterThan(1);
    }
  });

  it("maxPoolForward: the reference's first-maximum rule on a hand-made plane", () => {
    // 4x4, size 2, stride 2. Windows: all equal (-> top-left), tie between the 2nd and 3rd
    // entries (-> 2nd), negative values only (max -1 at the last entry), max at the last entry.
    const x = [
      3, 3, 0, 5,
      3, 3, 5, 1,
      -4, -3, 2, 2,
      -2, -1, 2, 9,
    ];
    const ref = maxPoolRef(x, 1, 4, 4, 2, 2);
    expect(Array.from(ref.y)).toEqual([3, 5, -1, 9]);
    expect(Array.from(ref.argmax)).toEqual([0, 3, 13, 15]);
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(4), "y");
    const aPtr = i32Buf([-7, -7, -7, -7], "argmax");
    rt.kernels.maxPoolForward(xPtr, yPtr, aPtr, 1, 4, 4, 2, 2, 2, 2);
    expectExact(readF32(yPtr, 4), ref.y, "y");
    expectExact(readI32(aPtr, 4), ref.argmax, "argmax");
    rt.kernels.maxPoolValues(xPtr, yPtr, 1, 4, 4, 2, 2, 2, 2);
    expectExact(readF32(yPtr, 4), ref.y, "maxPoolValues y");
  });

  it("maxPoolForward / maxPoolValues: NaN, -0 and infinities follow the first-maximum rule (v > best replaces)", () => {
    // One 2x12 plane, size 2, stride 2: six windows, so maxPoolValues makes a four-output step
    // and an overlapping one for the last four.
    const x = [
      -0, 0, NaN, 1, 1, NaN, -Infinity, -Infinity, 0, -0, Infinity, 5,
      0, -0, 2, 1, 3, 0, -Infinity, -1, -0, 0, NaN, 5,
    ];
    const want = [-0, NaN, 3, -1, 0, Infinity];
    const ref = maxPoolRef(x, 1, 2, 12, 2, 2);
    const same = (got: ArrayLike<number>) => Array.from(got).every((v, i) => Object.is(v, want[i]));
    expect(same(ref.y), `reference ${Array.from(ref.y)}`).toBe(true);
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(6), "y");
    rt.kernels.maxPoolForward(xPtr, yPtr, i32Buf(new Int32Array(6), "argmax"), 1, 2, 12, 2, 2, 1, 6);
    expect(same(readF32(yPtr, 6)), `maxPoolForward ${readF32(yPtr, 6)}`).toBe(true);
    const valuesPtr = f32Buf(nans(6), "y (values)");
    rt.kernels.maxPoolValues(xPtr, valuesPtr, 1, 2, 12, 2, 2, 1, 6);
    expect(same(readF32(valuesPtr, 6)), `maxPoolValues ${readF32(valuesPtr, 6)}`).toBe(true);
  });

  it.each(cases)("avgPoolForward / avgPoolBackward: planes %i, %ix%i, size %i, stride %i", (planes, H, W, size, stride) => {
    const OH = side(H, size, stride, 0), OW = side(W, size, stride, 0);
    const n = planes * OH * OW;
    const area = size * size;
    const rng = new Random(planes * 1000 + H * 100 + W * 10 + size * 3 + stride + 5);
    const x = normals(rng, planes * H * W);

    const y = new Float64Array(n);
    const yAbs = new Float64Array(n);
    forEachWindowEntry(planes, H, W, size, stride, (o, i) => {
      y[o] += x[i] / area;
      yAbs[o] += Math.abs(x[i]) / area;
    });
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(n), "y");
    rt.kernels.avgPoolForward(xPtr, yPtr, planes, H, W, size, stride, OH, OW);
    expectWithin(readF32(yPtr, n), y, Array.from(yAbs, (s) => 2 * (area + 3) * U * s), "y");
    expectExact(readF32(xPtr, x.length), x, "x (unchanged)");

    const dy = normals(rng, n);
    const dx = new Float64Array(planes * H * W);
    const dxAbs = new Float64Array(dx.length);
    const count = new Int32Array(dx.length);
    forEachWindowEntry(planes, H, W, size, stride, (o, i) => {
      dx[i] += dy[o] / area;
      dxAbs[i] += Math.abs(dy[o]) / area;
      count[i]++;
    });
    const dyPtr = f32Buf(dy, "dy");
    const dxPtr = f32Buf(nans(dx.length), "dx");
    rt.kernels.avgPoolBackward(dyPtr, dxPtr, planes, H, W, size, stride, OH, OW);
    expectWithin(readF32(dxPtr, dx.length), dx, Array.from(dxAbs, (s, i) => 2 * (count[i] + 3) * U * s), "dx");
    // Pixels outside every window (leftover rows/columns, gaps) get exactly 0.
    count.forEach((c, i) => {
      if (c === 0 && rt.f32(dxPtr + i * 4, 1)[0] !== 0) expect.fail(`dx[${i}]: outside every window but not 0`);
    });
    if (stride < size && n > planes) expect(Math.max(...count), "overlapping windows").toBeGreaterThan(1);
  });
});
