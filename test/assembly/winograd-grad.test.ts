// assembly/winograd-grad.ts and assembly/winograd4-grad.ts (the backward transforms of
// Winograd's F(2x2, 3x3) and F(4x4, 3x3): winograd[4]GradOutput, winograd[4]GradInput,
// winograd[4]FilterGrad) against a plain float64 reference (test/support/winograd-reference.ts).
// Buffers sit between sentinel guards checked after each test; outputs start as NaN, so an element
// written out of bounds or left unwritten fails. The columns of dM before an image's first one
// must stay untouched; the columns of dV the input transform may read but must not use are NaN,
// so a lane that leaked into dx would show.
//
// Tolerances: the float32 bound of each transform, 2·d·u times the same transform on absolute
// values (d its roundings: for F(2x2, 3x3) 2 for dM, 4 for B dV Bᵀ plus 3 where four tiles
// overlap, 4 for dw; for F(4x4, 3x3) 6 for dM, 8 for B dV Bᵀ plus 3, 1 for dw made in float64).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectWithin, U } from "../support/numeric";
import { winogradReference } from "../support/winograd-reference";

useRuntime();
checkGuardsAfterEach();

const bound = (mag: ArrayLike<number>, depth: number): number[] => Array.from(mag, (m) => 2 * depth * U * m + 1e-30);

