// Winograd's F(2x2, 3x3) in float64, plainly, for the tests of assembly/winograd.ts and of the
// layers that run it (test/assembly/winograd.test.ts, test/sdk/layers/winograd.test.ts):
// U = G g Gᵀ, V = Bᵀ d B, Y = Aᵀ (Σ_c U ⊙ V) A, with the matrices of the kernels' header.
//
// With `magnitude` set, every matrix and every operand is taken by its absolute value: the result
// bounds the absolute values of all the terms the float32 kernels add, which is what their
// rounding errors are proportional to (the error bound of a float computation of depth d is
// γ_d = d·u/(1 - d·u) times the same computation on absolute values).
import type { ConvShape } from "./conv2d-reference";

const BT = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
];
const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];
const AT = [
  [1, 1, 1, 0],
  [0, 1, -1, -1],
];

const pick = (v: number, magnitude: boolean): number => (magnitude ? Math.abs(v) : v);

/** L · X · Rᵀ for row-major L [a, b], X [b, c], R [d, c]: [a, d]. */
function sandwich(L: number[][], X: number[][], R: number[][], magnitude: boolean): number[][] {
  const LX = L.map((row) => X[0].map((_, j) => row.reduce((sum, l, p) => sum + pick(l, magnitude) * X[p][j], 0)));
  return LX.map((row) => R.map((r) => row.reduce((sum, v, p) => sum + v * pick(r[p], magnitude), 0)));
}

/** U = G g Gᵀ [4, 4] of a 3x3 filter g [3, 3]. */
export const filterTransform = (g: number[][], magnitude = false): number[][] =>
  sandwich(
    G,
    g.map((r) => r.map((v) => pick(v, magnitude))),
    G,
    magnitude,
  );

/** V = Bᵀ d B [4, 4] of a 4x4 tile d. */
export const inputTransform = (d: number[][], magnitude = false): number[][] =>
  sandwich(
    BT,
    d.map((r) => r.map((v) => pick(v, magnitude))),
    BT,
    magnitude,
  );

/** Y = Aᵀ m A [2, 2] of a transformed 4x4 tile m. */
export const outputTransform = (m: number[][], magnitude = false): number[][] =>
  sandwich(
    AT,
    m.map((r) => r.map((v) => pick(v, magnitude))),
    AT,
    magnitude,
  );

/**
 * y [N, K, OH, OW] of a 3x3 stride-1 convolution (shape s, x [N, C, H, W], w [K, C, 3, 3], b [K]),
 * by Winograd's tiles in float64; with `magnitude`, its bound on absolute values (see above).
 */
