// The check of the ONNX exporter: the shipped models and a model of every layer type, exported and
// run by ONNX Runtime (onnxruntime-web's wasm backend, in Node), give the SDK's answers on real
// images: the same argmax on every image, probabilities within 1e-5. The MNIST model on all
// 10,000 test images; the CIFAR-10 model on the CIFAR-10 test batch (or the demo's samples).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  autoencoderSpec,
  CIFAR10_CLASSES,
  type Dataset,
  datasetFromCifarBatches,
  deserializeModel,
  exportOnnx,
  importOnnx,
  loadCifar10,
  loadMnist,
  MNIST_CLASSES,
  Model,
  type ModelSpec,
  ONNX_INPUT,
  ONNX_OUTPUT,
  ONNX_RECONSTRUCTION,
  parseArch,
  Random,
  Runtime,
} from "../../../sdk/node";
import { onnx } from "../../../sdk/onnx/proto";
import { CIFAR_DIR, HAVE_CIFAR } from "../../support/cifar";

const TOLERANCE = 1e-5;
const root = new URL("../../../", import.meta.url).pathname;

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  ort.env.wasm.numThreads = 1;
});
afterAll(() => rt.dispose());

/** The largest difference of probabilities, and the images whose argmax differs, over all of `data`. */
async function compareWithOrt(
  model: Model,
  bytes: Uint8Array,
  data: Pick<Dataset, "images" | "count">,
): Promise<{ maxDiff: number; argmaxDiffers: number[]; compared: number }> {
  const session = await ort.InferenceSession.create(bytes);
  const size = model.inputSize;
  const classes = model.classCount;
  let maxDiff = 0;
  const argmaxDiffers: number[] = [];
  const batch = 1000;
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    const pixels = data.images.subarray(start * size, (start + n) * size);
    const ours = model.predict(pixels);
    const x = Float32Array.from(pixels, (v) => v / 255);
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [n, ...model.spec.input]) });
    const theirs = out[ONNX_OUTPUT].data as Float32Array;
    expect(out[ONNX_OUTPUT].dims).toEqual([n, classes]);
    for (let i = 0; i < n; i++) {
      const a = ours.subarray(i * classes, (i + 1) * classes);
      const b = theirs.subarray(i * classes, (i + 1) * classes);
      if (argmax(a) !== argmax(b)) argmaxDiffers.push(start + i);
      for (let k = 0; k < classes; k++) maxDiff = Math.max(maxDiff, Math.abs(a[k] - b[k]));
    }
  }
  await session.release();
  return { maxDiff, argmaxDiffers, compared: data.count };
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

