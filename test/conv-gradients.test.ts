// Back-propagation of the image layers against numerical gradients (central differences,
// (f(v+ε) - f(v-ε)) / 2ε), as test/gradients.test.ts does for the dense layers: Conv2D (weights,
// bias, input; stride 1 and 2, padding 0 and 1, 1 and 3 input channels), MaxPool2D, AvgPool2D and
// Flatten on their own under a random linear read-out L = Σ r·y, then whole small CNNs under the
// mean cross-entropy (batches 1 and 3). Also the shapes a model derives for its layers, and the
// error for a convolution or pooling window that does not fit its input.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor. Max pooling and ReLU are not differentiable where the arg-max or the sign
// would switch: the single-layer max-pool input has values at least 0.1 apart, the models'
// inputs are redrawn until every ReLU input and every max-pool window's gap between its two
// largest values is clear of a margin, and every perturbation is checked not to change the
// ReLU pattern or any arg-max (the finite difference would be meaningless otherwise).
// The gradient-check machinery is shared, in test/support/numeric.ts.
import { describe, expect, it } from "vitest";
import { MnistWasmError, Model, Random, type ModelSpec } from "../sdk/index";
import { fillNormal, rt, useRuntime } from "./support/buffers";
import { buildModel, checkLayer, checkModelGradients, firstLayer, sizeOf, typeOf } from "./support/numeric";

/** ReLU inputs are kept at least this far from 0 in the model checks. */
const RELU_MARGIN = 0.03;
/** The largest value of a max-pool window exceeds the second largest by at least this. */
const POOL_GAP = 0.05;

useRuntime();

