// The Sampling layer (sdk/layers/sampling.ts), a VAE's reparameterisation: the statistics of its
// codes over many draws, reproducible noise (model seed, reseed, freezeNoise), the mean in
// inference unless sampleAlways, its KL sum against a plain reference, and its gradients
// (including the KL term's) against central differences with the noise held fixed, alone and
// inside a small model whose loss is the softmax head's plus the KL sum.
import { describe, expect, it } from "vitest";
import { Model, Random, Sampling, type ModelSpec } from "../../../sdk/index";
import { rt, useRuntime } from "../../support/buffers";
import { expectError } from "../../support/errors";
import { buildModel, expectGradient, numericalGrad } from "../../support/numeric";
import { Scratch } from "../../support/scratch";

useRuntime();

const samplingSpec = (d: number): ModelSpec => ({
  input: [2 * d],
  layers: [{ type: "sampling" }, { type: "dense", units: 2 }],
});

/** A model whose first layer samples codes of `d` values, room for `batch` samples, input `x` [batch, 2d]. */
function samplingModel(d: number, batch: number, seed: number, x?: ArrayLike<number>) {
  const model = new Model(rt, samplingSpec(d), { seed });
  model.allocate(batch);
  if (x) rt.f32(model.inputPtr, batch * 2 * d).set(x);
  return { model, layer: model.layers[0] as Sampling };
}

/** KL = -½ Σ (1 + logvar - mu² - exp(logvar)) over a batch of [mu, logvar] rows, in float64. */
function klRef(x: ArrayLike<number>, batch: number, d: number): number {
  let kl = 0;
  for (let b = 0; b < batch; b++)
    for (let j = 0; j < d; j++) {
      const mu = x[2 * b * d + j],
        logvar = x[2 * b * d + d + j];
      kl += -0.5 * (1 + logvar - mu * mu - Math.exp(logvar));
    }
  return kl;
}

const randomInput = (n: number, seed: number): Float32Array => {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * 0.8);
};

