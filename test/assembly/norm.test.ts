// assembly/norm.ts (batchNormTrain, batchNormInfer, batchNormBackward) against a double-precision
// reference, for dense-shaped [batch, C] (S = 1) and conv-shaped [batch, C, S] inputs, including the
// running statistics' update with momentum and the unbiased batch variance m/(m-1).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/node";
import { batchNormBackwardReference, batchNormReference } from "../support/batchnorm-reference";
import { batchNormBackwardScalar, batchNormInferScalar, batchNormTrainScalar } from "../support/batchnorm-scalar";
import { expectSameBits } from "../support/bits";
import { readF32 as read, rt, useRuntime } from "../support/buffers";
import { expectClose, Scratch } from "../support/scratch";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Batch-norm kernels against a float64 reference

describe("batch-norm kernels", () => {
  // [batch, C, S]: dense-shaped (S = 1) and conv-shaped, including batch 1 with S > 1.
  const shapes: [string, number, number, number][] = [
    ["dense [6, 4]", 6, 4, 1],
    ["dense [3, 5]", 3, 5, 1],
    ["conv [3, 2, 10]", 3, 2, 10],
    ["conv [2, 3, 4x4]", 2, 3, 16],
    ["conv [1, 3, 7] (one sample)", 1, 3, 7],
  ];

  /** x per channel around its own mean and scale; gamma, beta, running statistics random. */
  function setup(batch: number, C: number, S: number, seed: number) {
    const rng = new Random(seed);
    const mu = Array.from({ length: C }, () => 3 * rng.uniform() - 1);
    const sigma = Array.from({ length: C }, () => 0.3 + 1.5 * rng.uniform());
    const x = new Float32Array(batch * C * S);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) x[(b * C + c) * S + s] = mu[c] + sigma[c] * rng.normal();
    }
    const gamma = Float32Array.from({ length: C }, () => 1 + 0.5 * rng.normal());
    const beta = Float32Array.from({ length: C }, () => rng.normal());
    const runningMean = Float32Array.from({ length: C }, () => rng.normal());
    const runningVar = Float32Array.from({ length: C }, () => 0.5 + 1.5 * rng.uniform());
    return { x, gamma, beta, runningMean, runningVar, rng };
  }

  it.each(shapes)(
    "batchNormTrain %s: y, xhat, invStd, running mean and unbiased variance with momentum",
    (_, batch, C, S) => {
      const n = batch * C * S;
      const { x, gamma, beta, runningMean, runningVar } = setup(batch, C, S, 7 * batch + C + S);
      const eps = 1e-3,
        momentum = 0.8;
      const s = new Scratch();
      try {
        const p = {
          x: s.f32(x),
          y: s.f32(n),
          xhat: s.f32(n),
          invStd: s.f32(C),
          gamma: s.f32(gamma),
          beta: s.f32(beta),
          rm: s.f32(runningMean),
          rv: s.f32(runningVar),
        };
        rt.kernels.batchNormTrain(
          p.x,
          p.y,
          p.xhat,
          p.invStd,
          p.gamma,
          p.beta,
          p.rm,
          p.rv,
          batch,
          C,
          S,
          eps,
          momentum,
          0,
          C,
        );
        const ref = batchNormReference(x, batch, C, S, gamma, beta, eps);
        expectClose(read(p.y, n), ref.y, 1e-5, 1e-5, "y");
        expectClose(read(p.xhat, n), ref.xhat, 1e-5, 1e-5, "xhat");
        expectClose(read(p.invStd, C), ref.invStd, 1e-5, 0, "invStd");
        expect(read(p.x, n), "x is not modified").toEqual(x);
        // Normalised: per channel, mean 0 and (biased) variance var/(var+eps) of xhat.
        const m = batch * S;
        for (let c = 0; c < C; c++) {
          let sum = 0,
            sq = 0;
          for (let b = 0; b < batch; b++) {
            for (let k = 0; k < S; k++) {
              const h = read(p.xhat, n)[(b * C + c) * S + k];
              sum += h;
              sq += h * h;
            }
          }
          expect(Math.abs(sum / m)).toBeLessThan(1e-5);
          expect(sq / m).toBeCloseTo(ref.variance[c] / (ref.variance[c] + eps), 4);
        }
        // running = momentum·running + (1 - momentum)·batch, with the variance's m/(m-1)
        const wantMean = ref.mean.map((v, c) => momentum * runningMean[c] + (1 - momentum) * v);
        const wantVar = ref.unbiased.map((v, c) => momentum * runningVar[c] + (1 - momentum) * v);
        const biasedVar = ref.variance.map((v, c) => momentum * runningVar[c] + (1 - momentum) * v);
        expectClose(read(p.rm, C), wantMean, 1e-5, 1e-6, "running mean");
        expectClose(read(p.rv, C), wantVar, 1e-5, 1e-6, "running var");
        // The unbiased and biased updates are far apart here, so the check above tells them apart.
        for (let c = 0; c < C; c++)
          expect(Math.abs(wantVar[c] - biasedVar[c])).toBeGreaterThan(100 * 1e-5 * wantVar[c]);
      } finally {
        s.free();
      }
    },
  );

  it("batchNormTrain with one value per channel (m = 1): y = beta, the running variance decays (no NaN)", () => {
    const s = new Scratch();
    try {
      const C = 3;
      const p = {
        x: s.f32([1.5, -2, 7]),
        y: s.f32(C),
        xhat: s.f32(C),
        invStd: s.f32(C),
        gamma: s.f32([2, 3, 4]),
        beta: s.f32([0.5, -1, 0.25]),
        rm: s.f32([0, 1, 2]),
        rv: s.f32([1, 2, 3]),
      };
      rt.kernels.batchNormTrain(p.x, p.y, p.xhat, p.invStd, p.gamma, p.beta, p.rm, p.rv, 1, C, 1, 1e-5, 0.5, 0, C);
      expect(Array.from(read(p.y, C))).toEqual([0.5, -1, 0.25]);
      expectClose(read(p.rm, C), [0.75, -0.5, 4.5], 1e-6, 0, "running mean");
      expectClose(read(p.rv, C), [0.5, 1, 1.5], 1e-6, 0, "running var");
    } finally {
      s.free();
    }
  });

  it.each(shapes)(
    "batchNormInfer %s: gamma·(x - runningMean)/sqrt(runningVar + eps) + beta, sample by sample",
    (_, batch, C, S) => {
      const n = batch * C * S;
      const { x, gamma, beta, runningMean, runningVar } = setup(batch, C, S, 100 + 7 * batch + C + S);
      const eps = 1e-3;
      const s = new Scratch();
      try {
        const p = {
          x: s.f32(x),
          y: s.f32(n),
          gamma: s.f32(gamma),
          beta: s.f32(beta),
          rm: s.f32(runningMean),
          rv: s.f32(runningVar),
        };
        rt.kernels.batchNormInfer(p.x, p.y, p.gamma, p.beta, p.rm, p.rv, batch, C, S, eps, 0, C);
        const want = Float64Array.from(x, (v, i) => {
          const c = Math.floor(i / S) % C;
          return (gamma[c] * (v - runningMean[c])) / Math.sqrt(runningVar[c] + eps) + beta[c];
        });
        const y = read(p.y, n);
        expectClose(y, want, 1e-5, 1e-5, "y");
        // No batch statistics: the first sample alone gives the same output.
        rt.f32(p.y, n).fill(0);
        rt.kernels.batchNormInfer(p.x, p.y, p.gamma, p.beta, p.rm, p.rv, 1, C, S, eps, 0, C);
        expect(read(p.y, C * S)).toEqual(y.subarray(0, C * S));
        expect(read(p.rm, C)).toEqual(runningMean);
        expect(read(p.rv, C)).toEqual(runningVar);
      } finally {
        s.free();
      }
    },
  );

  it.each(shapes)("batchNormBackward %s: dgamma, dbeta, dx; dx pointer 0 writes no dx", (_, batch, C, S) => {
    const n = batch * C * S;
    const { x, gamma, beta, runningMean, runningVar, rng } = setup(batch, C, S, 200 + 7 * batch + C + S);
    const eps = 1e-3;
    const dy = Float32Array.from({ length: n }, () => rng.normal());
    const s = new Scratch();
    try {
      const p = {
        x: s.f32(x),
        y: s.f32(n),
        xhat: s.f32(n),
        invStd: s.f32(C),
        gamma: s.f32(gamma),
        beta: s.f32(beta),
        rm: s.f32(runningMean),
        rv: s.f32(runningVar),
        dy: s.f32(dy),
        dx: s.f32(n),
        dgamma: s.f32(C),
        dbeta: s.f32(C),
      };
      rt.kernels.batchNormTrain(p.x, p.y, p.xhat, p.invStd, p.gamma, p.beta, p.rm, p.rv, batch, C, S, eps, 0.9, 0, C);
      const ref = batchNormReference(x, batch, C, S, gamma, beta, eps);
      const want = batchNormBackwardReference(dy, ref.xhat, ref.invStd, gamma, batch, C, S);
      rt.f32(p.dgamma, C).fill(1e6); // overwritten, not accumulated
      rt.f32(p.dbeta, C).fill(1e6);
      rt.kernels.batchNormBackward(p.dy, p.xhat, p.invStd, p.gamma, p.dx, p.dgamma, p.dbeta, batch, C, S, 0, C);
      const dgamma = read(p.dgamma, C),
        dbeta = read(p.dbeta, C),
        dx = read(p.dx, n);
      const scale = (a: ArrayLike<number>): number => Math.max(...Array.from(a, Math.abs));
      expectClose(dbeta, want.dbeta, 1e-5, 1e-5 * scale(want.dbeta), "dbeta");
      expectClose(dgamma, want.dgamma, 1e-5, 1e-5 * scale(want.dgamma), "dgamma");
      expectClose(dx, want.dx, 1e-4, 1e-5 * scale(want.dx), "dx");
      // Per channel the input gradient sums to 0 (a shift of a channel's inputs does nothing).
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (let b = 0; b < batch; b++) for (let k = 0; k < S; k++) sum += dx[(b * C + c) * S + k];
        expect(Math.abs(sum)).toBeLessThan(1e-4 * scale(want.dx) * batch * S);
      }

      // dx = 0: the parameter gradients only; nothing written at address 0 or into the old dx.
      const low = rt.u8(0, n * 4 + 64).slice();
      rt.f32(p.dx, n).fill(-7);
      rt.f32(p.dgamma, C).fill(1e6);
      rt.f32(p.dbeta, C).fill(1e6);
      rt.kernels.batchNormBackward(p.dy, p.xhat, p.invStd, p.gamma, 0, p.dgamma, p.dbeta, batch, C, S, 0, C);
      expect(rt.u8(0, n * 4 + 64).slice(), "memory at address 0").toEqual(low);
      expect(read(p.dx, n).every((v) => v === -7)).toBe(true);
      expect(read(p.dgamma, C)).toEqual(dgamma);
      expect(read(p.dbeta, C)).toEqual(dbeta);
    } finally {
      s.free();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Bit for bit: the kernels sum four channels side by side and run rows four values at a time, and
// threads share the channels out; none of that may change a float (trained runs reproduce).

describe("batch-norm kernels, bit for bit against their arithmetic done one value at a time", () => {
  // Channels: fewer than a group of four, groups and a tail; rows: shorter than a vector, whole
  // vectors, vectors and a tail; generated with the seed of the case.
  const cases: [number, number, number][] = [];
  for (const C of [1, 3, 4, 5, 8, 11]) for (const S of [1, 3, 4, 7, 16]) cases.push([1 + ((C + S) % 3), C, S]);

  it.each(cases)("batch %i, C %i, S %i: train, infer and backward; split at every channel", (batch, C, S) => {
    const rng = new Random(1000 * C + S);
    const n = batch * C * S;
    // Values of mixed magnitudes, so that the double sums round.
    const x = Float32Array.from({ length: n }, () => rng.normal() * 10 ** Math.floor(4 * rng.uniform() - 2));
    const gamma = Float32Array.from({ length: C }, () => 1 + 0.5 * rng.normal());
    const beta = Float32Array.from({ length: C }, () => rng.normal());
    const runningMean = Float32Array.from({ length: C }, () => rng.normal());
    const runningVar = Float32Array.from({ length: C }, () => 0.5 + rng.uniform());
    const dy = Float32Array.from({ length: n }, () => rng.normal());
    const [eps, momentum] = [1e-5, 0.9];
    const want = batchNormTrainScalar(x, batch, C, S, gamma, beta, runningMean, runningVar, eps, momentum);
    const wantInfer = batchNormInferScalar(x, batch, C, S, gamma, beta, runningMean, runningVar, eps);
    const wantBack = batchNormBackwardScalar(dy, want.xhat, want.invStd, gamma, batch, C, S);
    // [0, C) in one call, then in two calls split at each channel.
    for (let split = 0; split <= C; split++) {
      const ranges =
        split === 0 || split === C
          ? [[0, C]]
          : [
              [0, split],
              [split, C],
            ];
      const s = new Scratch();
      try {
        const p = {
          x: s.f32(x),
          y: s.f32(n),
          xhat: s.f32(n),
          invStd: s.f32(C),
          gamma: s.f32(gamma),
          beta: s.f32(beta),
          rm: s.f32(runningMean),
          rv: s.f32(runningVar),
          dy: s.f32(dy),
          dx: s.f32(n),
          dgamma: s.f32(C),
          dbeta: s.f32(C),
        };
        for (const [c0, c1] of ranges)
          rt.kernels.batchNormTrain(
            p.x,
            p.y,
            p.xhat,
            p.invStd,
            p.gamma,
            p.beta,
            p.rm,
            p.rv,
            batch,
            C,
            S,
            eps,
            momentum,
            c0,
            c1,
          );
        expectSameBits(read(p.y, n), want.y, `y, split ${split}`);
        expectSameBits(read(p.xhat, n), want.xhat, `xhat, split ${split}`);
        expectSameBits(read(p.invStd, C), want.invStd, `invStd, split ${split}`);
        expectSameBits(read(p.rm, C), want.runningMean, `running mean, split ${split}`);
        expectSameBits(read(p.rv, C), want.runningVar, `running variance, split ${split}`);
        for (const [c0, c1] of ranges)
          rt.kernels.batchNormBackward(p.dy, p.xhat, p.invStd, p.gamma, p.dx, p.dgamma, p.dbeta, batch, C, S, c0, c1);
        expectSameBits(read(p.dx, n), wantBack.dx, `dx, split ${split}`);
        expectSameBits(read(p.dgamma, C), wantBack.dgamma, `dgamma, split ${split}`);
        expectSameBits(read(p.dbeta, C), wantBack.dbeta, `dbeta, split ${split}`);
        rt.f32(p.rm, C).set(runningMean);
        rt.f32(p.rv, C).set(runningVar);
        for (const [c0, c1] of ranges)
          rt.kernels.batchNormInfer(p.x, p.y, p.gamma, p.beta, p.rm, p.rv, batch, C, S, eps, c0, c1);
        expectSameBits(read(p.y, n), wantInfer, `inference, split ${split}`);
      } finally {
        s.free();
      }
    }
  });

  it("a channel range leaves the other channels' values untouched", () => {
    const [batch, C, S] = [2, 6, 5];
    const n = batch * C * S;
    const rng = new Random(5);
    const s = new Scratch();
    try {
      const p = {
        x: s.f32(Float32Array.from({ length: n }, () => rng.normal())),
        y: s.f32(n),
        xhat: s.f32(n),
        invStd: s.f32(C),
        gamma: s.f32(new Float32Array(C).fill(1)),
        beta: s.f32(C),
        rm: s.f32(C),
        rv: s.f32(new Float32Array(C).fill(1)),
      };
      rt.f32(p.y, n).fill(-3);
      rt.kernels.batchNormTrain(p.x, p.y, p.xhat, p.invStd, p.gamma, p.beta, p.rm, p.rv, batch, C, S, 1e-5, 0.9, 2, 5);
      const y = read(p.y, n);
      for (let b = 0; b < batch; b++)
        for (let c = 0; c < C; c++)
          for (let k = 0; k < S; k++) {
            const inside = c >= 2 && c < 5;
            expect(y[(b * C + c) * S + k] === -3, `y[${b}, ${c}, ${k}]`).toBe(!inside);
          }
    } finally {
      s.free();
    }
  });
});
