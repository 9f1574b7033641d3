// The side of the model worker that runs inside a Web Worker: it owns the wasm Runtime, the
// model's training session (model, optimizer, run) and the data sets, and answers the page's
// requests (protocol.ts).
// handleMessage() is a plain async function of (state, request, post), so the same code runs in a
// browser worker (startModelWorker) and in a Node test over a MessageChannel.
import { fail } from "../errors";
import { takeFirst, type Dataset } from "../data/dataset";
import { evaluate, evaluateReconstruction } from "../evaluate";
import { deserializeModel } from "../io/model-file";
import type { RunSettings } from "../io/run-record";
import { Model } from "../model";
import { OPTIMIZER_DEFAULTS, type OptimizerSpec } from "../optim/optimizer";
import { hasLearningRate } from "../optim/rules";
import { Runtime } from "../runtime/runtime";
import { TrainingSession, type RunOverrides } from "../session";
import { validateSpec, type ModelSpec } from "../spec";
import { trainingDefaults } from "../train-defaults";
import {
  buffersOf,
  MAX_EPOCH_CODES,
  toWireError,
  type ModelInfo,
  type Request,
  type RequestType,
  type Response,
  type Results,
  type TrainProgress,
  type WorkerEvaluation,
  type WorkerReconstructionEvaluation,
  type WorkerTrainOptions,
  type WorkerTrainResult,
} from "./protocol";

/** Everything one worker holds between requests. */
export interface WorkerState {
  runtime?: Promise<Runtime>;
  model?: Model;
  /** The model's training run: its optimizer (and state), settings, position and history. */
  session?: TrainingSession;
  /** Facts written into a saved model file, as the CLI writes them. */
  facts: Record<string, string>;
  /** Set when training diverged: the weights are no longer finite. */
  diverged: boolean;
  data: Map<string, Dataset>;
  /** Aborts the run in progress; undefined when nothing trains. */
  training?: AbortController;
}

export function createWorkerState(): WorkerState {
  return { facts: {}, diverged: false, data: new Map() };
}

export type Post = (message: Response, transfer?: Transferable[]) => void;

/** Requests answered while a run trains: they neither touch the model nor its buffers. */
const ALLOWED_WHILE_TRAINING: ReadonlySet<RequestType> = new Set(["init", "stop", "info"]);

const REQUEST_TYPES: ReadonlySet<string> = new Set<RequestType>([
  "init",
  "load",
  "build",
  "setData",
  "predict",
  "train",
  "stop",
  "evaluate",
  "evaluateReconstruction",
  "save",
  "info",
]);

/**
 * Answers one request: posts `result` (with its typed arrays transferred) or `error`, and while
 * a run trains, `progress` messages. Never throws; a request it cannot read is answered with an
 * error under its id (or -1 when it has none).
 */
