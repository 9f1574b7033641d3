// Autoencoders in the SDK: the spec builder, a model whose target is its input (encode, decode,
// reconstruct, the loss heads' gradients against central differences), refusals of the wrong
// task, training on real MNIST digits, and the model file.
import { beforeAll, describe, expect, it } from "vitest";
import {
  autoencoderSpec,
  deserializeModel,
  evaluate,
  evaluateReconstruction,
  fit,
  latentGrid,
  loadMnist,
  Model,
  mlpSpec,
  normalQuantile,
  Optimizer,
  PIXEL_SCALE,
  priorSamples,
  Random,
  selectClasses,
  serializeModel,
  takeFirst,
  validateSpec,
  type Dataset,
  type ModelSpec,
} from "../../sdk/node";
import { rt, useRuntime } from "../support/buffers";
import { expectError } from "../support/errors";
import { expectGradient, numericalGrad } from "../support/numeric";

useRuntime();

/** A 4x4 grey autoencoder: dense:8,relu | dense:2 | dense:8,relu,dense:16. */
const small = (loss: "bce" | "mse" = "bce"): ModelSpec =>
  autoencoderSpec({ input: [1, 4, 4], latent: 2, encoder: "dense:8,relu", decoder: "dense:8,relu", loss });

describe("autoencoderSpec", () => {
  it("completes the halves: the code layer after the encoder, the output layer after the decoder", () => {
    const spec = small();
    expect(spec.layers.map((l) => l.type)).toEqual(["dense", "relu", "dense", "dense", "relu", "dense"]);
    expect(spec).toMatchObject({ task: "autoencoder", encoder: 3, input: [1, 4, 4] });
    expect((spec.layers[2] as { units: number }).units).toBe(2);
    expect((spec.layers[5] as { units: number }).units).toBe(16);
    expect(spec.loss).toBeUndefined(); // bce, the default, is not written
  });

  it("the dense preset, sized for the input", () => {
    const spec = autoencoderSpec({ input: [1, 28, 28], latent: 3 });
    expect(spec.layers).toEqual([
      { type: "dense", units: 512 },
      { type: "relu" },
      { type: "dense", units: 3 },
      { type: "dense", units: 512 },
      { type: "relu" },
      { type: "dense", units: 784 },
    ]);
  });

  it("keeps an encoder that ends with the code, refuses one whose code has another width", () => {
    expect(autoencoderSpec({ input: [1, 4, 4], latent: 2, encoder: "dense:8,relu,dense:2" }).encoder).toBe(3);
    expectError(
      () => autoencoderSpec({ input: [1, 4, 4], latent: 2, encoder: "dense:8,relu,dense:5" }),
      "BAD_ARGUMENT",
      "dense:5",
      "2 values",
    );
  });

  it.each([
    [{ latent: 0 }, /latent/],
    [{ latent: 1.5 }, /latent/],
    [{ latent: 5000 }, /latent/],
    [{ encoder: 7 }, /encoder/],
    [{ decoder: "" }, /empty|architecture/],
    [{ input: "1x28x28" }, /input/],
    [{ color: true }, /color/],
  ])("refuses %o", (bad, pattern) => {
    expectError(() => autoencoderSpec({ input: [1, 4, 4], latent: 2, ...bad } as never), "BAD_ARGUMENT", pattern);
  });
});

describe("the spec of an autoencoder", () => {
  const base = (): Record<string, unknown> => JSON.parse(JSON.stringify(small()));

  it.each([
    ["no encoder split", { encoder: undefined }, /"encoder"/],
    ["a split at 0", { encoder: 0 }, /"encoder"/],
    ["a split past the decoder", { encoder: 6 }, /"encoder"/],
    ["a classifier's loss", { loss: "cross-entropy" }, /"bce" or "mse"/],
    ["an unknown task", { task: "gan" }, /"task"/],
  ])("refuses %s", (_, change, pattern) => {
    expectError(() => validateSpec({ ...base(), ...change }), "BAD_ARGUMENT", pattern);
  });

  it("refuses a classifier with an encoder split or the bce loss", () => {
    const classifier = mlpSpec({ input: [1, 4, 4], hidden: [8], classes: 3 });
    expectError(() => validateSpec({ ...classifier, encoder: 1 }), "BAD_ARGUMENT", /classifier/);
    expectError(() => validateSpec({ ...classifier, loss: "bce" }), "BAD_ARGUMENT", /"cross-entropy" or "mse"/);
  });

  it("refuses a final sigmoid under bce, which applies its own", () => {
    const spec = base() as { layers: unknown[] };
    expectError(
      () => validateSpec({ ...spec, layers: [...spec.layers, { type: "sigmoid" }] }),
      "BAD_ARGUMENT",
      /sigmoid/,
    );
    expect(validateSpec({ ...spec, layers: [...spec.layers, { type: "sigmoid" }], loss: "mse" }).loss).toBe("mse");
  });

  it("refuses a decoder whose output is not the input's size (BAD_SHAPE, both sizes named)", () => {
    const spec = validateSpec({ ...base(), layers: [...small().layers.slice(0, 5), { type: "dense", units: 15 }] });
    expectError(() => new Model(rt, spec), "BAD_SHAPE", "16 values", "15 values");
  });
});

