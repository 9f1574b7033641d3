// The two builds of the kernels (plain SIMD and relaxed SIMD) compute the same results, and the
// runtime reports which one it runs. The other kernel tests run on the default (relaxed) build.
import { describe, expect, it } from "vitest";
import { evaluate, loadMnist, mlpSpec, Model, Random, Runtime, takeFirst } from "../sdk/node";

function gemmOn(
  rt: Runtime,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  ta: boolean,
  tb: boolean,
): Float32Array {
  const pa = rt.alloc(a.length * 4);
  const pb = rt.alloc(b.length * 4);
  const pc = rt.alloc(m * n * 4);
  rt.f32(pa, a.length).set(a);
  rt.f32(pb, b.length).set(b);
  rt.gemm(pa, pb, pc, m, k, n, ta, tb, 0);
  const c = rt.f32(pc, m * n).slice();
  [pa, pb, pc].forEach((p) => rt.free(p));
  return c;
}

function reference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  ta: boolean,
  tb: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

describe("plain and relaxed SIMD builds", () => {
  it("the runtime says which build it runs, and relaxedSimd: false forces the plain one", async () => {
    const plain = await Runtime.create({ relaxedSimd: false });
    expect(plain.features.relaxedSimd).toBe(false);
    const auto = await Runtime.create();
    // mnist-wasm/node turns on Node 20's relaxed-SIMD flag before compiling.
    expect(auto.features.relaxedSimd).toBe(true);
  });

  it.each([
    [7, 13, 9, false, false],
    [100, 784, 100, false, false],
    [130, 257, 33, true, false],
    [31, 64, 517, false, true],
    [9, 300, 12, true, true],
  ])("gemm %i x %i x %i (transA %s, transB %s) agrees with the reference on both builds", async (m, k, n, ta, tb) => {
    const rng = new Random(m * 1000 + n);
    const a = Float32Array.from({ length: m * k }, () => rng.normal());
    const b = Float32Array.from({ length: k * n }, () => rng.normal());
    const want = reference(a, b, m, k, n, ta, tb);
    for (const relaxedSimd of [false, true]) {
      const got = gemmOn(await Runtime.create({ relaxedSimd }), a, b, m, k, n, ta, tb);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.sqrt(k));
      expect(worst, `relaxedSimd ${relaxedSimd}`).toBeLessThan(1e-4);
    }
  });

  it("a trained model gives the same predictions on both builds", async () => {
    const test = takeFirst(loadMnist("test"), 500);
    const accuracies: number[] = [];
    for (const relaxedSimd of [false, true]) {
      const rt = await Runtime.create({ relaxedSimd });
      const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [50], classes: 10 }), { seed: 4 });
      accuracies.push(evaluate(model, test).accuracy);
    }
    expect(accuracies[0]).toBe(accuracies[1]);
  });
});
