// The Dropout layer (sdk/layers/dropout.ts): drop rate, scaling, reproducibility from the seed and
// step, backward, test time, and the gradients of models with dropout, the mask held fixed
// (test/support/model-gradients.ts).
import { describe, expect, it } from "vitest";
import { type Layer, Model, type ModelSpec, Random } from "../../../sdk/node";
import { fillNormal, rt, useRuntime } from "../../support/buffers";
import { buildModel } from "../../support/numeric";
import { Scratch } from "../../support/scratch";
import { checkModel } from "../../support/model-gradients";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Dropout

describe("dropout", () => {
  /** A model whose first layer is dropout(rate) over `size` values, room for `batch` samples. */
  function dropoutModel(rate: number, size: number, batch: number, seed: number): { model: Model; layer: Layer } {
    const model = new Model(
      rt,
      {
        input: [size],
        layers: [
          { type: "dropout", rate },
          { type: "dense", units: 2 },
        ],
      },
      { seed },
    );
    model.allocate(batch);
    return { model, layer: model.layers[0] };
  }

  /** The mask of the next training forward: the output for an input of ones. */
  function nextMask(model: Model, layer: Layer, batch: number): Float32Array {
    const n = batch * model.inputSize;
    rt.f32(model.inputPtr, n).fill(1);
    return rt.f32(layer.forward(model.inputPtr, batch, true), n).slice();
  }

  it("rate 0.3 over 100k values: 30% ± 1% zeros, kept values x/(1-rate) in float32, a new mask every step", () => {
    const batch = 100,
      size = 1000,
      n = batch * size,
      rate = 0.3;
    const { model, layer } = dropoutModel(rate, size, batch, 1);
    const rng = new Random(2);
    const scale = Math.fround(1 / Math.fround(1 - rate));
    const masks: Float32Array[] = [];
    for (let step = 0; step < 3; step++) {
      const x = rt.f32(model.inputPtr, n);
      for (let i = 0; i < n; i++) x[i] = (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + rng.uniform());
      const input = x.slice();
      const y = rt.f32(layer.forward(model.inputPtr, batch, true), n).slice();
      let zeros = 0;
      for (let i = 0; i < n; i++) {
        if (y[i] === 0) {
          zeros++;
        } else if (
          y[i] !== Math.fround(input[i] * scale) ||
          !(Math.abs(y[i] - input[i] / (1 - rate)) <= 2e-7 * Math.abs(y[i]))
        ) {
          expect.fail(`kept value ${i}: ${y[i]}, expected ${input[i]}/(1 - ${rate}) = ${input[i] / (1 - rate)}`);
        }
      }
      expect(Math.abs(zeros / n - rate), `fraction of zeros at step ${step}: ${zeros / n}`).toBeLessThan(0.01);
      masks.push(Float32Array.from(y, (v) => (v === 0 ? 0 : 1)));
      // The input itself is not modified.
      expect(rt.f32(model.inputPtr, n)).toEqual(input);
    }
    // Consecutive steps draw independent masks: dropped in both about rate² of the time.
    for (let s = 1; s < masks.length; s++) {
      let both = 0;
      for (let i = 0; i < n; i++) if (masks[s][i] === 0 && masks[s - 1][i] === 0) both++;
      expect(Math.abs(both / n - rate * rate), `dropped at steps ${s - 1} and ${s}`).toBeLessThan(0.01);
    }
    // Nor is one sample's mask repeated for the others.
    expect(masks[0].subarray(0, size)).not.toEqual(masks[0].subarray(size, 2 * size));
    model.dispose();
  });

  it("rate 0.5 scales kept values by exactly 2", () => {
    const { model, layer } = dropoutModel(0.5, 257, 3, 5);
    const x = rt.f32(model.inputPtr, 3 * 257);
    fillNormal(x, new Random(6), 1);
    const input = x.slice();
    const y = rt.f32(layer.forward(model.inputPtr, 3, true), 3 * 257).slice();
    const kept = y.filter((v) => v !== 0).length;
    expect(kept).toBeGreaterThan(0.35 * y.length);
    expect(kept).toBeLessThan(0.65 * y.length);
    y.forEach((v, i) => expect(v === 0 || v === 2 * input[i], `y[${i}] = ${v}, x = ${input[i]}`).toBe(true));
    model.dispose();
  });

  it("the same model seed and step give the same mask; another seed gives another", () => {
    const batch = 4,
      size = 500;
    const a = dropoutModel(0.4, size, batch, 11);
    const b = dropoutModel(0.4, size, batch, 11);
    const c = dropoutModel(0.4, size, batch, 12);
    const maskA = [nextMask(a.model, a.layer, batch), nextMask(a.model, a.layer, batch)];
    const maskB = [nextMask(b.model, b.layer, batch), nextMask(b.model, b.layer, batch)];
    const maskC = [nextMask(c.model, c.layer, batch), nextMask(c.model, c.layer, batch)];
    expect(maskB[0]).toEqual(maskA[0]);
    expect(maskB[1]).toEqual(maskA[1]);
    expect(maskA[1], "the step changes the mask").not.toEqual(maskA[0]);
    for (let s = 0; s < 2; s++) {
      const differ = maskC[s].filter((v, i) => v !== maskA[s][i]).length;
      expect(differ, `seed 12 against seed 11, step ${s}`).toBeGreaterThan(0.3 * maskA[s].length);
    }
    for (const m of [a, b, c]) m.model.dispose();
  });

  it("backward is dy·mask (the mask of the last training forward); without the input gradient it returns 0", () => {
    const batch = 3,
      size = 201,
      n = batch * size; // n % 4 = 3: the vector loop and the tail
    const { model, layer } = dropoutModel(0.3, size, batch, 21);
    const mask = nextMask(model, layer, batch);
    const s = new Scratch();
    try {
      const dy = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
      const dyPtr = s.f32(dy);
      const dx = rt.f32(layer.backward(dyPtr, batch, true), n).slice();
      expect(dx).toEqual(Float32Array.from(dy, (v, i) => Math.fround(v * mask[i])));
      expect(dx.filter((v) => v === 0).length).toBeGreaterThan(0.2 * n);
      expect(layer.backward(dyPtr, batch, false)).toBe(0);
    } finally {
      s.free();
    }
    model.dispose();
  });

  it("at test time (training = false) the output is the input, and predict() is deterministic", () => {
    const batch = 2,
      size = 300;
    const { model, layer } = dropoutModel(0.5, size, batch, 31);
    const x = rt.f32(model.inputPtr, batch * size);
    fillNormal(x, new Random(32), 1);
    const input = x.slice();
    expect(rt.f32(layer.forward(model.inputPtr, batch, false), batch * size)).toEqual(input);
    const pixels = new Float32Array(input);
    const first = model.predict(pixels);
    expect(model.predict(pixels)).toEqual(first);
    // …which is the dense layer on the undropped input (rate 0 gives the same network).
    const plain = new Model(rt, { input: [size], layers: [{ type: "dense", units: 2 }] });
    plain.params.forEach((p, i) => p.value.write(model.params[i].value.read()));
    expect(plain.predict(pixels)).toEqual(first);
    plain.dispose();
    model.dispose();
  });

  it("rate 0 passes values and gradients through in training", () => {
    const batch = 2,
      size = 50;
    const { model, layer } = dropoutModel(0, size, batch, 41);
    const x = rt.f32(model.inputPtr, batch * size);
    fillNormal(x, new Random(42), 1);
    const input = x.slice();
    expect(rt.f32(layer.forward(model.inputPtr, batch, true), batch * size)).toEqual(input);
    const s = new Scratch();
    try {
      const dy = Float32Array.from({ length: batch * size }, (_, i) => i - 7.5);
      const dx = rt.f32(layer.backward(s.f32(dy), batch, true), batch * size);
      expect(dx).toEqual(dy);
    } finally {
      s.free();
    }
    model.dispose();
  });

  const cases: { name: string; spec: ModelSpec; batch: number }[] = [
    {
      name: "6 - dense 8 - sigmoid - dropout 0.5 - dense 3",
      batch: 4,
      spec: {
        input: [6],
        layers: [
          { type: "dense", units: 8 },
          { type: "sigmoid" },
          { type: "dropout", rate: 0.5 },
          { type: "dense", units: 3 },
        ],
      },
    },
    {
      name: "5 - dropout 0.2 - dense 6 - relu - dropout 0.3 - dense 5 - sigmoid - dropout 0.4 - dense 3",
      batch: 3,
      spec: {
        input: [5],
        layers: [
          { type: "dropout", rate: 0.2 },
          { type: "dense", units: 6 },
          { type: "relu" },
          { type: "dropout", rate: 0.3 },
          { type: "dense", units: 5 },
          { type: "sigmoid" },
          { type: "dropout", rate: 0.4 },
          { type: "dense", units: 3 },
        ],
      },
    },
  ];

  it.each(cases.map((c, i) => ({ ...c, seed: 800 + i })))(
    "model $name, batch $batch: every gradient with the step's mask held fixed",
    ({ spec, batch, seed }) => {
      const model = buildModel(spec, batch, seed);
      checkModel(model, batch, new Random(seed + 7));
      model.dispose();
    },
  );
});
