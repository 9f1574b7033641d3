// The BatchNorm layer (sdk/layers/batchnorm.ts): back-propagation against numerical gradients of the
// layer in training mode after a dense layer and after a convolution, and of whole models with batch
// norm (test/support/model-gradients.ts); inference from the running statistics, and their round
// trip through the model file.
import { describe, expect, it } from "vitest";
import { decodeSafetensors, deserializeModel, Model, type ModelSpec, Random, serializeModel } from "../../../sdk/node";
import { fillNormal, rt, useRuntime } from "../../support/buffers";
import { buildModel, checkLayer, typeOf } from "../../support/numeric";
import { expectClose } from "../../support/scratch";
import { batchNormReference } from "../../support/batchnorm-reference";
import { biasesBeforeNorm, checkModel, scaleLastWeights } from "../../support/model-gradients";

useRuntime();

// ---------------------------------------------------------------------------------------------
// The BatchNorm layer in training mode under L = Σ r·y (r random): dL/dx, dL/dgamma, dL/dbeta

describe("BatchNorm layer gradients (training mode)", () => {
  const cases: { name: string; spec: ModelSpec; batch: number; params: [string, number[]][] }[] = [
    {
      name: "after dense 6 -> 5 ([5], S = 1)",
      batch: 4,
      spec: { input: [6], layers: [{ type: "dense", units: 5 }, { type: "batchnorm" }, { type: "dense", units: 3 }] },
      params: [
        ["1.gamma", [5]],
        ["1.beta", [5]],
      ],
    },
    {
      name: "after dense 4 -> 3, batch 9, momentum 0.5, eps 0.01",
      batch: 9,
      spec: {
        input: [4],
        layers: [
          { type: "dense", units: 3 },
          { type: "batchnorm", momentum: 0.5, eps: 0.01 },
          { type: "dense", units: 2 },
        ],
      },
      params: [
        ["1.gamma", [3]],
        ["1.beta", [3]],
      ],
    },
    {
      name: "after conv [2,5,5] -> [3,3,3] (S = 9)",
      batch: 2,
      spec: {
        input: [2, 5, 5],
        layers: [
          { type: "conv2d", filters: 3, size: 3 },
          { type: "batchnorm" },
          { type: "flatten" },
          { type: "dense", units: 2 },
        ],
      },
      params: [
        ["1.gamma", [3]],
        ["1.beta", [3]],
      ],
    },
    {
      name: "after conv [1,4,4] -> [2,4,4] pad 1, one sample (statistics over H·W only)",
      batch: 1,
      spec: {
        input: [1, 4, 4],
        layers: [
          { type: "conv2d", filters: 2, size: 3, padding: 1 },
          { type: "batchnorm" },
          { type: "flatten" },
          { type: "dense", units: 2 },
        ],
      },
      params: [
        ["1.gamma", [2]],
        ["1.beta", [2]],
      ],
    },
  ];

  it.each(cases.map((c, i) => ({ ...c, seed: 300 + i })))(
    "$name, batch $batch: gamma, beta and input gradients",
    ({ spec, batch, params, seed }) => {
      const model = buildModel(spec, batch, seed);
      const rng = new Random(seed + 2);
      fillNormal(rt.f32(model.inputPtr, batch * model.inputSize), rng, 1);
      const layer = model.layers[1];
      expect(typeOf(layer)).toBe("batchnorm");
      expect(layer.outputShape).toEqual(layer.inputShape);
      expect(layer.params.map((p) => [p.name, p.value.shape])).toEqual(params);
      const x = model.layers[0].forward(model.inputPtr, batch, true); // the dense or conv output, then held fixed
      checkLayer(layer, x, batch, rng, "batchnorm");
      model.dispose();
    },
  );

  it("starts as the plain normalisation: gamma 1, beta 0, running mean 0, running variance 1", () => {
    const model = new Model(rt, {
      input: [3, 2, 2],
      layers: [{ type: "batchnorm" }, { type: "flatten" }, { type: "dense", units: 2 }],
    });
    const [gamma, beta] = model.layers[0].params;
    expect(Array.from(gamma.value.read())).toEqual([1, 1, 1]);
    expect(Array.from(beta.value.read())).toEqual([0, 0, 0]);
    expect(model.buffers.map((b) => [b.name, Array.from(b.value.read())])).toEqual([
      ["0.running_mean", [0, 0, 0]],
      ["0.running_var", [1, 1, 1]],
    ]);
    model.dispose();
  });
});