/** Each tile size's kernels and the roundings of its transforms (dM, dx, dw). */
const VARIANTS = [
  {
    name: "F(2x2, 3x3)",
    ref: winogradReference(2),
    planeBytes: "winogradGradPlaneBytes",
    gradOutput: "winogradGradOutput",
    gradInput: "winogradGradInput",
    filterGrad: "winogradFilterGrad",
    depth: { dm: 2, dx: 7, dw: 4 },
  },
  {
    name: "F(4x4, 3x3)",
    ref: winogradReference(4),
    planeBytes: "winograd4GradPlaneBytes",
    gradOutput: "winograd4GradOutput",
    gradInput: "winograd4GradInput",
    filterGrad: "winograd4FilterGrad",
    depth: { dm: 6, dx: 11, dw: 1 },
  },
] as const;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.each(VARIANTS)("$name", (variant) => {
  const { ref, depth } = variant;
  const { tile, alpha, positions } = ref;
  const tiles = (side: number): number => Math.ceil(side / tile);
  describe("gradOutput: dM[i, k, col0 + t] = (A dY Aᵀ)[i] of every tile", () => {
    // (K, OH, OW): one tile; even sides; odd sides whose last tiles overhang; tile rows of 1-3 tiles
    // past a group of four (of either tile size); the MNIST cnn's conv2 (11x11).
    it.each([
      [1, 2, 2],
      [3, 4, 6],
      [2, 5, 7],
      [4, 11, 11],
      [2, 1, 17],
      [5, 9, 3],
      [2, 6, 21],
    ])("K=%i, %ix%i", (K, OH, OW) => {
      const tH = tiles(OH),
        tW = tiles(OW),
        T = tH * tW;
      const dy = normals(new Random(K * 100 + OH * 10 + OW), K * OH * OW);
      const dyPtr = f32Buf(dy, "dy");
      const plane = f32Buf(nans(rt.kernels[variant.planeBytes](tH, tW) / 4), "plane");
      for (const col0 of [0, 3]) {
        const ld = col0 + T + 3; // the least the kernel allows
        const dm = f32Buf(nans(positions * K * ld), "dM");
        rt.kernels[variant.gradOutput](dyPtr, K, OH, OW, tH, tW, plane, dm, ld, col0);
        const all = readF32(dm, positions * K * ld);
        const got: number[] = [],
          want: number[] = [],
          mag: number[] = [];
        const g = (k: number, oy: number, ox: number): number => (oy < OH && ox < OW ? dy[(k * OH + oy) * OW + ox] : 0);
        for (let k = 0; k < K; k++) {
          for (let t = 0; t < T; t++) {
            const ty = Math.floor(t / tW),
              tx = t % tW;
            const dY = range(tile).map((a) => range(tile).map((e) => g(k, tile * ty + a, tile * tx + e)));
            const dM = ref.gradOutputTransform(dY);
            const dMmag = ref.gradOutputTransform(dY, true);
            for (let i = 0; i < positions; i++) {
              got.push(all[(i * K + k) * ld + col0 + t]);
              want.push(dM[Math.floor(i / alpha)][i % alpha]);
              mag.push(dMmag[Math.floor(i / alpha)][i % alpha]);
            }
          }
          for (let i = 0; i < positions; i++) {
            for (let j = 0; j < col0; j++) expect(all[(i * K + k) * ld + j], `dM[${i}, ${k}, ${j}]`).toBeNaN();
          }
        }
        expectWithin(got, want, bound(mag, depth.dm), `dM (col0 ${col0})`);
      }
    });
  });

  describe("gradInput: dx = the tiles' B dV Bᵀ added where they lie, padding cropped", () => {
    // (C, H, W, pad): one tile; overlapping tiles; odd sides; padding 0, 1 and 2; the MNIST cnn's conv2.
    it.each([
      [1, 4, 4, 0],
      [2, 6, 8, 0],
      [3, 7, 9, 1],
      [2, 5, 11, 0],
      [2, 3, 5, 2],
      [3, 13, 13, 0],
      [1, 17, 4, 1],
      [2, 7, 24, 1],
    ])("C=%i, %ix%i, pad %i", (C, H, W, pad) => {
      const OH = H + 2 * pad - 2,
        OW = W + 2 * pad - 2;
      const tH = tiles(OH),
        tW = tiles(OW),
        T = tH * tW;
      const rng = new Random(C * 1000 + H * 100 + W * 10 + pad);
      for (const col0 of [0, 2]) {
        const ld = col0 + T + 3;
        // dV: random in the image's columns, NaN before and after (read by whole vectors, never used).
        const dv = new Float64Array(positions * C * ld).fill(NaN);
        for (let i = 0; i < positions; i++)
          for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) dv[(i * C + c) * ld + col0 + t] = rng.normal();
        const plane = f32Buf(nans(rt.kernels[variant.planeBytes](tH, tW) / 4), "plane");
        const dx = f32Buf(nans(C * H * W), "dx");
        rt.kernels[variant.gradInput](f32Buf(dv, "dV"), ld, col0, C, tH, tW, pad, H, W, plane, dx);
        const PW = tile * tW + 2;
        const PH = tile * tH + 2;
        const want = new Float64Array(C * H * W),
          mag = new Float64Array(C * H * W);
        for (let c = 0; c < C; c++) {
          const sum = new Float64Array(PH * PW),
            sumMag = new Float64Array(PH * PW);
          for (let t = 0; t < T; t++) {
            const ty = Math.floor(t / tW),
              tx = t % tW;
            const dV = range(alpha).map((r) => range(alpha).map((j) => dv[((r * alpha + j) * C + c) * ld + col0 + t]));
            const dd = ref.gradInputTransform(dV);
            const ddMag = ref.gradInputTransform(dV, true);
            for (let r = 0; r < alpha; r++) {
              for (let j = 0; j < alpha; j++) {
                sum[(tile * ty + r) * PW + tile * tx + j] += dd[r][j];
                sumMag[(tile * ty + r) * PW + tile * tx + j] += ddMag[r][j];
              }
            }
          }
          for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) {
              want[(c * H + y) * W + x] = sum[(y + pad) * PW + x + pad];
              mag[(c * H + y) * W + x] = sumMag[(y + pad) * PW + x + pad];
            }
          }
        }
        expectWithin(readF32(dx, C * H * W), want, bound(mag, depth.dx), `dx (col0 ${col0})`);
      }
    });
  });

  describe("filterGrad: dw[k, c] = Gᵀ dU[·, k, c] G", () => {
    // Channel counts below, at and past a vector of four.
    it.each([
      [1, 1],
      [2, 3],
      [3, 4],
      [5, 9],
      [4, 32],
    ])("K=%i, C=%i", (K, C) => {
      const du = normals(new Random(K * 31 + C), positions * K * C);
      const dw = f32Buf(nans(K * C * 9), "dw");
      rt.kernels[variant.filterGrad](f32Buf(du, "dU"), K, C, dw, 0, K);
      const want: number[] = [],
        mag: number[] = [];
      for (let k = 0; k < K; k++) {
        for (let c = 0; c < C; c++) {
          const dU = range(alpha).map((r) => range(alpha).map((j) => du[((r * alpha + j) * K + k) * C + c]));
          want.push(...ref.filterGradTransform(dU).flat());
          mag.push(...ref.filterGradTransform(dU, true).flat());
        }
      }
      expectWithin(readF32(dw, K * C * 9), want, bound(mag, depth.dw), "dw");
      // Filter bands (the threads' shares) write their filters only, with the same floats.
      const split = Math.floor(K / 2);
      const banded = f32Buf(nans(K * C * 9), "dw in bands");
      const duPtr = f32Buf(du, "dU again");
      rt.kernels[variant.filterGrad](duPtr, K, C, banded, 0, split);
      expect(
        readF32(banded, K * C * 9)
          .slice(split * C * 9)
          .every(Number.isNaN),
      ).toBe(true);
      rt.kernels[variant.filterGrad](duPtr, K, C, banded, split, K);
      expect(readF32(banded, K * C * 9)).toEqual(readF32(dw, K * C * 9));
    });
  });

  describe("the reference's backward transforms are the forward ones transposed", () => {
    it("⟨A dY Aᵀ, M⟩ = ⟨dY, Aᵀ M A⟩, ⟨B dV Bᵀ, d⟩ = ⟨dV, Bᵀ d B⟩, ⟨Gᵀ dU G, g⟩ = ⟨dU, G g Gᵀ⟩", () => {
      const rng = new Random(7);
      const rand = (r: number, c: number): number[][] =>
        Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));
      const dot = (a: number[][], b: number[][]): number => a.flat().reduce((s, v, i) => s + v * b.flat()[i], 0);
      const dY = rand(tile, tile),
        M = rand(alpha, alpha),
        dV = rand(alpha, alpha),
        d = rand(alpha, alpha),
        dU = rand(alpha, alpha),
        g = rand(3, 3);
      expect(dot(ref.gradOutputTransform(dY), M)).toBeCloseTo(dot(dY, ref.outputTransform(M)), 10);
      expect(dot(ref.gradInputTransform(dV), d)).toBeCloseTo(dot(dV, ref.inputTransform(d)), 10);
      expect(dot(ref.filterGradTransform(dU), g)).toBeCloseTo(dot(dU, ref.filterTransform(g)), 10);
    });
  });
});
