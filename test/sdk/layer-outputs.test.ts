// layerActivations: every layer's output for one sample, checked against the model's own
// predict() (the last entry's softmax) and against each layer's definition on the shipped CNN.
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_MODEL_PATH,
  layerActivations,
  loadMnist,
  loadModelFile,
  MnistWasmError,
  Model,
  Runtime,
} from "../../sdk/node";

let model: Model;
let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
  ({ model } = await loadModelFile(rt, DEFAULT_MODEL_PATH));
});

const softmax = (logits: Float32Array): number[] => {
  const max = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};

describe("layerActivations", () => {
  it("returns every layer's output of the shipped CNN, the last one giving predict()'s probabilities", () => {
    const test = loadMnist("test");
    const pixels = test.images.subarray(42 * 784, 43 * 784);
    const acts = layerActivations(model, pixels);
    expect(acts.map((a) => a.spec.type)).toEqual([
      "conv2d",
      "batchnorm",
      "relu",
      "maxpool",
      "conv2d",
      "batchnorm",
      "relu",
      "conv2d",
      "batchnorm",
      "relu",
      "maxpool",
      "dense",
      "relu",
      "dense",
    ]);
    expect(acts.map((a) => a.shape)).toEqual([
      [32, 26, 26],
      [32, 26, 26],
      [32, 26, 26],
      [32, 13, 13],
      [64, 11, 11],
      [64, 11, 11],
      [64, 11, 11],
      [64, 9, 9],
      [64, 9, 9],
      [64, 9, 9],
      [64, 4, 4],
      [128],
      [128],
      [10],
    ]);
    for (const a of acts) expect(a.values.length).toBe(a.shape.reduce((x, y) => x * y, 1));
    // relu is max(0, x) of batch norm's output; max pooling takes the largest of each 2x2 window.
    // Each layer's own output is shown, whatever the model fuses.
    expect(model.fusion).toBe(true);
    expect(
      acts[0].values.some((v) => v < 0),
      "conv output has negative values",
    ).toBe(true);
    expect(Array.from(acts[2].values)).toEqual(Array.from(acts[1].values, (v) => Math.max(0, v)));
    const [, , , pool] = acts;
    for (const [c, y, x] of [
      [0, 0, 0],
      [5, 6, 7],
      [31, 12, 12],
    ]) {
      const at = (yy: number, xx: number): number => acts[2].values[c * 676 + yy * 26 + xx];
      expect(pool.values[c * 169 + y * 13 + x]).toBe(
        Math.max(at(2 * y, 2 * x), at(2 * y, 2 * x + 1), at(2 * y + 1, 2 * x), at(2 * y + 1, 2 * x + 1)),
      );
    }
    const probs = model.predict(pixels);
    const fromLogits = softmax(acts[13].values);
    for (let d = 0; d < 10; d++) expect(fromLogits[d]).toBeCloseTo(probs[d], 5);
    expect(fromLogits.indexOf(Math.max(...fromLogits))).toBe(4);
  });

  it("gives the same maps for bytes and for floats in [0, 1], and copies them", () => {
    const bytes = Uint8Array.from({ length: 784 }, (_, i) => (i * 37) % 256);
    const a = layerActivations(model, bytes);
    const b = layerActivations(
      model,
      Float32Array.from(bytes, (v) => v / 255),
    );
    expect(Array.from(a[3].values)).toEqual(Array.from(b[3].values));
    const kept = a[0].values.slice();
    layerActivations(model, new Uint8Array(784));
    expect(Array.from(a[0].values)).toEqual(Array.from(kept));
  });

  it("refuses a sample of the wrong size", () => {
    expect(() => layerActivations(model, new Uint8Array(100))).toThrow(MnistWasmError);
    expect(() => layerActivations(model, new Uint8Array(100))).toThrow(/expected 784 values/);
  });

  it("shows a generative model's layers: the sampling layer's mean, reshape's image, convT's map before its ReLU", () => {
    const vae = new Model(
      rt,
      {
        input: [6],
        layers: [
          { type: "dense", units: 8 },
          { type: "sampling" },
          { type: "dense", units: 8 },
          { type: "reshape", shape: [2, 2, 2] },
          { type: "convT", filters: 3, size: 4, stride: 2, padding: 1 },
          { type: "relu" },
          { type: "upsample", scale: 2 },
          { type: "dense", units: 2 },
        ],
      },
      { seed: 5 },
    );
    const acts = layerActivations(vae, Float32Array.from([0.1, 0.9, 0.3, 0.5, 0.7, 0.2]));
    expect(acts.map((a) => a.shape)).toEqual([[8], [4], [8], [2, 2, 2], [3, 4, 4], [3, 4, 4], [3, 8, 8], [2]]);
    // Inference takes the mean: the first half of the dense layer's output.
    expect(acts[1].values).toEqual(acts[0].values.subarray(0, 4));
    expect(acts[3].values).toEqual(acts[2].values);
    expect(acts[4].values.some((v) => v < 0)).toBe(true);
    expect(acts[5].values).toEqual(acts[4].values.map((v) => Math.max(v, 0)));
    expect(acts[6].values[0]).toBe(acts[5].values[0]);
    vae.dispose();
  });
});
