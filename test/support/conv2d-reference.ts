// The plain convolution Conv2D's fast paths are checked against (test/sdk/layers/conv2d.test.ts): direct
// loops over every output, filter tap and input channel, in float64, with nothing shared,
// packed, split or reordered. Forward and backward as a pair, llm.c style; the layout is the
// layer's: x [N, C, H, W], w [K, C, R, R], b [K], y and dy [N, K, OH, OW], zero padding `pad` on
// every side. It lives with the tests because nothing else should run it: a user wants one of the
// fast paths, the layer picks which.

export interface ConvShape {
  /** Images in the batch. */
  N: number;
  C: number;
  H: number;
  W: number;
  /** Filters (output channels). */
  K: number;
  /** Filter side. */
  R: number;
  stride: number;
  pad: number;
}

/** Output side: (in + 2·pad - R) / stride + 1, rounded down. */
export const convOutputSide = (input: number, s: ConvShape): number =>
  Math.floor((input + 2 * s.pad - s.R) / s.stride) + 1;

/** Calls tap(n, k, oy, ox, c, iy, ix, ky, kx) for every (output, input pixel) pair a filter tap joins, padding skipped. */
function eachTap(
  s: ConvShape,
  tap: (
    n: number,
    k: number,
    oy: number,
    ox: number,
    c: number,
    iy: number,
    ix: number,
    ky: number,
    kx: number,
  ) => void,
): void {
  const OH = convOutputSide(s.H, s),
    OW = convOutputSide(s.W, s);
  for (let n = 0; n < s.N; n++) {
    for (let k = 0; k < s.K; k++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          for (let c = 0; c < s.C; c++) {
            for (let ky = 0; ky < s.R; ky++) {
              const iy = oy * s.stride - s.pad + ky;
              if (iy < 0 || iy >= s.H) continue;
              for (let kx = 0; kx < s.R; kx++) {
                const ix = ox * s.stride - s.pad + kx;
                if (ix < 0 || ix >= s.W) continue;
                tap(n, k, oy, ox, c, iy, ix, ky, kx);
              }
            }
          }
        }
      }
    }
  }
}

/** y[n, k, oy, ox] = b[k] + Σ_c,ky,kx w[k, c, ky, kx] · x[n, c, oy·stride - pad + ky, ox·stride - pad + kx]. */
export function conv2dForward(
  s: ConvShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
): Float64Array {
  const OH = convOutputSide(s.H, s),
    OW = convOutputSide(s.W, s);
  const y = new Float64Array(s.N * s.K * OH * OW);
  for (let n = 0; n < s.N; n++) {
    for (let k = 0; k < s.K; k++) y.fill(b[k], (n * s.K + k) * OH * OW, (n * s.K + k + 1) * OH * OW);
  }
  eachTap(s, (n, k, oy, ox, c, iy, ix, ky, kx) => {
    y[((n * s.K + k) * OH + oy) * OW + ox] +=
      w[((k * s.C + c) * s.R + ky) * s.R + kx] * x[((n * s.C + c) * s.H + iy) * s.W + ix];
  });
  return y;
}

/**
 * The gradients of the loss with respect to the input, the filters and the biases, given its
 * gradient dy with respect to the output: each tap's product y += w·x sends dy·w back to x and
 * dy·x to w; every output sends dy to its filter's bias.
 */
export function conv2dBackward(
  s: ConvShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
): {
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
} {
  const OH = convOutputSide(s.H, s),
    OW = convOutputSide(s.W, s);
  const dx = new Float64Array(s.N * s.C * s.H * s.W);
  const dw = new Float64Array(s.K * s.C * s.R * s.R);
  const db = new Float64Array(s.K);
  for (let n = 0; n < s.N; n++) {
    for (let k = 0; k < s.K; k++) {
      for (let o = 0; o < OH * OW; o++) db[k] += dy[(n * s.K + k) * OH * OW + o];
    }
  }
  eachTap(s, (n, k, oy, ox, c, iy, ix, ky, kx) => {
    const g = dy[((n * s.K + k) * OH + oy) * OW + ox];
    const wi = ((k * s.C + c) * s.R + ky) * s.R + kx;
    const xi = ((n * s.C + c) * s.H + iy) * s.W + ix;
    dx[xi] += g * w[wi];
    dw[wi] += g * x[xi];
  });
  return { dx, dw, db };
}
