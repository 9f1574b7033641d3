// VAEs in the SDK: the spec builder's sampling layer, the code as the means, the KL term in the
// loss and its gradient (noise frozen) against central differences, the ELBO of an evaluation,
// training on MNIST digits, and the convolutional preset's shapes.
import { beforeAll, describe, expect, it } from "vitest";
import {
  autoencoderSpec,
  evaluateReconstruction,
  fit,
  loadMnist,
  Model,
  Optimizer,
  Random,
  takeFirst,
  TrainingSession,
  type Dataset,
  type Sampling,
} from "../../sdk/node";
import { rt, useRuntime } from "../support/buffers";
import { expectError } from "../support/errors";
import { expectGradient, numericalGrad } from "../support/numeric";

useRuntime();

const pixels = (count: number, size: number, seed: number): Float32Array => {
  const rng = new Random(seed);
  return Float32Array.from({ length: count * size }, () => (rng.uniform() < 0.3 ? 0 : Math.fround(rng.uniform())));
};

describe("a VAE's spec", () => {
  it("ends its encoder with dense:2·latent (means, log-variances) and the sampling layer", () => {
    const spec = autoencoderSpec({
      input: [1, 4, 4],
      latent: 3,
      variational: true,
      encoder: "dense:8,relu",
      decoder: "dense:8,relu",
    });
    expect(spec.layers.map((l) => l.type)).toEqual(["dense", "relu", "dense", "sampling", "dense", "relu", "dense"]);
    expect(spec).toMatchObject({ task: "vae", encoder: 4 });
    expect((spec.layers[2] as { units: number }).units).toBe(6);
  });

  it("refuses a sampling layer without variational, and a means layer of the wrong width", () => {
    expectError(
      () => autoencoderSpec({ input: [1, 4, 4], latent: 2, encoder: "dense:4,sampling" }),
      "BAD_ARGUMENT",
      "variational",
    );
    expectError(
      () => autoencoderSpec({ input: [1, 4, 4], latent: 2, variational: true, encoder: "dense:6,sampling" }),
      "BAD_ARGUMENT",
      "dense:4",
    );
  });

  it.each([
    [[1, 28, 28], 3],
    [[3, 32, 32], 8],
  ])("the conv preset halves and doubles an input of %o twice", (input, latent) => {
    const spec = autoencoderSpec({ input, latent, variational: true, encoder: "conv" });
    const model = new Model(rt, spec, { seed: 1 });
    const shapes = model.layers.map((l) => l.outputShape.join("x"));
    const [c, h, w] = input;
    expect(shapes).toContain(`32x${h / 2}x${w / 2}`);
    expect(shapes).toContain(`64x${h / 4}x${w / 4}`);
    expect(shapes[shapes.length - 1]).toBe(`${c}x${h}x${w}`);
    expect(model.latentSize).toBe(latent);
    const x = pixels(2, c * h * w, 1);
    expect(model.encode(x)).toHaveLength(2 * latent);
    expect(model.reconstruct(x)).toHaveLength(2 * c * h * w);
    model.dispose();
    expectError(() => autoencoderSpec({ input: [1, 30, 30], latent: 2, encoder: "conv" }), "BAD_SHAPE", "divide by 4");
  });
});

describe("a VAE model", () => {
  const spec = () =>
    autoencoderSpec({
      input: [1, 4, 4],
      latent: 2,
      variational: true,
      encoder: "dense:8,sigmoid",
      decoder: "dense:8,sigmoid",
    });

  it("encodes to the means: the first half of the layer before the sampling layer", () => {
    const model = new Model(rt, spec(), { seed: 2 });
    const x = pixels(3, 16, 4);
    const codes = model.encode(x);
    // The same three layers by hand: dense, sigmoid, dense -> [mean, log-variance] a sample.
    model.allocate(3, false);
    rt.f32(model.inputPtr, 48).set(x);
    let out = model.inputPtr;
    for (const layer of model.layers.slice(0, 3)) out = layer.forward(out, 3, false);
    const both = rt.f32(out, 12);
    expect(Array.from(codes)).toEqual([0, 1, 4, 5, 8, 9].map((i) => both[i]));
    model.dispose();
  });

  it("back-propagates reconstruction + KL (noise frozen) like central differences", () => {
    const model = new Model(rt, spec(), { seed: 5 });
    const sampling = model.layers[3] as Sampling;
    const batch = 3;
    model.allocate(batch);
    rt.f32(model.inputPtr, batch * 16).set(pixels(batch, 16, 9));
    const out = model.forward(model.inputPtr, batch, true);
    const first = model.batchLoss(out, model.targetPtr, batch, true);
    expect(first.kl).toBeGreaterThan(0);
    model.backward(batch);
    const grads = model.params.map((p) => p.grad.read());
    sampling.freezeNoise = true;
    const meanLoss = (): number => {
      const y = model.forward(model.inputPtr, batch, true);
      const { head, kl } = model.batchLoss(y, model.targetPtr, batch, false);
      return (head + kl) / batch;
    };
    expect(meanLoss() * batch).toBeCloseTo(first.head + first.kl, 3); // the frozen draw
    model.params.forEach((p, i) =>
      expectGradient(
        grads[i],
        numericalGrad(() => p.value.view(), meanLoss),
        p.name,
      ),
    );
    model.dispose();
  });
});