describe("Sampling", () => {
  it("has a code of half its input's size, no parameters, and names its public members", () => {
    const { model, layer } = samplingModel(5, 1, 1);
    expect(layer).toBeInstanceOf(Sampling);
    expect(layer.latent).toBe(5);
    expect(layer.outputShape).toEqual([5]);
    expect(layer.params).toEqual([]);
    expect(layer.sampleAlways).toBe(false);
    expect(layer.freezeNoise).toBe(false);
    expect(layer.klSum).toBe(0);
    model.dispose();
  });

  it("20 000 training draws: z has mean mu and variance exp(logvar) in every dimension", () => {
    const d = 4,
      batch = 20_000;
    const mu = [0.5, -1, 2, 0],
      logvar = [0, Math.log(4), -2, 1];
    const x = new Float32Array(batch * 2 * d);
    for (let b = 0; b < batch; b++) x.set([...mu, ...logvar], 2 * b * d);
    const { model, layer } = samplingModel(d, batch, 3, x);
    const z = rt.f32(layer.forward(model.inputPtr, batch, true), batch * d).slice();
    for (let j = 0; j < d; j++) {
      let sum = 0,
        squares = 0;
      for (let b = 0; b < batch; b++) sum += z[b * d + j];
      const mean = sum / batch;
      for (let b = 0; b < batch; b++) squares += (z[b * d + j] - mean) ** 2;
      const variance = squares / batch,
        want = Math.exp(logvar[j]);
      // Standard errors: √(var/n) for the mean (4 of them allowed), var·√(2/n) = 1% of it for the variance.
      expect(Math.abs(mean - mu[j]), `mean of dimension ${j}`).toBeLessThan(4 * Math.sqrt(want / batch));
      expect(Math.abs(variance / want - 1), `variance of dimension ${j}`).toBeLessThan(0.04);
    }
    model.dispose();
  });

  it("the same model seed gives the same noise; each training pass draws anew; another seed differs", () => {
    const d = 6,
      batch = 4;
    const x = randomInput(batch * 2 * d, 1);
    const a = samplingModel(d, batch, 11, x),
      b = samplingModel(d, batch, 11, x),
      c = samplingModel(d, batch, 12, x);
    const draw = (m: ReturnType<typeof samplingModel>): Float32Array =>
      rt.f32(m.layer.forward(m.model.inputPtr, batch, true), batch * d).slice();
    const a1 = draw(a),
      a2 = draw(a);
    expect(draw(b)).toEqual(a1);
    expect(draw(b)).toEqual(a2);
    expect(a2.filter((v, i) => v === a1[i]).length).toBe(0);
    expect(draw(c).filter((v, i) => v === a1[i]).length).toBe(0);
    for (const m of [a, b, c]) m.model.dispose();
  });

  it("reseed(seed) starts the draws over: the same seed, the same codes, whatever came before", () => {
    const d = 3,
      batch = 5;
    const x = randomInput(batch * 2 * d, 2);
    const a = samplingModel(d, batch, 1, x),
      b = samplingModel(d, batch, 2, x);
    a.layer.forward(a.model.inputPtr, batch, true);
    a.layer.forward(a.model.inputPtr, batch, true);
    a.layer.reseed(77);
    b.layer.reseed(77);
    const first = rt.f32(a.layer.forward(a.model.inputPtr, batch, true), batch * d).slice();
    expect(rt.f32(b.layer.forward(b.model.inputPtr, batch, true), batch * d).slice()).toEqual(first);
    a.layer.reseed(77);
    expect(rt.f32(a.layer.forward(a.model.inputPtr, batch, true), batch * d).slice()).toEqual(first);
    expectError(() => a.layer.reseed(-1), "BAD_ARGUMENT", /Sampling.reseed: seed must be an integer/);
    expectError(() => a.layer.reseed(1.5), "BAD_ARGUMENT", /Sampling.reseed: seed/);
    for (const m of [a, b]) m.model.dispose();
  });

  it("freezeNoise reuses the last draw: the same eps for any input, until it is turned off", () => {
    const d = 5,
      batch = 3,
      n = batch * 2 * d;
    const x = randomInput(n, 3);
    const { model, layer } = samplingModel(d, batch, 4, x);
    const z1 = rt.f32(layer.forward(model.inputPtr, batch, true), batch * d).slice();
    layer.freezeNoise = true;
    expect(rt.f32(layer.forward(model.inputPtr, batch, true), batch * d).slice()).toEqual(z1);
    // eps = (z - mu) / exp(½·logvar) is the same for another input.
    const epsOf = (input: Float32Array, z: Float32Array): number[] =>
      Array.from({ length: batch * d }, (_, k) => {
        const b = Math.floor(k / d),
          j = k % d;
        return (z[k] - input[2 * b * d + j]) / Math.exp(0.5 * input[2 * b * d + d + j]);
      });
    const other = randomInput(n, 5);
    rt.f32(model.inputPtr, n).set(other);
    const z2 = rt.f32(layer.forward(model.inputPtr, batch, true), batch * d).slice();
    const [e1, e2] = [epsOf(x, z1), epsOf(other, z2)];
    e1.forEach((v, i) => expect(Math.abs(v - e2[i]), `eps[${i}]`).toBeLessThan(1e-5 * (1 + Math.abs(v))));
    layer.freezeNoise = false;
    const z3 = rt.f32(layer.forward(model.inputPtr, batch, true), batch * d).slice();
    expect(z3.filter((v, i) => v === z2[i]).length).toBe(0);
    model.dispose();
  });

  it("in inference z is the mean, unless sampleAlways; klSum is the batch's KL in both modes", () => {
    const d = 7,
      batch = 3,
      n = batch * 2 * d;
    const x = randomInput(n, 6);
    const { model, layer } = samplingModel(d, batch, 8, x);
    const want = klRef(x, batch, d);
    const mean = Float32Array.from({ length: batch * d }, (_, k) => x[2 * Math.floor(k / d) * d + (k % d)]);
    expect(rt.f32(layer.forward(model.inputPtr, batch, false), batch * d).slice()).toEqual(mean);
    expect(Math.abs(layer.klSum - want)).toBeLessThan(1e-5 * Math.abs(want));
    expect(rt.f32(layer.forward(model.inputPtr, batch, false), batch * d).slice()).toEqual(mean);
    layer.sampleAlways = true;
    const sampled = rt.f32(layer.forward(model.inputPtr, batch, false), batch * d).slice();
    expect(sampled.filter((v, i) => v === mean[i]).length).toBe(0);
    expect(Math.abs(layer.klSum - want)).toBeLessThan(1e-5 * Math.abs(want));
    // predict() on an inference model runs the mean too: deterministic without sampleAlways.
    layer.sampleAlways = false;
    const p = model.predict(x, batch);
    expect(model.predict(x, batch)).toEqual(p);
    // A training pass reports the KL of its own batch (here the first sample alone).
    layer.forward(model.inputPtr, 1, true);
    const one = klRef(x, 1, d);
    expect(Math.abs(layer.klSum - one)).toBeLessThan(1e-5 * Math.abs(one));
    model.dispose();
  });

  it.each([
    [1, 1],
    [3, 2],
    [6, 3],
  ])("d = %i, batch %i: gradients of Σ r·z + klSum/batch with the noise frozen (central differences)", (d, batch) => {
    const n = batch * 2 * d;
    const { model, layer } = samplingModel(d, batch, 20 + d, randomInput(n, 30 + d));
    const rng = new Random(40 + d);
    const r = Float64Array.from({ length: batch * d }, () => rng.normal());
    const s = new Scratch();
    try {
      const rPtr = s.f32(r);
      const loss = (): number => {
        const z = rt.f32(layer.forward(model.inputPtr, batch, true), batch * d);
        let sum = 0;
        for (let i = 0; i < z.length; i++) sum += r[i] * z[i];
        return sum + layer.klSum / batch;
      };
      loss(); // draws the noise
      layer.freezeNoise = true;
      const dx = rt.f32(layer.backward(rPtr, batch, true), n).slice();
      expect(layer.backward(rPtr, batch, false)).toBe(0);
      expectGradient(
        dx,
        numericalGrad(() => rt.f32(model.inputPtr, n), loss),
        "sampling input",
      );
    } finally {
      s.free();
    }
    model.dispose();
  });

  it("in a model (dense, sampling, dense head): every gradient of the mean loss + KL/batch, noise frozen", () => {
    const spec: ModelSpec = {
      input: [5],
      layers: [{ type: "dense", units: 6 }, { type: "sampling" }, { type: "dense", units: 3 }],
    };
    const batch = 3;
    const model = buildModel(spec, batch, 50);
    const sampling = model.layers[1] as Sampling;
    const rng = new Random(51);
    const x = rt.f32(model.inputPtr, batch * 5);
    for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 1;
    const labels = rt.u8(model.labelPtr, batch);
    for (let i = 0; i < batch; i++) labels[i] = rng.int(3);
    const meanLoss = (): number => {
      const logits = model.forward(model.inputPtr, batch, true);
      return (model.loss.forward(logits, model.labelPtr, batch, false) + sampling.klSum) / batch;
    };
    const logits = model.forward(model.inputPtr, batch, true);
    const loss = (model.loss.forward(logits, model.labelPtr, batch, true) + sampling.klSum) / batch;
    sampling.freezeNoise = true;
    expect(meanLoss()).toBeCloseTo(loss, 6);
    for (const p of model.params) p.grad.fill(1e6);
    model.backward(batch);
    for (const p of model.params)
      expectGradient(
        p.grad.read(),
        numericalGrad(() => p.value.view(), meanLoss),
        p.name,
      );
    model.dispose();
  });

  it("refuses an input that is not flat or has an odd size (BAD_SHAPE naming the layer), and use once disposed", () => {
    expectError(
      () => new Model(rt, samplingSpec(1.5)),
      "BAD_SHAPE",
      /layer 0 \(sampling\) needs a flat input of an even size \(means, then log-variances\), got \[3\]/,
    );
    expectError(
      () => new Model(rt, { input: [2, 2, 2], layers: [{ type: "sampling" }, { type: "dense", units: 2 }] }),
      "BAD_SHAPE",
      /layer 0 \(sampling\) needs a flat input of an even size/,
    );
    const { model, layer } = samplingModel(2, 1, 1);
    model.dispose();
    expectError(() => layer.forward(0, 1, false), "BAD_STATE", /sampling layer was disposed/);
    expectError(() => layer.reseed(1), "BAD_STATE", /sampling layer was disposed/);
  });
});
