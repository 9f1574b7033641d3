// The losses of a model whose target is its input (autoencoders, VAEs): every output value is
// compared with the pixel it reconstructs. Shapes: outputs, targets, gradients [rows, cols]
// float32 (rows images of cols pixels); each kernel returns the loss summed over all of them
// (f64, summed per image in four float lanes), and writes the gradient of the MEAN loss over
// the rows, as the softmax losses do (assembly/loss.ts).

import { expVec } from "./simd";

/**
 * log(1 + e) for four floats e in [0, 1]: with s = e / (2 + e) in [0, 1/3],
 * log(1 + e) = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + … + s¹¹/11); the next term is below 2^-24 of
 * the sum.
 */
// @ts-ignore: decorator
@inline
function log1pUnit(e: v128): v128 {
  const s = f32x4.div(e, f32x4.add(f32x4.splat(2), e));
  const s2 = f32x4.mul(s, s);
  let p = f32x4.splat(1.0 / 11);
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1.0 / 9));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1.0 / 7));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1.0 / 5));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1.0 / 3));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1));
  return f32x4.mul(f32x4.add(s, s), p);
}

/**
 * Sigmoid with binary cross-entropy, fused for stability. For logits z and targets t in [0, 1]:
 *   out[i]  = σ(z) = 1 / (1 + e^-z)                       (the reconstruction)
 *   loss    = Σ softplus(z) - t·z = Σ max(z, 0) - t·z + log(1 + e^-|z|)
 *           (= -t·log σ(z) - (1 - t)·log(1 - σ(z)), without the logs of 0 at large |z|)
 *   dz[i]   = (σ(z) - t) / rows                            (skipped when dz == 0)
 * With targets == 0 only `out` is written, and 0 returned.
 */
export function sigmoidBinaryCrossEntropy(
  z: usize, targets: usize, out: usize, dz: usize, rows: i32, cols: i32,
): f64 {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const invRows: f32 = 1.0 / <f32>rows;
  const scale = f32x4.splat(invRows);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const base = <usize>(r * cols) << 2;
    let sum = zero;
    let rowTail: f64 = 0;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = base + (<usize>j << 2);
      const v = v128.load(z + o);
      // e = e^-|z| in (0, 1]: σ(z) = 1/(1+e) for z >= 0, e/(1+e) below, never e^(large).
      const e = expVec(f32x4.neg(f32x4.abs(v)));
      const inv = f32x4.div(one, f32x4.add(one, e));
      const sig = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(v, zero));
      v128.store(out + o, sig);
      if (targets == 0) continue;
      const t = v128.load(targets + o);
      const term = f32x4.add(f32x4.sub(f32x4.max(v, zero), f32x4.mul(t, v)), log1pUnit(e));
      sum = f32x4.add(sum, term);
      if (dz != 0) v128.store(dz + o, f32x4.mul(f32x4.sub(sig, t), scale));
    }
    for (; j < cols; j++) {
      const o = base + (<usize>j << 2);
      const v = load<f32>(z + o);
      const e = Mathf.exp(-Mathf.abs(v));
      const inv: f32 = 1.0 / (1.0 + e);
      const sig: f32 = v >= 0 ? inv : e * inv;
      store<f32>(out + o, sig);
      if (targets == 0) continue;
      const t = load<f32>(targets + o);
      rowTail += <f64>(max(v, <f32>0) - t * v + Mathf.log(1 + e));
      if (dz != 0) store<f32>(dz + o, (sig - t) * invRows);
    }
    total +=
      <f64>f32x4.extract_lane(sum, 0) + <f64>f32x4.extract_lane(sum, 1) +
      <f64>f32x4.extract_lane(sum, 2) + <f64>f32x4.extract_lane(sum, 3) + rowTail;
  }
  return targets == 0 ? 0 : total;
}

/**
 * Squared error of outputs y against targets t: loss = ½ Σ (y - t)², dy[i] = (y - t) / rows
 * (skipped when dy == 0). The output is the reconstruction as it is.
 */
export function squaredError(y: usize, targets: usize, dy: usize, rows: i32, cols: i32): f64 {
  const invRows: f32 = 1.0 / <f32>rows;
  const scale = f32x4.splat(invRows);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const base = <usize>(r * cols) << 2;
    let sum = f32x4.splat(0);
    let rowTail: f64 = 0;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = base + (<usize>j << 2);
      const d = f32x4.sub(v128.load(y + o), v128.load(targets + o));
      sum = f32x4.add(sum, f32x4.mul(d, d));
      if (dy != 0) v128.store(dy + o, f32x4.mul(d, scale));
    }
    for (; j < cols; j++) {
      const o = base + (<usize>j << 2);
      const d = load<f32>(y + o) - load<f32>(targets + o);
      rowTail += <f64>(d * d);
      if (dy != 0) store<f32>(dy + o, d * invRows);
    }
    total +=
      0.5 *
      (<f64>f32x4.extract_lane(sum, 0) + <f64>f32x4.extract_lane(sum, 1) +
        <f64>f32x4.extract_lane(sum, 2) + <f64>f32x4.extract_lane(sum, 3) + rowTail);
  }
  return total;
}
