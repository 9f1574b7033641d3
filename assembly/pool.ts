// Pooling over `planes` independent planes (batch x channels) of H x W, windows size x size
// moved by stride, no padding: OH = (H - size) / stride + 1 (likewise OW).
// Shapes: x, dx [planes, H, W]; y, dy [planes, OH, OW]; argmax [planes, OH, OW] i32 holding the
// index inside its plane (iy*W + ix) of each window's maximum.

/** y = max over each window; argmax remembers where (first maximum on ties). */
export function maxPoolForward(
  x: usize, y: usize, argmax: usize, planes: i32, H: i32, W: i32, size: i32, stride: i32, OH: i32, OW: i32,
): void {
  if (size == 2 && stride == 2) {
    maxPool2x2(x, y, argmax, planes, H, W, OH, OW);
    return;
  }
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = x + (<usize>(p * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const y0 = oy * stride;
        const x0 = ox * stride;
        let best = y0 * W + x0;
        let bestValue = load<f32>(plane + (<usize>best << 2));
        for (let ky = 0; ky < size; ky++) {
          for (let kx = 0; kx < size; kx++) {
            const i = (y0 + ky) * W + x0 + kx;
            const v = load<f32>(plane + (<usize>i << 2));
            // Branch-free: which element wins depends on the data, so a branch on it would
            // mispredict about half the time.
            const better = v > bestValue;
            bestValue = select<f32>(v, bestValue, better);
            best = select<i32>(i, best, better);
          }
        }
        store<f32>(y + (<usize>out << 2), bestValue);
        store<i32>(argmax + (<usize>out << 2), best);
        out++;
      }
    }
  }
}

/**
 * The 2x2 stride-2 case of maxPoolForward (every pooling layer of the LeNet-like nets), four
 * outputs at a time: the even and odd columns of two input rows are separated by shuffles and
 * compared in the scalar loop's order (row 0 left, right, row 1 left, right; strict >, so the
 * first maximum wins), the arg-max following by bit-select.
 */
function maxPool2x2(x: usize, y: usize, argmax: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32): void {
  // Rows of four or more outputs are done four at a time, the last four overlapping the step
  // before when OW is not a multiple of four (the same maxima and arg-maxima written twice).
  const vecOW = OW >= 4 ? OW : 0;
  const step = i32x4.splat(1);
  const down = i32x4.splat(W);
  const colStep = i32x4(0, 2, 4, 6);
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = x + (<usize>(p * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const row0 = plane + (<usize>(2 * oy * W) << 2);
      const row1 = row0 + (<usize>W << 2);
      let ox = 0;
      for (; ox < vecOW; ox += 4) {
        if (ox + 4 > OW) ox = OW - 4;
        const off = <usize>(2 * ox) << 2;
        const a0 = v128.load(row0 + off);
        const a1 = v128.load(row0 + off, 16);
        const b0 = v128.load(row1 + off);
        const b1 = v128.load(row1 + off, 16);
        let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
        let index = i32x4.add(i32x4.splat(2 * oy * W + 2 * ox), colStep);
        const candidates0 = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
        let better = f32x4.gt(candidates0, best);
        best = v128.bitselect(candidates0, best, better);
        const index1 = i32x4.add(index, step);
        let bestIndex = v128.bitselect(index1, index, better);
        const candidates2 = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
        const index2 = i32x4.add(index, down);
        better = f32x4.gt(candidates2, best);
        best = v128.bitselect(candidates2, best, better);
        bestIndex = v128.bitselect(index2, bestIndex, better);
        const candidates3 = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        better = f32x4.gt(candidates3, best);
        best = v128.bitselect(candidates3, best, better);
        bestIndex = v128.bitselect(i32x4.add(index2, step), bestIndex, better);
        v128.store(y + (<usize>(out + ox) << 2), best);
        v128.store(argmax + (<usize>(out + ox) << 2), bestIndex);
      }
      for (; ox < OW; ox++) {
        let best = 2 * oy * W + 2 * ox;
        let bestValue = load<f32>(plane + (<usize>best << 2));
        for (let ky = 0; ky < 2; ky++) {
          for (let kx = 0; kx < 2; kx++) {
            const i = (2 * oy + ky) * W + 2 * ox + kx;
            const v = load<f32>(plane + (<usize>i << 2));
            const better = v > bestValue;
            bestValue = select<f32>(v, bestValue, better);
            best = select<i32>(i, best, better);
          }
        }
        store<f32>(y + (<usize>(out + ox) << 2), bestValue);
        store<i32>(argmax + (<usize>(out + ox) << 2), best);
      }
      out += OW;
    }
  }
}

/**
 * maxPoolForward without the arg-max, for inference (nothing will route a gradient back): the
 * same maxima, compared in the same order (strict >, first maximum wins), so the same floats.
 * `f32x4.pmax(best, v)` is exactly that rule, `best < v ? v : best` lane by lane (NaN and -0
 * included: neither replaces the best so far), in one instruction where a compare and a select
 * take four.
 */
