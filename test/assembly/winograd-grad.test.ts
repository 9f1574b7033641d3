// assembly/winograd-grad.ts (the backward transforms of Winograd's F(2x2, 3x3):
// winogradGradOutput, winogradGradInput, winogradFilterGrad) against a plain float64 reference
// (test/support/winograd-reference.ts). Buffers sit between sentinel guards checked after each
// test; outputs start as NaN, so an element written out of bounds or left unwritten fails. The
// columns of dM before an image's first one must stay untouched; the columns of dV the input
// transform may read but must not use are NaN, so a lane that leaked into dx would show.
//
// Tolerances: the float32 bound of each transform, 2·d·u times the same transform on absolute
// values (d its roundings: 2 for dM, 4 for B dV Bᵀ plus 3 where four tiles overlap, 4 for dw).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectWithin, U } from "../support/numeric";
import { filterGradTransform, gradInputTransform, gradOutputTransform } from "../support/winograd-reference";

useRuntime();
checkGuardsAfterEach();

const tiles = (side: number): number => Math.ceil(side / 2);
const bound = (mag: ArrayLike<number>, depth: number): number[] => Array.from(mag, (m) => 2 * depth * U * m + 1e-30);

describe("winogradGradOutput: dM[i, k, col0 + t] = (A dY Aᵀ)[i] of every tile", () => {
  // (K, OH, OW): one tile; even sides; odd sides whose last tiles overhang; tile rows of 1-3 tiles
  // past a group of four; the MNIST cnn's conv2 (11x11).
  it.each([
    [1, 2, 2],
    [3, 4, 6],
    [2, 5, 7],
    [4, 11, 11],
    [2, 1, 17],
    [5, 9, 3],
  ])("K=%i, %ix%i", (K, OH, OW) => {
    const tH = tiles(OH),
      tW = tiles(OW),
      T = tH * tW;
    const dy = normals(new Random(K * 100 + OH * 10 + OW), K * OH * OW);
    const dyPtr = f32Buf(dy, "dy");
    const plane = f32Buf(nans(rt.kernels.winogradGradPlaneBytes(tH, tW) / 4), "plane");
    for (const col0 of [0, 3]) {
      const ld = col0 + T + 3; // the least the kernel allows
      const dm = f32Buf(nans(16 * K * ld), "dM");
      rt.kernels.winogradGradOutput(dyPtr, K, OH, OW, tH, tW, plane, dm, ld, col0);
      const all = readF32(dm, 16 * K * ld);
      const got: number[] = [],
        want: number[] = [],
        mag: number[] = [];
      const g = (k: number, oy: number, ox: number): number => (oy < OH && ox < OW ? dy[(k * OH + oy) * OW + ox] : 0);
      for (let k = 0; k < K; k++) {
        for (let t = 0; t < T; t++) {
          const ty = Math.floor(t / tW),
            tx = t % tW;
          const tile = [0, 1].map((a) => [0, 1].map((e) => g(k, 2 * ty + a, 2 * tx + e)));
          const ref = gradOutputTransform(tile);
          const refMag = gradOutputTransform(tile, true);
          for (let i = 0; i < 16; i++) {
            got.push(all[(i * K + k) * ld + col0 + t]);
            want.push(ref[i >> 2][i & 3]);
            mag.push(refMag[i >> 2][i & 3]);
          }
        }
        for (let i = 0; i < 16; i++) {
          for (let j = 0; j < col0; j++) expect(all[(i * K + k) * ld + j], `dM[${i}, ${k}, ${j}]`).toBeNaN();
        }
      }
      expectWithin(got, want, bound(mag, 2), `dM (col0 ${col0})`);
    }
  });
});

