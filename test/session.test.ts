// TrainingSession: a run stopped anywhere and resumed from its checkpoint ends with the weights of
// the run that never stopped, through the SDK, the model worker and the CLI alike.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createWorkerState,
  decodeSafetensors,
  deserializeModel,
  encodeSafetensors,
  handleMessage,
  loadMnist,
  Model,
  parseArch,
  Runtime,
  serializeModel,
  TrainingSession,
  withClassifier,
  type Dataset,
  type ModelSpec,
  type NamedTensor,
  type RunSettings,
  type WorkerResponse,
} from "../sdk/node";
import { CLI, run } from "./support/cli";

let rt: Runtime;
let mnist: Dataset;

beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  mnist = loadMnist("train");
});

const spec = (arch: string): ModelSpec => ({ input: [1, 28, 28], layers: withClassifier(parseArch(arch), 10) });

/** The model's tensors (weights, buffers, optimizer state) as bytes, by name. */
function tensorsOf(bytes: Uint8Array): Map<string, string> {
  const { tensors } = decodeSafetensors(bytes, "model");
  return new Map(
    [...tensors].map(([name, t]) => [
      name,
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64"),
    ]),
  );
}

const weightsOf = (bytes: Uint8Array): Map<string, string> =>
  new Map([...tensorsOf(bytes)].filter(([name]) => !name.startsWith("optim.")));

/** A run stopped after `batches` batches: its checkpoint. */
async function stoppedAfter(settings: RunSettings, arch: string, batches: number): Promise<Uint8Array> {
  const session = TrainingSession.start(new Model(rt, spec(arch), { seed: settings.seed }), settings);
  const controller = new AbortController();
  let seen = 0;
  // fit() looks at the signal when it yields to the event loop: make every batch slow enough.
  const result = await session.run(mnist, {
    signal: controller.signal,
    onBatchEnd: () => {
      if (++seen === batches) controller.abort();
      const until = performance.now() + 60;
      while (performance.now() < until);
    },
  });
  expect(result.stopped).toBe(true);
  const bytes = session.save();
  session.dispose({ model: true });
  return bytes;
}

async function uninterrupted(settings: RunSettings, arch: string): Promise<{ bytes: Uint8Array; losses: number[] }> {
  const session = TrainingSession.start(new Model(rt, spec(arch), { seed: settings.seed }), settings);
  const { history } = await session.run(mnist);
  const bytes = session.save();
  session.dispose({ model: true });
  return { bytes, losses: history.map((h) => h.loss) };
}

/** Its second convolution (8 channels in, 8 filters, a 24x24 output) runs Winograd when asked. */
const WINOGRAD_ARCH = "conv:8x3,relu,conv:8x3,relu,maxpool:2";

/** Runs that differ in everything a resume must get right: update rule and its state, schedule, augmentation draws, short last batch. */
const RUNS: { name: string; arch: string; settings: RunSettings; stopAfter: number[] }[] = [
  {
    name: "momentum, cosine, augmented, a short last batch",
    arch: "conv:4x5,relu,maxpool:2",
    settings: {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      epochs: 3,
      batchSize: 64,
      seed: 7,
      limit: 1000,
      augment: { flip: true, shift: 2 },
    },
    stopAfter: [1, 15, 16, 17, 40],
  },
  {
    name: "momentum, a warm-up into a cosine, label smoothing (stops inside the warm-up and after it)",
    arch: "dense:32,batchnorm,relu",
    settings: {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      warmup: 1.5,
      labelSmoothing: 0.1,
      epochs: 3,
      batchSize: 100,
      seed: 9,
      limit: 600,
    },
    stopAfter: [4, 9, 13],
  },
  {
    name: "adam, constant, batch norm",
    arch: "dense:32,batchnorm,relu",
    settings: {
      optimizer: { name: "adam", lr: 0.002 },
      schedule: "constant",
      epochs: 2,
      batchSize: 100,
      seed: 3,
      limit: 800,
    },
    stopAfter: [8, 11],
  },
  {
    name: "sgd, dropout (its masks continue where they stood)",
    arch: "dense:32,relu,dropout:0.5",
    settings: {
      optimizer: { name: "sgd", lr: 0.5 },
      schedule: "constant",
      epochs: 2,
      batchSize: 100,
      seed: 5,
      limit: 600,
    },
    stopAfter: [3, 6],
  },
  {
    name: "momentum, Winograd convolutions (the second convolution runs them, forward and backward)",
    arch: WINOGRAD_ARCH,
    settings: {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      winograd: true,
      epochs: 2,
      batchSize: 100,
      seed: 4,
      limit: 300,
    },
    stopAfter: [2, 4],
  },
];

