// assembly/sampling.ts: the VAE's noise, its reparameterised code and KL term, and their
// gradients, against plain double-precision references. The noise is checked value by value
// against the same hash and Box–Muller transform written in JavaScript, and for its statistics
// over 200 000 draws; every buffer sits between sentinel guards and outputs start as NaN.
//
// Tolerances: exp(½·logvar) comes from a vector polynomial within a few ulp, so the code, the
// KL sum and the gradients are compared with 1e-6 times the sum of their terms' magnitudes.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

const hash32 = (v: number): number => {
  let x = v >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
};
const GOLDEN = 0x9e3779b9;
const SALT = 0x5bd1e995;

/** The kernel's noise in float64: Box–Muller on the hashes of (seed, step, index). */
function noiseRef(n: number, seed: number, step: number): Float64Array {
  const base = hash32((seed ^ SALT ^ hash32((step + GOLDEN) >>> 0)) >>> 0);
  const uniform = (i: number): number => hash32((base + Math.imul(i, GOLDEN)) >>> 0) >>> 8;
  const eps = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = (uniform(i) + 1) / 2 ** 24;
    const u2 = uniform(i + 1) / 2 ** 24;
    const r = Math.sqrt(-2 * Math.log(u1));
    eps[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) eps[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return eps;
}

/** z, KL summed over the batch and Σ|KL terms|, from x [batch, 2d] and eps [batch, d]. */
function forwardRef(x: ArrayLike<number>, eps: ArrayLike<number>, batch: number, d: number, noise: boolean) {
  const z = new Float64Array(batch * d);
  const zMagnitude = new Float64Array(batch * d);
  let kl = 0,
    klMagnitude = 0;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < d; j++) {
      const mu = x[2 * b * d + j],
        logvar = x[2 * b * d + d + j];
      const s = Math.exp(0.5 * logvar);
      const e = noise ? eps[b * d + j] : 0;
      z[b * d + j] = mu + s * e;
      zMagnitude[b * d + j] = Math.abs(mu) + Math.abs(s * e);
      kl += -0.5 * (1 + logvar - mu * mu - s * s);
      klMagnitude += 0.5 * (1 + Math.abs(logvar) + mu * mu + s * s);
    }
  }
  return { z, zMagnitude, kl, klMagnitude };
}

/** dx [batch, 2d] of L + scale·KL given dz = dL/dz, with the magnitudes of its terms. */
function backwardRef(
  x: ArrayLike<number>,
  eps: ArrayLike<number>,
  dz: ArrayLike<number>,
  batch: number,
  d: number,
  scale: number,
  noise: boolean,
) {
  const dx = new Float64Array(2 * batch * d);
  const magnitude = new Float64Array(dx.length);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < d; j++) {
      const mu = x[2 * b * d + j],
        logvar = x[2 * b * d + d + j];
      const s = Math.exp(0.5 * logvar);
      const g = dz[b * d + j];
      const e = noise ? eps[b * d + j] : 0;
      dx[2 * b * d + j] = g + scale * mu;
      magnitude[2 * b * d + j] = Math.abs(g) + Math.abs(scale * mu);
      dx[2 * b * d + d + j] = 0.5 * g * e * s + 0.5 * scale * (s * s - 1);
      magnitude[2 * b * d + d + j] = Math.abs(0.5 * g * e * s) + 0.5 * scale * (s * s + 1);
    }
  }
  return { dx, magnitude };
}

