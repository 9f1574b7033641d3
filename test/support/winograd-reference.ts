// Winograd's F(2x2, 3x3) and F(4x4, 3x3) in float64, plainly, for the tests of
// assembly/winograd*.ts and of the layers that run them (test/assembly/winograd*.test.ts,
// test/sdk/layers/winograd*.test.ts): U = G g Gᵀ, V = Bᵀ d B, Y = Aᵀ (Σ_c U ⊙ V) A, with the
// matrices of the kernels' headers. winogradReference(tile) gives one of them.
//
// With `magnitude` set, every matrix and every operand is taken by its absolute value: the result
// bounds the absolute values of all the terms the float32 kernels add, which is what their
// rounding errors are proportional to (the error bound of a float computation of depth d is
// γ_d = d·u/(1 - d·u) times the same computation on absolute values).
import type { ConvShape } from "./conv2d-reference";

/** Bᵀ, G and Aᵀ of F(m x m, 3x3) for output tiles of side m = 2 and 4. */
const MATRICES = {
  2: {
    BT: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    G: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

const pick = (v: number, magnitude: boolean): number => (magnitude ? Math.abs(v) : v);

/** L · X · Rᵀ for row-major L [a, b], X [b, c], R [d, c]: [a, d]. */
function sandwich(L: number[][], X: number[][], R: number[][], magnitude: boolean): number[][] {
  const LX = L.map((row) => X[0].map((_, j) => row.reduce((sum, l, p) => sum + pick(l, magnitude) * X[p][j], 0)));
  return LX.map((row) => R.map((r) => row.reduce((sum, v, p) => sum + v * pick(r[p], magnitude), 0)));
}

const transpose = (m: number[][]): number[][] => m[0].map((_, j) => m.map((row) => row[j]));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** F(tile x tile, 3x3) in float64: its transforms, the whole convolution and its gradients. */
export function winogradReference(tile: 2 | 4) {
  const { BT, G, AT } = MATRICES[tile];
  // The backward passes: each forward step's transpose (see assembly/winograd*-grad.ts).
  const A = transpose(AT);
  const B = transpose(BT);
  const GT = transpose(G);
  /** The side of an input tile, and the positions of a transformed one. */
  const alpha = tile + 2;
  const positions = alpha * alpha;
  const at = (magnitude: boolean) => (X: number[][]) => X.map((r) => r.map((v) => pick(v, magnitude)));

  /** U = G g Gᵀ [alpha, alpha] of a 3x3 filter g [3, 3]. */
  const filterTransform = (g: number[][], magnitude = false): number[][] => sandwich(G, at(magnitude)(g), G, magnitude);
  /** V = Bᵀ d B [alpha, alpha] of an input tile d. */
  const inputTransform = (d: number[][], magnitude = false): number[][] =>
    sandwich(BT, at(magnitude)(d), BT, magnitude);
  /** Y = Aᵀ m A [tile, tile] of a transformed tile m. */
  const outputTransform = (m: number[][], magnitude = false): number[][] =>
    sandwich(AT, at(magnitude)(m), AT, magnitude);
  /** dM = A dY Aᵀ [alpha, alpha] of a tile x tile output gradient dY. */
  const gradOutputTransform = (dY: number[][], magnitude = false): number[][] =>
    sandwich(A, at(magnitude)(dY), A, magnitude);
  /** dd = B dV Bᵀ [alpha, alpha] of a gradient dV of a transformed tile. */
  const gradInputTransform = (dV: number[][], magnitude = false): number[][] =>
    sandwich(B, at(magnitude)(dV), B, magnitude);
  /** dg = Gᵀ dU G [3, 3] of a gradient dU of a transformed filter. */
  const filterGradTransform = (dU: number[][], magnitude = false): number[][] =>
    sandwich(GT, at(magnitude)(dU), GT, magnitude);

  const filtersOf = (s: ConvShape, w: ArrayLike<number>, magnitude: boolean): number[][][] =>
    range(s.K * s.C).map((kc) =>
      filterTransform(
        range(3).map((r) => range(3).map((c) => w[kc * 9 + r * 3 + c])),
        magnitude,
      ),
    );

  /**
   * y [N, K, OH, OW] of a 3x3 stride-1 convolution (shape s, x [N, C, H, W], w [K, C, 3, 3], b [K]),
   * by Winograd's tiles in float64; with `magnitude`, its bound on absolute values (see above).
   */
  function winogradConv(
    s: ConvShape,
    x: ArrayLike<number>,
    w: ArrayLike<number>,
    b: ArrayLike<number>,
    magnitude = false,
  ): Float64Array {
    const OH = s.H + 2 * s.pad - 2,
      OW = s.W + 2 * s.pad - 2;
    const y = new Float64Array(s.N * s.K * OH * OW);
    const U = filtersOf(s, w, magnitude);
    const pixel = (n: number, c: number, iy: number, ix: number): number =>
      iy < 0 || iy >= s.H || ix < 0 || ix >= s.W ? 0 : x[((n * s.C + c) * s.H + iy) * s.W + ix];
    for (let n = 0; n < s.N; n++) {
      for (let ty = 0; ty < Math.ceil(OH / tile); ty++) {
        for (let tx = 0; tx < Math.ceil(OW / tile); tx++) {
          const V = range(s.C).map((c) =>
            inputTransform(
              range(alpha).map((r) =>
                range(alpha).map((j) => pixel(n, c, tile * ty - s.pad + r, tile * tx - s.pad + j)),
              ),
              magnitude,
            ),
          );
          for (let k = 0; k < s.K; k++) {
            const M = range(alpha).map((r) =>
              range(alpha).map((j) => V.reduce((sum, v, c) => sum + U[k * s.C + c][r][j] * v[r][j], 0)),
            );
            const Y = outputTransform(M, magnitude);
            for (let a = 0; a < tile; a++) {
              for (let e = 0; e < tile; e++) {
                const oy = tile * ty + a,
                  ox = tile * tx + e;
                if (oy < OH && ox < OW) y[((n * s.K + k) * OH + oy) * OW + ox] = Y[a][e] + pick(b[k], magnitude);
              }
            }
          }
        }
      }
    }
    return y;
  }

  /**
   * dx [N, C, H, W] and dw [K, C, 3, 3] of a 3x3 stride-1 convolution (shape s, input x, filters w)
   * given dy [N, K, OH, OW], by Winograd's tiles in float64 as the training kernels compute them
   * (dM = A dY Aᵀ, dU = Σ dM ⊙ V, dV = Σ U ⊙ dM, dx = Σ B dV Bᵀ, dw = Gᵀ dU G); with `magnitude`,
   * their bound on absolute values.
   */
  function winogradConvBackward(
    s: ConvShape,
    x: ArrayLike<number>,
    w: ArrayLike<number>,
    dy: ArrayLike<number>,
    magnitude = false,
  ): { dx: Float64Array; dw: Float64Array } {
    const OH = s.H + 2 * s.pad - 2,
      OW = s.W + 2 * s.pad - 2;
    const tilesH = Math.ceil(OH / tile),
      tilesW = Math.ceil(OW / tile);
    const PH = tile * tilesH + 2,
      PW = tile * tilesW + 2;
    const U = filtersOf(s, w, magnitude);
    const dU = range(s.K * s.C).map(() => range(alpha).map(() => new Array<number>(alpha).fill(0)));
    const dx = new Float64Array(s.N * s.C * s.H * s.W);
    const pixel = (n: number, c: number, iy: number, ix: number): number =>
      iy < 0 || iy >= s.H || ix < 0 || ix >= s.W ? 0 : x[((n * s.C + c) * s.H + iy) * s.W + ix];
    const grad = (n: number, k: number, oy: number, ox: number): number =>
      oy >= OH || ox >= OW ? 0 : dy[((n * s.K + k) * OH + oy) * OW + ox];
    for (let n = 0; n < s.N; n++) {
      const padded = range(s.C).map(() => new Float64Array(PH * PW));
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const V = range(s.C).map((c) =>
            inputTransform(
              range(alpha).map((r) =>
                range(alpha).map((j) => pixel(n, c, tile * ty - s.pad + r, tile * tx - s.pad + j)),
              ),
              magnitude,
            ),
          );
          const dM = range(s.K).map((k) =>
            gradOutputTransform(
              range(tile).map((a) => range(tile).map((e) => grad(n, k, tile * ty + a, tile * tx + e))),
              magnitude,
            ),
          );
          for (let k = 0; k < s.K; k++)
            for (let c = 0; c < s.C; c++)
              for (let r = 0; r < alpha; r++)
                for (let j = 0; j < alpha; j++) dU[k * s.C + c][r][j] += dM[k][r][j] * V[c][r][j];
          for (let c = 0; c < s.C; c++) {
            const dV = range(alpha).map((r) =>
              range(alpha).map((j) => dM.reduce((sum, m, k) => sum + U[k * s.C + c][r][j] * m[r][j], 0)),
            );
            const dd = gradInputTransform(dV, magnitude);
            for (let r = 0; r < alpha; r++)
              for (let j = 0; j < alpha; j++) padded[c][(tile * ty + r) * PW + tile * tx + j] += dd[r][j];
          }
        }
      }
      for (let c = 0; c < s.C; c++)
        for (let iy = 0; iy < s.H; iy++)
          for (let ix = 0; ix < s.W; ix++)
            dx[((n * s.C + c) * s.H + iy) * s.W + ix] = padded[c][(iy + s.pad) * PW + ix + s.pad];
    }
    const dw = new Float64Array(s.K * s.C * 9);
    for (let kc = 0; kc < s.K * s.C; kc++) {
      const g = filterGradTransform(dU[kc], magnitude);
      for (let r = 0; r < 3; r++) for (let j = 0; j < 3; j++) dw[kc * 9 + r * 3 + j] = g[r][j];
    }
    return { dx, dw };
  }

  /**
   * The float32 error bound of a Winograd output of C input channels, given its `magnitude`
   * (winogradConv on absolute values): 2·(C + d)·u times it. The depth C + d counts the roundings
   * on the longest path to an output: for F(2x2, 3x3) d = 16 (6 in U = G g Gᵀ, 2 in V = Bᵀ d B,
   * C + 1 in the sum of C products (the GEMM), 4 in Aᵀ m A, 1 for the bias, and slack); for
   * F(4x4, 3x3) d = 20 (U made in float64 and rounded once, up to 3 roundings a row in each of
   * the two passes of Bᵀ d B and of Aᵀ m A, their coefficients 5 and 1/6 included). The factor 2
   * covers γ_d's denominator and mul + add where no FMA is used, as the direct path's bound does
   * (test/sdk/layers/conv2d.test.ts).
   */
  const winogradTolerance = (magnitude: Float64Array, C: number): Float64Array =>
    magnitude.map((m) => 2 * (C + (tile === 2 ? 16 : 20)) * 2 ** -24 * m + 1e-30);

  /**
   * The float32 error bounds of the Winograd gradients, given their magnitudes
   * (winogradConvBackward on absolute values): dx within 2·(K + e)·u, dw within 2·(terms + e)·u,
   * `terms` the tiles summed into each dU (images × tiles an image). For F(2x2, 3x3) e = 20: dx's
   * longest path has 2 roundings in dM, 6 in U, K + 1 in the sum over filters, 4 in B dV Bᵀ, 3
   * where up to four tiles overlap; dw's 2 in V, 2 in dM, 4 in Gᵀ dU G, 1 for the threads' shares.
   * For F(4x4, 3x3) e = 24: up to 6 in each of dM, V and B dV Bᵀ, U and Gᵀ dU G made in float64.
   */
  const winogradGradTolerance = (magnitude: Float64Array, depth: number): Float64Array =>
    magnitude.map((m) => 2 * (depth + (tile === 2 ? 20 : 24)) * 2 ** -24 * m + 1e-30);

  return {
    tile,
    alpha,
    positions,
    filterTransform,
    inputTransform,
    outputTransform,
    gradOutputTransform,
    gradInputTransform,
    filterGradTransform,
    winogradConv,
    winogradConvBackward,
    winogradTolerance,
    winogradGradTolerance,
  };
}

export type WinogradReference = ReturnType<typeof winogradReference>;

/** The kernel of this tile size that `name` (an F(2x2, 3x3) kernel's) names: winogradInput -> winograd4Input. */
export const winogradKernel = (tile: 2 | 4, name: string): string =>
  tile === 2 ? name : name.replace(/^winograd/, "winograd4");
