// Convolution by im2col (the course's eq. 59-62): patches of one image become the columns of a
// matrix, so the convolution is one GEMM with the filters [K, C*R*R]. col2im is its adjoint and
// accumulates the patch gradients back onto the image.
//
// Shapes: x [C, H, W] one image; cols [C*R*R, OH*OW] with row (c*R + ky)*R + kx and column
// oy*OW + ox; OH = (H + 2*pad - R) / stride + 1 (likewise OW). Zero padding outside the image.

import { relu4 } from "./simd";

/** cols[C*R*R, OH*OW] = patches of x[C,H,W]. */
export function im2col(
  x: usize, cols: usize, C: i32, H: i32, W: i32, R: i32, stride: i32, pad: i32, OH: i32, OW: i32,
): void {
  if (stride == 1 && pad == 0 && OW <= 16) {
    im2colValidShort(x, cols, C, H, W, R, OH, OW);
    return;
  }
  let out = cols;
  for (let c = 0; c < C; c++) {
    const plane = x + (<usize>(c * H * W) << 2);
    for (let ky = 0; ky < R; ky++) {
      for (let kx = 0; kx < R; kx++) {
        // Output columns ox whose input column ix = ox*stride - pad + kx lies inside [0, W).
        const oxStart = clampStart(pad - kx, stride);
        const oxEnd = min(OW, clampEnd(W + pad - kx, stride));
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H || oxStart >= oxEnd) {
            for (let ox = 0; ox < OW; ox++) store<f32>(out + (<usize>ox << 2), 0);
          } else {
            const row = plane + (<usize>(iy * W) << 2);
            for (let ox = 0; ox < oxStart; ox++) store<f32>(out + (<usize>ox << 2), 0);
            if (stride == 1) {
              copyF32(out + (<usize>oxStart << 2), row + (<usize>(oxStart - pad + kx) << 2), oxEnd - oxStart);
            } else {
              for (let ox = oxStart; ox < oxEnd; ox++) {
                store<f32>(out + (<usize>ox << 2), load<f32>(row + (<usize>(ox * stride - pad + kx) << 2)));
              }
            }
            for (let ox = oxEnd; ox < OW; ox++) store<f32>(out + (<usize>ox << 2), 0);
          }
          out += <usize>OW << 2;
        }
      }
    }
  }
}

/**
 * im2col with stride 1, no padding and rows of at most 16 floats (11 for conv2 of the LeNet-like
 * net): every output row is a plain copy of OW floats from one input row, made as four whole
 * f32x4 without a loop, running up to 15 floats into the next output rows, which their own copies
 * then overwrite; the rows whose spill would pass the end of cols, or whose source would be read
 * past the end of the image, are copied exactly. Rows this short are copied without a loop
 * because a loop per row would cost more than the copy itself (figures in docs/DESIGN.md,
 * "Convolution").
 */
function im2colValidShort(x: usize, cols: usize, C: i32, H: i32, W: i32, R: i32, OH: i32, OW: i32): void {
  const rowBytes = <usize>W << 2;
  const outRowBytes = <usize>OW << 2;
  const xEnd = x + (<usize>(C * H * W) << 2);
  const colsEnd = cols + <usize>(C * R * R * OH) * outRowBytes;
  let out = cols;
  for (let c = 0; c < C; c++) {
    const plane = x + (<usize>(c * H * W) << 2);
    for (let ky = 0; ky < R; ky++) {
      for (let kx = 0; kx < R; kx++) {
        let src = plane + (<usize>(ky * W + kx) << 2);
        for (let oy = 0; oy < OH; oy++) {
          if (out + 64 <= colsEnd && src + 64 <= xEnd) {
            v128.store(out, v128.load(src));
            v128.store(out, v128.load(src, 16), 16);
            v128.store(out, v128.load(src, 32), 32);
            v128.store(out, v128.load(src, 48), 48);
          } else {
            copyF32(out, src, OW);
          }
          src += rowBytes;
          out += outRowBytes;
        }
      }
    }
  }
}

