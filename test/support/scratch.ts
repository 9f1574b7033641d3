// Float32 buffers in wasm memory for one test, and a closeness check, for the tests of the
// regularisation kernels and layers (batch norm, dropout, the MSE head).
import { expect } from "vitest";
import { rt } from "./buffers";

/** |actual - expected| <= rtol·|expected| + atol everywhere. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i],
      e = expected[i];
    if (!(Math.abs(a - e) <= rtol * Math.abs(e) + atol)) expect.fail(`${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** Float32 buffers in wasm memory for one test, freed together. */
export class Scratch {
  private readonly ptrs: number[] = [];
  /** A buffer of `n` floats, or holding `values`. */
  f32(values: number | ArrayLike<number>): number {
    const n = typeof values === "number" ? values : values.length;
    const ptr = rt.alloc(Math.max(n, 1) * 4);
    this.ptrs.push(ptr);
    if (typeof values !== "number") rt.f32(ptr, n).set(values);
    return ptr;
  }
  u8(values: ArrayLike<number>): number {
    const ptr = rt.alloc(Math.max(values.length, 1));
    this.ptrs.push(ptr);
    rt.u8(ptr, values.length).set(values);
    return ptr;
  }
  free(): void {
    for (const p of this.ptrs) rt.free(p);
    this.ptrs.length = 0;
  }
}