// ---------------------------------------------------------------------------------------------
// Single layers under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("single layers", () => {
  const normalInput = (x: Float32Array, rng: Random): void => fillNormal(x, rng, 1);

  // (C, H, W, filters, size, stride, padding, batch)
  const convCases: [number, number, number, number, number, number, number, number][] = [];
  for (const C of [1, 3]) {
    for (const stride of [1, 2]) {
      for (const padding of [0, 1]) convCases.push([C, 6, 5, 2, 3, stride, padding, stride === 1 ? 1 : 2]);
    }
  }
  convCases.push([3, 5, 5, 3, 2, 2, 1, 3], [2, 4, 7, 2, 4, 1, 1, 2], [1, 7, 6, 4, 1, 2, 0, 2]);
  // More filters than patch values on one channel: dW is multiplied out transposed (NARROW_PATCH).
  convCases.push([1, 6, 5, 12, 3, 1, 0, 3], [1, 5, 5, 7, 2, 1, 1, 2]);

  it.each(convCases)("Conv2D C=%i %ix%i -> %i filters of size %i, stride %i, padding %i (batch %i): weight, bias, input",
    (C, H, W, filters, size, stride, padding, batch) => {
      const spec: ModelSpec = { input: [C, H, W], layers: [{ type: "conv2d", filters, size, stride, padding }, { type: "flatten" }, { type: "dense", units: 2 }] };
      const { model, layer, rng } = firstLayer(spec, batch, 1000 + C * 100 + stride * 10 + padding + size, normalInput);
      const OH = Math.floor((H + 2 * padding - size) / stride) + 1, OW = Math.floor((W + 2 * padding - size) / stride) + 1;
      expect(layer.outputShape).toEqual([filters, OH, OW]);
      expect(layer.params.map((p) => p.value.shape)).toEqual([[filters, C, size, size], [filters]]);
      checkLayer(layer, model.inputPtr, batch, rng, "conv2d");
      model.dispose();
    });

  // (C, H, W, size, stride, batch): windows tiling or not, overlapping (stride < size), gaps.
  const poolCases: [number, number, number, number, number | undefined, number][] = [
    [2, 5, 7, 2, undefined, 2], [1, 6, 5, 3, 1, 1], [3, 7, 7, 3, 2, 2], [2, 8, 7, 2, 3, 2], [1, 4, 4, 2, 2, 3],
  ];

  it.each(poolCases)("MaxPool2D C=%i %ix%i, size %i, stride %s (undefined: = size) (batch %i): input, values 0.1 apart", (C, H, W, size, stride, batch) => {
    const spec: ModelSpec = { input: [C, H, W], layers: [{ type: "maxpool", size, ...(stride ? { stride } : {}) }, { type: "flatten" }, { type: "dense", units: 2 }] };
    // A shuffled ramp: every two values differ by >= 0.1 > 2ε, so no perturbation moves an arg-max.
    const distinct = (x: Float32Array, rng: Random): void => {
      const order = Array.from({ length: x.length }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      order.forEach((v, i) => (x[i] = (v - x.length / 2) * 0.1));
    };
    const { model, layer, rng } = firstLayer(spec, batch, 2000 + C * 100 + H * 10 + W + size, distinct);
    const s = stride ?? size;
    expect(layer.outputShape).toEqual([C, Math.floor((H - size) / s) + 1, Math.floor((W - size) / s) + 1]);
    const dx = checkLayer(layer, model.inputPtr, batch, rng, "maxpool");
    // Exactly one input per window receives a gradient unless windows overlap.
    const nonZero = dx.filter((v) => v !== 0).length;
    if (s >= size) expect(nonZero).toBe(batch * sizeOf(layer.outputShape));
    model.dispose();
  });

  it.each(poolCases)("AvgPool2D C=%i %ix%i, size %i, stride %s (batch %i): input", (C, H, W, size, stride, batch) => {
    const spec: ModelSpec = { input: [C, H, W], layers: [{ type: "avgpool", size, ...(stride ? { stride } : {}) }, { type: "flatten" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(spec, batch, 3000 + C * 100 + H * 10 + W + size, normalInput);
    checkLayer(layer, model.inputPtr, batch, rng, "avgpool");
    model.dispose();
  });

  it.each([1, 3])("Flatten [2,3,4] -> [24] (batch %i): input gradient passes through", (batch) => {
    const spec: ModelSpec = { input: [2, 3, 4], layers: [{ type: "flatten" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(spec, batch, 4000 + batch, normalInput);
    expect(layer.outputShape).toEqual([24]);
    checkLayer(layer, model.inputPtr, batch, rng, "flatten");
    expect(layer.backward(123, batch, false)).toBe(0);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Whole CNNs: mean cross-entropy of model.forward, gradients from model.backward

describe("CNN models", () => {
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
    let margin = Infinity, gap = Infinity;
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
        const size = spec.size, stride = spec.stride ?? size;
        const [C, H, W] = layer.inputShape;
        const [, OH, OW] = layer.outputShape;
        for (let p = 0; p < batch * C; p++) {
          for (let oy = 0; oy < OH; oy++) {
            for (let ox = 0; ox < OW; ox++) {
              let best = -Infinity, second = -Infinity, at = -1;
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
        name: "[1,6,6] conv 2x3x3 pad 1 - relu - maxpool 2 - flatten - dense 3", batch, spec: {
          input: [1, 6, 6], layers: [
            { type: "conv2d", filters: 2, size: 3, padding: 1 }, { type: "relu" }, { type: "maxpool", size: 2 },
            { type: "flatten" }, { type: "dense", units: 3 }],
        },
      },
      {
        name: "[3,7,7] conv 3x3x3 stride 2 pad 1 - relu - avgpool 2 - flatten - dense 4", batch, spec: {
          input: [3, 7, 7], layers: [
            { type: "conv2d", filters: 3, size: 3, stride: 2, padding: 1 }, { type: "relu" }, { type: "avgpool", size: 2 },
            { type: "flatten" }, { type: "dense", units: 4 }],
        },
      },
      {
        name: "[2,9,8] conv 3x2x2 - sigmoid - conv 2x3x3 stride 2 pad 1 - maxpool 3 stride 1 - flatten - dense 4 - relu - dense 3", batch, spec: {
          input: [2, 9, 8], layers: [
            { type: "conv2d", filters: 3, size: 2 }, { type: "sigmoid" },
            { type: "conv2d", filters: 2, size: 3, stride: 2, padding: 1 }, { type: "maxpool", size: 3, stride: 1 },
            { type: "flatten" }, { type: "dense", units: 4 }, { type: "relu" }, { type: "dense", units: 3 }],
        },
      },
    );
  }

  it.each(cases.map((c, i) => [c.name, c.batch, c.spec, 500 + i] as const))("%s, batch %i: every parameter and input gradient", (_, batch, spec, seed) => {
    const model = buildModel(spec, batch, seed);
    drawBatch(model, batch, new Random(seed + 7));
    // Back-propagation against central differences of the mean loss; every perturbation must keep the ReLU pattern and every arg-max.
    checkModelGradients(model, batch, () => evaluate(model, batch), "a ReLU or an arg-max");
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Shapes

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
    const model = new Model(rt, {
      input: [1, 28, 28], layers: [
        { type: "conv2d", filters: 32, size: 3 }, { type: "relu" }, { type: "maxpool", size: 2 },
        { type: "conv2d", filters: 64, size: 3 }, { type: "relu" }, { type: "maxpool", size: 2 },
        { type: "flatten" }, { type: "dense", units: 128 }, { type: "relu" }, { type: "dense", units: 10 }],
    }, { seed: 1 });
    expect(model.layers.map((l) => l.outputShape)).toEqual([
      [32, 26, 26], [32, 26, 26], [32, 13, 13], [64, 11, 11], [64, 11, 11], [64, 5, 5], [1600], [128], [128], [10]]);
    expect(model.layers.map((l) => l.inputShape)).toEqual([
      [1, 28, 28], [32, 26, 26], [32, 26, 26], [32, 13, 13], [64, 11, 11], [64, 11, 11], [64, 5, 5], [1600], [128], [128]]);
    expect(model.params.map((p) => [p.name, p.value.shape])).toEqual([
      ["0.weight", [32, 1, 3, 3]], ["0.bias", [32]], ["3.weight", [64, 32, 3, 3]], ["3.bias", [64]],
      ["7.weight", [1600, 128]], ["7.bias", [128]], ["9.weight", [128, 10]], ["9.bias", [10]]]);
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
    const model = new Model(rt, { input: [...input], layers: [{ ...layer }, { type: "flatten" }, { type: "dense", units: 2 }] });
    expect(model.layers[0].outputShape).toEqual(want);
    expect(model.layers[1].outputShape).toEqual([sizeOf(want)]);
    model.dispose();
  });

  it.each([
    ["conv 5x5 on 4x4", { input: [1, 4, 4], layers: [{ type: "conv2d", filters: 2, size: 5 }] }],
    ["conv 5x5 stride 2 on 4x4 (the division must floor, not truncate)", { input: [1, 4, 4], layers: [{ type: "conv2d", filters: 2, size: 5, stride: 2 }] }],
    ["conv 8x8 padding 1 on 5x5", { input: [1, 5, 5], layers: [{ type: "conv2d", filters: 2, size: 8, padding: 1 }] }],
    ["conv 3x3 on 28x2 (one side only)", { input: [1, 28, 2], layers: [{ type: "conv2d", filters: 2, size: 3 }] }],
    ["maxpool 3 on 2x2", { input: [2, 2, 2], layers: [{ type: "maxpool", size: 3 }] }],
    ["avgpool 4 stride 2 on 3x9", { input: [1, 3, 9], layers: [{ type: "avgpool", size: 4, stride: 2 }] }],
    ["maxpool 3 after a conv shrinks 6x6 to 2x2", { input: [1, 6, 6], layers: [{ type: "conv2d", filters: 2, size: 5 }, { type: "maxpool", size: 3 }] }],
    ["conv on a flat input", { input: [784], layers: [{ type: "conv2d", filters: 2, size: 3 }] }],
    ["maxpool after flatten", { input: [1, 6, 6], layers: [{ type: "flatten" }, { type: "maxpool", size: 2 }] }],
  ] as const)("%s: BAD_SHAPE", (_, partial) => {
    const spec = { input: [...partial.input], layers: [...partial.layers.map((l) => ({ ...l })), { type: "dense", units: 2 }] } as ModelSpec;
    const error = thrown(() => new Model(rt, spec));
    expect(error).toBeInstanceOf(MnistWasmError);
    expect((error as MnistWasmError).code).toBe("BAD_SHAPE");
  });
});