describe("TrainingSession: stop anywhere, resume from the checkpoint", () => {
  for (const r of RUNS) {
    it(`${r.name}: the resumed run ends with the uninterrupted run's weights, optimizer state and epoch losses`, async () => {
      const straight = await uninterrupted(r.settings, r.arch);
      for (const stop of r.stopAfter) {
        const checkpoint = await stoppedAfter(r.settings, r.arch, stop);
        const { run: record } = deserializeModel(rt, checkpoint);
        const batches = Math.ceil(r.settings.limit! / r.settings.batchSize);
        // A stop after an epoch's last batch comes before its record: the epoch is not complete yet.
        const epochsDone = Math.floor((stop - 1) / batches);
        expect(record, `stopped after ${stop}`).toMatchObject({
          epochsDone,
          batch: stop - epochsDone * batches,
          step: stop,
        });
        const { session, overrides } = TrainingSession.fromFile(rt, checkpoint);
        expect(overrides).toEqual([]);
        const { history } = await session.run(mnist);
        expect(tensorsOf(session.save()), `stopped after ${stop}`).toEqual(tensorsOf(straight.bytes));
        // The epoch the run stopped in is measured over all its batches, before and after the stop.
        expect(history.map((h) => h.loss)).toEqual(straight.losses.slice(straight.losses.length - history.length));
        session.dispose({ model: true });
      }
    }, 120_000);
  }

  it("a run with Winograd records it and trains with it: other weights than the same run without it", async () => {
    const settings: RunSettings = {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "constant",
      epochs: 1,
      batchSize: 100,
      seed: 2,
      limit: 200,
    };
    const model = new Model(rt, spec(WINOGRAD_ARCH), { seed: 2 });
    expect(model.winogradLayers).toBe(1);
    const session = TrainingSession.start(model, { ...settings, winograd: true });
    await session.run(mnist);
    // fit() sets the model's option for the run and puts it back.
    expect(model.winograd).toBe(false);
    expect(session.record().winograd).toBe(true);
    const wino = weightsOf(session.save());
    session.dispose({ model: true });
    const plain = weightsOf((await uninterrupted(settings, WINOGRAD_ARCH)).bytes);
    expect(wino.get("2.weight")).not.toEqual(plain.get("2.weight"));
    // A model made with Winograd on starts a run with it.
    const on = new Model(rt, spec(WINOGRAD_ARCH), { seed: 2, winograd: true });
    const started = TrainingSession.start(on, settings);
    expect(started.settings.winograd).toBe(true);
    started.dispose({ model: true });
  }, 60_000);

  it("a finished run given more epochs starts a new schedule; an unfinished one given fewer ends sooner", async () => {
    const settings: RunSettings = {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      epochs: 1,
      batchSize: 100,
      seed: 1,
      limit: 500,
    };
    const done = (await uninterrupted(settings, "dense:16,relu")).bytes;
    const { session } = TrainingSession.fromFile(rt, done);
    expect(session.finished).toBe(true);
    expect(session.resume({ epochs: 2 })).toEqual([{ name: "epochs", value: 3, checkpoint: 1 }]);
    await session.run(mnist);
    expect(session.position).toMatchObject({ epochsDone: 3, step: 10, steps: 10 });
    // The same two epochs as a fresh cosine run from the finished one's weights and optimizer state.
    const again = TrainingSession.fromFile(rt, done).session;
    again.resume({ epochs: 2 });
    await again.run(mnist);
    expect(tensorsOf(again.save())).toEqual(tensorsOf(session.save()));
    for (const s of [session, again]) s.dispose({ model: true });

    const stopped = await stoppedAfter({ ...settings, epochs: 4 }, "dense:16,relu", 7);
    const shortened = TrainingSession.fromFile(rt, stopped).session;
    expect(shortened.resume({ epochs: 1 })).toEqual([{ name: "epochs", value: 2, checkpoint: 4 }]);
    expect(shortened.position).toMatchObject({ epochsDone: 1, batch: 2, step: 7, steps: 10 });
    const { history } = await shortened.run(mnist);
    expect(history.map((h) => h.epoch)).toEqual([2]);
    shortened.dispose({ model: true });
  }, 60_000);
});

