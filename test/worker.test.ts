// The model worker's protocol, in Node: the page side (ModelWorker) talks to the worker side
// (startModelWorker / handleMessage) over a MessageChannel, which clones and transfers as a
// Worker's postMessage does. The browser run of the same code is in test/browser/browser-train.test.ts.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  autoencoderSpec,
  createWorkerState,
  evaluateReconstruction,
  deserializeModel,
  fit,
  handleMessage,
  loadMnist,
  mlpSpec,
  Model,
  ModelWorker,
  MnistWasmError,
  Optimizer,
  Runtime,
  serializeModel,
  startModelWorker,
  takeFirst,
  type Dataset,
  type TrainProgress,
  type WorkerLike,
  type WorkerResponse,
} from "../sdk/node";
import { decodeSafetensors } from "../sdk/io/safetensors";

let train: Dataset;
let test: Dataset;
const SPEC = mlpSpec({ input: [1, 28, 28], hidden: [32], classes: 10 });

beforeAll(() => {
  train = takeFirst(loadMnist("train"), 3000);
  test = takeFirst(loadMnist("test"), 1000);
});

/**
 * A copy whose buffers can be transferred without detaching the shared fixtures (which are Node
 * Buffers, whose slice() is a view: hence new Uint8Array).
 */
const copyOf = (d: Dataset): Dataset => ({ ...d, images: new Uint8Array(d.images), labels: new Uint8Array(d.labels) });

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

/** A ModelWorker whose "worker" is the other end of a MessageChannel in this thread. */
async function connect(): Promise<ModelWorker> {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  startModelWorker(port2);
  port2.start();
  port1.start();
  const page: WorkerLike = {
    postMessage: (m, t) => port1.postMessage(m, t),
    addEventListener: (type, listener) => port1.addEventListener(type, listener),
    terminate: () => port1.close(),
  };
  return ModelWorker.create(page);
}

/** Expects `promise` to reject with an MnistWasmError of `code` whose message matches `pattern`. */
async function rejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected a rejection").toBeInstanceOf(MnistWasmError);
  expect((e as MnistWasmError).code).toBe(code);
  expect((e as MnistWasmError).message).toMatch(pattern);
}

describe("handleMessage", () => {
  const call = async (message: unknown, state = createWorkerState()): Promise<WorkerResponse[]> => {
    const out: WorkerResponse[] = [];
    await handleMessage(state, message, (m) => out.push(m));
    return out;
  };

  it("answers what is not a request with an error, under id -1 when it has no id", async () => {
    expect(await call("hello")).toEqual([
      {
        type: "error",
        id: -1,
        error: { code: "BAD_ARGUMENT", message: expect.stringMatching(/not a request: "hello"/) },
      },
    ]);
    expect(await call({ type: "fly", id: 3 })).toEqual([
      { type: "error", id: 3, error: expect.objectContaining({ code: "BAD_ARGUMENT" }) },
    ]);
  });

  it("refuses requests that need a model before there is one, and names the data sets it knows", async () => {
    const state = createWorkerState();
    expect((await call({ type: "predict", id: 1, images: new Uint8Array(784) }, state))[0]).toMatchObject({
      type: "error",
      id: 1,
      error: { code: "BAD_STATE", message: expect.stringMatching(/no model yet; load\(\) .* or build\(\)/) },
    });
    await call({ type: "build", id: 2, spec: SPEC, seed: 1 }, state);
    await call({ type: "setData", id: 3, name: "train", data: copyOf(train) }, state);
    expect((await call({ type: "evaluate", id: 4, data: "tset" }, state))[0]).toMatchObject({
      error: {
        code: "BAD_ARGUMENT",
        message: 'evaluate: no data set named "tset" (setData() names them; known: "train")',
      },
    });
    state.model!.dispose();
  });

  it("checks a posted data set before wasm reads it", async () => {
    const bad = { ...copyOf(test), labels: test.labels.map((l, i) => (i === 7 ? 10 : l)) };
    expect((await call({ type: "setData", id: 1, name: "t", data: bad }))[0]).toMatchObject({
      error: { code: "BAD_ARGUMENT", message: 'setData "t": label 10 of sample 7 is out of range for 10 classes' },
    });
    const short = { ...copyOf(test), images: new Uint8Array(784 * 999) };
    expect((await call({ type: "setData", id: 2, name: "t", data: short }))[0]).toMatchObject({
      error: {
        code: "BAD_ARGUMENT",
        message: expect.stringMatching(
          /images must be a Uint8Array of 1000 x \[1,28,28\] pixels, got Uint8Array\(783216\)/,
        ),
      },
    });
  });
});

