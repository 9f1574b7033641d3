// Training on real MNIST data (a subset, so CI stays quick) against accuracy thresholds.
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  evaluate,
  fit,
  imageCost,
  loadMnist,
  MAX_ABS_VALUE,
  mlpSpec,
  MnistWasmError,
  Model,
  Optimizer,
  OPTIMIZERS,
  Runtime,
  SGD,
  takeFirst,
  TRAINING_BATCH_BYTES,
  type Dataset,
  type ModelSpec,
} from "../sdk/node";
import { chanceLoss } from "../sdk/divergence";
import { expectError } from "./support/errors";

let rt: Runtime;
let train: Dataset;
let test: Dataset;
beforeAll(async () => {
  rt = await Runtime.create();
  train = takeFirst(loadMnist("train"), 10000);
  test = takeFirst(loadMnist("test"), 2000);
});

const hashWeights = (model: Model): string => {
  const h = createHash("sha256");
  for (const p of model.params) h.update(p.value.view());
  return h.digest("hex");
};

describe("fit", () => {
  it("a sigmoid MLP learns MNIST: loss falls every epoch, test accuracy above 85% after 3 epochs on 10k images", async () => {
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10 }), { seed: 1 });
    const before = evaluate(model, test).accuracy;
    const batchEnds: number[] = [];
    const { history } = await fit(model, train, {
      epochs: 3,
      batchSize: 100,
      optimizer: new SGD(rt, 0.5),
      seed: 1,
      test,
      onBatchEnd: (b) => batchEnds.push(b.batch),
    });
    expect(before).toBeLessThan(0.2);
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(history[1].loss).toBeLessThan(history[0].loss);
    expect(history[2].loss).toBeLessThan(history[1].loss);
    expect(history[2].testAccuracy!).toBeGreaterThan(0.85);
    expect(batchEnds.length).toBe(300);
    model.dispose();
  });

  it("a ReLU MLP learns too, and evaluation agrees with predict()", async () => {
    const model = new Model(
      rt,
      mlpSpec({ input: [1, 28, 28], hidden: [64], classes: 10, activation: "relu", init: "he" }),
      { seed: 2 },
    );
    await fit(model, train, { epochs: 2, batchSize: 50, optimizer: new SGD(rt, 0.1), seed: 2 });
    const result = evaluate(model, test);
    expect(result.accuracy).toBeGreaterThan(0.85);
    const probs = model.predict(test.images.subarray(0, 784 * 20));
    for (let i = 0; i < 20; i++) {
      const row = probs.subarray(i * 10, i * 10 + 10);
      expect(row.indexOf(Math.max(...row))).toBe(result.predictions[i]);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    model.dispose();
  });

  it("is deterministic: the same seed gives bit-identical weights, another seed does not", async () => {
    const small = takeFirst(train, 2000);
    const runOnce = async (seed: number): Promise<string> => {
      const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10 }), { seed });
      await fit(model, small, { epochs: 1, batchSize: 100, optimizer: new SGD(rt, 0.1), seed });
      const hash = hashWeights(model);
      model.dispose();
      return hash;
    };
    const a = await runOnce(7);
    expect(await runOnce(7)).toBe(a);
    expect(await runOnce(8)).not.toBe(a);
  });

  it("does not leak: wasm memory in use is the same after many epochs as after one", async () => {
    const small = takeFirst(train, 1000);
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10 }), { seed: 1 });
    await fit(model, small, { epochs: 1, batchSize: 100, optimizer: new SGD(rt, 0.1), test });
    const used = rt.usedBytes;
    const pages = rt.memory.buffer.byteLength;
    await fit(model, small, { epochs: 5, batchSize: 100, optimizer: new SGD(rt, 0.1), test });
    expect(rt.usedBytes).toBe(used);
    expect(rt.memory.buffer.byteLength).toBe(pages);
    model.dispose();
  });

  it("stops when the loss diverges, with a clear error", async () => {
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10, activation: "relu" }), {
      seed: 1,
    });
    await expect(
      fit(model, takeFirst(train, 2000), { epochs: 3, batchSize: 100, optimizer: new SGD(rt, 1e30) }),
    ).rejects.toThrow(/diverged/);
    model.dispose();
  });

  it("stops with DIVERGED when the loss stays finite but grows far beyond where it started, whatever the update rule", async () => {
    for (const name of OPTIMIZERS) {
      for (const lr of [1e30, 1e15]) {
        if (name === "adadelta" && lr !== 1e30) continue; // AdaDelta has no learning rate to speak of
        const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10, activation: "relu" }), {
          seed: 1,
        });
        const epochs: number[] = [];
        const run = fit(model, takeFirst(train, 1000), {
          epochs: 3,
          batchSize: 100,
          optimizer: new Optimizer(rt, { name, lr }),
          onEpochEnd: (r) => void epochs.push(r.epoch),
        });
        const error = await run.then(
          () => undefined,
          (e: unknown) => e,
        );
        if (name === "adadelta" && error === undefined) {
          // AdaDelta's steps are bounded by its own averages: it may not diverge at all, and then its weights must be plausible.
          for (const p of model.params) expect(p.value.view().every((v) => Math.abs(v) <= MAX_ABS_VALUE)).toBe(true);
        } else {
          expect(error, `${name} lr ${lr}`).toBeInstanceOf(MnistWasmError);
          expect((error as MnistWasmError).code).toBe("DIVERGED");
          expect((error as Error).message).toMatch(
            /^training diverged in epoch 1(, batch \d+)?: .*try a smaller learning rate$/,
          );
          // A diverged epoch is never reported as done.
          expect(epochs).toEqual([]);
        }
        model.dispose();
      }
    }
  });

  it("stops with DIVERGED when MSE's bounded loss collapses far below chance, whatever the update rule, before an epoch is reported", async () => {
    // The MSE of probabilities stays within 1 however large the weights grow: the loss never grows
    // 100-fold; the run is judged by its mean loss against a guess of chance, or by its weights.
    expect(chanceLoss("mse", 10)).toBeCloseTo(0.45, 12);
    expect(chanceLoss("cross-entropy", 10)).toBeCloseTo(Math.log(10), 12);
    for (const name of OPTIMIZERS) {
      for (const lr of [1e20, 1e10, 1e5]) {
        if (name === "adadelta" && lr !== 1e20) continue;
        for (const images of [300, 3000]) {
          const model = new Model(
            rt,
            { ...mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10, activation: "relu" }), loss: "mse" },
            { seed: 1 },
          );
          let worst = 0;
          const epochs: number[] = [];
          const run = fit(model, takeFirst(train, images), {
            epochs: 2,
            batchSize: 100,
            optimizer: new Optimizer(rt, { name, lr }),
            onBatchEnd: ({ loss }) => void (worst = Math.max(worst, loss)),
            onEpochEnd: (r) => void epochs.push(r.epoch),
          });
          const error = await run.then(
            () => undefined,
            (e: unknown) => e,
          );
          if (name === "adadelta" && error === undefined) {
            for (const p of model.params) expect(p.value.view().every((v) => Math.abs(v) <= MAX_ABS_VALUE)).toBe(true);
          } else {
            expect(error, `${name} lr ${lr}`).toBeInstanceOf(MnistWasmError);
            expect((error as MnistWasmError).code).toBe("DIVERGED");
            expect((error as Error).message).toMatch(
              /^training diverged in epoch 1(, batch \d+)?: .*try a smaller learning rate$/,
            );
            // At 1e5 the weights stay plausible (hundreds): the mean loss is what shows the collapse.
            if (lr === 1e5)
              expect((error as Error).message).toMatch(
                /: the mean loss over \d+ images is [\d.]+, far worse than a guess of chance \(0\.4500\);/,
              );
            expect(epochs).toEqual([]);
            expect(worst).toBeLessThanOrEqual(1);
          }
          model.dispose();
        }
      }
    }
  });

  it("a run that learns slowly or not at all, near chance, batch by batch, is not taken for a diverging one (MSE and cross-entropy)", async () => {
    for (const loss of ["mse", "cross-entropy"] as const) {
      for (const lr of [1e-6, 0.5]) {
        const model = new Model(
          rt,
          { ...mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10 }), loss },
          { seed: 1 },
        );
        const { history } = await fit(model, takeFirst(train, 3000), {
          epochs: 2,
          batchSize: 10,
          optimizer: new SGD(rt, lr),
          seed: 1,
        });
        expect(history).toHaveLength(2);
        model.dispose();
      }
    }
  });

  it("a good run is not taken for a diverging one: a model resumed near zero loss trains on", async () => {
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [64], classes: 10, activation: "relu" }), {
      seed: 1,
    });
    const small = takeFirst(train, 500);
    await fit(model, small, { epochs: 30, batchSize: 50, optimizer: new SGD(rt, 0.3), seed: 1 });
    // Its first loss is now near 0: a rate that makes the loss jump by far more than 100x must not stop it below the floor.
    const losses: number[] = [];
    const { history } = await fit(model, small, {
      epochs: 2,
      batchSize: 50,
      optimizer: new SGD(rt, 2),
      seed: 2,
      onBatchEnd: ({ loss }) => void losses.push(loss),
    });
    expect(history).toHaveLength(2);
    expect(Math.max(...losses)).toBeGreaterThan(100 * losses[0]);
    model.dispose();
  });

  it("stops after the current batch when aborted", async () => {
    const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [30], classes: 10 }), { seed: 1 });
    const controller = new AbortController();
    let batches = 0;
    const { history, stopped } = await fit(model, train, {
      epochs: 5,
      batchSize: 10,
      optimizer: new SGD(rt, 0.1),
      signal: controller.signal,
      onBatchEnd: () => {
        if (++batches === 5) controller.abort();
      },
    });
    expect(stopped).toBe(true);
    expect(history).toHaveLength(0);
    expect(batches).toBe(5);
    model.dispose();
  });
});