export function winogradConv(
  s: ConvShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  magnitude = false,
): Float64Array {
  const OH = s.H + 2 * s.pad - 2,
    OW = s.W + 2 * s.pad - 2;
  const y = new Float64Array(s.N * s.K * OH * OW);
  const U = Array.from({ length: s.K * s.C }, (_, kc) =>
    filterTransform(
      [0, 1, 2].map((r) => [0, 1, 2].map((c) => w[kc * 9 + r * 3 + c])),
      magnitude,
    ),
  );
  const pixel = (n: number, c: number, iy: number, ix: number): number =>
    iy < 0 || iy >= s.H || ix < 0 || ix >= s.W ? 0 : x[((n * s.C + c) * s.H + iy) * s.W + ix];
  for (let n = 0; n < s.N; n++) {
    for (let ty = 0; ty < Math.ceil(OH / 2); ty++) {
      for (let tx = 0; tx < Math.ceil(OW / 2); tx++) {
        const V = Array.from({ length: s.C }, (_, c) =>
          inputTransform(
            [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((j) => pixel(n, c, 2 * ty - s.pad + r, 2 * tx - s.pad + j))),
            magnitude,
          ),
        );
        for (let k = 0; k < s.K; k++) {
          const M = [0, 1, 2, 3].map((r) =>
            [0, 1, 2, 3].map((j) => V.reduce((sum, v, c) => sum + U[k * s.C + c][r][j] * v[r][j], 0)),
          );
          const Y = outputTransform(M, magnitude);
          for (let a = 0; a < 2; a++) {
            for (let e = 0; e < 2; e++) {
              const oy = 2 * ty + a,
                ox = 2 * tx + e;
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
 * The float32 error bound of a Winograd output of C input channels, given its `magnitude`
 * (winogradConv on absolute values): 2·(C + 16)·u times it. The depth C + 16 counts the roundings
 * on the longest path to an output: 6 in U = G g Gᵀ, 2 in V = Bᵀ d B, C + 1 in the sum of C products
 * (the GEMM), 4 in Aᵀ m A, 1 for the bias; the factor 2 covers γ_d's denominator and mul + add
 * where no FMA is used, as the direct path's bound does (test/sdk/layers/conv2d.test.ts).
 */
export const winogradTolerance = (magnitude: Float64Array, C: number): Float64Array =>
  magnitude.map((m) => 2 * (C + 16) * 2 ** -24 * m + 1e-30);

// The backward passes: each forward step's transpose (see assembly/winograd-grad.ts).
const transpose = (m: number[][]): number[][] => m[0].map((_, j) => m.map((row) => row[j]));
const A = transpose(AT);
const B = transpose(BT);
const GT = transpose(G);

/** dM = A dY Aᵀ [4, 4] of a 2x2 output gradient dY. */
export const gradOutputTransform = (dY: number[][], magnitude = false): number[][] =>
  sandwich(
    A,
    dY.map((r) => r.map((v) => pick(v, magnitude))),
    A,
    magnitude,
  );

/** dd = B dV Bᵀ [4, 4] of a 4x4 gradient dV of a transformed tile. */
export const gradInputTransform = (dV: number[][], magnitude = false): number[][] =>
  sandwich(
    B,
    dV.map((r) => r.map((v) => pick(v, magnitude))),
    B,
    magnitude,
  );

/** dg = Gᵀ dU G [3, 3] of a 4x4 gradient dU of a transformed filter. */
export const filterGradTransform = (dU: number[][], magnitude = false): number[][] =>
  sandwich(
    GT,
    dU.map((r) => r.map((v) => pick(v, magnitude))),
    GT,
    magnitude,
  );

/**
 * dx [N, C, H, W] and dw [K, C, 3, 3] of a 3x3 stride-1 convolution (shape s, input x, filters w)
 * given dy [N, K, OH, OW], by Winograd's tiles in float64 as the training kernels compute them
 * (dM = A dY Aᵀ, dU = Σ dM ⊙ V, dV = Σ U ⊙ dM, dx = Σ B dV Bᵀ, dw = Gᵀ dU G); with `magnitude`,
 * their bound on absolute values.
 */
export function winogradConvBackward(
  s: ConvShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  magnitude = false,
): { dx: Float64Array; dw: Float64Array } {
  const OH = s.H + 2 * s.pad - 2,
    OW = s.W + 2 * s.pad - 2;
  const PH = s.H + 2 * s.pad + 2,
    PW = s.W + 2 * s.pad + 2;
  const U = Array.from({ length: s.K * s.C }, (_, kc) =>
    filterTransform(
      [0, 1, 2].map((r) => [0, 1, 2].map((c) => w[kc * 9 + r * 3 + c])),
      magnitude,
    ),
  );
  const dU = Array.from({ length: s.K * s.C }, () => [0, 1, 2, 3].map(() => [0, 0, 0, 0]));
  const dx = new Float64Array(s.N * s.C * s.H * s.W);
  const pixel = (n: number, c: number, iy: number, ix: number): number =>
    iy < 0 || iy >= s.H || ix < 0 || ix >= s.W ? 0 : x[((n * s.C + c) * s.H + iy) * s.W + ix];
  const grad = (n: number, k: number, oy: number, ox: number): number =>
    oy >= OH || ox >= OW ? 0 : dy[((n * s.K + k) * OH + oy) * OW + ox];
  for (let n = 0; n < s.N; n++) {
    const padded = Array.from({ length: s.C }, () => new Float64Array(PH * PW));
    for (let ty = 0; ty < Math.ceil(OH / 2); ty++) {
      for (let tx = 0; tx < Math.ceil(OW / 2); tx++) {
        const V = Array.from({ length: s.C }, (_, c) =>
          inputTransform(
            [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((j) => pixel(n, c, 2 * ty - s.pad + r, 2 * tx - s.pad + j))),
            magnitude,
          ),
        );
        const dM = Array.from({ length: s.K }, (_, k) =>
          gradOutputTransform(
            [0, 1].map((a) => [0, 1].map((e) => grad(n, k, 2 * ty + a, 2 * tx + e))),
            magnitude,
          ),
        );
        for (let k = 0; k < s.K; k++)
          for (let c = 0; c < s.C; c++)
            for (let i = 0; i < 16; i++) dU[k * s.C + c][i >> 2][i & 3] += dM[k][i >> 2][i & 3] * V[c][i >> 2][i & 3];
        for (let c = 0; c < s.C; c++) {
          const dV = [0, 1, 2, 3].map((r) =>
            [0, 1, 2, 3].map((j) => dM.reduce((sum, m, k) => sum + U[k * s.C + c][r][j] * m[r][j], 0)),
          );
          const dd = gradInputTransform(dV, magnitude);
          for (let r = 0; r < 4; r++) for (let j = 0; j < 4; j++) padded[c][(2 * ty + r) * PW + 2 * tx + j] += dd[r][j];
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
 * The float32 error bounds of the Winograd gradients, given their magnitudes
 * (winogradConvBackward on absolute values): dx within 2·(K + 20)·u (the roundings on its
 * longest path: 2 in dM, 6 in U, K + 1 in the sum over filters, 4 in B dV Bᵀ, 3 where up to
 * four tiles overlap, and slack), dw within 2·(terms + 20)·u, `terms` the tiles summed into each
 * dU (images × tiles an image), plus 2 in V, 2 in dM, 4 in Gᵀ dU G, 1 for the threads' shares.
 */
export const winogradGradTolerance = (magnitude: Float64Array, depth: number): Float64Array =>
  magnitude.map((m) => 2 * (depth + 20) * 2 ** -24 * m + 1e-30);
