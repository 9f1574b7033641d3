// Fused multiply-add over four lanes: a * b + c.
// The relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD) uses the hardware FMA; the plain build
// multiplies then adds. Both are the same source, picked at compile time.
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// max(v, 0) lane by lane, the same floats as f32x4.max(v, 0) (v <= 0, -0 included, gives +0;
// NaN stays NaN) in two instructions: V8 compiles f32x4.max to nine, for its NaN and signed-zero
// rules, which cost more than the sums in a fused bias + ReLU.
// @ts-ignore: decorator
@inline
export function relu4(v: v128): v128 {
  return v128.andnot(v, f32x4.le(v, f32x4.splat(0)));
}

/**
 * e^t for four floats: t = n·ln 2 + r with n an integer and |r| <= ln 2 / 2 (Cody-Waite: ln 2 in
 * two parts, so n·ln2Hi is exact), e^r by its Taylor polynomial to r^7 (truncation under 0.1
 * ulp), times 2^n built in the exponent bits. t is clamped to [-88, 88] first: e^88 is below
 * f32's largest value, and e^-88 comes out 0 (2^-127 has no normal exponent), which the sigmoid
 * does not notice. NaN stays NaN.
 */
// @ts-ignore: decorator
@inline
export function expVec(t: v128): v128 {
  const clamped = f32x4.max(f32x4.min(t, f32x4.splat(88)), f32x4.splat(-88));
  const n = f32x4.nearest(f32x4.mul(clamped, f32x4.splat(1.44269504)));
  let r = f32x4.sub(clamped, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 5040);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

/**
 * Copies n floats from src to dst (not overlapping), four at a time: for the short rows of a
 * feature map (13 floats) a call of memory.copy costs more than the copy.
 */
// @ts-ignore: decorator
@inline
export function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}