describe("TrainingSession.fromFile: optimizer state", () => {
  it("is taken when it fits; state that does not fit the model is dropped with a note, and the run goes on", async () => {
    const settings: RunSettings = {
      optimizer: { name: "adam" },
      schedule: "constant",
      epochs: 1,
      batchSize: 100,
      seed: 1,
      limit: 300,
    };
    const bytes = (await uninterrupted(settings, "dense:8,relu")).bytes;
    const ok = TrainingSession.fromFile(rt, bytes);
    expect(ok.notes).toEqual(["resuming adam from its saved state (step 3)"]);
    ok.session.dispose({ model: true });
    const { tensors, metadata } = decodeSafetensors(bytes, "m");
    const cuts: [string, (t: Map<string, NamedTensor>) => void][] = [
      ["a state tensor missing", (t) => t.delete("optim.0.weight.0")],
      ["a state tensor of another shape", (t) => t.set("optim.0.bias.1", { shape: [3], data: new Float32Array(3) })],
    ];
    for (const [what, cut] of cuts) {
      const copy = new Map(tensors);
      cut(copy);
      const resumed = TrainingSession.fromFile(rt, encodeWith(copy, metadata), { overrides: { epochs: 1 } });
      expect(resumed.notes, what).toEqual([
        expect.stringMatching(/^its optimizer state does not fit \(.*\): adam starts afresh$/),
      ]);
      await resumed.session.run(mnist);
      expect(resumed.session.optimizer.steps, what).toBe(3);
      resumed.session.dispose({ model: true });
    }
  });
});

describe("one checkpoint resumed through the SDK, the model worker and the CLI", () => {
  it("gives the same weights each way, and those of the run that never stopped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-session-"));
    const arch = "conv:4x5,relu,maxpool:2";
    const settings: RunSettings = {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      epochs: 2,
      batchSize: 50,
      seed: 5,
      limit: 600,
      augment: { flip: false, shift: 2 },
      dataset: { name: "mnist" },
    };
    const straight = await uninterrupted(settings, arch);
    const checkpoint = await stoppedAfter(settings, arch, 17);

    const sdk = TrainingSession.fromFile(rt, checkpoint).session;
    await sdk.run(mnist);
    const viaSdk = weightsOf(sdk.save());
    sdk.dispose({ model: true });

    const state = createWorkerState();
    const replies: WorkerResponse[] = [];
    const post = (m: WorkerResponse): number => replies.push(m);
    await handleMessage(state, { type: "init", id: 1, threads: 1 }, post);
    await handleMessage(state, { type: "load", id: 2, bytes: checkpoint }, post);
    await handleMessage(state, { type: "setData", id: 3, name: "train", data: mnist }, post);
    await handleMessage(state, { type: "train", id: 4, options: { data: "train" } }, post);
    await handleMessage(state, { type: "save", id: 5 }, post);
    const saved = replies.find((m) => m.type === "result" && m.id === 5);
    expect(saved, JSON.stringify(replies.filter((m) => m.type === "error"))).toBeDefined();
    const viaWorker = weightsOf((saved as { value: Uint8Array }).value);
    state.session?.dispose({ model: true });

    const file = join(dir, "run.safetensors");
    writeFileSync(file, checkpoint);
    const cli = run(["train", "--init-from", file, "--threads", "1", "--no-progress"]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("resuming momentum from its saved state (step 17)");
    expect(cli.stdout).not.toContain("override");
    const viaCli = weightsOf(readFileSync(file));

    const expected = weightsOf(straight.bytes);
    expect(viaSdk).toEqual(expected);
    expect(viaWorker).toEqual(expected);
    expect(viaCli).toEqual(expected);
  }, 120_000);
});