describe("gaussianNoise", () => {
  it.each([
    [1, 7, 0],
    [2, 7, 1],
    [9, 123456, 3],
    [1000, 0xffffffff, 0xfffffffe],
  ])("n = %i, seed %i, step %i: the reference's Box–Muller values, in float32", (n, seed, step) => {
    const ptr = f32Buf(nans(n), "eps");
    rt.kernels.gaussianNoise(ptr, n, seed, step);
    const want = noiseRef(n, seed, step);
    expectWithin(
      readF32(ptr, n),
      want,
      Array.from(want, (v) => 2 ** -23 * Math.abs(v) + 1e-12),
      "eps",
    );
  });

  it("200 000 draws: mean 0, variance 1, 68.3% within one standard deviation, 95.4% within two", () => {
    const n = 200_000;
    const ptr = f32Buf(nans(n), "eps");
    rt.kernels.gaussianNoise(ptr, n, 42, 5);
    const eps = readF32(ptr, n);
    let sum = 0,
      squares = 0,
      within1 = 0,
      within2 = 0;
    for (const v of eps) {
      sum += v;
      squares += v * v;
      if (Math.abs(v) < 1) within1++;
      if (Math.abs(v) < 2) within2++;
    }
    const mean = sum / n;
    // Standard errors: 1/√n = 0.0022 for the mean, √(2/n) = 0.0032 for the variance.
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(squares / n - mean * mean - 1)).toBeLessThan(0.015);
    expect(Math.abs(within1 / n - 0.6827)).toBeLessThan(0.005);
    expect(Math.abs(within2 / n - 0.9545)).toBeLessThan(0.003);
    // Neighbours (the two values of a Box–Muller pair, and pairs) are uncorrelated.
    let lag1 = 0;
    for (let i = 1; i < n; i++) lag1 += eps[i] * eps[i - 1];
    expect(Math.abs(lag1 / n)).toBeLessThan(0.01);
  });

  it("depends on (seed, step, index) alone: the same call repeats, a longer run starts alike, another step or seed differs", () => {
    const n = 101;
    const draw = (count: number, seed: number, step: number): Float32Array => {
      const ptr = f32Buf(nans(count), "eps");
      rt.kernels.gaussianNoise(ptr, count, seed, step);
      return readF32(ptr, count);
    };
    const a = draw(n, 3, 1);
    expect(draw(n, 3, 1)).toEqual(a);
    expect(draw(2 * n, 3, 1).subarray(0, n)).toEqual(a);
    const otherStep = draw(n, 3, 2),
      otherSeed = draw(n, 4, 1);
    expect(otherStep.filter((v, i) => v === a[i]).length).toBeLessThan(3);
    expect(otherSeed.filter((v, i) => v === a[i]).length).toBeLessThan(3);
  });
});

describe("samplingForward / samplingBackward", () => {
  // (batch, d): codes narrower than a vector, with a leftover, and several vectors wide.
  const cases: [number, number][] = [
    [1, 1],
    [3, 2],
    [2, 4],
    [3, 7],
    [4, 16],
    [2, 19],
  ];

  it.each(cases)("batch %i, d = %i: z, the KL sum and the gradients, with noise and without", (batch, d) => {
    const rng = new Random(batch * 100 + d);
    const x = normals(rng, 2 * batch * d);
    const eps = normals(rng, batch * d);
    const dz = normals(rng, batch * d);
    const scale = 1 / batch;
    const xPtr = f32Buf(x, "x"),
      epsPtr = f32Buf(eps, "eps"),
      dzPtr = f32Buf(dz, "dz");
    for (const noise of [true, false]) {
      const zPtr = f32Buf(nans(batch * d), "z");
      const kl = rt.kernels.samplingForward(xPtr, epsPtr, zPtr, batch, d, noise ? 1 : 0);
      const ref = forwardRef(x, eps, batch, d, noise);
      const z = readF32(zPtr, batch * d);
      if (noise)
        expectWithin(
          z,
          ref.z,
          Array.from(ref.zMagnitude, (m) => 1e-6 * m),
          "z",
        );
      else expectExact(z, ref.z, "z = mu");
      expect(Math.abs(kl - ref.kl), `KL ${kl}, reference ${ref.kl}`).toBeLessThanOrEqual(1e-6 * ref.klMagnitude);

      const dxPtr = f32Buf(nans(2 * batch * d), "dx");
      rt.kernels.samplingBackward(xPtr, epsPtr, dzPtr, dxPtr, batch, d, scale, noise ? 1 : 0);
      const back = backwardRef(x, eps, dz, batch, d, scale, noise);
      expectWithin(
        readF32(dxPtr, 2 * batch * d),
        back.dx,
        Array.from(back.magnitude, (m) => 1e-6 * m),
        `dx (noise ${noise})`,
      );
    }
    expectExact(readF32(xPtr, x.length), x, "x (unchanged)");
    expectExact(readF32(epsPtr, eps.length), eps, "eps (unchanged)");
  });

  it("the KL term of a standard normal code (mu = 0, logvar = 0) is 0, and grows with |mu| and |logvar|", () => {
    const d = 5;
    const zPtr = f32Buf(nans(d), "z"),
      epsPtr = f32Buf(new Float64Array(d), "eps");
    const kl = (mu: number, logvar: number): number =>
      rt.kernels.samplingForward(f32Buf([...Array(d).fill(mu), ...Array(d).fill(logvar)], "x"), epsPtr, zPtr, 1, d, 1);
    expect(Math.abs(kl(0, 0))).toBe(0);
    // KL per dimension = ½(mu² + e^logvar - 1 - logvar).
    expect(kl(2, 0)).toBeCloseTo(d * 2, 5);
    expect(kl(0, Math.log(4))).toBeCloseTo(d * 0.5 * (4 - 1 - Math.log(4)), 5);
    expect(kl(0, -3)).toBeGreaterThan(kl(0, -1));
  });
});
