// assembly/winograd.ts and assembly/winograd4.ts (the forward transforms of Winograd's
// F(2x2, 3x3) and F(4x4, 3x3): winograd[4]Filters, winograd[4]Input, winograd[4]Output) against
// a plain float64 reference (test/support/winograd-reference.ts), and the whole convolution they
// make with the GEMM against the direct double convolution.
// Every buffer handed to a kernel sits between sentinel guards checked after each test; outputs
// start as NaN, so an element written out of bounds or left unwritten fails. The columns of V
// before an image's first one must stay untouched; the columns of M the output transform may read
// but must not use are NaN, so a lane that leaked into an output would show.
//
// Tolerances: the float32 bound of each computation, 2·d·u times the same computation on absolute
// values (d its roundings: for F(2x2, 3x3) 4 for U, 2 for V, 5 for Y with its bias; for
// F(4x4, 3x3) 1 for U (made in float64), 6 for V, 7 for Y; C + 16 or C + 20 for the whole
// convolution, see winogradTolerance).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { convRef, geom } from "../support/conv-kernels";
import { expectWithin, U } from "../support/numeric";
import { winogradReference } from "../support/winograd-reference";

useRuntime();
checkGuardsAfterEach();

const bound = (mag: number[], depth: number): number[] => mag.map((m) => 2 * depth * U * m + 1e-30);