describe("ModelWorker over a MessageChannel", () => {
  it("trains exactly as fit() does in this thread, reports progress, and saves a model file the SDK reads back", async () => {
    const mw = await connect();
    expect(typeof mw.features.relaxedSimd).toBe("boolean");
    expect(await mw.info()).toBeUndefined();
    const built = await mw.build(SPEC, { seed: 1 });
    expect(built).toMatchObject({ paramCount: 784 * 32 + 32 + 32 * 10 + 10, epochs: 0 });

    // Transferred: the page's arrays move to the worker.
    const sent = copyOf(train);
    expect(await mw.setData("train", sent, { transfer: true })).toEqual({ name: "train", count: 3000 });
    expect(sent.images.byteLength).toBe(0);
    await mw.setData("test", test); // copied: still usable here
    expect(test.images.byteLength).toBe(1000 * 784);

    const progress: TrainProgress[] = [];
    const run = mw.train(
      {
        data: "train",
        test: "test",
        epochs: 2,
        batchSize: 100,
        optimizer: { name: "momentum", lr: 0.1 },
        seed: 3,
        schedule: "constant",
        warmup: 0.5,
        progressIntervalMs: 0,
      },
      (p) => progress.push(p),
    );
    const result = await run.done;
    expect(result).toMatchObject({ stopped: false, epochs: 2, images: 6000 });
    const batches = progress.filter((p) => p.kind === "batch");
    expect(batches).toHaveLength(60); // every batch at interval 0
    expect(batches.map((b) => b.fraction)).toEqual(Array.from({ length: 60 }, (_, i) => (i + 1) / 60));
    expect(batches[0]).toMatchObject({ epoch: 1, lastEpoch: 2, batch: 1, batches: 30, images: 100 });
    expect(batches[0].loss).toBeGreaterThan(2); // about ln 10 before any update
    expect(batches[59].loss).toBeLessThan(batches[0].loss / 3);
    expect(batches[59].imagesPerSecond).toBeGreaterThan(0);
    expect(progress.filter((p) => p.kind !== "batch").map((p) => p.kind)).toEqual([
      "evaluating",
      "epoch",
      "evaluating",
      "epoch",
    ]);
    expect(result.history[1].testAccuracy).toBeGreaterThan(0.75);

    // The same run in this thread: same seed, same data, same weights, bit for bit.
    const rt = await Runtime.create();
    const model = new Model(rt, SPEC, { seed: 1 });
    const optimizer = new Optimizer(rt, { name: "momentum", lr: 0.1 });
    const direct = await fit(model, train, {
      epochs: 2,
      batchSize: 100,
      optimizer,
      seed: 3,
      test,
      schedule: "constant",
      warmup: 0.5,
    });
    expect(result.history.map((h) => [h.loss, h.testAccuracy])).toEqual(
      direct.history.map((h) => [h.loss, h.testAccuracy]),
    );

    const bytes = await mw.save();
    const { tensors, metadata } = decodeSafetensors(bytes, "saved");
    const reference = decodeSafetensors(serializeModel(model, {}, optimizer), "reference");
    expect([...tensors.keys()].sort()).toEqual([...reference.tensors.keys()].sort());
    for (const [name, t] of reference.tensors) expect(tensors.get(name)!.data, name).toEqual(t.data);
    expect(metadata).toMatchObject({
      format: "mnist-wasm/1",
      dataset: "mnist",
      epochs: "2",
      testAccuracy: result.history[1].testAccuracy!.toFixed(4),
      trainedWith: "mnist-wasm ModelWorker: momentum lr 0.1, batch 100, 2 epochs on 3000 images",
    });
    expect(JSON.parse(metadata.optimizer)).toMatchObject({ name: "momentum", steps: 60 });

    // Predictions and evaluation agree with the model read back from the file.
    const back = deserializeModel(rt, bytes).model;
    const pixels = test.images.subarray(0, 10 * 784);
    expect(await mw.predict(pixels)).toEqual(back.predict(pixels));
    const evaluation = await mw.evaluate("test", { limit: 500 });
    expect(evaluation.count).toBe(500);
    expect(evaluation.predictions).toHaveLength(500);
    expect(evaluation.confusion.flat().reduce((a, b) => a + b, 0)).toBe(500);
    mw.terminate();
  });

  it("trains an autoencoder as fit() does: no accuracy, the epoch's losses and the codes of the first test images", async () => {
    const spec = autoencoderSpec({ input: [1, 28, 28], latent: 2, encoder: "dense:32,relu", decoder: "dense:32,relu" });
    const mw = await connect();
    await mw.build(spec, { seed: 1 });
    await mw.setData("train", copyOf(takeFirst(train, 1000)), { transfer: true });
    await mw.setData("test", test);
    const progress: TrainProgress[] = [];
    const options = { data: "train", test: "test", epochs: 2, seed: 3, progressIntervalMs: 0 };
    const result = await mw.train({ ...options, codes: 300 }, (p) => progress.push(p)).done;
    const batches = progress.filter((p) => p.kind === "batch");
    expect(batches).toHaveLength(20);
    for (const b of batches) expect(b).not.toHaveProperty("accuracy");
    expect(batches[19].loss).toBeLessThan(batches[0].loss); // summed over 784 pixels: hundreds of nats
    const epochs = progress.filter((p) => p.kind === "epoch");
    expect(epochs.map((p) => p.record.epoch)).toEqual([1, 2]);
    for (const { record, codes } of epochs) {
      expect(record).not.toHaveProperty("trainAccuracy");
      expect(record.reconstruction).toBeGreaterThan(0);
      expect(record.testReconstruction).toBeGreaterThan(0);
      expect(codes).toBeInstanceOf(Float32Array);
      expect(codes).toHaveLength(300 * 2);
    }
    // The codes move as the model learns.
    expect(epochs[1].codes).not.toEqual(epochs[0].codes);

    // The same run in this thread: the same losses, and the last epoch's codes are its encode().
    const rt = await Runtime.create();
    const model = new Model(rt, spec, { seed: 1 });
    const optimizer = new Optimizer(rt, { name: "adam", lr: 0.001 });
    const direct = await fit(model, takeFirst(train, 1000), { epochs: 2, batchSize: 100, optimizer, seed: 3, test });
    expect(result.history.map((h) => [h.loss, h.reconstruction, h.testLoss])).toEqual(
      direct.history.map((h) => [h.loss, h.reconstruction, h.testLoss]),
    );
    expect(epochs[1].codes).toEqual(model.encode(test.images.subarray(0, 300 * 784), 300));

    const measured = await mw.evaluateReconstruction("test", { limit: 400 });
    expect(measured).toEqual({ ...evaluateReconstruction(model, takeFirst(test, 400)), count: 400 });
    await rejects(mw.evaluate("test"), "WRONG_TASK", /evaluate: the model is an autoencoder/);

    // What the codes option refuses: more than a train request sends, codes without a test set.
    await rejects(
      mw.train({ ...options, epochs: 3, codes: 10_001 }).done,
      "BAD_ARGUMENT",
      /codes must be an integer from 1 to 10000, got 10001/,
    );
    await rejects(
      mw.train({ data: "train", epochs: 3, codes: 10 }).done,
      "BAD_ARGUMENT",
      /codes are of test images: give a test set too/,
    );
    // A classifier has no codes, nor a reconstruction.
    await mw.build(SPEC, { seed: 1 });
    await rejects(
      mw.train({ ...options, codes: 10 }).done,
      "BAD_ARGUMENT",
      /codes are an autoencoder's or VAE's; the model is a classifier/,
    );
    await rejects(
      mw.evaluateReconstruction("test"),
      "WRONG_TASK",
      /the model is a classifier; evaluate\(\) measures it/,
    );
    mw.terminate();
  });

  it("stops a run between batches; the model stays usable and a next run continues its epochs and optimizer", async () => {
    const mw = await connect();
    await mw.build(SPEC, { seed: 2 });
    await mw.setData("train", copyOf(train), { transfer: true });
    let reports = 0;
    let stopAsked: Promise<boolean> | undefined;
    const run = mw.train({ data: "train", epochs: 200, optimizer: { name: "adam" }, progressIntervalMs: 0 }, (p) => {
      if (p.kind === "batch" && ++reports === 3) stopAsked = run.stop();
    });
    // While it trains, requests that touch the model are refused, info() is answered.
    await rejects(mw.predict(new Uint8Array(784)), "BAD_STATE", /cannot predict while a run trains; stop\(\) it/);
    const during = await mw.info();
    expect(during?.paramCount).toBe(784 * 32 + 32 + 32 * 10 + 10);
    expect(during?.epochs).toBeLessThan(200);
    const result = await run.done;
    expect(await stopAsked).toBe(true);
    expect(result.stopped).toBe(true);
    expect(result.epochs).toBeLessThan(200);
    expect(await run.stop()).toBe(false); // already over
    const probs = await mw.predict(test.images.subarray(0, 784));
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);

    const again = await mw.train({ data: "train", epochs: 1, optimizer: { name: "adam" } }).done;
    expect(again.history.map((h) => h.epoch)).toEqual([result.epochs + 1]);
    const settings = JSON.parse(decodeSafetensors(await mw.save(), "saved").metadata.optimizer);
    // The stopped epoch is finished where it stopped, with the first run's optimizer state: every
    // batch of every epoch counted once (a fresh optimizer would count only the second run's).
    expect(settings.steps).toBe((result.epochs + 1) * 30);
    mw.terminate();
  });

  it("loads a model file, refuses a damaged one with its code, and reports divergence", async () => {
    const mw = await connect();
    const rt = await Runtime.create();
    const model = new Model(rt, SPEC, { seed: 4 });
    const bytes = serializeModel(model, { dataset: "mnist", epochs: "7" });
    expect(await mw.load(bytes)).toMatchObject({
      epochs: 7,
      facts: { dataset: "mnist", epochs: "7" },
      paramCount: model.paramCount,
    });
    expect(await mw.predict(test.images.subarray(0, 784 * 3))).toEqual(model.predict(test.images.subarray(0, 784 * 3)));
    await rejects(mw.load(bytes.subarray(0, 100), { what: "cut.safetensors" }), "BAD_FILE", /^cut\.safetensors: /);
    await rejects(mw.build({ input: [1, 28, 28], layers: [] }), "BAD_ARGUMENT", /"layers" must be a non-empty list/);
    await rejects(mw.save({ facts: { spec: "{}" } }), "BAD_ARGUMENT", /"spec" is written by the model file itself/);

    await mw.setData("train", copyOf(train), { transfer: true });
    await rejects(
      mw.train({ data: "train", epochs: 1, optimizer: { name: "sgd", lr: 1e38 } }).done,
      "DIVERGED",
      /training diverged/,
    );
    await rejects(mw.predict(new Uint8Array(784)), "BAD_STATE", /diverged/);
    await rejects(
      mw.train({ data: "train", epochs: 1, limit: 0, optimizer: { name: "sgd" } }).done,
      "BAD_STATE",
      /diverged/,
    );
    await mw.build(SPEC);
    await rejects(
      mw.train({ data: "train", epochs: 1, limit: 0, optimizer: { name: "sgd" } }).done,
      "BAD_ARGUMENT",
      /train: limit must be a positive integer, got 0/,
    );
    await rejects(
      mw.train({ data: "train", epochs: 1, optimizer: { name: "nesterov" as "sgd" } }).done,
      "BAD_ARGUMENT",
      /unknown optimizer "nesterov"/,
    );
    await rejects(
      mw.train({ data: "train", epochs: 1, labelSmoothing: 1, optimizer: { name: "sgd" } }).done,
      "BAD_ARGUMENT",
      /label smoothing must be from 0 up to 1, got 1/,
    );
    await rejects(
      mw.train({ data: "train", epochs: 1, warmup: -2, optimizer: { name: "sgd" } }).done,
      "BAD_ARGUMENT",
      /warmup must be a number of epochs/,
    );
    mw.terminate();
  });

  it("rejects what is pending when terminated, and everything after", async () => {
    const mw = await connect();
    await mw.build(SPEC);
    await mw.setData("train", copyOf(train), { transfer: true });
    const run = mw.train({ data: "train", epochs: 3, optimizer: { name: "sgd" } });
    mw.terminate();
    await rejects(run.done, "BAD_STATE", /terminated/);
    await rejects(mw.info(), "BAD_STATE", /terminated/);
  });

  it("says so when an array was transferred away before", async () => {
    const mw = await connect();
    await mw.build(SPEC);
    const images = new Uint8Array(784);
    expect(await mw.predict(images, { transfer: true })).toHaveLength(10);
    expect(images.byteLength).toBe(0);
    await rejects(
      mw.predict(images),
      "BAD_ARGUMENT",
      /predict: images is empty \(if it was passed with \{ transfer: true \} before, its buffer now belongs to the worker\)/,
    );
    const data = copyOf(test);
    await mw.setData("test", data, { transfer: true });
    await rejects(mw.setData("test", data), "BAD_ARGUMENT", /setData: images or labels is empty/);
    mw.terminate();
  });
});