describe("winogradGradInput: dx = the tiles' B dV Bᵀ added where they lie, padding cropped", () => {
  // (C, H, W, pad): one tile; overlapping tiles; odd sides; padding 0, 1 and 2; the MNIST cnn's conv2.
  it.each([
    [1, 4, 4, 0],
    [2, 6, 8, 0],
    [3, 7, 9, 1],
    [2, 5, 11, 0],
    [2, 3, 5, 2],
    [3, 13, 13, 0],
    [1, 17, 4, 1],
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
      const dv = new Float64Array(16 * C * ld).fill(NaN);
      for (let i = 0; i < 16; i++)
        for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) dv[(i * C + c) * ld + col0 + t] = rng.normal();
      const plane = f32Buf(nans(rt.kernels.winogradGradPlaneBytes(tH, tW) / 4), "plane");
      const dx = f32Buf(nans(C * H * W), "dx");
      rt.kernels.winogradGradInput(f32Buf(dv, "dV"), ld, col0, C, tH, tW, pad, H, W, plane, dx);
      const PW = W + 2 * pad + 2;
      const PH = H + 2 * pad + 2;
      const want = new Float64Array(C * H * W),
        mag = new Float64Array(C * H * W);
      for (let c = 0; c < C; c++) {
        const sum = new Float64Array(PH * PW),
          sumMag = new Float64Array(PH * PW);
        for (let t = 0; t < T; t++) {
          const ty = Math.floor(t / tW),
            tx = t % tW;
          const tile = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((j) => dv[((r * 4 + j) * C + c) * ld + col0 + t]));
          const dd = gradInputTransform(tile);
          const ddMag = gradInputTransform(tile, true);
          for (let r = 0; r < 4; r++) {
            for (let j = 0; j < 4; j++) {
              sum[(2 * ty + r) * PW + 2 * tx + j] += dd[r][j];
              sumMag[(2 * ty + r) * PW + 2 * tx + j] += ddMag[r][j];
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
      expectWithin(readF32(dx, C * H * W), want, bound(mag, 7), `dx (col0 ${col0})`);
    }
  });
});

describe("winogradFilterGrad: dw[k, c] = Gᵀ dU[·, k, c] G", () => {
  // Channel counts below, at and past a vector of four.
  it.each([
    [1, 1],
    [2, 3],
    [3, 4],
    [5, 9],
    [4, 32],
  ])("K=%i, C=%i", (K, C) => {
    const du = normals(new Random(K * 31 + C), 16 * K * C);
    const dw = f32Buf(nans(K * C * 9), "dw");
    rt.kernels.winogradFilterGrad(f32Buf(du, "dU"), K, C, dw);
    const want: number[] = [],
      mag: number[] = [];
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < C; c++) {
        const tile = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((j) => du[((r * 4 + j) * K + k) * C + c]));
        want.push(...filterGradTransform(tile).flat());
        mag.push(...filterGradTransform(tile, true).flat());
      }
    }
    expectWithin(readF32(dw, K * C * 9), want, bound(mag, 4), "dw");
  });
});

describe("the reference's backward transforms are the forward ones transposed", () => {
  it("⟨A dY Aᵀ, M⟩ = ⟨dY, Aᵀ M A⟩, ⟨B dV Bᵀ, d⟩ = ⟨dV, Bᵀ d B⟩, ⟨Gᵀ dU G, g⟩ = ⟨dU, G g Gᵀ⟩", async () => {
    const { outputTransform, inputTransform, filterTransform } = await import("../support/winograd-reference");
    const rng = new Random(7);
    const rand = (r: number, c: number): number[][] =>
      Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));
    const dot = (a: number[][], b: number[][]): number => a.flat().reduce((s, v, i) => s + v * b.flat()[i], 0);
    const dY = rand(2, 2),
      M = rand(4, 4),
      dV = rand(4, 4),
      d = rand(4, 4),
      dU = rand(4, 4),
      g = rand(3, 3);
    expect(dot(gradOutputTransform(dY), M)).toBeCloseTo(dot(dY, outputTransform(M)), 12);
    expect(dot(gradInputTransform(dV), d)).toBeCloseTo(dot(dV, inputTransform(d)), 12);
    expect(dot(filterGradTransform(dU), g)).toBeCloseTo(dot(dU, filterTransform(g)), 12);
  });
});