/** Each tile size's kernels and the roundings of its transforms (U, V, Y with its bias). */
const VARIANTS = [
  {
    name: "F(2x2, 3x3)",
    ref: winogradReference(2),
    filters: "winogradFilters",
    padBytes: "winogradPadBytes",
    input: "winogradInput",
    depth: { u: 4, v: 2, y: 5 },
  },
  {
    name: "F(4x4, 3x3)",
    ref: winogradReference(4),
    filters: "winograd4Filters",
    padBytes: "winograd4PadBytes",
    input: "winograd4Input",
    depth: { u: 1, v: 6, y: 7 },
  },
] as const;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.each(VARIANTS)("$name", (variant) => {
  const { ref, depth } = variant;
  const { tile, alpha, positions } = ref;
  const tiles = (side: number): number => Math.ceil(side / tile);
  /** The output transform; F(4x4)'s takes a scratch of its own besides (NaN, to show it is written before read). */
  const output = (...args: Parameters<typeof rt.kernels.winogradOutput>): void => {
    if (tile === 2) rt.kernels.winogradOutput(...args);
    else rt.kernels.winograd4Output(...args, f32Buf(nans(rt.kernels.winograd4OutputScratchBytes() / 4), "scratch"));
  };
  describe("filters: U[i, k, c] = (G w[k, c] Gᵀ)[i]", () => {
    it.each([
      [1, 1],
      [5, 3],
      [13, 9],
    ])("K=%i, C=%i", (K, C) => {
      const w = normals(new Random(K * 31 + C), K * C * 9);
      const u = f32Buf(nans(positions * K * C), "U");
      rt.kernels[variant.filters](f32Buf(w, "w"), K, C, u, 0, K);
      const got = readF32(u, positions * K * C);
      const want: number[] = new Array(positions * K * C);
      const mag: number[] = new Array(positions * K * C);
      for (let k = 0; k < K; k++) {
        for (let c = 0; c < C; c++) {
          const g = [0, 1, 2].map((r) => [0, 1, 2].map((j) => w[(k * C + c) * 9 + r * 3 + j]));
          const t = ref.filterTransform(g);
          const m = ref.filterTransform(g, true);
          for (let i = 0; i < positions; i++) {
            want[(i * K + k) * C + c] = t[Math.floor(i / alpha)][i % alpha];
            mag[(i * K + k) * C + c] = m[Math.floor(i / alpha)][i % alpha];
          }
        }
      }
      expectWithin(got, want, bound(mag, depth.u), "U");
      // Filter bands (the threads' shares) write their filters only, with the same floats.
      const split = Math.floor(K / 2);
      const banded = f32Buf(nans(positions * K * C), "U in bands");
      const wPtr = f32Buf(w, "w again");
      rt.kernels[variant.filters](wPtr, K, C, banded, 0, split);
      const half = readF32(banded, positions * K * C);
      for (let i = 0; i < positions; i++)
        for (let k = split; k < K; k++) for (let c = 0; c < C; c++) expect(half[(i * K + k) * C + c]).toBeNaN();
      rt.kernels[variant.filters](wPtr, K, C, banded, split, K);
      expect(readF32(banded, positions * K * C)).toEqual(got);
    });
  });

  // (C, H, W, pad): one tile; even sides; odd sides where the last tiles overhang the output;
  // tile rows of 1-3 tiles past a group of four (of either tile size); padding 0, 1 and 2; the
  // MNIST cnn's conv2.
  const inputShapes: [number, number, number, number][] = [
    [1, 4, 4, 0],
    [2, 6, 6, 0],
    [3, 7, 9, 1],
    [2, 5, 11, 0],
    [2, 3, 5, 2],
    [4, 8, 8, 1],
    [3, 13, 13, 0],
    [1, 17, 4, 1],
    [2, 6, 20, 1],
    [1, 9, 35, 0],
  ];

  describe("input: V[i, c, col0 + t] = (Bᵀ d B)[i] of every tile", () => {
    it.each(inputShapes)("C=%i, %ix%i, pad %i", (C, H, W, pad) => {
      const OH = H + 2 * pad - 2,
        OW = W + 2 * pad - 2;
      const tH = tiles(OH),
        tW = tiles(OW),
        T = tH * tW;
      const x = normals(new Random(C * 100 + H * 10 + W + pad), C * H * W);
      const xPtr = f32Buf(x, "x");
      const padded = f32Buf(nans(rt.kernels[variant.padBytes](C, tH, tW) / 4), "padded");
      for (const col0 of [0, 5]) {
        const ld = col0 + T + 3; // the least the kernel allows
        const v = f32Buf(nans(positions * C * ld), "V");
        rt.kernels[variant.input](xPtr, C, H, W, pad, tH, tW, padded, v, ld, col0);
        const all = readF32(v, positions * C * ld);
        const got: number[] = [],
          want: number[] = [],
          mag: number[] = [];
        const px = (c: number, iy: number, ix: number): number =>
          iy < 0 || iy >= H || ix < 0 || ix >= W ? 0 : x[(c * H + iy) * W + ix];
        for (let c = 0; c < C; c++) {
          for (let t = 0; t < T; t++) {
            const ty = Math.floor(t / tW),
              tx = t % tW;
            const d = range(alpha).map((r) => range(alpha).map((j) => px(c, tile * ty - pad + r, tile * tx - pad + j)));
            const v = ref.inputTransform(d);
            const vMag = ref.inputTransform(d, true);
            for (let i = 0; i < positions; i++) {
              got.push(all[(i * C + c) * ld + col0 + t]);
              want.push(v[Math.floor(i / alpha)][i % alpha]);
              mag.push(vMag[Math.floor(i / alpha)][i % alpha]);
            }
          }
          // The columns before col0 (another image's) are left as they were.
          for (let i = 0; i < positions; i++) {
            for (let j = 0; j < col0; j++) expect(all[(i * C + c) * ld + j], `V[${i}, ${c}, ${j}]`).toBeNaN();
          }
        }
        expectWithin(got, want, bound(mag, depth.v), `V (col0 ${col0})`);
      }
    });
  });

  describe("output: y = Aᵀ m A + bias (ReLU), only the outputs inside OH x OW", () => {
    // (K, OH, OW, col0)
    it.each([
      [1, 2, 2, 0],
      [3, 5, 7, 0],
      [2, 9, 9, 4],
      [4, 11, 6, 0],
      [2, 1, 17, 3],
      [3, 10, 33, 1],
    ])("K=%i, %ix%i, col0 %i", (K, OH, OW, col0) => {
      const tH = tiles(OH),
        tW = tiles(OW),
        T = tH * tW;
      const ld = col0 + T + 3;
      const rng = new Random(K * 7 + OH * 3 + OW);
      // M: random in the image's columns, NaN elsewhere (read by whole vectors, never used).
      const m = new Float64Array(positions * K * ld).fill(NaN);
      for (let i = 0; i < positions; i++)
        for (let k = 0; k < K; k++) for (let t = 0; t < T; t++) m[(i * K + k) * ld + col0 + t] = rng.normal();
      const b = normals(rng, K);
      const mPtr = f32Buf(m, "M"),
        bPtr = f32Buf(b, "bias");
      for (const relu of [0, 1]) {
        const y = f32Buf(nans(K * OH * OW), "y");
        output(mPtr, ld, col0, K, tH, tW, bPtr, relu, y, OH, OW);
        const want = new Float64Array(K * OH * OW),
          mag = new Float64Array(K * OH * OW);
        for (let k = 0; k < K; k++) {
          for (let t = 0; t < T; t++) {
            const ty = Math.floor(t / tW),
              tx = t % tW;
            const mt = range(alpha).map((r) => range(alpha).map((j) => m[((r * alpha + j) * K + k) * ld + col0 + t]));
            const Y = ref.outputTransform(mt);
            const Ymag = ref.outputTransform(mt, true);
            for (let a = 0; a < tile; a++) {
              for (let e = 0; e < tile; e++) {
                const oy = tile * ty + a,
                  ox = tile * tx + e;
                if (oy >= OH || ox >= OW) continue;
                const v = Y[a][e] + b[k];
                want[(k * OH + oy) * OW + ox] = relu ? Math.max(v, 0) : v;
                mag[(k * OH + oy) * OW + ox] = Ymag[a][e] + Math.abs(b[k]);
              }
            }
          }
        }
        expectWithin(readF32(y, K * OH * OW), want, bound([...mag], depth.y), `y (relu ${relu})`);
      }
    });
  });

  describe("the transforms and a GEMM per position make the convolution", () => {
    // (C, H, W, K, pad): channel and filter counts that are not multiples of 4 or 5; overhanging
    // tiles; padding 0, 1 and 2; two images side by side in one product.
    it.each([
      [3, 7, 9, 5, 1],
      [9, 11, 11, 13, 0],
      [6, 8, 5, 7, 2],
      [17, 6, 6, 11, 1],
      [4, 10, 22, 6, 1],
    ])("C=%i, %ix%i, K=%i, pad %i", (C, H, W, K, pad) => {
      const batch = 2;
      const g = geom(C, H, W, 3, 1, pad);
      const rng = new Random(C * 1000 + H * 100 + W * 10 + K + pad);
      const x = normals(rng, batch * C * H * W);
      const w = normals(rng, K * C * 9);
      const b = normals(rng, K);
      const [xPtr, wPtr, bPtr] = [f32Buf(x, "x"), f32Buf(w, "w"), f32Buf(b, "bias")];
      const tH = tiles(g.OH),
        tW = tiles(g.OW),
        T = tH * tW;
      const ld = batch * T + 3;
      const u = f32Buf(nans(positions * K * C), "U");
      const v = f32Buf(nans(positions * C * ld), "V");
      const m = f32Buf(nans(positions * K * ld), "M");
      const padded = f32Buf(nans(rt.kernels[variant.padBytes](C, tH, tW) / 4), "padded");
      const y = f32Buf(nans(batch * K * g.OH * g.OW), "y");
      rt.kernels[variant.filters](wPtr, K, C, u, 0, K);
      for (let n = 0; n < batch; n++)
        rt.kernels[variant.input](xPtr + n * C * H * W * 4, C, H, W, pad, tH, tW, padded, v, ld, n * T);
      for (let i = 0; i < positions; i++) {
        rt.kernels.gemm(
          u + i * K * C * 4,
          C,
          v + i * C * ld * 4,
          ld,
          m + i * K * ld * 4,
          ld,
          K,
          C,
          batch * T,
          0,
          0,
          0,
          rt.gemmWorkspace(0),
        );
      }
      for (let n = 0; n < batch; n++) output(m, ld, n * T, K, tH, tW, bPtr, 0, y + n * K * g.OH * g.OW * 4, g.OH, g.OW);
      const got = readF32(y, batch * K * g.OH * g.OW);
      const s = { N: batch, C, H, W, K, R: 3, stride: 1, pad };
      const mag = ref.winogradConv(s, x.map(Math.abs), w.map(Math.abs), b.map(Math.abs), true);
      expectWithin(
        got,
        convRef(x, w, b, batch, K, g).y,
        ref.winogradTolerance(mag, C),
        "y against the direct convolution",
      );
      // The reference's own Winograd agrees with the direct convolution (a check of the reference).
      expectWithin(
        ref.winogradConv(s, x, w, b),
        convRef(x, w, b, batch, K, g).y,
        ref.winogradTolerance(mag, C).map((t) => t / 1e6),
        "reference",
      );
    });
  });
});
