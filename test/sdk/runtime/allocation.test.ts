// Inference allocates only what forward passes need (Model.allocate(batch, false), which predict,
// evaluate and classify use); a training pass makes the rest of its room when it first needs it.
// The allocator frees only blocks it handed out and has not taken back.
import { afterAll, describe, expect, it } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../../../sdk/node";
import { Allocator } from "../../../sdk/runtime/allocator";
import { expectError } from "../../support/errors";
import { gradientsOf } from "../../support/model";

// Every layer type that keeps something for the backward pass: input gradients, a max-pool's
// arg-max, batch norm's normalised input, a dropout mask, the loss gradient.
const SPEC: ModelSpec = {
  input: [1, 12, 12],
  layers: [
    { type: "conv2d", filters: 8, size: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    { type: "batchnorm" },
    { type: "conv2d", filters: 6, size: 3, padding: 1 },
    { type: "sigmoid" },
    { type: "avgpool", size: 2 },
    { type: "flatten" },
    { type: "dropout", rate: 0.3 },
    { type: "dense", units: 16 },
    { type: "relu" },
    { type: "dense", units: 4 },
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
    expect(
      expected.every((g) => g.some((v) => v !== 0)),
      "every gradient is exercised",
    ).toBe(true);
  });
});

describe("the allocator refuses a free that is not of a live block", () => {
  it("double frees, interior and never-allocated addresses are BAD_STATE and change nothing; live blocks never overlap", () => {
    const rng = new Random(11);
    let end = 1 << 16;
    const allocator = new Allocator(1000, end, (bytes) => (end += Math.ceil(bytes / 65536) * 65536));
    const live = new Map<number, number>(); // address -> bytes asked
    const freed: number[] = [];
    for (let step = 0; step < 1500; step++) {
      const op = rng.int(5);
      if (op <= 1 || live.size === 0) {
        const bytes = rng.int(5000);
        const ptr = allocator.alloc(bytes);
        for (const [other, size] of live) {
          expect(ptr + bytes <= other || other + size <= ptr, `block at ${ptr} overlaps the one at ${other}`).toBe(
            true,
          );
        }
        live.set(ptr, bytes);
        continue;
      }
      if (op === 2) {
        const ptr = [...live.keys()][rng.int(live.size)];
        allocator.free(ptr);
        live.delete(ptr);
        freed.push(ptr);
        continue;
      }
      // A free that must be refused: an address freed before (and not handed out again), inside
      // a live block, or never handed out at all.
      const candidates = [
        ...freed.filter((p) => !live.has(p)).slice(-3),
        ...[...live].filter(([, size]) => size > 64).map(([p]) => p + 64),
        end + 64,
        -64,
        0.5,
      ];
      const bad = candidates[rng.int(candidates.length)];
      const used = allocator.usedBytes;
      expectError(() => allocator.free(bad), "BAD_STATE", /not allocated/);
      expect(allocator.usedBytes).toBe(used);
    }
  });
});