describe("exported models agree with ONNX Runtime", () => {
  it("the shipped MNIST model, on all 10,000 test images", async () => {
    const { model, metadata } = deserializeModel(rt, readFileSync(join(root, "models/mnist-cnn.safetensors")));
    const bytes = exportOnnx(model, metadata);
    const result = await compareWithOrt(model, bytes, loadMnist("test"));
    console.log(`mnist-cnn: ${result.compared} images, max |Δp| ${result.maxDiff.toExponential(2)}`);
    expect(result.compared).toBe(10_000);
    expect(result.argmaxDiffers).toEqual([]);
    expect(result.maxDiff).toBeLessThan(TOLERANCE);
    model.dispose();
  }, 120_000);

  it("the shipped CIFAR-10 model, on the CIFAR-10 test batch (or the demo's samples without it)", async () => {
    const { model, metadata } = deserializeModel(rt, readFileSync(join(root, "models/cifar10-cnn.safetensors")));
    const bytes = exportOnnx(model, metadata);
    const data = HAVE_CIFAR
      ? loadCifar10("test", CIFAR_DIR)
      : datasetFromCifarBatches([{ name: "samples", bytes: readFileSync(join(root, "demo/cifar10-samples.bin")) }]);
    const result = await compareWithOrt(model, bytes, data);
    console.log(`cifar10-cnn: ${result.compared} images, max |Δp| ${result.maxDiff.toExponential(2)}`);
    expect(result.compared).toBe(data.count);
    expect(result.argmaxDiffers).toEqual([]);
    expect(result.maxDiff).toBeLessThan(TOLERANCE);
    model.dispose();
  }, 300_000);

  // Every layer type, each option away from its default; batch norm after a convolution and after
  // a dense layer, with running statistics far from 0 and 1; pooling windows that overlap.
  const everyLayer: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", filters: 6, size: 3, stride: 2, padding: 1 },
      { type: "batchnorm", eps: 1e-3, momentum: 0.8 },
      { type: "relu" },
      { type: "maxpool", size: 3, stride: 2 },
      { type: "conv2d", filters: 8, size: 2 },
      { type: "sigmoid" },
      { type: "avgpool", size: 2, stride: 1 },
      { type: "flatten" },
      { type: "dropout", rate: 0.3 },
      { type: "dense", units: 24 },
      { type: "batchnorm" },
      { type: "relu" },
      { type: "dense", units: 10 },
    ],
    classes: MNIST_CLASSES,
  };

  function randomModel(spec: ModelSpec, seed: number): Model {
    const model = new Model(rt, spec, { seed });
    const rng = new Random(seed);
    for (const b of model.buffers) {
      const values = b.value.read();
      const isVar = b.name.endsWith("running_var");
      for (let i = 0; i < values.length; i++) values[i] = isVar ? 0.2 + 2 * rng.uniform() : rng.uniform() - 0.5;
      b.value.write(values);
    }
    for (const p of model.params) {
      if (p.role !== "scale" && p.role !== "shift" && p.role !== "bias") continue;
      const values = p.value.read();
      for (let i = 0; i < values.length; i++) values[i] = (p.role === "scale" ? 1 : 0) + (rng.uniform() - 0.5) * 0.5;
      p.value.write(values);
    }
    return model;
  }

  it("a model of every layer type, on 2,000 MNIST test images", async () => {
    const model = randomModel(everyLayer, 7);
    const bytes = exportOnnx(model, { dataset: "mnist" });
    const test = loadMnist("test");
    const result = await compareWithOrt(model, bytes, { images: test.images, count: 2000 });
    console.log(`every layer type: ${result.compared} images, max |Δp| ${result.maxDiff.toExponential(2)}`);
    expect(result.argmaxDiffers).toEqual([]);
    expect(result.maxDiff).toBeLessThan(TOLERANCE);
    model.dispose();
  }, 60_000);

  it("an MLP on [784] input (no flatten) and a CIFAR-shaped net of every pooling, on real images", async () => {
    const mlp: ModelSpec = {
      input: [784],
      layers: [{ type: "dense", units: 32 }, { type: "sigmoid" }, { type: "dense", units: 10 }],
    };
    const cifar: ModelSpec = {
      input: [3, 32, 32],
      layers: [
        { type: "conv2d", filters: 5, size: 5, padding: 2 },
        { type: "relu" },
        { type: "avgpool", size: 2 },
        { type: "batchnorm" },
        { type: "conv2d", filters: 6, size: 3 },
        { type: "maxpool", size: 2 },
        { type: "dense", units: 10 },
      ],
      classes: CIFAR10_CLASSES,
    };
    const samples = datasetFromCifarBatches([
      { name: "samples", bytes: readFileSync(join(root, "demo/cifar10-samples.bin")) },
    ]);
    const test = loadMnist("test");
    for (const [spec, data] of [
      [mlp, { images: test.images, count: 1000 }],
      [cifar, samples],
    ] as const) {
      const model = randomModel(spec, 3);
      const result = await compareWithOrt(model, exportOnnx(model), data);
      expect(result.argmaxDiffers).toEqual([]);
      expect(result.maxDiff).toBeLessThan(TOLERANCE);
      model.dispose();
    }
  }, 60_000);

  it("reads back into the same model: same predictions, layers, class names and facts", () => {
    const model = randomModel(everyLayer, 11);
    const bytes = exportOnnx(model, { dataset: "digits", epochs: "3", testAccuracy: "0.5" });
    const back = importOnnx(rt, bytes, "every-layer.onnx");
    const dropped = everyLayer.layers.filter((l) => l.type !== "dropout");
    expect(back.model.spec.layers).toEqual(dropped);
    expect(back.model.spec.classes).toEqual(MNIST_CLASSES);
    expect(back.metadata).toMatchObject({ dataset: "digits", epochs: "3", testAccuracy: "0.5" });
    const images = loadMnist("test").images.subarray(0, 100 * 784);
    expect(back.model.predict(images)).toEqual(model.predict(images));
    back.model.dispose();
    model.dispose();
  });
});