export function maxPoolValues(
  x: usize, y: usize, planes: i32, H: i32, W: i32, size: i32, stride: i32, OH: i32, OW: i32,
): void {
  let out = y;
  for (let p = 0; p < planes; p++) {
    const plane = x + (<usize>(p * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const rows = plane + (<usize>(oy * stride * W) << 2);
      let ox = 0;
      if (size == 2 && stride == 2 && OW >= 4) {
        // Four outputs at a time: even and odd columns of the two rows separated by shuffles. The
        // last four are done by a step that overlaps the one before (the same maxima written twice)
        // instead of one at a time.
        for (; ox < OW; ox += 4) {
          if (ox + 4 > OW) ox = OW - 4;
          const row0 = rows + (<usize>(2 * ox) << 2);
          const row1 = row0 + (<usize>W << 2);
          const a0 = v128.load(row0);
          const a1 = v128.load(row0, 16);
          const b0 = v128.load(row1);
          const b1 = v128.load(row1, 16);
          let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
          best = f32x4.pmax(best, v128.shuffle<f32>(a0, a1, 1, 3, 5, 7));
          best = f32x4.pmax(best, v128.shuffle<f32>(b0, b1, 0, 2, 4, 6));
          best = f32x4.pmax(best, v128.shuffle<f32>(b0, b1, 1, 3, 5, 7));
          v128.store(out + (<usize>ox << 2), best);
        }
        out += <usize>OW << 2;
        continue;
      }
      for (; ox < OW; ox++) {
        const corner = rows + (<usize>(ox * stride) << 2);
        let best = load<f32>(corner);
        for (let ky = 0; ky < size; ky++) {
          const row = corner + (<usize>(ky * W) << 2);
          for (let kx = 0; kx < size; kx++) {
            const v = load<f32>(row + (<usize>kx << 2));
            best = select<f32>(v, best, v > best);
          }
        }
        store<f32>(out, best);
        out += 4;
      }
    }
  }
}

/** dx = dy routed to each window's arg-max (summed where windows overlap); dx is overwritten. */
export function maxPoolBackward(
  dy: usize, argmax: usize, dx: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32,
): void {
  routeToArgmax(dy, argmax, 0, dx, planes, H, W, OH, OW, false);
}

/**
 * maxPoolBackward, then the backward pass of a ReLU before the pool, in one pass: a window's
 * gradient reaches its arg-max only where the pool's input x (the ReLU's output) is > 0. The
 * same floats as the two passes (a pixel's routed gradients are kept or dropped together), minus
 * the ReLU's pass over the whole input (8.6 MB per batch of 100 for the LeNet-like net's conv1).
 * Shapes: x, dx [planes, H, W].
 */
export function maxPoolBackwardRelu(
  dy: usize, argmax: usize, x: usize, dx: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32,
): void {
  routeToArgmax(dy, argmax, x, dx, planes, H, W, OH, OW, true);
}

/**
 * maxPoolBackward (relu 0) or maxPoolBackwardRelu (relu 1) for 2x2 windows of stride 2, the same
 * floats without the fill and the scattered additions: the windows do not overlap, so each pixel
 * of dx is its window's gradient where the window's arg-max is that pixel (and, with relu, the
 * window's maximum y [planes, OH, OW] is > 0: y is x at the arg-max, a quarter of x's bytes to
 * read), else 0; rows and columns past the last window are 0. Four windows a vector, the arg-max
 * compared with the index of each of the four pixels. A pixel's gradient is stored as 0 + g, as
 * the additions onto the zero fill make it (-0 becomes +0). y is read only when relu is 1.
 */
export function maxPool2x2Backward(
  dy: usize, argmax: usize, y: usize, dx: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32, relu: i32,
): void {
  const zero = f32x4.splat(0);
  const colStep = i32x4(0, 2, 4, 6);
  const one = i32x4.splat(1);
  const down = i32x4.splat(W);
  const rowBytes = <usize>W << 2;
  const vecOW = OW >= 4 ? OW : 0;
  let o: usize = 0; // byte offset of the window in dy and argmax
  for (let p = 0; p < planes; p++) {
    const planeOffset = <usize>(p * H * W) << 2;
    for (let oy = 0; oy < OH; oy++) {
      const out0 = dx + planeOffset + (<usize>(2 * oy * W) << 2);
      const out1 = out0 + rowBytes;
      // Four windows a step; the last four overlap the step before when OW is not a multiple of
      // four (the same gradients written twice). Rows of fewer than four windows go one at a time.
      const rowStart = o;
      let ox = 0;
      for (; ox < vecOW; ox += 4) {
        if (ox + 4 > OW) ox = OW - 4;
        o = rowStart + (<usize>ox << 2);
        let g = v128.load(dy + o);
        if (relu) g = v128.and(g, f32x4.gt(v128.load(y + o), zero));
        const at = v128.load(argmax + o);
        const i00 = i32x4.add(i32x4.splat(2 * oy * W + 2 * ox), colStep);
        const i10 = i32x4.add(i00, down);
        const m00 = i32x4.eq(at, i00);
        const m01 = i32x4.eq(at, i32x4.add(i00, one));
        const m10 = i32x4.eq(at, i10);
        const m11 = i32x4.eq(at, i32x4.add(i10, one));
        const g00 = f32x4.add(zero, v128.and(g, m00));
        const g01 = f32x4.add(zero, v128.and(g, m01));
        const g10 = f32x4.add(zero, v128.and(g, m10));
        const g11 = f32x4.add(zero, v128.and(g, m11));
        const col = <usize>(2 * ox) << 2;
        v128.store(out0 + col, v128.shuffle<f32>(g00, g01, 0, 4, 1, 5));
        v128.store(out0 + col, v128.shuffle<f32>(g00, g01, 2, 6, 3, 7), 16);
        v128.store(out1 + col, v128.shuffle<f32>(g10, g11, 0, 4, 1, 5));
        v128.store(out1 + col, v128.shuffle<f32>(g10, g11, 2, 6, 3, 7), 16);
      }
      if (vecOW) o = rowStart + (<usize>OW << 2);
      for (; ox < OW; ox++) {
        const g = load<f32>(dy + o);
        const at = load<i32>(argmax + o);
        const open = !relu || load<f32>(y + o) > 0;
        for (let ky = 0; ky < 2; ky++) {
          for (let kx = 0; kx < 2; kx++) {
            const i = (2 * oy + ky) * W + 2 * ox + kx;
            const q = planeOffset + (<usize>i << 2);
            store<f32>(dx + q, 0 + select<f32>(g, 0, open && at == i));
          }
        }
        o += 4;
      }
      // A column past the last window.
      for (let ix = 2 * OW; ix < W; ix++) {
        store<f32>(out0 + (<usize>ix << 2), 0);
        store<f32>(out1 + (<usize>ix << 2), 0);
      }
    }
    // A row past the last window.
    const covered = <usize>(2 * OH * W) << 2;
    memory.fill(dx + planeOffset + covered, 0, (<usize>(H * W) << 2) - covered);
  }
}

// @ts-ignore: decorator
@inline
function routeToArgmax(
  dy: usize, argmax: usize, x: usize, dx: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32, relu: bool,
): void {
  memory.fill(dx, 0, <usize>(planes * H * W) << 2);
  let o = 0;
  const outputs = OH * OW;
  for (let p = 0; p < planes; p++) {
    const planeOffset = <usize>(p * H * W) << 2;
    for (let j = 0; j < outputs; j++) {
      const at = planeOffset + (<usize>load<i32>(argmax + (<usize>o << 2)) << 2);
      let g = load<f32>(dy + (<usize>o << 2));
      // Branch-free: whether the ReLU passed a window's maximum is data-dependent. Adding 0
      // instead leaves the same floats (a masked pixel receives nothing but zeros).
      if (relu) g = select<f32>(g, 0, load<f32>(x + at) > 0);
      const q = dx + at;
      store<f32>(q, load<f32>(q) + g);
      o++;
    }
  }
}

/** y = mean over each window. */
export function avgPoolForward(
  x: usize, y: usize, planes: i32, H: i32, W: i32, size: i32, stride: i32, OH: i32, OW: i32,
): void {
  const scale: f32 = 1.0 / <f32>(size * size);
  let out = y;
  for (let p = 0; p < planes; p++) {
    const plane = x + (<usize>(p * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let sum: f32 = 0;
        for (let ky = 0; ky < size; ky++) {
          const row = plane + (<usize>((oy * stride + ky) * W + ox * stride) << 2);
          for (let kx = 0; kx < size; kx++) sum += load<f32>(row + (<usize>kx << 2));
        }
        store<f32>(out, sum * scale);
        out += 4;
      }
    }
  }
}

/** dx = each dy spread evenly over its window (summed where windows overlap); dx is overwritten. */
export function avgPoolBackward(
  dy: usize, dx: usize, planes: i32, H: i32, W: i32, size: i32, stride: i32, OH: i32, OW: i32,
): void {
  memory.fill(dx, 0, <usize>(planes * H * W) << 2);
  const scale: f32 = 1.0 / <f32>(size * size);
  let src = dy;
  for (let p = 0; p < planes; p++) {
    const plane = dx + (<usize>(p * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const g = load<f32>(src) * scale;
        src += 4;
        for (let ky = 0; ky < size; ky++) {
          const row = plane + (<usize>((oy * stride + ky) * W + ox * stride) << 2);
          for (let kx = 0; kx < size; kx++) {
            const q = row + (<usize>kx << 2);
            store<f32>(q, load<f32>(q) + g);
          }
        }
      }
    }
  }
}