describe("mnist-wasm train: Ctrl-C, then --init-from alone", () => {
  it("continues the interrupted run to the uninterrupted run's weights; flags given on the resume override, and say so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-session-cli-"));
    const args = [
      "train",
      "--arch",
      "conv:4x5,relu,maxpool:2",
      "--limit",
      "20000",
      "--epochs",
      "2",
      "--augment",
      "--threads",
      "1",
      "--no-progress",
    ];
    const full = join(dir, "full.safetensors");
    const straight = run([...args, "--out", full]);
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stdout.split("\n")[0]).toBe(
      "defaults for a network with convolutions: momentum lr 0.05, cosine schedule; set --optimizer, --lr or --schedule to change",
    );

    const part = join(dir, "part with space.safetensors");
    const child = spawn(process.execPath, [CLI, ...args, "--out", part], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let batchesSeen = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      // Inside epoch 1 (its line not yet printed) or inside epoch 2: a mid-epoch checkpoint either way.
      if (!batchesSeen && /training conv/.test(stdout)) {
        batchesSeen = true;
        setTimeout(() => child.kill("SIGINT"), 700);
      }
    });
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(130);
    const hint = /resume with: (mnist-wasm train --init-from .*)$/m.exec(stdout);
    expect(hint, stdout).not.toBeNull();
    expect(hint![1]).toBe(`mnist-wasm train --init-from '${part}' --threads 1`);
    const { run: record } = deserializeModel(rt, readFileSync(part));
    expect(record!.epochsDone, "stopped before the end").toBeLessThan(2);
    expect(record).toMatchObject({
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      epochs: 2,
      limit: 20000,
      seed: 1,
    });

    const resumed = run(["train", "--init-from", part, "--threads", "1", "--no-progress"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).not.toMatch(/defaults for|override/);
    expect(weightsOf(readFileSync(part))).toEqual(weightsOf(readFileSync(full)));

    const more = run([
      "train",
      "--init-from",
      part,
      "--epochs",
      "1",
      "--lr",
      "0.01",
      "--limit",
      "500",
      "--threads",
      "1",
      "--no-progress",
    ]);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stdout).toContain("override: --lr 0.01 (checkpoint: 0.05)");
    expect(more.stdout).toContain("override: --limit 500 (checkpoint: 20000)");
    expect(more.stdout).toContain("override: --epochs 1: the run ends at epoch 3 (checkpoint: at epoch 2)");
    expect(more.stdout).toMatch(/^epoch 3\/3 /m);
    const finished = run(["train", "--init-from", part, "--threads", "1", "--no-progress"]);
    expect(finished.code).toBe(2);
    expect(finished.stderr).toMatch(/has trained all its 3 epochs; --epochs N trains N more/);
  }, 180_000);
});

