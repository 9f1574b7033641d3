// Back-propagation of whole models (sdk/model.ts) against numerical gradients (central differences,
// (f(v+ε) - f(v-ε)) / 2ε) of every parameter and the input, under the mean cross-entropy: MLPs
// (sigmoid, ReLU, two hidden layers; batches 1 and 5) and small CNNs (batches 1 and 3). Also where
// the backward pass stops, the shapes a model derives for its layers, and the error for a
// convolution or pooling window that does not fit its input. Each layer on its own is checked in test/sdk/layers/<layer>.test.ts.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor. Max pooling and ReLU are not differentiable where the arg-max or the sign
// would switch: the inputs are redrawn until every ReLU input and every max-pool window's gap
// between its two largest values is clear of a margin, and every perturbation is checked not to
// change the ReLU pattern or any arg-max (the finite difference would be meaningless otherwise).
// The gradient-check machinery is shared, in test/support/numeric.ts.
import { describe, expect, it, vi } from "vitest";
import { MnistWasmError, Model, Random, type ModelSpec } from "../../sdk/index";
import { rt, useRuntime } from "../support/buffers";
import { buildModel, checkModelGradients, sizeOf, typeOf } from "../support/numeric";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Whole models: mean cross-entropy of model.forward, gradients from model.backward

