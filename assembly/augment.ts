// Data augmentation of a mini-batch in place: the "transform the training images" idea the
// course's reports missed. x [batch, C, H, W]; params [batch, 3] i32 per image: flip (0/1),
// shift dy, shift dx (pixels; the image moves by (dy, dx) and the uncovered border is zero).
// scratch: C*H*W floats.
export function augmentImages(x: usize, params: usize, batch: i32, C: i32, H: i32, W: i32, scratch: usize): void {
  const size = C * H * W;
  for (let b = 0; b < batch; b++) {
    const img = x + (<usize>(b * size) << 2);
    const p = params + (<usize>(b * 3) << 2);
    const flip = load<i32>(p);
    const dy = load<i32>(p, 4);
    const dx = load<i32>(p, 8);
    if (flip == 0 && dy == 0 && dx == 0) continue;
    memory.copy(scratch, img, <usize>size << 2);
    for (let c = 0; c < C; c++) {
      const src = scratch + (<usize>(c * H * W) << 2);
      const dst = img + (<usize>(c * H * W) << 2);
      for (let y = 0; y < H; y++) {
        const sy = y - dy;
        for (let xx = 0; xx < W; xx++) {
          const fx = flip != 0 ? W - 1 - xx : xx;
          const sx = fx - dx;
          const v: f32 = sy >= 0 && sy < H && sx >= 0 && sx < W ? load<f32>(src + (<usize>(sy * W + sx) << 2)) : 0;
          store<f32>(dst + (<usize>(y * W + xx) << 2), v);
        }
      }
    }
  }
}
