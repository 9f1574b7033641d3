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
