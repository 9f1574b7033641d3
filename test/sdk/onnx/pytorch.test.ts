// ONNX models made by PyTorch (test/fixtures/onnx/make-fixtures.py, torch.onnx.export) import
// and give the predictions ONNX Runtime and PyTorch give.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-web";
import { beforeAll, describe, expect, it } from "vitest";
import { deserializeModel, importOnnx, loadMnist, Runtime } from "../../../sdk/node";

const fixture = (name: string): string => new URL(`../../fixtures/onnx/${name}`, import.meta.url).pathname;

let rt: Runtime;
const test = loadMnist("test");
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  ort.env.wasm.numThreads = 1;
});

describe.each([
  [
    "lenet-pytorch",
    ["conv2d", "relu", "maxpool", "conv2d", "relu", "avgpool", "flatten", "dense", "relu", "dense"],
    false,
  ],
  ["mlp-pytorch", ["flatten", "dense", "batchnorm", "sigmoid", "dense"], true],
])("%s.onnx", (name, layers, endsInSoftmax) => {
  const bytes = new Uint8Array(readFileSync(fixture(`${name}.onnx`)));
  const expected = JSON.parse(readFileSync(fixture(`${name}.expected.json`), "utf8")) as {
    argmax: number[];
    probabilities: number[][];
    testAccuracy: number;
  };

  it("imports as the chain of layers PyTorch exported", () => {
    const { model } = importOnnx(rt, bytes, name);
    expect(model.spec.input).toEqual([1, 28, 28]);
    expect(model.spec.layers.map((l) => l.type)).toEqual(layers);
    model.dispose();
  });

  it("gives ONNX Runtime's probabilities (within 1e-5) and argmax on 1,000 test images, and PyTorch's on 100", async () => {
    const { model } = deserializeModel(rt, bytes, name);
    const n = 1000;
    const images = test.images.subarray(0, n * 784);
    const ours = model.predict(images);
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(images, (v) => v / 255);
    const out = await session.run({ input: new ort.Tensor("float32", x, [n, 1, 28, 28]) });
    let theirs = out.output.data as Float32Array;
    if (!endsInSoftmax) theirs = softmaxRows(theirs, 10);
    let maxDiff = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = ours.subarray(i * 10, i * 10 + 10);
      expect(argmax(row), `image ${i}`).toBe(argmax(theirs.subarray(i * 10, i * 10 + 10)));
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(row[k] - theirs[i * 10 + k]));
      if (argmax(row) === test.labels[i]) correct++;
      if (i < 100) {
        expect(argmax(row)).toBe(expected.argmax[i]);
        for (let k = 0; k < 10; k++) expect(row[k]).toBeCloseTo(expected.probabilities[i][k], 5);
      }
    }
    expect(maxDiff).toBeLessThan(1e-5);
    // A trained network, not noise: PyTorch's own test accuracy, within a few images.
    expect(correct / n).toBeGreaterThan(expected.testAccuracy - 0.05);
    await session.release();
    model.dispose();
  });
});

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/** Softmax of each row of logits, in float64, as the model's head computes it. */
function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(row[k] - max);
    for (let k = 0; k < classes; k++) out[r * classes + k] = Math.exp(row[k] - max) / sum;
  }
  return out;
}

describe("autoencoder-pytorch.onnx", () => {
  const bytes = new Uint8Array(readFileSync(fixture("autoencoder-pytorch.onnx")));
  const expected = JSON.parse(readFileSync(fixture("autoencoder-pytorch.expected.json"), "utf8")) as {
    reconstructions: number[][];
  };

  it("imports as an autoencoder (Conv, Gemm, Reshape, ConvTranspose, Resize, a Sigmoid head)", () => {
    const { model } = importOnnx(rt, bytes, "autoencoder-pytorch");
    expect(model.spec.task).toBe("autoencoder");
    expect(model.spec.encoder).toBe(4);
    expect(model.spec.layers.map((l) => l.type)).toEqual([
      ...["conv2d", "relu", "flatten", "dense", "dense", "relu", "reshape"],
      ...["convT", "relu", "upsample", "conv2d"],
    ]);
    expect(model.spec.layers[6]).toEqual({ type: "reshape", shape: [8, 7, 7] });
    expect(model.spec.layers[9]).toEqual({ type: "upsample", scale: 2 });
    model.dispose();
  });

  it("reconstructs 200 test images as ONNX Runtime does (within 1e-5), and 10 as PyTorch did", async () => {
    const { model } = importOnnx(rt, bytes, "autoencoder-pytorch");
    const n = 200;
    const images = test.images.subarray(0, n * 784);
    const ours = model.reconstruct(images);
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(images, (v) => v / 255);
    const theirs = (await session.run({ input: new ort.Tensor("float32", x, [n, 1, 28, 28]) })).output
      .data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    expected.reconstructions.forEach((row, i) => {
      for (let p = 0; p < 784; p++) expect(ours[i * 784 + p]).toBeCloseTo(row[p], 5);
    });
    // Its code is the encoder's Linear output: 16 values an image.
    expect(model.encode(images.subarray(0, 784))).toHaveLength(16);
    await session.release();
    model.dispose();
  });
});
