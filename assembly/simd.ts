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