export async function handleMessage(state: WorkerState, message: unknown, post: Post): Promise<void> {
  const m = message as Partial<Request> | null;
  const id = typeof m === "object" && m !== null && typeof m.id === "number" ? m.id : -1;
  try {
    if (typeof m !== "object" || m === null || id < 0 || typeof m.type !== "string" || !REQUEST_TYPES.has(m.type)) {
      fail("BAD_ARGUMENT", `model worker: not a request: ${describe(message)}`);
    }
    const request = m as Request;
    if (state.training && !ALLOWED_WHILE_TRAINING.has(request.type)) {
      fail("BAD_STATE", `model worker: cannot ${request.type} while a run trains; stop() it or wait for it to finish`);
    }
    const reply = <T extends RequestType>(value: Results[T], transfer: Transferable[] = []): void =>
      post({ type: "result", id, value }, transfer);
    switch (request.type) {
      case "init": {
        const rt = await runtime(state, request);
        reply<"init">({ ...rt.features });
        break;
      }
      case "load":
        reply<"load">(await load(state, request.bytes, request.what));
        break;
      case "build":
        reply<"build">(await build(state, request.spec, request.seed));
        break;
      case "setData": {
        const data = checkDataset(request.data, request.name);
        state.data.set(request.name, data);
        reply<"setData">({ name: request.name, count: data.count });
        break;
      }
      case "predict": {
        const model = requireModel(state);
        const { images } = request;
        if (!(images instanceof Uint8Array) && !(images instanceof Float32Array)) {
          fail(
            "BAD_ARGUMENT",
            `predict: images must be a Uint8Array (0-255) or a Float32Array (0-1), got ${describe(images)}`,
          );
        }
        const probs = model.predict(images);
        reply<"predict">(probs, buffersOf(probs));
        break;
      }
      case "train":
        reply<"train">(await train(state, id, request.options, post));
        break;
      case "stop":
        state.training?.abort();
        reply<"stop">({ stopping: state.training !== undefined });
        break;
      case "evaluate": {
        const result = evaluateOn(state, request.data, request.limit);
        reply<"evaluate">(result, buffersOf(result.predictions));
        break;
      }
      case "evaluateReconstruction":
        reply<"evaluateReconstruction">(reconstructionOn(state, request.data, request.limit));
        break;
      case "save": {
        requireModel(state);
        const bytes = state.session!.save(
          { ...state.facts, ...checkFacts(request.facts) },
          { optimizerState: request.optimizerState !== false },
        );
        reply<"save">(bytes, buffersOf(bytes));
        break;
      }
      case "info":
        reply<"info">(state.model ? info(state) : undefined);
        break;
    }
  } catch (e) {
    post({ type: "error", id, error: toWireError(e) });
  }
}

/** Where the worker's messages come from and go to: the worker's global scope, or a port in tests. */
export interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

/**
 * Makes this Web Worker a model worker for a page's ModelWorker. A worker file needs only:
 *   import { startModelWorker } from "mnist-wasm";
 *   startModelWorker();
 */
export function startModelWorker(scope?: WorkerScope): WorkerState {
  if (!scope && "document" in globalThis) {
    fail("BAD_STATE", "startModelWorker() runs inside a Web Worker (a page uses ModelWorker.create(worker) instead)");
  }
  const target = scope ?? (globalThis as unknown as WorkerScope);
  const state = createWorkerState();
  target.addEventListener("message", (event) => {
    void handleMessage(state, event.data, (message, transfer) => target.postMessage(message, transfer ?? []));
  });
  return state;
}