/** dx[C,H,W] = Σ over patches of dcols[C*R*R, OH*OW] (the adjoint of im2col; dx is overwritten). */
export function col2im(
  dcols: usize, dx: usize, C: i32, H: i32, W: i32, R: i32, stride: i32, pad: i32, OH: i32, OW: i32,
): void {
  memory.fill(dx, 0, <usize>(C * H * W) << 2);
  if (stride == 1 && pad == 0 && OW <= 12 && W >= 12) {
    col2imValidShort(dcols, dx, C, H, W, R, OH, OW);
    return;
  }
  let src = dcols;
  for (let c = 0; c < C; c++) {
    const plane = dx + (<usize>(c * H * W) << 2);
    for (let ky = 0; ky < R; ky++) {
      for (let kx = 0; kx < R; kx++) {
        const oxStart = clampStart(pad - kx, stride);
        const oxEnd = min(OW, clampEnd(W + pad - kx, stride));
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy >= 0 && iy < H) {
            const row = plane + (<usize>(iy * W) << 2);
            if (stride == 1) {
              addF32(row + (<usize>(oxStart - pad + kx) << 2), src + (<usize>oxStart << 2), oxEnd - oxStart);
            } else {
              for (let ox = oxStart; ox < oxEnd; ox++) {
                const p = row + (<usize>(ox * stride - pad + kx) << 2);
                store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>ox << 2)));
              }
            }
          }
          src += <usize>OW << 2;
        }
      }
    }
  }
}

/**
 * col2im with stride 1, no padding and rows of at most 12 floats (conv2 of the LeNet-like net:
 * 11): each row of dcols is added onto its image row as three whole f32x4, the lanes past the row
 * masked to zero, so the floats after it are rewritten with their own values. Those floats belong
 * to this image (another thread may be writing the next image), so a row whose vectors would
 * reach past the end of dx, or read past the end of dcols, is added exactly instead. W >= 12
 * keeps one row's 48 bytes clear of the next row's: a load overlapping a store just made waits
 * for it, which is also why wider rows take the general loop rather than a fourth vector. Whole
 * vectors, not a loop per row, because such a loop costs more than the adds (docs/DESIGN.md,
 * "Convolution").
 */
function col2imValidShort(dcols: usize, dx: usize, C: i32, H: i32, W: i32, R: i32, OH: i32, OW: i32): void {
  const rowBytes = <usize>W << 2;
  const srcRowBytes = <usize>OW << 2;
  const dxEnd = dx + (<usize>(C * H * W) << 2);
  const srcEnd = dcols + <usize>(C * R * R * OH) * srcRowBytes;
  // mask j keeps the lanes of vector j (floats 4j..4j+3) that lie inside the row.
  const lane = i32x4(0, 1, 2, 3);
  const m0 = i32x4.lt_s(lane, i32x4.splat(OW));
  const m1 = i32x4.lt_s(lane, i32x4.splat(OW - 4));
  const m2 = i32x4.lt_s(lane, i32x4.splat(OW - 8));
  let src = dcols;
  for (let c = 0; c < C; c++) {
    const plane = dx + (<usize>(c * H * W) << 2);
    for (let ky = 0; ky < R; ky++) {
      for (let kx = 0; kx < R; kx++) {
        let dst = plane + (<usize>(ky * W + kx) << 2);
        for (let oy = 0; oy < OH; oy++) {
          if (dst + 48 <= dxEnd && src + 48 <= srcEnd) {
            v128.store(dst, f32x4.add(v128.load(dst), v128.and(v128.load(src), m0)));
            v128.store(dst, f32x4.add(v128.load(dst, 16), v128.and(v128.load(src, 16), m1)), 16);
            v128.store(dst, f32x4.add(v128.load(dst, 32), v128.and(v128.load(src, 32), m2)), 32);
          } else {
            addF32(dst, src, OW);
          }
          src += srcRowBytes;
          dst += rowBytes;
        }
      }
    }
  }
}