describe("a model whose target is its input", () => {
  const pixels = (count: number, seed: number): Float32Array => {
    const rng = new Random(seed);
    return Float32Array.from({ length: count * 16 }, () => (rng.uniform() < 0.3 ? 0 : Math.fround(rng.uniform())));
  };

  it("encode, decode and reconstruct agree: decode(encode(x)) is reconstruct(x), float for float", () => {
    const model = new Model(rt, small(), { seed: 3 });
    const x = pixels(5, 1);
    const codes = model.encode(x);
    expect(codes.length).toBe(5 * 2);
    const r = model.reconstruct(x);
    expect(r.length).toBe(5 * 16);
    expect(Array.from(model.decode(codes))).toEqual(Array.from(r));
    for (const v of r) expect(v > 0 && v < 1).toBe(true); // the sigmoid of the bce head
    // Bytes are scaled by 1/255 as predict() scales them.
    const bytes = Uint8Array.from(x, (v) => Math.round(v * 255));
    expect(model.encode(bytes)).toEqual(
      model.encode(Float32Array.from(bytes, (b) => Math.fround(b * Math.fround(PIXEL_SCALE)))),
    );
    model.dispose();
  });

  it("an mse autoencoder reconstructs with its output as it is", () => {
    const model = new Model(rt, small("mse"), { seed: 3 });
    const r = model.reconstruct(pixels(2, 2));
    expect(r.some((v) => v < 0 || v > 1)).toBe(true); // no sigmoid: a fresh decoder's outputs are not probabilities
    model.dispose();
  });

  it.each(["bce", "mse"] as const)("back-propagates the %s loss (parameters against central differences)", (loss) => {
    // Sigmoids: a ReLU's kink within ε of an input would make central differences meaningless.
    const spec = autoencoderSpec({
      input: [1, 4, 4],
      latent: 2,
      encoder: "dense:8,sigmoid",
      decoder: "dense:8,sigmoid",
      loss,
    });
    const model = new Model(rt, spec, { seed: 5 });
    const batch = 3;
    model.allocate(batch);
    rt.f32(model.inputPtr, batch * 16).set(pixels(batch, 9));
    const meanLoss = (): number => {
      const out = model.forward(model.inputPtr, batch, true);
      return model.batchLoss(out, model.targetPtr, batch, false).head / batch;
    };
    const out = model.forward(model.inputPtr, batch, true);
    model.batchLoss(out, model.targetPtr, batch, true);
    model.backward(batch);
    const grads = model.params.map((p) => p.grad.read());
    model.params.forEach((p, i) =>
      expectGradient(
        grads[i],
        numericalGrad(() => p.value.view(), meanLoss),
        p.name,
      ),
    );
    model.dispose();
  });

  it("refuses the wrong task with WRONG_TASK, naming what fits", () => {
    const ae = new Model(rt, small());
    const classifier = new Model(rt, mlpSpec({ input: [1, 4, 4], hidden: [8], classes: 3 }));
    expectError(() => ae.predict(pixels(1, 1)), "WRONG_TASK", "autoencoder", "reconstruct()");
    for (const call of [
      () => classifier.encode(pixels(1, 1)),
      () => classifier.decode([0, 0]),
      () => classifier.reconstruct(pixels(1, 1)),
    ]) {
      expectError(call, "WRONG_TASK", "classifier", "predict()");
    }
    const data: Dataset = {
      name: "tiny",
      shape: [1, 4, 4],
      images: new Uint8Array(32),
      labels: new Uint8Array(2),
      count: 2,
      classes: ["a", "b", "c"],
    };
    expectError(() => evaluate(ae, data), "WRONG_TASK", "evaluateReconstruction()");
    expectError(() => evaluateReconstruction(classifier, data), "WRONG_TASK", "evaluate()");
    ae.dispose();
    classifier.dispose();
  });

  it("refuses codes of the wrong size or not finite", () => {
    const model = new Model(rt, small());
    expectError(() => model.decode([1, 2, 3]), "BAD_SHAPE", "multiple of 2");
    expectError(() => model.decode([1, Number.NaN]), "BAD_ARGUMENT", "NaN");
    expectError(() => model.decode("1,2" as never), "BAD_ARGUMENT", "codes");
    expectError(() => model.decode([1, 2], 2), "BAD_SHAPE", "2 x 2");
    model.dispose();
    expectError(() => model.decode([1, 2]), "BAD_STATE", "disposed");
  });

  it("keeps its task and split in the model file", () => {
    const model = new Model(rt, small(), { seed: 4 });
    const x = pixels(2, 3);
    const loaded = deserializeModel(rt, serializeModel(model)).model;
    expect(loaded.task).toBe("autoencoder");
    expect(loaded.latentSize).toBe(2);
    expect(loaded.reconstruct(x)).toEqual(model.reconstruct(x));
    model.dispose();
    loaded.dispose();
  });
});

