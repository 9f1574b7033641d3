// Pooling over `planes` independent planes (batch x channels) of H x W, windows size x size
// moved by stride, no padding: OH = (H - size) / stride + 1 (likewise OW).
// Shapes: x, dx [planes, H, W]; y, dy [planes, OH, OW]; argmax [planes, OH, OW] i32 holding the
// index inside its plane (iy*W + ix) of each window's maximum.

/** y = max over each window; argmax remembers where (first maximum on ties). */
export function maxPoolForward(
  x: usize, y: usize, argmax: usize, planes: i32, H: i32, W: i32, size: i32, stride: i32, OH: i32, OW: i32,
): void {
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
            if (v > bestValue) {
              bestValue = v;
              best = i;
            }
          }
        }
        store<f32>(y + (<usize>out << 2), bestValue);
        store<i32>(argmax + (<usize>out << 2), best);
        out++;
      }
    }
  }
}

/** dx = dy routed to each window's arg-max (summed where windows overlap); dx is overwritten. */
export function maxPoolBackward(
  dy: usize, argmax: usize, dx: usize, planes: i32, H: i32, W: i32, OH: i32, OW: i32,
): void {
  memory.fill(dx, 0, <usize>(planes * H * W) << 2);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const plane = dx + (<usize>(p * H * W) << 2);
    const outputs = OH * OW;
    for (let j = 0; j < outputs; j++) {
      const q = plane + (<usize>load<i32>(argmax + (<usize>o << 2)) << 2);
      store<f32>(q, load<f32>(q) + load<f32>(dy + (<usize>o << 2)));
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
