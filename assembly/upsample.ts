// Nearest-neighbour upsampling by an integer factor S over `planes` independent planes
// (batch x channels): x [planes, H, W] -> y [planes, H·S, W·S] with y[p, oy, ox] = x[p, oy / S, ox / S].
// Its adjoint, the backward pass, sums each S x S block of dy into one value of dx.
// Rows of consecutive planes are consecutive, so input row r (over all planes) makes output rows
// r·S .. r·S + S - 1.

/** y[planes, H·S, W·S] = x[planes, H, W], each value repeated over an S x S block. */
export function upsampleForward(x: usize, y: usize, planes: i32, H: i32, W: i32, S: i32): void {
  const rows = planes * H;
  const inRowBytes = <usize>W << 2;
  const outRowBytes = <usize>(W * S) << 2;
  let src = x;
  let dst = y;
  for (let r = 0; r < rows; r++) {
    widenRow(src, dst, W, S);
    for (let k = 1; k < S; k++) memory.copy(dst + <usize>k * outRowBytes, dst, outRowBytes);
    src += inRowBytes;
    dst += <usize>S * outRowBytes;
  }
}

/** dst[W·S] = each of src[W] repeated S times. */
// @ts-ignore: decorator
@inline
function widenRow(src: usize, dst: usize, W: i32, S: i32): void {
  let i = 0;
  if (S == 2) {
    // Four values make two vectors of pairs.
    for (; i + 4 <= W; i += 4) {
      const v = v128.load(src + (<usize>i << 2));
      const out = dst + (<usize>i << 3);
      v128.store(out, v128.shuffle<f32>(v, v, 0, 0, 1, 1));
      v128.store(out, v128.shuffle<f32>(v, v, 2, 2, 3, 3), 16);
    }
  }
  for (; i < W; i++) {
    const value = load<f32>(src + (<usize>i << 2));
    const vs = f32x4.splat(value);
    const out = dst + (<usize>(i * S) << 2);
    let j = 0;
    for (; j + 4 <= S; j += 4) v128.store(out + (<usize>j << 2), vs);
    for (; j < S; j++) store<f32>(out + (<usize>j << 2), value);
  }
}

/** dx[planes, H, W] = the sum of each S x S block of dy[planes, H·S, W·S] (dx is overwritten). */
export function upsampleBackward(dy: usize, dx: usize, planes: i32, H: i32, W: i32, S: i32): void {
  const rows = planes * H;
  const outRowBytes = <usize>(W * S) << 2;
  let block = dy;
  let dst = dx;
  for (let r = 0; r < rows; r++) {
    let i = 0;
    if (S == 2) {
      // Two rows of eight values: their column sums, then the sums of neighbouring pairs.
      const below = block + outRowBytes;
      for (; i + 4 <= W; i += 4) {
        const off = <usize>i << 3;
        const s0 = f32x4.add(v128.load(block + off), v128.load(below + off));
        const s1 = f32x4.add(v128.load(block + off, 16), v128.load(below + off, 16));
        const sum = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 2, 4, 6), v128.shuffle<f32>(s0, s1, 1, 3, 5, 7));
        v128.store(dst + (<usize>i << 2), sum);
      }
    }
    for (; i < W; i++) {
      let acc = f32x4.splat(0);
      let tail: f32 = 0;
      let row = block + (<usize>(i * S) << 2);
      for (let a = 0; a < S; a++) {
        let j = 0;
        for (; j + 4 <= S; j += 4) acc = f32x4.add(acc, v128.load(row + (<usize>j << 2)));
        for (; j < S; j++) tail += load<f32>(row + (<usize>j << 2));
        row += outRowBytes;
      }
      const total = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) +
        f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) + tail;
      store<f32>(dst + (<usize>i << 2), total);
    }
    block += <usize>S * outRowBytes;
    dst += <usize>W << 2;
  }
}