describe("training an autoencoder on MNIST digits", () => {
  let train: Dataset;
  let test: Dataset;
  beforeAll(() => {
    train = takeFirst(selectClasses(loadMnist("train"), [0, 1, 2]), 3000);
    test = takeFirst(selectClasses(loadMnist("test"), [0, 1, 2]), 600);
  });

  it("halves its loss in two epochs, and reports reconstruction per epoch", async () => {
    const spec = autoencoderSpec({
      input: [1, 28, 28],
      latent: 2,
      encoder: "dense:128,relu",
      decoder: "dense:128,relu",
    });
    const model = new Model(rt, spec, { seed: 1 });
    const before = evaluateReconstruction(model, test);
    expect(before.reconstruction).toBeGreaterThan(400); // ln 2 a pixel is 543 for a model that knows nothing
    const optimizer = new Optimizer(rt, { name: "adam", lr: 1e-3 });
    const { history } = await fit(model, train, { epochs: 2, batchSize: 50, optimizer, seed: 1, test });
    expect(history).toHaveLength(2);
    const last = history[1];
    expect(last.trainAccuracy).toBeUndefined();
    expect(last.reconstruction).toBe(last.loss); // no KL in a plain autoencoder
    expect(last.kl).toBeUndefined();
    expect(last.testReconstruction).toBeLessThan(before.reconstruction / 2);
    expect(last.testElbo).toBeUndefined();
    optimizer.dispose();
    model.dispose();
  });
});

describe("codes to decode", () => {
  it("priorSamples: seeded standard normal draws", () => {
    const a = priorSamples(2000, 3, 7);
    expect(a).toEqual(priorSamples(2000, 3, 7));
    expect(a).not.toEqual(priorSamples(2000, 3, 8));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.06);
    expectError(() => priorSamples(0, 2), "BAD_ARGUMENT", "count");
  });

  it("normalQuantile inverts the normal CDF", () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 7);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 7);
    expect(normalQuantile(1e-6)).toBeCloseTo(-4.753424309, 6);
  });

  it("latentGrid: rows from top (second dimension high) to bottom, the first dimension rising along them", () => {
    const g = latentGrid(3, 0.9);
    const q = normalQuantile(0.95);
    expect(Array.from(g).map((v) => Number(v.toFixed(5)))).toEqual(
      [-q, q, 0, q, q, q, -q, 0, 0, 0, q, 0, -q, -q, 0, -q, q, -q].map((v) => Number(Math.fround(v).toFixed(5)) + 0),
    );
  });
});

describe("the split and fused layers", () => {
  it("a decoder that starts with a ReLU decodes what encode gives: no fusion across the split", () => {
    const spec = autoencoderSpec({
      input: [1, 4, 4],
      latent: 3,
      encoder: "dense:8,relu",
      decoder: "relu,dense:8,relu",
    });
    const model = new Model(rt, spec, { seed: 7 });
    const x = Float32Array.from({ length: 32 }, (_, i) => ((i * 37) % 17) / 17);
    const codes = model.encode(x);
    expect(codes.some((v) => v < 0)).toBe(true); // the code is the dense layer's, before the decoder's ReLU
    expect(Array.from(model.decode(codes))).toEqual(Array.from(model.reconstruct(x)));
    model.dispose();
  });
});