describe("training a VAE on MNIST digits", () => {
  let train: Dataset;
  let test: Dataset;
  beforeAll(() => {
    train = takeFirst(loadMnist("train"), 4000);
    test = takeFirst(loadMnist("test"), 500);
  });

  it("reports reconstruction, KL and the ELBO, and its ELBO rises", async () => {
    const model = new Model(
      rt,
      autoencoderSpec({
        input: [1, 28, 28],
        latent: 2,
        variational: true,
        encoder: "dense:128,relu",
        decoder: "dense:128,relu",
      }),
      { seed: 1 },
    );
    const before = evaluateReconstruction(model, test);
    expect(evaluateReconstruction(model, test)).toEqual(before); // the evaluation's noise is seeded
    expect(before.elbo).toBeCloseTo(-before.loss, 10);
    const optimizer = new Optimizer(rt, { name: "adam", lr: 1e-3 });
    const { history } = await fit(model, train, { epochs: 2, batchSize: 50, optimizer, seed: 1, test });
    const last = history[1];
    expect(last.kl).toBeGreaterThan(0);
    expect(last.reconstruction! + last.kl!).toBeCloseTo(last.loss, 6);
    expect(last.testReconstruction! + last.testKl!).toBeCloseTo(last.testLoss!, 6);
    expect(last.testElbo).toBeCloseTo(-last.testLoss!, 10);
    expect(last.testElbo!).toBeGreaterThan(before.elbo! + 200); // from about -545 to about -200 nats
    optimizer.dispose();
    model.dispose();
  });

  it("resumed inside an epoch, gives the weights and the record of the run that never stopped", async () => {
    const build = () =>
      new Model(
        rt,
        autoencoderSpec({
          input: [1, 28, 28],
          latent: 2,
          variational: true,
          encoder: "dense:32,relu",
          decoder: "dense:32,relu",
        }),
        { seed: 3 },
      );
    const settings = {
      optimizer: { name: "adam" as const, lr: 1e-3 },
      schedule: "constant" as const,
      epochs: 1,
      batchSize: 100,
      seed: 1,
    };
    const data = takeFirst(train, 1000);
    const whole = TrainingSession.start(build(), settings);
    const [expected] = (await whole.run(data)).history;
    // Stopped after a few batches, saved, read back and continued.
    const part = TrainingSession.start(build(), settings);
    const controller = new AbortController();
    // fit() looks at the signal when it yields to the event loop: make every batch slow enough.
    const stopped = await part.run(data, {
      signal: controller.signal,
      onBatchEnd: (b) => {
        if (b.batch === 4) controller.abort();
        const until = performance.now() + 60;
        while (performance.now() < until);
      },
    });
    expect(stopped.stopped).toBe(true);
    expect(part.position.batch).toBe(4);
    expect(part.position.klSum).toBeGreaterThan(0);
    const resumed = TrainingSession.fromFile(rt, part.save()).session;
    const [record] = (await resumed.run(data)).history;
    expect(record.loss).toBeCloseTo(expected.loss, 4);
    expect(record.kl).toBeCloseTo(expected.kl!, 4);
    expect(resumed.model.params.map((p) => Array.from(p.value.read()))).toEqual(
      whole.model.params.map((p) => Array.from(p.value.read())),
    );
    for (const s of [whole, part, resumed]) s.dispose({ model: true });
  });
});
