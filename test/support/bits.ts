// Bit-for-bit comparison of float32 arrays, for the paths that must give the same floats as
// another (the sparse first layer, batch norm's kernels): -0 differs from +0, NaNs compare.
import { expect } from "vitest";

/** The float32 bits of each value. */
const bits = (x: Float32Array): Uint32Array =>
  new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));

/** Fails at the first value whose bits differ, naming it. */
export function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const g = bits(got),
    w = bits(want);
  expect(g.length, `${what}: length`).toBe(w.length);
  const differ = g.findIndex((v, i) => v !== w[i]);
  expect(differ, `${what}: first differing value (got ${got[differ]}, want ${want[differ]})`).toBe(-1);
}