describe("exported autoencoders and VAEs agree with ONNX Runtime", () => {
  /** Random biases and batch-norm statistics away from their initial values, as in randomModel above. */
  function perturbed(spec: ModelSpec, seed: number): Model {
    const model = new Model(rt, spec, { seed });
    const rng = new Random(seed);
    for (const p of model.params) {
      if (p.role !== "bias") continue;
      const values = p.value.read();
      for (let i = 0; i < values.length; i++) values[i] = (rng.uniform() - 0.5) * 0.2;
      p.value.write(values);
    }
    return model;
  }

  const cases: [string, ModelSpec][] = [
    ["conv autoencoder (conv, convT, reshape)", autoencoderSpec({ input: [1, 28, 28], latent: 8, encoder: "conv" })],
    ["dense VAE (the mean path)", autoencoderSpec({ input: [1, 28, 28], latent: 4, variational: true })],
    [
      "autoencoder with upsampling and an mse loss",
      autoencoderSpec({
        input: [1, 28, 28],
        latent: 6,
        encoder: parseArch("conv:4x3s2p1,relu,maxpool:2,flatten"),
        decoder: parseArch("dense:392,relu,reshape:2x14x14,upsample:2,conv:1x3p1"),
        loss: "mse",
      }),
    ],
  ];

  it("the shipped VAE, on 2,000 MNIST test images: the same reconstructions, and codes back", async () => {
    const { model, metadata } = deserializeModel(rt, readFileSync(join(root, "models/mnist-vae.safetensors")));
    const bytes = exportOnnx(model, metadata);
    const images = loadMnist("test").images.subarray(0, 2000 * 784);
    const ours = model.reconstruct(images);
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(images, (v) => v / 255);
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [2000, ...model.spec.input]) });
    const theirs = out[ONNX_RECONSTRUCTION].data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    console.log(`mnist-vae: 2000 images, max |Δ| ${maxDiff.toExponential(2)} over ${ours.length} pixels`);
    expect(maxDiff).toBeLessThan(TOLERANCE);
    await session.release();
    const back = importOnnx(rt, bytes, "mnist-vae.onnx");
    expect(back.model.spec.task).toBe("vae");
    expect(back.model.encode(images)).toEqual(model.encode(images));
    back.model.dispose();
    model.dispose();
  }, 60_000);

  it.each(cases)("%s: reconstructions of 500 MNIST test images, and back into the same model", async (_, spec) => {
    const model = perturbed(spec, 5);
    const bytes = exportOnnx(model, { dataset: "mnist" });
    const images = loadMnist("test").images.subarray(0, 500 * 784);
    const ours = model.reconstruct(images);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.outputNames).toEqual([ONNX_RECONSTRUCTION]);
    const x = Float32Array.from(images, (v) => v / 255);
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [500, 1, 28, 28]) });
    const theirs = out[ONNX_RECONSTRUCTION].data as Float32Array;
    expect(theirs.length).toBe(ours.length);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    console.log(`${_}: max |Δ| ${maxDiff.toExponential(2)} over ${ours.length} pixels`);
    expect(maxDiff).toBeLessThan(TOLERANCE);
    await session.release();

    const back = importOnnx(rt, bytes, "ae.onnx");
    expect(back.model.spec.task).toBe(spec.task);
    expect(back.model.spec.loss).toBe(spec.loss);
    expect(back.model.spec.layers.filter((l) => l.type !== "flatten")).toEqual(
      spec.layers.filter((l) => l.type !== "flatten" && l.type !== "dropout"),
    );
    expect(back.model.encode(images)).toEqual(model.encode(images));
    expect(back.model.reconstruct(images)).toEqual(ours);
    back.model.dispose();
    model.dispose();
  });
});

describe("the exported graph", () => {
  it("is opset 13 with a dynamic batch, named input and output, and the class names, data set and facts in its metadata", async () => {
    const { model, metadata } = deserializeModel(rt, readFileSync(join(root, "models/cifar10-cnn.safetensors")));
    const bytes = exportOnnx(model, metadata);
    const proto = onnx.ModelProto.decode(bytes);
    expect(proto.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([["", 13]]);
    const [input] = proto.graph!.input!;
    const [output] = proto.graph!.output!;
    expect(input.name).toBe("pixels");
    expect(output.name).toBe("probabilities");
    const dims = (v: typeof input): (string | number)[] =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(dims(input)).toEqual(["batch", 3, 32, 32]);
    expect(dims(output)).toEqual(["batch", 10]);
    const props = Object.fromEntries(proto.metadataProps!.map((p) => [p.key, p.value]));
    expect(JSON.parse(props.classes!)).toEqual(CIFAR10_CLASSES);
    expect(props.dataset).toBe(metadata.dataset);
    expect(props.testAccuracy).toBe(metadata.testAccuracy);
    expect(props.spec).toBeUndefined();
    // No dropout nodes; a Softmax at the end.
    const ops = proto.graph!.node!.map((n) => n.opType);
    expect(ops.at(-1)).toBe("Softmax");
    expect(ops).not.toContain("Dropout");
    // One image and an odd batch run too.
    const session = await ort.InferenceSession.create(bytes);
    for (const n of [1, 7]) {
      const out = await session.run({
        pixels: new ort.Tensor("float32", new Float32Array(n * 3072).fill(0.5), [n, 3, 32, 32]),
      });
      expect(out.probabilities.dims).toEqual([n, 10]);
    }
    await session.release();
    model.dispose();
  });

  it("refuses a diverged model (DIVERGED) and facts out of range (BAD_ARGUMENT)", () => {
    const model = new Model(rt, { input: [4], layers: [{ type: "dense", units: 2 }] });
    expect(() => exportOnnx(model, { epochs: "-1" })).toThrow(/epochs/);
    const w = model.params[0].value.read();
    w[0] = Number.NaN;
    model.params[0].value.write(w);
    expect(() => exportOnnx(model)).toThrow(expect.objectContaining({ code: "DIVERGED" }));
    model.dispose();
  });
});
