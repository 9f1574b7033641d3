// sdk/schedule.ts (the learning rate at each step) and how fit() applies it: the warm-up's ramp,
// the cosine after it, and label smoothing's targets in a real run.
import { beforeAll, describe, expect, it } from "vitest";
import {
  fit,
  learningRateAt,
  loadMnist,
  mlpSpec,
  Model,
  Optimizer,
  Runtime,
  takeFirst,
  type Dataset,
} from "../../sdk/node";

/** Awaits a promise that must reject with a typed error of `code` whose message matches `pattern`. */
async function expectRejected(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code, message: expect.stringMatching(pattern) });
}

describe("learningRateAt", () => {
  it("ramps linearly over the warm-up, then holds (constant) or falls along half a cosine to 0", () => {
    const rates = (schedule: "constant" | "cosine", warmup: number): number[] =>
      Array.from({ length: 10 }, (_, step) => learningRateAt(0.1, schedule, step, 10, warmup));
    const near = (got: number[], want: number[]): void => got.forEach((r, i) => expect(r).toBeCloseTo(want[i], 15));
    near(rates("constant", 4).slice(0, 5), [0.025, 0.05, 0.075, 0.1, 0.1]);
    expect(rates("constant", 4).slice(4)).toEqual(new Array(6).fill(0.1));
    const cosine = rates("cosine", 4);
    near(cosine.slice(0, 4), [0.025, 0.05, 0.075, 0.1]);
    // After the warm-up: step 4 + k of 6 remaining steps is at 0.05·(1 + cos(πk/6)).
    for (let k = 0; k < 6; k++) expect(cosine[4 + k]).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * k) / 6)), 15);
    expect(cosine.every((r, i) => i < 4 || i === 4 || r < cosine[i - 1])).toBe(true);
  });

  it("without a warm-up is the plain cosine, to the bit", () => {
    for (let step = 0; step < 37; step++) {
      expect(learningRateAt(0.05, "cosine", step, 37)).toBe(0.05 * 0.5 * (1 + Math.cos((Math.PI * step) / 37)));
      expect(learningRateAt(0.05, "constant", step, 37)).toBe(0.05);
    }
  });

  it("a warm-up as long as the run ends at the full rate", () => {
    expect(learningRateAt(1, "cosine", 4, 5, 5)).toBe(1);
    expect(learningRateAt(1, "cosine", 0, 5, 5)).toBe(0.2);
  });
});

describe("fit with a warm-up and label smoothing", () => {
  let rt: Runtime;
  let small: Dataset;
  beforeAll(async () => {
    rt = await Runtime.create({ threads: 1 });
    small = takeFirst(loadMnist("train"), 1000);
  });

  it("sets each batch's rate by the schedule: warm-up epochs count in the data's batches", async () => {
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [16], classes: 10 }), { seed: 1 });
    const optimizer = new Optimizer(rt, { name: "momentum", lr: 0.08 });
    const seen: number[] = [];
    await fit(model, small, {
      epochs: 2,
      batchSize: 100,
      optimizer,
      schedule: "cosine",
      warmup: 0.5,
      onBatchEnd: () => seen.push(optimizer.learningRate),
    });
    // 10 batches an epoch: a warm-up of half an epoch is 5 steps, then a cosine over 15.
    expect(seen).toHaveLength(20);
    for (let step = 0; step < 20; step++) expect(seen[step]).toBe(learningRateAt(0.08, "cosine", step, 20, 5));
    expect(seen.slice(0, 5).map((r) => r / 0.08)).toEqual([1, 2, 3, 4, 5].map((i) => (0.08 * i) / 5 / 0.08));
    expect(optimizer.learningRate).toBe(0.08); // restored after the run
    model.dispose();
    optimizer.dispose();
  });

  it("label smoothing trains against the softened targets: the same run without it ends elsewhere, and confident logits cost more", async () => {
    const spec = mlpSpec({ input: [1, 28, 28], hidden: [32], classes: 10, activation: "relu" });
    const runs = [];
    for (const labelSmoothing of [0, 0.2]) {
      runs.push(
        await (async () => {
          const model = new Model(rt, spec, { seed: 2 });
          const optimizer = new Optimizer(rt, { name: "sgd", lr: 0.5 });
          const { history } = await fit(model, small, { epochs: 3, batchSize: 50, optimizer, labelSmoothing, seed: 1 });
          // The largest probability the model gives any training image: smoothing caps how sure it gets.
          const probs = model.predict(small.images, small.count);
          let top = 0;
          for (let i = 0; i < small.count; i++) top = Math.max(top, ...probs.subarray(i * 10, i * 10 + 10));
          model.dispose();
          optimizer.dispose();
          return { loss: history[2].loss, accuracy: history[2].trainAccuracy!, top };
        })(),
      );
    }
    const [plain, smoothed] = runs;
    expect(plain.accuracy).toBeGreaterThan(0.8);
    expect(smoothed.accuracy).toBeGreaterThan(0.8);
    // The smoothed loss has a floor of the targets' entropy (ε = 0.2 over 10 classes: 0.867 nats).
    expect(smoothed.loss).toBeGreaterThan(0.867);
    expect(plain.loss).toBeLessThan(smoothed.loss);
    expect(plain.top).toBeGreaterThan(0.999);
    expect(smoothed.top).toBeLessThan(0.99);
  });

  it("refuses a smoothing out of [0, 1), a warm-up that is not a number of epochs, and smoothing an MSE loss", async () => {
    const spec = mlpSpec({ input: [1, 28, 28], hidden: [8], classes: 10 });
    const model = new Model(rt, spec);
    const mse = new Model(rt, { ...spec, loss: "mse" });
    const optimizer = new Optimizer(rt, { name: "sgd" });
    const base = { epochs: 1, batchSize: 10, optimizer };
    for (const labelSmoothing of [-0.1, 1, Number.NaN, "0.1"]) {
      await expectRejected(fit(model, small, { ...base, labelSmoothing } as never), "BAD_ARGUMENT", /labelSmoothing/);
    }
    for (const warmup of [-1, Number.POSITIVE_INFINITY, Number.NaN, "1", 2e6]) {
      await expectRejected(fit(model, small, { ...base, warmup } as never), "BAD_ARGUMENT", /warmup/);
    }
    await expectRejected(fit(mse, small, { ...base, labelSmoothing: 0.1 }), "BAD_ARGUMENT", /cross-entropy/);
    // Nothing trained: both models as they were made.
    const fresh = new Model(rt, spec);
    expect(model.predict(small.images.subarray(0, 784), 1)).toEqual(fresh.predict(small.images.subarray(0, 784), 1));
    for (const m of [model, mse, fresh]) m.dispose();
    optimizer.dispose();
  });

  it("smoothing of 0 gives the plain run bit for bit", async () => {
    const spec = mlpSpec({ input: [1, 28, 28], hidden: [8], classes: 10 });
    const weights = [];
    for (const labelSmoothing of [undefined, 0]) {
      weights.push(
        await (async () => {
          const model = new Model(rt, spec, { seed: 4 });
          const optimizer = new Optimizer(rt, { name: "sgd", lr: 0.3 });
          await fit(model, small, {
            epochs: 1,
            batchSize: 100,
            optimizer,
            ...(labelSmoothing === undefined ? {} : { labelSmoothing }),
          });
          const w = model.params.map((p) => Array.from(p.value.view()));
          model.dispose();
          optimizer.dispose();
          return w;
        })(),
      );
    }
    expect(weights[1]).toEqual(weights[0]);
  });
});