describe("one fit() at a time", () => {
  it("a second fit() on a model while one runs is BAD_STATE; the first ends as if alone; a finished or failed run releases the model", async () => {
    const small = takeFirst(train, 500);
    const spec = mlpSpec({ input: [1, 28, 28], hidden: [20], classes: 10 });
    const options = () => ({ epochs: 2, batchSize: 50, optimizer: new SGD(rt, 0.1), seed: 4 });
    const alone = new Model(rt, spec, { seed: 4 });
    await fit(alone, small, options());
    const model = new Model(rt, spec, { seed: 4 });
    const first = fit(model, small, options());
    // Another model may train meanwhile.
    const other = new Model(rt, spec, { seed: 5 });
    const otherRun = fit(other, small, options());
    await expect(fit(model, small, options())).rejects.toMatchObject({
      code: "BAD_STATE",
      message: expect.stringMatching(/already training/),
    });
    await Promise.all([first, otherRun]);
    expect(hashWeights(model)).toBe(hashWeights(alone));
    const failing = fit(model, small, {
      ...options(),
      onBatchEnd: () => {
        throw new Error("a callback failed");
      },
    });
    await expect(failing).rejects.toThrow(/a callback failed/);
    await fit(model, small, { ...options(), epochs: 1 });
    for (const m of [alone, model, other]) m.dispose();
  });
});

