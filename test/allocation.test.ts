// Inference allocates only what forward passes need (Model.allocate(batch, false), which predict,
// evaluate and classify use); a training pass makes the rest of its room when it first needs it.
import { afterAll, describe, expect, it } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../sdk/node";
import { gradientsOf } from "./support/model";

// Every layer type that keeps something for the backward pass: input gradients, a max-pool's
// arg-max, batch norm's normalised input, a dropout mask, the loss gradient.
const SPEC: ModelSpec = {
  input: [1, 12, 12],
  layers: [
    { type: "conv2d", filters: 8, size: 3 }, { type: "relu" }, { type: "maxpool", size: 2 }, { type: "batchnorm" },
    { type: "conv2d", filters: 6, size: 3, padding: 1 }, { type: "sigmoid" }, { type: "avgpool", size: 2 }, { type: "flatten" },
    { type: "dropout", rate: 0.3 }, { type: "dense", units: 16 }, { type: "relu" }, { type: "dense", units: 4 },
  ],
};
const PREDICT = 200;
const TRAIN = 50;

const runtimes: Runtime[] = [];
afterAll(() => runtimes.forEach((rt) => rt.dispose()));

async function freshModel(): Promise<Model> {
  const rt = await Runtime.create();
  runtimes.push(rt);
  return new Model(rt, SPEC, { seed: 5 });
}

describe("inference-only allocation", () => {
  const rng = new Random(3);
  const pixels = Float32Array.from({ length: PREDICT * 144 }, () => rng.uniform());
  const labels = Uint8Array.from({ length: TRAIN }, () => rng.int(4));

  it("predict() allocates much less than training room for the same batch, and predicts the same", async () => {
    const inferring = await freshModel();
    const before = inferring.rt.usedBytes;
    const predicted = inferring.predict(pixels, PREDICT);
    const inferenceBytes = inferring.rt.usedBytes - before;

    const training = await freshModel();
    training.allocate(PREDICT);
    const trainingBytes = training.rt.usedBytes - before;
    expect(training.predict(pixels, PREDICT)).toEqual(predicted);
    // This net's outputs add up to about as much as what training adds on top of them.
    expect(inferenceBytes).toBeLessThan(0.6 * trainingBytes);
  });

  it("a training pass after predict() makes its room and computes the same gradients as a model allocated for training", async () => {
    const reference = await freshModel();
    const expected = gradientsOf(reference, pixels.subarray(0, TRAIN * 144), labels);

    // One training step by hand, on a model that so far has room for inference only: forward()
    // and backward() must allocate what they need (the batch is smaller than predict()'s).
    const model = await freshModel();
    model.predict(pixels, PREDICT);
    const { rt } = model;
    rt.f32(model.inputPtr, TRAIN * 144).set(pixels.subarray(0, TRAIN * 144));
    rt.u8(model.labelPtr, TRAIN).set(labels);
    const logits = model.forward(model.inputPtr, TRAIN, true);
    model.loss.forward(logits, model.labelPtr, TRAIN, true);
    model.backward(TRAIN);
    model.params.forEach((p, i) => expect(p.grad.view(), p.name).toEqual(expected[i]));
    expect(expected.every((g) => g.some((v) => v !== 0)), "every gradient is exercised").toBe(true);
  });
});