describe("MLP models", () => {
  /** ReLU inputs are kept at least this far from 0. */
  const RELU_MARGIN = 0.05;

  /** Mean loss over the batch, plus the on/off pattern of every ReLU input and its smallest |z|. */
  // The walk reads each ReLU's input, so it runs with the bias+ReLU fusion off (same loss); the
  // analytic gradients (checkModelGradients) come from model.forward with it on.
  function evaluate(model: Model, batch: number): { loss: number; mask: string; margin: number } {
    let x = model.inputPtr;
    let mask = "";
    let margin = Infinity;
    model.fusion = false;
    for (const layer of model.layers) {
      if (typeOf(layer) === "relu") {
        for (const z of rt.f32(x, batch * sizeOf(layer.inputShape))) {
          mask += z > 0 ? "1" : "0";
          margin = Math.min(margin, Math.abs(z));
        }
      }
      x = layer.forward(x, batch, true);
    }
    model.fusion = true;
    return { loss: model.loss.forward(x, model.labelPtr, batch, false) / batch, mask, margin };
  }

  /** Writes random inputs in [-1, 1] and labels, redrawn until every ReLU input is off the kink. */
  function drawBatch(model: Model, batch: number, rng: Random): void {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const x = rt.f32(model.inputPtr, batch * model.inputSize);
      for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 1;
      const labels = rt.u8(model.labelPtr, batch);
      for (let i = 0; i < batch; i++) labels[i] = rng.int(model.classCount);
      if (evaluate(model, batch).margin >= RELU_MARGIN) return;
    }
    expect.fail("could not draw a batch with every ReLU input away from 0");
  }

  const cases: { name: string; spec: ModelSpec; batch: number }[] = [];
  const mlp = (input: number[], layers: ModelSpec["layers"]): ModelSpec => ({ input, layers });
  for (const batch of [1, 5]) {
    cases.push(
      {
        name: "sigmoid MLP 7-5-3",
        batch,
        spec: mlp([7], [{ type: "dense", units: 5 }, { type: "sigmoid" }, { type: "dense", units: 3 }]),
      },
      {
        name: "ReLU MLP 6-8-4",
        batch,
        spec: mlp([6], [{ type: "dense", units: 8 }, { type: "relu" }, { type: "dense", units: 4 }]),
      },
      {
        name: "two hidden layers [2,5]-6(sigmoid)-5(relu)-3",
        batch,
        spec: mlp(
          [2, 5],
          [
            { type: "dense", units: 6 },
            { type: "sigmoid" },
            { type: "dense", units: 5 },
            { type: "relu" },
            { type: "dense", units: 3 },
          ],
        ),
      },
      {
        name: "two ReLU layers 4-7-6-10 (he init)",
        batch,
        spec: mlp(
          [4],
          [
            { type: "dense", units: 7, init: "he" },
            { type: "relu" },
            { type: "dense", units: 6, init: "he" },
            { type: "relu" },
            { type: "dense", units: 10 },
          ],
        ),
      },
    );
  }

  it.each(cases.map((c, i) => ({ ...c, seed: 100 + i })))(
    "$name, batch $batch: every parameter and input gradient",
    ({ spec, batch, seed }) => {
      const model = buildModel(spec, batch, seed);
      drawBatch(model, batch, new Random(seed + 7));
      // Back-propagation against central differences of the mean loss; every perturbation must keep the ReLU pattern.
      checkModelGradients(model, batch, () => evaluate(model, batch), "a ReLU");
      model.dispose();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Whole CNNs: mean cross-entropy of model.forward, gradients from model.backward

describe("CNN models", () => {
  /** ReLU inputs are kept at least this far from 0. */
  const RELU_MARGIN = 0.03;
  /** The largest value of a max-pool window exceeds the second largest by at least this. */
  const POOL_GAP = 0.05;

  /**
   * Mean loss over the batch, plus the pattern of every ReLU (on/off) and max-pool window
   * (arg-max), and the smallest |ReLU input| and max-pool gap (largest minus second largest; an
   * exact tie of zeros from ReLUs that are off cannot move and does not count).
   */
  // The walk reads each ReLU's input, so it runs with the bias+ReLU fusion off (same loss); the
  // analytic gradients (checkModelGradients) come from model.forward with it on.
  function evaluate(model: Model, batch: number): { loss: number; mask: string; margin: number; gap: number } {
    let x = model.inputPtr;
    let mask = "";
    let margin = Infinity,
      gap = Infinity;
    model.fusion = false;
    for (const layer of model.layers) {
      const input = rt.f32(x, batch * sizeOf(layer.inputShape)).slice();
      x = layer.forward(x, batch, true);
      const type = typeOf(layer);
      if (type === "relu") {
        for (const z of input) {
          mask += z > 0 ? "1" : "0";
          margin = Math.min(margin, Math.abs(z));
        }
      } else if (type === "maxpool") {
        const spec = layer.spec as { size: number; stride?: number };
        const size = spec.size,
          stride = spec.stride ?? size;
        const [C, H, W] = layer.inputShape;
        const [, OH, OW] = layer.outputShape;
        for (let p = 0; p < batch * C; p++) {
          for (let oy = 0; oy < OH; oy++) {
            for (let ox = 0; ox < OW; ox++) {
              let best = -Infinity,
                second = -Infinity,
                at = -1;
              for (let ky = 0; ky < size; ky++) {
                for (let kx = 0; kx < size; kx++) {
                  const i = (p * H + oy * stride + ky) * W + ox * stride + kx;
                  const v = input[i];
                  if (v > best) {
                    second = best;
                    best = v;
                    at = i;
                  } else if (v > second) {
                    second = v;
                  }
                }
              }
              mask += `${at},`;
              if (!(best === 0 && second === 0)) gap = Math.min(gap, best - second);
            }
          }
        }
      }
    }
    model.fusion = true;
    return { loss: model.loss.forward(x, model.labelPtr, batch, false) / batch, mask, margin, gap };
  }

  /**
   * Writes inputs in [-1, 1] and labels one sample at a time, each redrawn until its ReLU inputs
   * and max-pool gaps clear the margins (earlier samples are fixed, so the batch's margins are
   * those of the sample being drawn).
   */
  function drawBatch(model: Model, batch: number, rng: Random): void {
    const n = model.inputSize;
    const labels = rt.u8(model.labelPtr, batch);
    for (let i = 0; i < batch; i++) labels[i] = rng.int(model.classCount);
    for (let s = 0; s < batch; s++) {
      let ok = false;
      for (let attempt = 0; attempt < 5000 && !ok; attempt++) {
        const x = rt.f32(model.inputPtr + s * n * 4, n);
        for (let i = 0; i < n; i++) x[i] = 2 * rng.uniform() - 1;
        const e = evaluate(model, s + 1);
        ok = e.margin >= RELU_MARGIN && e.gap >= POOL_GAP;
      }
      if (!ok) expect.fail(`could not draw sample ${s} with every ReLU input and max-pool gap clear of the margins`);
    }
  }

  const cases: { name: string; spec: ModelSpec; batch: number }[] = [];
  for (const batch of [1, 3]) {
    cases.push(
      {
        name: "[1,6,6] conv 2x3x3 pad 1 - relu - maxpool 2 - flatten - dense 3",
        batch,
        spec: {
          input: [1, 6, 6],
          layers: [
            { type: "conv2d", filters: 2, size: 3, padding: 1 },
            { type: "relu" },
            { type: "maxpool", size: 2 },
            { type: "flatten" },
            { type: "dense", units: 3 },
          ],
        },
      },
      {
        name: "[3,7,7] conv 3x3x3 stride 2 pad 1 - relu - avgpool 2 - flatten - dense 4",
        batch,
        spec: {
          input: [3, 7, 7],
          layers: [
            { type: "conv2d", filters: 3, size: 3, stride: 2, padding: 1 },
            { type: "relu" },
            { type: "avgpool", size: 2 },
            { type: "flatten" },
            { type: "dense", units: 4 },
          ],
        },
      },
      {
        name: "[2,9,8] conv 3x2x2 - sigmoid - conv 2x3x3 stride 2 pad 1 - maxpool 3 stride 1 - flatten - dense 4 - relu - dense 3",
        batch,
        spec: {
          input: [2, 9, 8],
          layers: [
            { type: "conv2d", filters: 3, size: 2 },
            { type: "sigmoid" },
            { type: "conv2d", filters: 2, size: 3, stride: 2, padding: 1 },
            { type: "maxpool", size: 3, stride: 1 },
            { type: "flatten" },
            { type: "dense", units: 4 },
            { type: "relu" },
            { type: "dense", units: 3 },
          ],
        },
      },
    );
  }

  it.each(cases.map((c, i) => [c.name, c.batch, c.spec, 500 + i] as const))(
    "%s, batch %i: every parameter and input gradient",
    (_, batch, spec, seed) => {
      const model = buildModel(spec, batch, seed);
      drawBatch(model, batch, new Random(seed + 7));
      // Back-propagation against central differences of the mean loss; every perturbation must keep the ReLU pattern and every arg-max.
      checkModelGradients(model, batch, () => evaluate(model, batch), "a ReLU or an arg-max");
      model.dispose();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Shapes

describe("backward", () => {
  it("stops at the layer that reads the input: behind a flatten, no input gradient is made", () => {
    const model = new Model(rt, {
      input: [1, 4, 4],
      layers: [{ type: "flatten" }, { type: "dense", units: 3 }, { type: "relu" }, { type: "dense", units: 2 }],
    });
    model.allocate(2, true);
    rt.f32(model.inputPtr, 32).fill(0.5);
    rt.u8(model.labelPtr, 2).set([0, 1]);
    const calls = model.layers.map((layer) => vi.spyOn(layer, "backward"));
    model.batchLoss(model.forward(model.inputPtr, 2, true), model.labelPtr, 2, true);
    model.backward(2);
    expect(calls[0], "the flatten").not.toHaveBeenCalled();
    expect(
      calls[1].mock.calls.map((c) => c[2]),
      "the dense layer reading the input: needInputGrad",
    ).toEqual([false]);
    expect(calls[1].mock.results[0].value).toBe(0);
    expect(calls[3].mock.calls.map((c) => c[2])).toEqual([true]);
    for (const spy of calls) spy.mockRestore();
    model.dispose();
  });
});

describe("model shapes", () => {
  /** The error `build` throws (fails if it throws none). */
  function thrown(build: () => unknown): unknown {
    try {
      build();
    } catch (e) {
      return e;
    }
    return expect.fail("expected an error");
  }

  it("LeNet-like [1,28,28]: conv 32x3 -> [32,26,26], maxpool 2 -> [32,13,13], conv 64x3 -> [64,11,11], maxpool 2 -> [64,5,5]", () => {
    const model = new Model(
      rt,
      {
        input: [1, 28, 28],
        layers: [
          { type: "conv2d", filters: 32, size: 3 },
          { type: "relu" },
          { type: "maxpool", size: 2 },
          { type: "conv2d", filters: 64, size: 3 },
          { type: "relu" },
          { type: "maxpool", size: 2 },
          { type: "flatten" },
          { type: "dense", units: 128 },
          { type: "relu" },
          { type: "dense", units: 10 },
        ],
      },
      { seed: 1 },
    );
    expect(model.layers.map((l) => l.outputShape)).toEqual([
      [32, 26, 26],
      [32, 26, 26],
      [32, 13, 13],
      [64, 11, 11],
      [64, 11, 11],
      [64, 5, 5],
      [1600],
      [128],
      [128],
      [10],
    ]);
    expect(model.layers.map((l) => l.inputShape)).toEqual([
      [1, 28, 28],
      [32, 26, 26],
      [32, 26, 26],
      [32, 13, 13],
      [64, 11, 11],
      [64, 11, 11],
      [64, 5, 5],
      [1600],
      [128],
      [128],
    ]);
    expect(model.params.map((p) => [p.name, p.value.shape])).toEqual([
      ["0.weight", [32, 1, 3, 3]],
      ["0.bias", [32]],
      ["3.weight", [64, 32, 3, 3]],
      ["3.bias", [64]],
      ["7.weight", [1600, 128]],
      ["7.bias", [128]],
      ["9.weight", [128, 10]],
      ["9.bias", [10]],
    ]);
    expect(model.paramCount).toBe(32 * 9 + 32 + 64 * 32 * 9 + 64 + 1600 * 128 + 128 + 128 * 10 + 10);
    expect(model.classCount).toBe(10);
    // And it runs: a batch of 2 gives probabilities.
    const probs = model.predict(new Uint8Array(2 * 784).map((_, i) => (i * 37) % 256));
    expect(probs.length).toBe(20);
    for (let r = 0; r < 2; r++) expect(probs.slice(r * 10, r * 10 + 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    model.dispose();
  });

  it.each([
    [[1, 28, 28], { type: "conv2d", filters: 4, size: 3, padding: 1 }, [4, 28, 28]],
    [[1, 28, 28], { type: "conv2d", filters: 4, size: 3, stride: 2, padding: 1 }, [4, 14, 14]],
    [[3, 7, 5], { type: "conv2d", filters: 2, size: 3, stride: 2 }, [2, 3, 2]],
    [[1, 2, 2], { type: "conv2d", filters: 1, size: 4, padding: 1 }, [1, 1, 1]],
    [[2, 13, 13], { type: "maxpool", size: 3, stride: 2 }, [2, 6, 6]],
    [[2, 5, 7], { type: "avgpool", size: 2 }, [2, 2, 3]],
    [[1, 3, 3], { type: "maxpool", size: 3 }, [1, 1, 1]],
  ] as const)("%j then %j -> %j", (input, layer, want) => {
    const model = new Model(rt, {
      input: [...input],
      layers: [{ ...layer }, { type: "flatten" }, { type: "dense", units: 2 }],
    });
    expect(model.layers[0].outputShape).toEqual(want);
    expect(model.layers[1].outputShape).toEqual([sizeOf(want)]);
    model.dispose();
  });

  it.each([
    ["conv 5x5 on 4x4", { input: [1, 4, 4], layers: [{ type: "conv2d", filters: 2, size: 5 }] }],
    [
      "conv 5x5 stride 2 on 4x4 (the division must floor, not truncate)",
      { input: [1, 4, 4], layers: [{ type: "conv2d", filters: 2, size: 5, stride: 2 }] },
    ],
    ["conv 8x8 padding 1 on 5x5", { input: [1, 5, 5], layers: [{ type: "conv2d", filters: 2, size: 8, padding: 1 }] }],
    ["conv 3x3 on 28x2 (one side only)", { input: [1, 28, 2], layers: [{ type: "conv2d", filters: 2, size: 3 }] }],
    ["maxpool 3 on 2x2", { input: [2, 2, 2], layers: [{ type: "maxpool", size: 3 }] }],
    ["avgpool 4 stride 2 on 3x9", { input: [1, 3, 9], layers: [{ type: "avgpool", size: 4, stride: 2 }] }],
    [
      "maxpool 3 after a conv shrinks 6x6 to 2x2",
      {
        input: [1, 6, 6],
        layers: [
          { type: "conv2d", filters: 2, size: 5 },
          { type: "maxpool", size: 3 },
        ],
      },
    ],
    ["conv on a flat input", { input: [784], layers: [{ type: "conv2d", filters: 2, size: 3 }] }],
    ["maxpool after flatten", { input: [1, 6, 6], layers: [{ type: "flatten" }, { type: "maxpool", size: 2 }] }],
  ] as const)("%s: BAD_SHAPE", (_, partial) => {
    const spec = {
      input: [...partial.input],
      layers: [...partial.layers.map((l) => ({ ...l })), { type: "dense", units: 2 }],
    } as ModelSpec;
    const error = thrown(() => new Model(rt, spec));
    expect(error).toBeInstanceOf(MnistWasmError);
    expect((error as MnistWasmError).code).toBe("BAD_SHAPE");
  });
});