describe("resuming", () => {
  it("a run resumed at epoch 2 ends with the weights of an uninterrupted 2-epoch run", async () => {
    const small = takeFirst(train, 1000);
    const spec = mlpSpec({ input: [1, 28, 28], hidden: [20], classes: 10 });
    const options = { batchSize: 50, seed: 3, augment: { flip: false, shift: 1 } };
    const straight = new Model(rt, spec, { seed: 3 });
    await fit(straight, small, { ...options, epochs: 2, optimizer: new SGD(rt, 0.1) });
    const resumed = new Model(rt, spec, { seed: 3 });
    await fit(resumed, small, { ...options, epochs: 1, optimizer: new SGD(rt, 0.1) });
    await fit(resumed, small, { ...options, epochs: 1, optimizer: new SGD(rt, 0.1), firstEpoch: 2 });
    expect(hashWeights(resumed)).toBe(hashWeights(straight));
    straight.dispose();
    resumed.dispose();
  });
});

describe("memory limits", () => {
  it("a training batch whose activations exceed the budget is refused before anything is allocated, saying which batch fits", async () => {
    // 2048 filters on 28 x 28, pooled to one value each: a small model whose activations are 12 MiB an image.
    const wide = {
      input: [1, 28, 28],
      layers: [
        { type: "conv2d", filters: 2048, size: 3, padding: 1 },
        { type: "maxpool", size: 28 },
        { type: "flatten" },
        { type: "dense", units: 10 },
      ],
    } as ModelSpec;
    const model = new Model(rt, wide);
    const fits = Math.floor(TRAINING_BATCH_BYTES / imageCost(wide).training);
    expect(fits).toBeGreaterThan(1);
    expect(fits).toBeLessThan(100);
    const used = rt.usedBytes;
    for (const batchSize of [fits + 1, 100, 10_000]) {
      await expect(
        fit(model, takeFirst(train, 200), { epochs: 1, batchSize, optimizer: new SGD(rt, 0.1) }),
      ).rejects.toThrow(
        new RegExp(`a training batch of ${Math.min(batchSize, 200)} images needs .* use a batch of at most ${fits}$`),
      );
      expect(rt.usedBytes).toBe(used);
    }
    // At the limit it trains (one batch of two images is enough to show it).
    const { history } = await fit(model, takeFirst(train, 2), {
      epochs: 1,
      batchSize: Math.min(fits, 2),
      optimizer: new SGD(rt, 0.01),
    });
    expect(history).toHaveLength(1);
    model.dispose();
  });

  it("a batch larger than wasm memory can hold is a clear OUT_OF_MEMORY error, and the runtime stays usable", async () => {
    const fresh = await Runtime.create();
    const model = new Model(fresh, mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10 }), { seed: 1 });
    model.allocate(100); // a working size first: the failed attempt below must not leave it broken
    expectError(() => model.allocate(2_000_000), "OUT_OF_MEMORY", /wasm memory cannot grow by [\d.]+ MiB/);
    // A normal batch still works afterwards, and learns.
    const { history } = await fit(model, takeFirst(train, 2000), {
      epochs: 2,
      batchSize: 100,
      optimizer: new SGD(fresh, 0.5),
      test,
    });
    expect(history[1].testAccuracy!).toBeGreaterThan(0.7);
    model.dispose();
  });
});