describe("the run record in a model file", () => {
  it("is range-checked on read: a record with any field out of range is dropped, saying which, and the model still loads", () => {
    const model = new Model(rt, spec("dense:8,relu"), { seed: 1 });
    const good = TrainingSession.start(model, {
      optimizer: { name: "momentum", lr: 0.05 },
      schedule: "cosine",
      warmup: 0.5,
      labelSmoothing: 0.05,
      winograd: true,
      epochs: 3,
      batchSize: 10,
      seed: 2,
      limit: 100,
      augment: { flip: false, shift: 1 },
      dataset: { name: "mnist", path: "/data" },
    });
    const record = good.record();
    const bad: [string, unknown][] = [
      ["optimizer", { name: "nesterov" }],
      ["optimizer", { name: "sgd", lr: 0 }],
      ["optimizer", { name: "momentum", momentum: 1 }],
      ["optimizer", { name: "adam", lr: "1" }],
      ["schedule", "linear"],
      ["warmup", -1],
      ["warmup", "1"],
      ["warmup", 2e6],
      ["labelSmoothing", 1],
      ["labelSmoothing", -0.1],
      ["labelSmoothing", null],
      ["winograd", "yes"],
      ["winograd", 1],
      ["epochs", -1],
      ["epochs", 1.5],
      ["epochs", 1e7],
      ["epochsDone", "2"],
      ["batchSize", 0],
      ["seed", -1],
      ["seed", 2 ** 32],
      ["batches", null],
      ["batch", 1],
      ["correct", 1],
      ["steps", -3],
      ["step", 1],
      ["lossSum", -1],
      ["lossSum", "NaN"],
      ["limit", 0],
      ["limit", 2.5],
      ["augment", { flip: 1, shift: 1 }],
      ["augment", { flip: true, shift: 65 }],
      ["dataset", { name: "" }],
      ["dataset", { name: "x", path: 3 }],
      ["loss", 7],
      ["optimizer", { name: "sgd", nesterov: true }],
      ["augment", { flip: true, shift: 1, rotate: 1 }],
      ["dataset", { name: "x", url: "y" }],
      ["noise", [[1, -1]]],
      ["noise", [[2 ** 32, 0]]],
      ["noise", [[1]]],
      ["noise", "[[1, 2]]"],
      ["klSum", -1],
      ["klSum", 5],
      ["epochsDone", 4],
      ["extra", 1],
    ];
    for (const [field, value] of bad) {
      const text = JSON.stringify({ ...record, [field]: value });
      const bytes = serializeModel(model, {});
      const { tensors, metadata } = decodeSafetensors(bytes, "m");
      const tampered = encodeWith(tensors, { ...metadata, run: text });
      const loaded = deserializeModel(rt, tampered);
      expect(loaded.run, `${field} = ${JSON.stringify(value)}`).toBeUndefined();
      expect(loaded.runProblem, `${field} = ${JSON.stringify(value)}`).toContain(`"${field}`);
      loaded.model.dispose();
      expect(() => serializeModel(model, { run: text }), field).toThrow(/its run record is wrong/);
    }
    for (const text of ["", "[]", "null", "{", "3"]) {
      const { tensors, metadata } = decodeSafetensors(serializeModel(model, {}), "m");
      const loaded = deserializeModel(rt, encodeWith(tensors, { ...metadata, run: text }));
      expect(loaded.run).toBeUndefined();
      expect(loaded.runProblem).toMatch(/not JSON|not a JSON object/);
      loaded.model.dispose();
    }
    // A record that reads but names data the CLI has no reader for: a usage mistake, one line.
    const file = join(mkdtempSync(join(tmpdir(), "mnist-wasm-session-data-")), "m.safetensors");
    for (const name of ["fashion", "constructor", "x".repeat(100)]) {
      good.resume({ dataset: { name } });
      writeFileSync(file, good.save());
      const r = run(["train", "--init-from", file, "--no-progress"]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(
        /its run read data set ".*", which train does not know \(mnist, cifar10\); give --dataset and --data/,
      );
    }
    good.resume({ dataset: record.dataset });
    const back = deserializeModel(rt, good.save());
    expect(back.run).toEqual(JSON.parse(JSON.stringify(record)));
    back.model.dispose();
    good.dispose({ model: true });
  });
});

function encodeWith(tensors: Map<string, NamedTensor>, metadata: Record<string, string>): Uint8Array {
  return encodeSafetensors(tensors, metadata);
}
