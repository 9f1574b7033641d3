// Plain double-precision references for the convolution kernels' tests (test/assembly/conv.test.ts,
// conv-direct.test.ts, pool.test.ts): the geometry of a window sweep, a direct 7-loop convolution,
// and the convolution as the SDK computes it from the kernels (im2col, then gemm).
import { Random } from "../../sdk/index";
import { f32Buf, nans, normals, rt } from "./buffers";

/** Output side of a window sweep: floor((n + 2·pad - size) / stride) + 1. */
export const side = (n: number, size: number, stride: number, pad: number): number =>
  Math.floor((n + 2 * pad - size) / stride) + 1;

export interface ConvGeom {
  C: number;
  H: number;
  W: number;
  R: number;
  stride: number;
  pad: number;
  OH: number;
  OW: number;
}

export function geom(C: number, H: number, W: number, R: number, stride: number, pad: number): ConvGeom {
  return { C, H, W, R, stride, pad, OH: side(H, R, stride, pad), OW: side(W, R, stride, pad) };
}

/** y[n,k,oy,ox] = b[k] + Σ_{c,ky,kx} w[k,c,ky,kx]·x[n,c,oy·s-p+ky, ox·s-p+kx], with Σ|terms|. */
export function convRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  batch: number,
  K: number,
  g: ConvGeom,
) {
  const { C, H, W, R, stride, pad, OH, OW } = g;
  const y = new Float64Array(batch * K * OH * OW);
  const absSum = new Float64Array(y.length);
  for (let n = 0; n < batch; n++) {
    for (let k = 0; k < K; k++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let sum = b[k],
            abs = Math.abs(b[k]);
          for (let c = 0; c < C; c++) {
            for (let ky = 0; ky < R; ky++) {
              for (let kx = 0; kx < R; kx++) {
                const iy = oy * stride - pad + ky,
                  ix = ox * stride - pad + kx;
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
export function convOperands(batch: number, K: number, g: ConvGeom, seed: number) {
  const rng = new Random(seed);
  const x = normals(rng, batch * g.C * g.H * g.W);
  const w = normals(rng, K * g.C * g.R * g.R);
  const b = normals(rng, K);
  return { x, w, b, xPtr: f32Buf(x, "x"), wPtr: f32Buf(w, "w"), bPtr: f32Buf(b, "bias") };
}

/** y[i] = W · im2col(x[i]) for each image, as the layer computes it (no bias). */
export function convByGemm(xPtr: number, wPtr: number, yPtr: number, batch: number, K: number, g: ConvGeom): void {
  const rows = g.C * g.R * g.R,
    n = g.OH * g.OW;
  const colsPtr = f32Buf(nans(rows * n), "cols");
  for (let i = 0; i < batch; i++) {
    rt.kernels.im2col(xPtr + i * g.C * g.H * g.W * 4, colsPtr, g.C, g.H, g.W, g.R, g.stride, g.pad, g.OH, g.OW);
    rt.gemm(wPtr, colsPtr, yPtr + i * K * n * 4, K, rows, n, false, false, 0);
  }
}
