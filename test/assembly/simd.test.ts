// assembly/simd.ts, compiled into a small probe module (its functions are inlined helpers the
// kernel module does not export): madd(a, b, c) is a·b + c on each of four lanes, rounded once
// (fused, relaxed-SIMD build, where the engine may still split it) or twice (plain build); relu4(v)
// is max(v, 0) lane by lane with -0 and everything <= 0 giving +0 and NaN staying NaN.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { compileProbe, instantiate } from "../support/assembly-probe";

const PROBE = `import { madd, relu4 } from "./assembly/simd";
export function maddLanes(a: usize, b: usize, c: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const at = <usize>i << 2;
    v128.store(out + at, madd(v128.load(a + at), v128.load(b + at), v128.load(c + at)));
  }
}
export function relu4Lanes(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(out + (<usize>i << 2), relu4(v128.load(x + (<usize>i << 2))));
}`;

const f = Math.fround;
const U = 2 ** -24;

/** a, b, c in one memory (n floats each from 0, 4n, 8n bytes), the result from 12n bytes. */
function maddOn(
  exports: Record<string, CallableFunction>,
  memory: WebAssembly.Memory,
  a: number[],
  b: number[],
  c: number[],
): Float32Array {
  const n = a.length;
  const view = new Float32Array(memory.buffer);
  view.set(a, 0);
  view.set(b, n);
  view.set(c, 2 * n);
  view.fill(Number.NaN, 3 * n, 4 * n);
  exports.maddLanes(0, 4 * n, 8 * n, 12 * n, n);
  return view.slice(3 * n, 4 * n);
}

/** Random float32 operands, plus lanes where a·b and c nearly cancel (rounding once or twice differs). */
function operands(n: number): { a: number[]; b: number[]; c: number[] } {
  const rng = new Random(17);
  const a = Array.from({ length: n }, () => f(rng.normal() * 4));
  const b = Array.from({ length: n }, () => f(rng.normal() * 4));
  const c = Array.from({ length: n }, (_, i) => (i % 4 === 3 ? f(-a[i] * b[i]) : f(rng.normal() * 4)));
  return { a, b, c };
}

const plain = await compileProbe(PROBE, ["simd"]);
const relaxed = await compileProbe(PROBE, ["simd", "relaxed-simd"]);

describe("madd and relu4", () => {
  const n = 256;

  it("plain SIMD: madd is f32(f32(a·b) + c) on every lane, exactly", () => {
    const { exports, memory } = instantiate(plain);
    const { a, b, c } = operands(n);
    const got = maddOn(exports, memory, a, b, c);
    got.forEach((v, i) => {
      if (!Object.is(v, f(f(a[i] * b[i]) + c[i]))) expect.fail(`lane ${i}: ${a[i]}·${b[i]} + ${c[i]} gave ${v}`);
    });
  });

  // Node 20 has relaxed SIMD only behind a flag: there the probe compiles but cannot run.
  it.runIf(WebAssembly.validate(relaxed))(
    "relaxed SIMD: madd is a·b + c within one rounding of each step (fused or not)",
    () => {
      const { exports, memory } = instantiate(relaxed);
      const { a, b, c } = operands(n);
      const got = maddOn(exports, memory, a, b, c);
      got.forEach((v, i) => {
        const exact = a[i] * b[i] + c[i];
        const tol = U * (Math.abs(a[i] * b[i]) + Math.abs(exact)) + 1e-45;
        if (!(Math.abs(v - exact) <= tol))
          expect.fail(`lane ${i}: ${a[i]}·${b[i]} + ${c[i]} gave ${v}, want ${exact} ± ${tol}`);
      });
    },
  );

  it("relu4 is max(v, 0) on every lane: -0 and negatives give +0, NaN stays NaN, infinities and subnormals", () => {
    const { exports, memory } = instantiate(plain);
    const special = [-0, 0, Number.NaN, -Infinity, Infinity, 1e-45, -1e-45, -3, 2.5, f(-1e-38), f(3e38), -7];
    const view = new Float32Array(memory.buffer);
    view.set(special, 0);
    view.fill(42, special.length, 2 * special.length);
    exports.relu4Lanes(0, special.length * 4, special.length);
    view.slice(special.length, 2 * special.length).forEach((v, i) => {
      const want = Number.isNaN(special[i]) ? Number.NaN : special[i] > 0 ? f(special[i]) : 0;
      if (!Object.is(v, want))
        expect.fail(`lane ${i} for ${Object.is(special[i], -0) ? "-0" : special[i]}: got ${v}, want ${want}`);
    });
  });
});
