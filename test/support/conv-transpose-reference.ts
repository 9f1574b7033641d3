// The plain transposed convolution ConvTranspose is checked against
// (test/sdk/layers/conv-transpose.test.ts): direct loops over every input pixel, filter tap and
// output channel, in float64, nothing packed, split or reordered. Forward and backward as a pair;
// the layout is the layer's (PyTorch's ConvTranspose2d): x [N, C, H, W], w [C, K, R, R], b [K],
// y and dy [N, K, OH, OW] with OH = (H - 1)·stride - 2·pad + R; input pixel (iy, ix) and tap
// (ky, kx) reach output pixel (iy·stride - pad + ky, ix·stride - pad + kx) when it lies inside.

export interface ConvTShape {
  /** Images in the batch. */
  N: number;
  /** Input channels. */
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

/** Output side: (in - 1)·stride - 2·pad + R. */
export const convTOutputSide = (input: number, s: ConvTShape): number => (input - 1) * s.stride - 2 * s.pad + s.R;

/** Calls tap(n, c, iy, ix, k, oy, ox, ky, kx) for every (input pixel, output pixel) pair a filter tap joins. */
function eachTap(
  s: ConvTShape,
  tap: (
    n: number,
    c: number,
    iy: number,
    ix: number,
    k: number,
    oy: number,
    ox: number,
    ky: number,
    kx: number,
  ) => void,
): void {
  const OH = convTOutputSide(s.H, s),
    OW = convTOutputSide(s.W, s);
  for (let n = 0; n < s.N; n++)
    for (let c = 0; c < s.C; c++)
      for (let iy = 0; iy < s.H; iy++)
        for (let ix = 0; ix < s.W; ix++)
          for (let k = 0; k < s.K; k++)
            for (let ky = 0; ky < s.R; ky++) {
              const oy = iy * s.stride - s.pad + ky;
              if (oy < 0 || oy >= OH) continue;
              for (let kx = 0; kx < s.R; kx++) {
                const ox = ix * s.stride - s.pad + kx;
                if (ox < 0 || ox >= OW) continue;
                tap(n, c, iy, ix, k, oy, ox, ky, kx);
              }
            }
}

/** y[n, k, oy, ox] = b[k] + Σ over the taps reaching it of w[c, k, ky, kx] · x[n, c, iy, ix]. */
export function convTForward(
  s: ConvTShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
): Float64Array {
  const OH = convTOutputSide(s.H, s),
    OW = convTOutputSide(s.W, s);
  const y = new Float64Array(s.N * s.K * OH * OW);
  for (let n = 0; n < s.N; n++)
    for (let k = 0; k < s.K; k++) y.fill(b[k], (n * s.K + k) * OH * OW, (n * s.K + k + 1) * OH * OW);
  eachTap(s, (n, c, iy, ix, k, oy, ox, ky, kx) => {
    y[((n * s.K + k) * OH + oy) * OW + ox] +=
      w[((c * s.K + k) * s.R + ky) * s.R + kx] * x[((n * s.C + c) * s.H + iy) * s.W + ix];
  });
  return y;
}

/** The gradients with respect to the input, the filters and the biases, given dy. */
export function convTBackward(
  s: ConvTShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const OH = convTOutputSide(s.H, s),
    OW = convTOutputSide(s.W, s);
  const dx = new Float64Array(s.N * s.C * s.H * s.W);
  const dw = new Float64Array(s.C * s.K * s.R * s.R);
  const db = new Float64Array(s.K);
  for (let n = 0; n < s.N; n++)
    for (let k = 0; k < s.K; k++) for (let o = 0; o < OH * OW; o++) db[k] += dy[(n * s.K + k) * OH * OW + o];
  eachTap(s, (n, c, iy, ix, k, oy, ox, ky, kx) => {
    const g = dy[((n * s.K + k) * OH + oy) * OW + ox];
    const wi = ((c * s.K + k) * s.R + ky) * s.R + kx;
    const xi = ((n * s.C + c) * s.H + iy) * s.W + ix;
    dx[xi] += g * w[wi];
    dw[wi] += g * x[xi];
  });
  return { dx, dw, db };
}