/** dst[0..n) = src[0..n): rows here are short, where memory.copy's call costs more than the copy. */
// @ts-ignore: decorator
@inline
function copyF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

/** dst[0..n) += src[0..n), four at a time. */
// @ts-ignore: decorator
@inline
function addF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = dst + (<usize>i << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) {
    const p = dst + (<usize>i << 2);
    store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>i << 2)));
  }
}

/** Smallest ox >= 0 with ox*stride >= lowest (lowest may be negative). */
// @ts-ignore: decorator
@inline
function clampStart(lowest: i32, stride: i32): i32 {
  return lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
}

/** Smallest ox with ox*stride >= limit, i.e. the end of the range ox*stride < limit. */
// @ts-ignore: decorator
@inline
function clampEnd(limit: i32, stride: i32): i32 {
  return limit <= 0 ? 0 : (limit + stride - 1) / stride;
}

/** y[batch, channels, spatial] += bias[channels]: the per-filter bias of a convolution. */
export function addBiasChannels(y: usize, bias: usize, batch: i32, channels: i32, spatial: i32): void {
  biasChannels(y, bias, batch, channels, spatial, false);
}

/**
 * y[batch, channels, spatial] = max(y + bias[channels], 0): a convolution's bias and the ReLU
 * after it in one pass (the model fuses them; see sdk/model.ts).
 */
export function addBiasChannelsRelu(y: usize, bias: usize, batch: i32, channels: i32, spatial: i32): void {
  biasChannels(y, bias, batch, channels, spatial, true);
}

// @ts-ignore: decorator
@inline
function biasChannels(y: usize, bias: usize, batch: i32, channels: i32, spatial: i32, relu: bool): void {
  const vecEnd = spatial & ~3;
  let p = y;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const value = load<f32>(bias + (<usize>c << 2));
      const vb = f32x4.splat(value);
      let s = 0;
      for (; s < vecEnd; s += 4) {
        const q = p + (<usize>s << 2);
        const v = f32x4.add(v128.load(q), vb);
        v128.store(q, relu ? relu4(v) : v);
      }
      for (; s < spatial; s++) {
        const q = p + (<usize>s << 2);
        const v = load<f32>(q) + value;
        store<f32>(q, relu ? max(v, 0) : v);
      }
      p += <usize>spatial << 2;
    }
  }
}

/** out[channels] = Σ over batch and spatial of dy[batch, channels, spatial] (+ beta · out). */
export function sumChannels(dy: usize, out: usize, batch: i32, channels: i32, spatial: i32, beta: f32): void {
  sumChannelBand(dy, out, batch, channels, spatial, 0, channels, beta);
}

/**
 * sumChannels for the channels first..end-1 only (out[c] for those; the rest untouched): each
 * channel's sum is made in the same order as sumChannels makes it, so bands shared among threads
 * give the same floats as one call.
 */
export function sumChannelBand(
  dy: usize, out: usize, batch: i32, channels: i32, spatial: i32, first: i32, end: i32, beta: f32,
): void {
  for (let c = first; c < end; c++) {
    const q = out + (<usize>c << 2);
    store<f32>(q, beta == 0 ? 0 : beta * load<f32>(q));
  }
  const vecEnd = spatial & ~3;
  const imageBytes = <usize>(channels * spatial) << 2;
  for (let b = 0; b < batch; b++) {
    let p = dy + <usize>b * imageBytes + (<usize>(first * spatial) << 2);
    for (let c = first; c < end; c++) {
      let acc = f32x4.splat(0);
      let s = 0;
      for (; s < vecEnd; s += 4) acc = f32x4.add(acc, v128.load(p + (<usize>s << 2)));
      let total = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) +
        f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      for (; s < spatial; s++) total += load<f32>(p + (<usize>s << 2));
      const q = out + (<usize>c << 2);
      store<f32>(q, load<f32>(q) + total);
      p += <usize>spatial << 2;
    }
  }
}
