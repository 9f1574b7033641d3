// int8 models end to end on real data: the shipped MNIST and CIFAR-10 CNNs quantized (SDK and
// CLI), their test accuracy against the float models', the file's size, and what an int8 model
// refuses (training, re-saving as float, quantizing an autoencoder or an int8 model again).
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  deserializeModel,
  evaluate,
  fit,
  INT8_MODEL_FORMAT,
  loadCifar10,
  loadMnist,
  Model,
  Optimizer,
  parseArch,
  quantizeModel,
  Random,
  Runtime,
  serializeModel,
} from "../sdk/node";
import { CIFAR_DIR, cifarAvailable } from "./support/cifar";
import { expectOneLineError, run } from "./support/cli";
import { unfoldedInt8File } from "./support/int8-unfolded";

const MODELS = fileURLToPath(new URL("../models/", import.meta.url));
const CALIBRATION = 1000;
const tmp = mkdtempSync(join(tmpdir(), "mnist-wasm-int8-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The float model of `file` and its int8 model, calibrated on the first CALIBRATION training images. */
function quantizeShipped(
  rt: Runtime,
  file: string,
  trainImages: Uint8Array,
): { float: Model; int8: Model; sizes: number[]; bytes: { int8: Uint8Array } } {
  const floatBytes = new Uint8Array(readFileSync(join(MODELS, file)));
  const float = deserializeModel(rt, floatBytes).model;
  const int8Bytes = quantizeModel(float, trainImages.subarray(0, CALIBRATION * float.inputSize), CALIBRATION);
  const loaded = deserializeModel(rt, int8Bytes);
  expect(loaded.metadata.format).toBe(INT8_MODEL_FORMAT);
  expect(loaded.model.quantized).toBe(true);
  return { float, int8: loaded.model, sizes: [floatBytes.length, int8Bytes.length], bytes: { int8: int8Bytes } };
}

describe("int8 models", () => {
  it("the shipped MNIST CNN quantized: test accuracy within 0.1 point of the float model's, a quarter of its size", async () => {
    const rt = await Runtime.create();
    const { float, int8, sizes, bytes } = quantizeShipped(rt, "mnist-cnn.safetensors", loadMnist("train").images);
    const test = loadMnist("test");
    const a = evaluate(float, test).accuracy;
    const b = evaluate(int8, test).accuracy;
    expect(a).toBeGreaterThan(0.99);
    expect(Math.abs(a - b)).toBeLessThanOrEqual(0.001);
    expect(sizes[0] / sizes[1]).toBeGreaterThan(3.5);
    // Its three batch norms are folded into the convolutions before them.
    expect(float.spec.layers.filter((l) => l.type === "batchnorm")).toHaveLength(3);
    expect(int8.spec.layers.map((l) => l.type).join(",")).toBe(
      "conv2d,relu,maxpool,conv2d,relu,conv2d,relu,maxpool,dense,relu,dense",
    );
    // The int8 model's probabilities are close to the float model's, image by image.
    const images = test.images.subarray(0, 200 * 784);
    const p = float.predict(images);
    const q = int8.predict(images);
    let worst = 0;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
    expect(worst).toBeLessThan(0.2);
    // One image at a time gives the batch's answers.
    const one = int8.predict(images.subarray(0, 784));
    expect(Array.from(one)).toEqual(Array.from(q.subarray(0, 10)));
    // Two threads (the convolution's batch shared out) give the same floats.
    const rt2 = await Runtime.create({ threads: 2 });
    const int8Threads = deserializeModel(rt2, bytes.int8).model;
    expect(rt2.features.threads).toBe(2);
    expect(Array.from(int8Threads.predict(images))).toEqual(Array.from(q));
    rt2.dispose();
    rt.dispose();
  }, 120_000);

  if (cifarAvailable("test/quantize.test.ts", "the shipped CIFAR-10 CNN quantized")) {
    it("the shipped CIFAR-10 CNN quantized: test accuracy within 0.5 point of the float model's", async () => {
      const rt = await Runtime.create();
      const { float, int8 } = quantizeShipped(rt, "cifar10-cnn.safetensors", loadCifar10("train", CIFAR_DIR).images);
      const test = loadCifar10("test", CIFAR_DIR);
      const a = evaluate(float, test).accuracy;
      const b = evaluate(int8, test).accuracy;
      expect(a).toBeGreaterThan(0.74);
      expect(Math.abs(a - b)).toBeLessThanOrEqual(0.005);
      rt.dispose();
    }, 300_000);
  }

  it("the shipped MNIST CNN, batch norms folded, answers as its int8 model with them unfolded on every test image", async () => {
    const rt = await Runtime.create();
    const { float, int8, bytes } = quantizeShipped(rt, "mnist-cnn.safetensors", loadMnist("train").images);
    // The same int8 model without folding (an int8 file may keep its batch norms).
    const unfolded = deserializeModel(rt, unfoldedInt8File(float, bytes.int8)).model;
    expect(unfolded.spec.layers.filter((l) => l.type === "batchnorm")).toHaveLength(3);
    const test = loadMnist("test");
    const a = unfolded.predict(test.images);
    const b = int8.predict(test.images);
    const argmax = (p: Float32Array, i: number) => {
      let best = 0;
      for (let k = 1; k < 10; k++) if (p[i * 10 + k] > p[i * 10 + best]) best = k;
      return best;
    };
    const differs: number[] = [];
    for (let i = 0; i < test.count; i++) if (argmax(a, i) !== argmax(b, i)) differs.push(i);
    expect(differs).toEqual([]);
    rt.dispose();
  }, 120_000);

  it("runs a convolution, its ReLU and 2x2 max-pool as one int8 pass into the next convolution's input, with the same bytes", async () => {
    // Fused (the model's fusion on) and each layer on its own (fusion off): the same floats out,
    // on one thread and two, in batches and one image at a time. Filters 16 and 8 (multiples of
    // 8), odd maps (a row and column the pool leaves out), and a spec without the pattern.
    const rng = new Random(5);
    for (const [arch, input, fused] of [
      ["conv:16x3,relu,maxpool:2,conv:8x3,relu,dense:10", [1, 15, 13], true],
      ["conv:8x3,relu,maxpool:2,conv:8x3,relu,maxpool:2,dense:6", [2, 16, 16], true],
      ["conv:12x3,relu,maxpool:2,conv:8x3,dense:4", [1, 12, 12], false], // 12 filters: not a multiple of 8
      ["conv:8x3,relu,conv:8x3,relu,maxpool:2,dense:4", [1, 10, 10], false], // no pool after the first
    ] as const) {
      for (const threads of [1, 2]) {
        const rt = await Runtime.create({ threads });
        const float = new Model(rt, { input: [...input], layers: parseArch(arch) }, { seed: 2 });
        const size = input.reduce<number>((a, b) => a * b, 1);
        const count = 9;
        const pixels = Uint8Array.from({ length: count * size }, () => Math.floor(rng.uniform() * 256));
        const int8 = deserializeModel(rt, quantizeModel(float, pixels, count)).model;
        const first = int8.layers[0] as unknown as { int8PoolFused: boolean };
        expect(first.int8PoolFused, arch).toBe(fused);
        const together = int8.predict(pixels, count);
        const one = int8.predict(pixels.subarray(0, size), 1);
        int8.fusion = false;
        expect(first.int8PoolFused).toBe(false);
        expect(int8.predict(pixels, count), `${arch}, ${threads} thread(s)`).toEqual(together);
        expect(int8.predict(pixels.subarray(0, size), 1)).toEqual(one);
        expect(together.subarray(0, one.length)).toEqual(one);
        rt.dispose();
      }
    }
  });

  it("folds each batch norm after a conv2d or dense layer into it: scales of both signs, shifted means", async () => {
    const rt = await Runtime.create();
    const spec = {
      input: [1, 10, 10],
      layers: parseArch("conv:6x3,batchnorm,relu,maxpool:2,dense:12,batchnorm,relu,dense:5"),
    };
    const float = new Model(rt, spec, { seed: 3 });
    const rng = new Random(7);
    const set = (name: string, f: () => number) => {
      const t = [...float.params, ...float.buffers].find((p) => p.name === name)!.value;
      t.write(Array.from({ length: t.length }, f));
    };
    for (const norm of [1, 5]) {
      // gamma of either sign (a negative one flips its channel's int8 weights), far from 1.
      set(`${norm}.gamma`, () => (rng.uniform() < 0.3 ? -1 : 1) * (0.5 + 2 * rng.uniform()));
      set(`${norm}.beta`, () => rng.uniform() - 0.5);
      set(`${norm}.running_mean`, () => rng.uniform() - 0.5);
      set(`${norm}.running_var`, () => 0.05 + rng.uniform());
    }
    const count = 300;
    const pixels = Uint8Array.from({ length: count * 100 }, () => Math.floor(rng.uniform() * 256));
    const int8 = deserializeModel(rt, quantizeModel(float, pixels, count)).model;
    expect(int8.spec.layers.map((l) => l.type).join(",")).toBe("conv2d,relu,maxpool,dense,relu,dense");
    // The int8 model computes the float model's function: its probabilities are within
    // quantization error of the float ones (a batch norm dropped or misapplied moves them far).
    const p = float.predict(pixels);
    const q = int8.predict(pixels);
    let worst = 0;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
    expect(worst).toBeLessThan(0.05);
    let spread = 0;
    for (let i = 0; i < p.length; i++) spread = Math.max(spread, Math.abs(p[i] - p[i % 5]));
    expect(spread).toBeGreaterThan(0.2);
    rt.dispose();
  });

  it("keeps a batch norm whose fold would give weights no model file may hold (a variance of 0 under a huge gamma)", async () => {
    const rt = await Runtime.create();
    const float = new Model(
      rt,
      { input: [1, 10, 10], layers: parseArch("conv:6x3,batchnorm,relu,dense:5") },
      { seed: 3 },
    );
    const buffer = (name: string) => [...float.params, ...float.buffers].find((p) => p.name === name)!.value;
    buffer("1.gamma").write([1e7, 1, 1, 1, 1, 1]);
    buffer("1.running_var").write([0, 1, 1, 1, 1, 1]);
    const count = 50;
    const rng = new Random(2);
    const pixels = Uint8Array.from({ length: count * 100 }, () => Math.floor(rng.uniform() * 256));
    const int8 = deserializeModel(rt, quantizeModel(float, pixels, count)).model;
    expect(int8.spec.layers.map((l) => l.type).join(",")).toBe("conv2d,batchnorm,relu,dense");
    expect(int8.predict(pixels).every(Number.isFinite)).toBe(true);
    rt.dispose();
  });

  it("an int8 model is not trained, nor saved as a float model; autoencoders and int8 models are not quantized", async () => {
    const rt = await Runtime.create();
    const train = loadMnist("train");
    const { float, int8 } = quantizeShipped(rt, "mnist-cnn.safetensors", train.images);
    const optimizer = new Optimizer(rt, { name: "sgd" });
    await expect(fit(int8, train, { epochs: 1, batchSize: 50, optimizer })).rejects.toThrow(
      /int8 model runs inference only/,
    );
    expect(() => serializeModel(int8)).toThrow(/int8 model/);
    expect(() => quantizeModel(int8, train.images.subarray(0, 784), 1)).toThrow(/already an int8 model/);
    const vae = deserializeModel(rt, new Uint8Array(readFileSync(join(MODELS, "mnist-vae.safetensors")))).model;
    expect(() => quantizeModel(vae, train.images.subarray(0, 784), 1)).toThrow(/only classifiers/);
    expect(() => quantizeModel(float, train.images.subarray(0, 700), 1)).toThrow(/expected 1 images/);
    rt.dispose();
  }, 120_000);

  it("mnist-wasm quantize writes a file that eval reads; it refuses a VAE in one line", () => {
    const out = join(tmp, "mnist-cnn.int8.safetensors");
    const q = run(["quantize", "--model", join(MODELS, "mnist-cnn.safetensors"), "--out", out, "--calibration", "500"]);
    expect(q.stderr).toBe("");
    expect(q.code).toBe(0);
    expect(q.stdout).toMatch(/calibration: 500 mnist training images/);
    expect(statSync(out).size).toBeLessThan(statSync(join(MODELS, "mnist-cnn.safetensors")).size / 3.5);
    const e = run(["eval", "--model", out]);
    expect(e.code).toBe(0);
    const accuracy = Number(/accuracy: ([\d.]+)%/.exec(e.stdout)![1]);
    expect(accuracy).toBeGreaterThanOrEqual(99.33);
    const vae = run(["quantize", "--model", join(MODELS, "mnist-vae.safetensors"), "--out", join(tmp, "vae.int8")]);
    expectOneLineError(vae, /^mnist-wasm: .*is a VAE; quantize needs a classifier/);
    expect(vae.code).toBe(1);
    // The output is checked before any work: a folder, or the model file itself.
    expectOneLineError(
      run(["quantize", "--model", join(MODELS, "mnist-cnn.safetensors"), "--out", tmp]),
      /--out .*is a directory/,
    );
    expectOneLineError(run(["quantize", "--model", out, "--out", out]), /--out .* would overwrite the --model file/);
    expectOneLineError(
      run(["train", "--init-from", out, "--epochs", "1", "--limit", "100", "--out", join(tmp, "x.safetensors")]),
      /^mnist-wasm: .*int8 model/,
    );
  }, 300_000);
});