/** The worker's Runtime, created on first use; `init` options count only when they come first. */
function runtime(
  state: WorkerState,
  options: { relaxedSimd?: boolean; initialMiB?: number; threads?: number } = {},
): Promise<Runtime> {
  state.runtime ??= Runtime.create({
    ...(options.relaxedSimd !== undefined ? { relaxedSimd: options.relaxedSimd } : {}),
    ...(options.initialMiB !== undefined ? { initialMiB: options.initialMiB } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  return state.runtime;
}

/**
 * The settings of a model's run before any train request: a model built here, or loaded from a
 * file that records no run: the network's defaults (trainingDefaults), batch 100, seed 1. A
 * train request's options replace them (its epochs count beyond the model's complete ones).
 */
function untrainedRun(spec: ModelSpec): RunSettings {
  const d = trainingDefaults(spec);
  return { optimizer: { name: d.optimizer, lr: d.lr }, schedule: d.schedule, epochs: 0, batchSize: 100, seed: 1 };
}

/** Puts `session` (and its model) in place of the worker's, dropping the old ones. */
function replaceSession(state: WorkerState, session: TrainingSession): void {
  state.session?.dispose({ model: true });
  state.session = session;
  state.model = session.model;
  state.diverged = false;
}

async function load(state: WorkerState, bytes: unknown, what = "model file"): Promise<ModelInfo> {
  if (!(bytes instanceof Uint8Array))
    fail("BAD_ARGUMENT", `load: expected the model file's bytes as a Uint8Array, got ${describe(bytes)}`);
  const rt = await runtime(state);
  const { session, metadata } = TrainingSession.fromLoaded(deserializeModel(rt, bytes, what), {
    what,
    defaults: untrainedRun,
  });
  replaceSession(state, session);
  const { format: _format, spec: _spec, optimizer: _optimizer, run: _run, ...facts } = metadata;
  state.facts = facts;
  return info(state);
}

async function build(state: WorkerState, spec: unknown, seed?: number): Promise<ModelInfo> {
  if (seed !== undefined && !Number.isInteger(seed))
    fail("BAD_ARGUMENT", `build: seed must be an integer, got ${describe(seed)}`);
  const valid = validateSpec(spec);
  const rt = await runtime(state);
  const model = new Model(rt, valid, seed !== undefined ? { seed } : {});
  replaceSession(state, TrainingSession.start(model, untrainedRun(valid)));
  state.facts = {};
  return info(state);
}

function info(state: WorkerState): ModelInfo {
  const model = state.model!;
  return {
    spec: model.spec,
    paramCount: model.paramCount,
    epochs: state.session!.epochsDone,
    facts: { ...state.facts },
  };
}

function requireModel(state: WorkerState): Model {
  if (!state.model) fail("BAD_STATE", "model worker: no model yet; load() a model file or build() one first");
  if (state.diverged)
    fail(
      "BAD_STATE",
      "model worker: the model diverged in training (its weights are not finite); build() or load() a model again",
    );
  return state.model;
}

function dataNamed(state: WorkerState, name: unknown, what: string): Dataset {
  const data = typeof name === "string" ? state.data.get(name) : undefined;
  if (!data) {
    const known = [...state.data.keys()].map((k) => JSON.stringify(k)).join(", ") || "none yet";
    fail("BAD_ARGUMENT", `${what}: no data set named ${describe(name)} (setData() names them; known: ${known})`);
  }
  return data;
}

function checkLimit(limit: unknown, what: string): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || (limit as number) <= 0)
    fail("BAD_ARGUMENT", `${what} must be a positive integer, got ${describe(limit)}`);
  return limit as number;
}

function evaluateOn(state: WorkerState, name: unknown, limit: unknown): WorkerEvaluation {
  const model = requireModel(state);
  const data = takeFirst(dataNamed(state, name, "evaluate"), checkLimit(limit, "evaluate: limit"));
  const result = evaluate(model, data);
  return { ...result, count: data.count };
}

function reconstructionOn(state: WorkerState, name: unknown, limit: unknown): WorkerReconstructionEvaluation {
  const model = requireModel(state);
  const data = takeFirst(
    dataNamed(state, name, "evaluateReconstruction"),
    checkLimit(limit, "evaluateReconstruction: limit"),
  );
  return { ...evaluateReconstruction(model, data), count: data.count };
}

/** A data set posted by a page: checked field by field, since a wrong one would be read by wasm. */
function checkDataset(value: unknown, name: unknown): Dataset {
  if (typeof name !== "string" || name === "")
    fail("BAD_ARGUMENT", `setData: the name must be a non-empty string, got ${describe(name)}`);
  const where = `setData "${name}"`;
  const d = value as Partial<Dataset> | null;
  if (typeof d !== "object" || d === null)
    fail("BAD_ARGUMENT", `${where}: expected a Dataset object, got ${describe(value)}`);
  const { shape, images, labels, count, classes } = d;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    fail("BAD_ARGUMENT", `${where}: shape must be [channels, height, width], got ${describe(shape)}`);
  }
  if (!Number.isInteger(count) || (count as number) <= 0)
    fail("BAD_ARGUMENT", `${where}: count must be a positive integer, got ${describe(count)}`);
  if (
    !Array.isArray(classes) ||
    classes.length === 0 ||
    classes.length > 255 ||
    !classes.every((c) => typeof c === "string")
  ) {
    fail("BAD_ARGUMENT", `${where}: classes must be 1 to 255 names`);
  }
  if (!(images instanceof Uint8Array) || images.length !== count! * shape[0] * shape[1] * shape[2]) {
    fail(
      "BAD_ARGUMENT",
      `${where}: images must be a Uint8Array of ${count} x [${shape}] pixels, got ${describe(images)}`,
    );
  }
  if (!(labels instanceof Uint8Array) || labels.length !== count) {
    fail("BAD_ARGUMENT", `${where}: labels must be a Uint8Array of ${count} labels, got ${describe(labels)}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes.length)
      fail("BAD_ARGUMENT", `${where}: label ${labels[i]} of sample ${i} is out of range for ${classes.length} classes`);
  }
  return {
    name: typeof d.name === "string" && d.name ? d.name : name,
    shape: [shape[0], shape[1], shape[2]],
    images,
    labels,
    count: count!,
    classes,
  };
}

function checkFacts(facts: unknown): Record<string, string> {
  if (facts === undefined) return {};
  if (typeof facts !== "object" || facts === null || !Object.values(facts).every((v) => typeof v === "string")) {
    fail("BAD_ARGUMENT", "save: facts must be an object of strings");
  }
  for (const key of ["format", "spec", "optimizer", "run"]) {
    if (key in facts) fail("BAD_ARGUMENT", `save: "${key}" is written by the model file itself and cannot be a fact`);
  }
  return facts as Record<string, string>;
}

const now = (): number => (globalThis.performance ?? Date).now();

/**
 * One train request: the model's session resumed with the request's options (what they leave
 * out continues the model's run) and run, with progress posted under the request's id,
 * stoppable by "stop".
 */
async function train(
  state: WorkerState,
  id: number,
  options: WorkerTrainOptions,
  post: Post,
): Promise<WorkerTrainResult> {
  const model = requireModel(state);
  const session = state.session!;
  if (typeof options !== "object" || options === null)
    fail("BAD_ARGUMENT", `train: expected options, got ${describe(options)}`);
  const classifier = model.task === "classifier";
  const trainData = dataNamed(state, options.data, "train: data");
  const limit = options.limit === undefined ? undefined : checkLimit(options.limit, "train: limit");
  const test =
    options.test === undefined
      ? undefined
      : takeFirst(dataNamed(state, options.test, "train: test"), checkLimit(options.testLimit, "train: testLimit"));
  const interval = options.progressIntervalMs ?? 100;
  if (!(interval >= 0))
    fail("BAD_ARGUMENT", `train: progressIntervalMs must be a non-negative number, got ${describe(interval)}`);
  if (options.optimizer !== undefined && (options.optimizer === null || typeof options.optimizer !== "object")) {
    fail(
      "BAD_ARGUMENT",
      `train: optimizer must be a spec such as { name: "adam", lr: 0.001 }, got ${describe(options.optimizer)}`,
    );
  }
  if (options.epochs !== undefined && (!Number.isInteger(options.epochs) || options.epochs < 0)) {
    fail("BAD_ARGUMENT", `train: epochs must be a non-negative integer, got ${describe(options.epochs)}`);
  }
  const codesOf = epochCodes(model, options.codes, test);
  const overrides: RunOverrides = {
    // A spec given is the whole spec: settings it leaves out take the rule's defaults.
    ...(options.optimizer ? { optimizer: wholeSpec(options.optimizer) } : {}),
    ...(options.epochs !== undefined ? { epochs: options.epochs } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
    ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
    ...(options.labelSmoothing !== undefined ? { labelSmoothing: options.labelSmoothing } : {}),
    ...("augment" in options ? { augment: options.augment } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(trainData.name !== session.settings.dataset?.name ? { dataset: { name: trainData.name } } : {}),
  };
  session.resume(overrides);
  if (session.finished)
    fail(
      "BAD_ARGUMENT",
      `train: the model's run has trained all its ${session.epochsDone} epochs; give epochs to train more`,
    );

  const controller = new AbortController();
  state.training = controller;
  const lastEpoch = session.settings.epochs;
  const { epochsDone: firstDone, batch: firstBatch } = session.position;
  const started = now();
  let images = 0;
  let seen = 0; // batches trained by this request
  let evaluating = 0; // time spent evaluating, left out of the speed
  let lastBatchEnd = started;
  let lastReport = -Infinity;
  let windowLoss = 0;
  let windowCorrect = 0;
  let windowSize = 0;
  const progress = (p: TrainProgress): void => post({ type: "progress", id, progress: p });
  try {
    const result = await session.run(trainData, {
      ...(test ? { test } : {}),
      signal: controller.signal,
      onBatchEnd: (b) => {
        images += b.size;
        seen++;
        windowLoss += b.loss * b.size;
        windowCorrect += b.correct;
        windowSize += b.size;
        const t = now();
        lastBatchEnd = t;
        const endOfEpoch = b.batch === b.batches;
        if (t - lastReport >= interval || endOfEpoch) {
          const seconds = (t - started - evaluating) / 1000;
          progress({
            kind: "batch",
            epoch: b.epoch,
            lastEpoch,
            batch: b.batch,
            batches: b.batches,
            loss: windowLoss / windowSize,
            ...(classifier ? { accuracy: windowCorrect / windowSize } : {}),
            images,
            imagesPerSecond: seconds > 0 ? images / seconds : 0,
            fraction: seen / ((lastEpoch - firstDone) * b.batches - firstBatch),
          });
          lastReport = t;
          windowLoss = windowCorrect = windowSize = 0;
        }
        if (endOfEpoch && test) progress({ kind: "evaluating", epoch: b.epoch });
      },
      onEpochEnd: (record) => {
        const codes = codesOf && model.encode(codesOf.images, codesOf.count);
        evaluating += now() - lastBatchEnd;
        if (codes) post({ type: "progress", id, progress: { kind: "epoch", record, codes } }, buffersOf(codes));
        else progress({ kind: "epoch", record });
      },
    });
    const last = result.history[result.history.length - 1];
    state.facts = {
      ...state.facts,
      dataset: trainData.name,
      epochs: String(session.epochsDone),
      ...(last?.testAccuracy !== undefined
        ? { testAccuracy: last.testAccuracy.toFixed(4), loss: last.loss.toFixed(6) }
        : {}),
      trainedWith:
        options.description ??
        describeRun(session, lastEpoch - firstDone, Math.min(trainData.count, session.settings.limit ?? Infinity)),
    };
    return {
      history: result.history,
      stopped: result.stopped,
      epochs: session.epochsDone,
      images,
      seconds: (now() - started) / 1000,
    };
  } catch (e) {
    if (session.diverged) state.diverged = true;
    throw e;
  } finally {
    state.training = undefined;
  }
}

/**
 * The test images whose codes go with every epoch's message (the `codes` option): the first
 * `count` of the run's test set; undefined when the option is not given.
 */
function epochCodes(model: Model, count: unknown, test: Dataset | undefined): Dataset | undefined {
  if (count === undefined) return undefined;
  if (model.task === "classifier")
    fail("BAD_ARGUMENT", "train: codes are an autoencoder's or VAE's; the model is a classifier");
  if (!test) fail("BAD_ARGUMENT", "train: codes are of test images: give a test set too");
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_EPOCH_CODES) {
    fail("BAD_ARGUMENT", `train: codes must be an integer from 1 to ${MAX_EPOCH_CODES}, got ${describe(count)}`);
  }
  return takeFirst(test, count as number);
}

/** An optimizer spec with every setting it leaves out named, so that none carries over from the run before. */
function wholeSpec(spec: OptimizerSpec): OptimizerSpec {
  const unset = Object.fromEntries(Object.keys(OPTIMIZER_DEFAULTS.sgd).map((k) => [k, undefined]));
  return { ...unset, ...spec } as OptimizerSpec;
}

function describeRun(session: TrainingSession, epochs: number, count: number): string {
  const { optimizer, batchSize } = session.settings;
  const lr = !hasLearningRate(optimizer.name) ? "" : ` lr ${session.optimizer.settings.lr}`;
  return (
    `mnist-wasm ModelWorker: ${optimizer.name}${lr}, batch ${batchSize}, ` +
    `${epochs} epoch${epochs === 1 ? "" : "s"} on ${count} images`
  );
}

/** A short description of an unexpected value for an error message. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value))
    return `${value.constructor.name}(${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  if (typeof value === "object")
    return Array.isArray(value)
      ? `[${value.slice(0, 4).map(describe).join(", ")}${value.length > 4 ? ", …" : ""}]`
      : `an object`;
  return typeof value === "string"
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : String(value);
}
