// Helpers of the int8 kernels' tests (test/assembly/int8.test.ts, int8-conv-pool.test.ts): both
// builds, a fresh runtime each (a kernel's first calls run through V8's baseline compiler, which
// has miscompiled a relaxed-SIMD dot before), buffers with guards after them, and the quantization
// the kernels make, in plain numbers.
import { expect } from "vitest";
// sdk/node turns on Node 20's relaxed SIMD, so that both builds run here.
import { type Random, Runtime } from "../../sdk/node";
import { relaxedSimdSupported } from "../../sdk/runtime/kernels";

export const f = Math.fround;
export const BUILDS = relaxedSimdSupported() ? [true, false] : [false];
/** Bytes after each output checked untouched (a kernel writing past its end fails). */
const GUARD = 64;
const SENTINEL = 0xa5;

/** Round half to even, as f32x4.nearest does. */
function nearestEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
export const quantize = (x: number, invScale: number, zero: number) =>
  Math.min(127, Math.max(0, nearestEven(f(f(x) * f(invScale))) + zero));

/** A fresh runtime of one build and helpers to place data in its memory with a guard after it. */
export async function fresh(relaxedSimd: boolean) {
  const rt = await Runtime.create({ relaxedSimd });
  const guarded: [number, number][] = [];
  const place = (bytes: Uint8Array): number => {
    const ptr = rt.alloc(bytes.length + GUARD);
    rt.u8(ptr, bytes.length).set(bytes);
    rt.u8(ptr + bytes.length, GUARD).fill(SENTINEL);
    guarded.push([ptr + bytes.length, GUARD]);
    return ptr;
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  // gemmI8's operands: a byte a value in the relaxed build, an int16 in the plain one.
  const valueBytes = rt.kernels.int8OperandBytes();
  expect(valueBytes).toBe(relaxedSimd ? 1 : 2);
  return {
    rt,
    k: rt.kernels,
    valueBytes,
    /** Values -128..127 (weights) or 0..127 (activations) as gemmI8 reads them. */
    operand: (values: ArrayLike<number>) =>
      place(asBytes(valueBytes === 1 ? Int8Array.from(values) : Int16Array.from(values))),
    /** n operand values at ptr, as numbers. */
    readOperand: (ptr: number, n: number) =>
      Array.from(valueBytes === 1 ? rt.u8(ptr, n) : new Int16Array(rt.u8(ptr, 2 * n).slice().buffer)),
    f32: (values: ArrayLike<number>) => place(asBytes(Float32Array.from(values))),
    bytes: (values: ArrayLike<number>) => place(Uint8Array.from(values)),
    zeros: (bytes: number) => place(new Uint8Array(bytes).fill(0x5a)),
    guardsIntact: () => guarded.every(([p, n]) => rt.u8(p, n).every((b) => b === SENTINEL)),
  };
}

export const ints = (rng: Random, n: number, lo: number, hi: number) =>
  Array.from({ length: n }, () => lo + Math.floor(rng.uniform() * (hi - lo + 1)));
