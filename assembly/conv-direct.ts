// Direct convolution, stride 1, no padding: the GEMM of filters by im2col patches without the
// patch matrix. For a first layer on grey images (9 or 25 values per patch) the product is so
// shallow that writing and packing the patches, and the GEMM's per-tile work, cost as much as the
// multiply-adds; here each step of the depth loop reads its eight pixels straight from the image.
// The sums are those of gemm() on im2col's patches (same order, same operations, bias added
// after; the GEMM's depth blocks are 256 deep, so any depth convDirect is used for is one
// block), so the floats are the same.
//
// Shapes: x [C, H, W] (one image); w [filters, C·R·R] (filters >= 4); bias [filters];
// y [filters, OH, OW] with OH = H - R + 1, OW = W - R + 1 >= 8.

import { madd, relu4 } from "./simd";

const FR: i32 = 4; // filters per tile: four broadcast weights, eight accumulators, two pixel vectors
const NR: i32 = 8; // output pixels of a row per tile (two f32x4)

/** Bytes packConvFilters() writes for `filters` filters of `depth` weights. */
export function packedFiltersBytes(filters: i32, depth: i32): usize {
  return <usize>(groups(filters) * FR * depth) << 4;
}

/**
 * Packs w [filters, depth] for convDirect: groups of four filters (the last group ends at the
 * last filter, overlapping the one before when filters is not a multiple of four), each weight
 * broadcast to a whole f32x4, in order group, depth, filter.
 */
export function packConvFilters(w: usize, filters: i32, depth: i32, dst: usize): void {
  let out = dst;
  const count = groups(filters);
  for (let g = 0; g < count; g++) {
    const first = groupStart(g, filters);
    for (let d = 0; d < depth; d++) {
      for (let r = 0; r < FR; r++) {
        v128.store(out, v128.load32_splat(w + (<usize>((first + r) * depth + d) << 2)));
        out += 16;
      }
    }
  }
}

/** y = W ∗ x + bias (ReLU'd if `relu`) for one image, W packed by packConvFilters. */
export function convDirect(
  x: usize, packedW: usize, bias: usize, y: usize, filters: i32, C: i32, H: i32, W: i32, R: i32, relu: i32,
): void {
  const OH = H - R + 1;
  const OW = W - R + 1;
  const depth = C * R * R;
  const planeBytes = <usize>(OH * OW) << 2;
  const count = groups(filters);
  for (let g = 0; g < count; g++) {
    const first = groupStart(g, filters);
    const weights = packedW + (<usize>(g * FR * depth) << 4);
    const out = y + <usize>first * planeBytes;
    const b = bias + (<usize>first << 2);
    for (let oy = 0; oy < OH; oy++) {
      const src = x + (<usize>(oy * W) << 2);
      const dst = out + (<usize>(oy * OW) << 2);
      // Tiles of eight pixels; the last one ends at the row's end, overlapping the one before
      // (its pixels computed twice, the same floats) instead of reading past the image.
      let ox = 0;
      while (true) {
        tile(src + (<usize>ox << 2), weights, C, H, W, R, dst + (<usize>ox << 2), planeBytes, b, relu);
        if (ox == OW - NR) break;
        ox = min(ox + NR, OW - NR);
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function groups(filters: i32): i32 {
  return (filters + FR - 1) / FR;
}

// @ts-ignore: decorator
@inline
function groupStart(g: i32, filters: i32): i32 {
  return min(g * FR, filters - FR);
}

/** One tile: four filters by eight pixels of a row, from their top-left input pixel `src`. */
// @ts-ignore: decorator
@inline
function tile(src: usize, pa: usize, C: i32, H: i32, W: i32, R: i32, dst: usize, planeBytes: usize, bias: usize, relu: i32): void {
  let acc0a = f32x4.splat(0);
  let acc0b = f32x4.splat(0);
  let acc1a = f32x4.splat(0);
  let acc1b = f32x4.splat(0);
  let acc2a = f32x4.splat(0);
  let acc2b = f32x4.splat(0);
  let acc3a = f32x4.splat(0);
  let acc3b = f32x4.splat(0);
  const rowBytes = <usize>W << 2;
  const tapBytes = <usize>R << 2;
  // Depth order c, ky, kx: im2col's patch order.
  const taps = R * R;
  const nextRow = rowBytes - tapBytes;
  for (let c = 0; c < C; c++) {
    // One loop over the R·R taps (a loop per kernel row costs a mispredicted exit every R taps).
    let p = src + <usize>(c * H) * rowBytes;
    let kx = 0;
    for (let t = 0; t < taps; t++) {
      const b0 = v128.load(p);
      const b1 = v128.load(p, 16);
      const a0 = v128.load(pa);
      acc0a = madd(a0, b0, acc0a);
      acc0b = madd(a0, b1, acc0b);
      const a1 = v128.load(pa, 16);
      acc1a = madd(a1, b0, acc1a);
      acc1b = madd(a1, b1, acc1b);
      const a2 = v128.load(pa, 32);
      acc2a = madd(a2, b0, acc2a);
      acc2b = madd(a2, b1, acc2b);
      const a3 = v128.load(pa, 48);
      acc3a = madd(a3, b0, acc3a);
      acc3b = madd(a3, b1, acc3b);
      pa += FR * 16;
      p += 4;
      if (++kx == R) {
        kx = 0;
        p += nextRow;
      }
    }
  }
  store(dst, bias, acc0a, acc0b, relu);
  store(dst + planeBytes, bias + 4, acc1a, acc1b, relu);
  store(dst + 2 * planeBytes, bias + 8, acc2a, acc2b, relu);
  store(dst + 3 * planeBytes, bias + 12, acc3a, acc3b, relu);
}

/** Eight outputs of one filter: sum + bias, then the ReLU if `relu` (as addBiasChannels(Relu) does it). */
// @ts-ignore: decorator
@inline
function store(dst: usize, bias: usize, a: v128, b: v128, relu: i32): void {
  const vb = v128.load32_splat(bias);
  const va = f32x4.add(a, vb);
  const vc = f32x4.add(b, vb);
  v128.store(dst, relu ? relu4(va) : va);
  v128.store(dst, relu ? relu4(vc) : vc, 16);
}