describe("models with batch norm: every gradient in training mode", () => {
  /** `scale`: the last layer's weights are multiplied by it, for gradients large enough to compare. */
  const cases: { name: string; spec: ModelSpec; batch: number; scale?: number }[] = [
    {
      name: "6 - dense 5 - batchnorm - relu - dense 3",
      batch: 4,
      spec: {
        input: [6],
        layers: [{ type: "dense", units: 5 }, { type: "batchnorm" }, { type: "relu" }, { type: "dense", units: 3 }],
      },
    },
    {
      name: "6 - dense 5 - batchnorm - relu - dense 3",
      batch: 8,
      spec: {
        input: [6],
        layers: [{ type: "dense", units: 5 }, { type: "batchnorm" }, { type: "relu" }, { type: "dense", units: 3 }],
      },
    },
    {
      name: "[2,3] - dense 6 - batchnorm - sigmoid - dense 4 - batchnorm - sigmoid - dense 3",
      batch: 5,
      scale: 3,
      spec: {
        input: [2, 3],
        layers: [
          { type: "dense", units: 6 },
          { type: "batchnorm" },
          { type: "sigmoid" },
          { type: "dense", units: 4 },
          { type: "batchnorm", momentum: 0.5 },
          { type: "sigmoid" },
          { type: "dense", units: 3 },
        ],
      },
    },
    {
      name: "[1,5,5] - conv 2x3x3 - batchnorm - relu - flatten - dense 3",
      batch: 3,
      spec: {
        input: [1, 5, 5],
        layers: [
          { type: "conv2d", filters: 2, size: 3 },
          { type: "batchnorm" },
          { type: "relu" },
          { type: "flatten" },
          { type: "dense", units: 3 },
        ],
      },
    },
    {
      name: "[2,4,4] - conv 2x3x3 pad 1 - batchnorm - relu - avgpool 2 - flatten - dense 3",
      batch: 2,
      spec: {
        input: [2, 4, 4],
        layers: [
          { type: "conv2d", filters: 2, size: 3, padding: 1 },
          { type: "batchnorm" },
          { type: "relu" },
          { type: "avgpool", size: 2 },
          { type: "flatten" },
          { type: "dense", units: 3 },
        ],
      },
    },
  ];

  it.each(cases.map((c, i) => ({ ...c, seed: 400 + i })))("$name, batch $batch", ({ spec, batch, seed, scale }) => {
    const model = buildModel(spec, batch, seed);
    scaleLastWeights(model, scale ?? 1);
    // A bias right before a batch norm cannot change the loss (the normalisation subtracts it).
    checkModel(model, batch, new Random(seed + 7), (name) => biasesBeforeNorm(model).has(name));
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Inference with the running statistics, and the model file

describe("batch norm at inference", () => {
  it("uses the running statistics the training forwards accumulated (momentum 0.9, unbiased variance)", () => {
    const C = 3,
      batch = 8,
      steps = 30,
      momentum = 0.9,
      eps = 1e-5;
    const model = buildModel({ input: [C], layers: [{ type: "batchnorm" }, { type: "dense", units: 2 }] }, batch, 600);
    const layer = model.layers[0];
    const [gamma, beta] = layer.params.map((p) => p.value.read());
    const [runningMean, runningVar] = model.buffers;
    // Every batch has per channel exactly mean mu and biased variance sigma²: mu ± sigma, half each.
    const mu = [2, -1, 0.5],
      sigma = [0.5, 2, 1];
    const rng = new Random(601);
    const signs = [1, -1, 1, -1, 1, -1, 1, -1];
    for (let step = 0; step < steps; step++) {
      const x = rt.f32(model.inputPtr, batch * C);
      for (let c = 0; c < C; c++) {
        rng.shuffle(signs);
        for (let b = 0; b < batch; b++) x[b * C + c] = mu[c] + sigma[c] * signs[b];
      }
      layer.forward(model.inputPtr, batch, true);
    }
    const decay = momentum ** steps;
    const wantMean = mu.map((m) => (1 - decay) * m);
    const wantVar = sigma.map((s) => decay * 1 + ((1 - decay) * s * s * batch) / (batch - 1));
    expectClose(runningMean.value.read(), wantMean, 1e-4, 1e-6, "running mean");
    expectClose(runningVar.value.read(), wantVar, 1e-4, 1e-6, "running var");

    // Inference on other data, any batch size: the running statistics, not the batch's.
    const rm = runningMean.value.read(),
      rv = runningVar.value.read();
    for (const n of [5, 1]) {
      const x = rt.f32(model.inputPtr, n * C);
      fillNormal(x, rng, 3, 1);
      const input = x.slice();
      const y = rt.f32(layer.forward(model.inputPtr, n, false), n * C).slice();
      const want = Float64Array.from(input, (v, i) => {
        const c = i % C;
        return (gamma[c] * (v - rm[c])) / Math.sqrt(rv[c] + eps) + beta[c];
      });
      expectClose(y, want, 1e-5, 1e-5, `inference output (batch ${n})`);
    }
    // Inference leaves the running statistics alone.
    expect(runningMean.value.read()).toEqual(rm);
    expect(runningVar.value.read()).toEqual(rv);
    model.dispose();
  });

  it("uses the spec's momentum and eps in training and at inference", () => {
    const C = 2,
      batch = 4,
      momentum = 0.25,
      eps = 0.5;
    const model = buildModel(
      {
        input: [C, 1, 3],
        layers: [{ type: "batchnorm", momentum, eps }, { type: "flatten" }, { type: "dense", units: 2 }],
      },
      batch,
      650,
    );
    const layer = model.layers[0];
    const [gamma, beta] = layer.params.map((p) => p.value.read());
    const x = rt.f32(model.inputPtr, batch * C * 3);
    fillNormal(x, new Random(651), 1.5, 0.5);
    const input = x.slice();
    const y = rt.f32(layer.forward(model.inputPtr, batch, true), batch * C * 3).slice();
    const ref = batchNormReference(input, batch, C, 3, gamma, beta, eps);
    expectClose(y, ref.y, 1e-5, 1e-5, "training output");
    expectClose(
      model.buffers[0].value.read(),
      ref.mean.map((m) => (1 - momentum) * m),
      1e-5,
      1e-6,
      "running mean",
    );
    expectClose(
      model.buffers[1].value.read(),
      ref.unbiased.map((v) => momentum + (1 - momentum) * v),
      1e-5,
      1e-6,
      "running var",
    );
    const rm = model.buffers[0].value.read(),
      rv = model.buffers[1].value.read();
    const inferred = rt.f32(layer.forward(model.inputPtr, batch, false), batch * C * 3).slice();
    expectClose(
      inferred,
      Float64Array.from(input, (v, i) => {
        const c = Math.floor(i / 3) % C;
        return (gamma[c] * (v - rm[c])) / Math.sqrt(rv[c] + eps) + beta[c];
      }),
      1e-5,
      1e-5,
      "inference output",
    );
    model.dispose();
  });

  it.each([
    {
      name: "MLP 8 - dense 6 - batchnorm - relu - dense 5 - batchnorm - relu - dense 3",
      norms: [1, 4],
      channels: [6, 5],
      spec: {
        input: [8],
        layers: [
          { type: "dense", units: 6 },
          { type: "batchnorm" },
          { type: "relu" },
          { type: "dense", units: 5 },
          { type: "batchnorm", momentum: 0.5 },
          { type: "relu" },
          { type: "dense", units: 3 },
        ],
      } as ModelSpec,
    },
    {
      name: "CNN [1,6,6] - conv 3x3x3 - batchnorm - relu - maxpool 2 - flatten - dense 4",
      norms: [1],
      channels: [3],
      spec: {
        input: [1, 6, 6],
        layers: [
          { type: "conv2d", filters: 3, size: 3 },
          { type: "batchnorm" },
          { type: "relu" },
          { type: "maxpool", size: 2 },
          { type: "flatten" },
          { type: "dense", units: 4 },
        ],
      } as ModelSpec,
    },
  ])("$name: saved with the running statistics, loaded, predicts identically", ({ spec, norms, channels }) => {
    const batch = 16;
    const model = buildModel(spec, batch, 700);
    const rng = new Random(701);
    for (let step = 0; step < 5; step++) {
      fillNormal(rt.f32(model.inputPtr, batch * model.inputSize), rng, 1, 0.5);
      model.forward(model.inputPtr, batch, true);
    }
    const expectedNames = norms.flatMap((i) => [`${i}.running_mean`, `${i}.running_var`]);
    expect(model.buffers.map((b) => b.name)).toEqual(expectedNames);
    const buffers = model.buffers.map((b) => b.value.read());
    // Far from the initial 0 and 1, so a file without them would predict differently.
    for (const [i, b] of buffers.entries()) {
      const initial = i % 2 === 0 ? 0 : 1;
      expect(Math.max(...Array.from(b, (v) => Math.abs(v - initial))), model.buffers[i].name).toBeGreaterThan(0.05);
    }
    const pixels = Float32Array.from({ length: 10 * model.inputSize }, () => rng.uniform());
    const probs = model.predict(pixels);

    const bytes = serializeModel(model);
    const { tensors } = decodeSafetensors(bytes, "test");
    expectedNames.forEach((name, i) => {
      const t = tensors.get(name);
      expect(t, name).toBeDefined();
      expect(t!.shape).toEqual([channels[Math.floor(i / 2)]]);
      expect(t!.data).toEqual(buffers[i]);
    });
    for (const i of norms) for (const p of ["gamma", "beta"]) expect(tensors.has(`${i}.${p}`), `${i}.${p}`).toBe(true);

    const { model: loaded } = deserializeModel(rt, bytes);
    expect(loaded.buffers.map((b) => b.value.read())).toEqual(buffers);
    expect(loaded.predict(pixels)).toEqual(probs);
    // The same weights with fresh running statistics predict something else.
    const fresh = buildModel(spec, batch, 700);
    expect(fresh.predict(pixels)).not.toEqual(probs);
    fresh.dispose();
    loaded.dispose();
    model.dispose();
  });
});
