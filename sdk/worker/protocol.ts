// The messages between a page (ModelWorker, client.ts) and the Web Worker that owns the wasm
// Runtime and the model (worker-main.ts). Plain structured-clone data: typed arrays travel as
// transferables where the sender no longer needs them, everything else is JSON-like.
import { MnistWasmError, type ErrorCode } from "../errors";
import type { Dataset } from "../data/dataset";
import type { ReconstructionEvaluation } from "../evaluate";
import type { KernelFeatures } from "../runtime/kernels";
import type { OptimizerSpec } from "../optim/optimizer";
import type { ModelSpec } from "../spec";
import type { EpochRecord } from "../train";

/** What the worker knows about the model it holds. */
export interface ModelInfo {
  spec: ModelSpec;
  paramCount: number;
  /** Complete training epochs behind the model (from its file, plus those trained here). */
  epochs: number;
  /** The facts a save() writes (dataset, epochs, testAccuracy, loss, trainedWith, …). */
  facts: Record<string, string>;
}

/**
 * Options of a train request; the data sets are named by setData(). The model's run continues
 * from where it stands (a loaded checkpoint's position, a stopped run's batch): what the options
 * give replaces the run's settings, what they leave out continues them (for a model built here:
 * the network's defaults, trainingDefaults; batch 100; seed 1).
 */
export interface WorkerTrainOptions {
  /** Name of the training set (setData). */
  data: string;
  /** Name of a test set, evaluated after every epoch. */
  test?: string;
  /** Train on the first `limit` samples only. */
  limit?: number;
  /** Evaluate on the first `testLimit` test samples only. */
  testLimit?: number;
  /**
   * The run ends this many epochs after the model's complete ones. Left out, a run stopped
   * before its last epoch (or loaded from such a checkpoint) continues to it.
   */
  epochs?: number;
  batchSize?: number;
  /**
   * The update rule and its settings (a whole spec: settings it leaves out are the rule's
   * defaults). When the model's run (or its file) used the same rule, its state (velocities,
   * averages, Adam's step) carries over, as `train --init-from` does.
   */
  optimizer?: OptimizerSpec;
  /** Seeds the shuffling; epochs continue the numbering of earlier runs. */
  seed?: number;
  schedule?: "constant" | "cosine";
  /** Epochs of linear warm-up before the schedule (fit's warmup). */
  warmup?: number;
  /** Label smoothing of a classifier's cross-entropy (fit's labelSmoothing). */
  labelSmoothing?: number;
  augment?: { flip: boolean; shift: number };
  /**
   * A batch progress message at most this often (ms); the first batch and the last batch of
   * every epoch are always reported. Default 100; 0 reports every batch.
   */
  progressIntervalMs?: number;
  /** Recorded as the model's `trainedWith` fact. */
  description?: string;
  /**
   * An autoencoder's or VAE's codes of the first `codes` images of the test set (at most
   * MAX_EPOCH_CODES), sent with every epoch's message: how its latent space moves as it learns.
   */
  codes?: number;
}

/** Most test images whose codes a train request sends with each epoch (10,000 2-D codes: 80 KB). */
export const MAX_EPOCH_CODES = 10_000;

/** Progress of a training run, posted while it runs. */
export type TrainProgress =
  | {
      kind: "batch";
      epoch: number;
      /** Number of the run's last epoch. */
      lastEpoch: number;
      /** 1-based batch in the epoch. */
      batch: number;
      batches: number;
      /** Mean loss over the batches since the previous report. */
      loss: number;
      /**
       * A classifier's accuracy over the same batches (before each batch's update); absent for
       * an autoencoder or VAE, whose loss is its reconstruction (plus a VAE's KL divergence).
       */
      accuracy?: number;
      /** Images trained on in this run so far. */
      images: number;
      /** Training speed in the current epoch (evaluation excluded). */
      imagesPerSecond: number;
      /** Fraction of the run done, 0 to 1. */
      fraction: number;
    }
  | { kind: "evaluating"; epoch: number }
  | {
      kind: "epoch";
      record: EpochRecord;
      /** With the `codes` option: the codes of the first test images, [count, latent] row-major. */
      codes?: Float32Array;
    };

export interface WorkerTrainResult {
  history: EpochRecord[];
  /** True when stop() ended the run early. */
  stopped: boolean;
  /** Complete epochs behind the model now. */
  epochs: number;
  /** Images trained on in this run. */
  images: number;
  seconds: number;
}

export interface WorkerEvaluation {
  accuracy: number;
  loss: number;
  count: number;
  predictions: Int32Array;
  /** confusion[label][predicted] counts. */
  confusion: number[][];
}

/** An autoencoder's or VAE's losses on a data set (evaluateReconstruction) and how many images it measured. */
export interface WorkerReconstructionEvaluation extends ReconstructionEvaluation {
  count: number;
}

/** Requests from the page, each answered by a `result` or an `error` with the same id. */
export type Request =
  | { type: "init"; id: number; relaxedSimd?: boolean; initialMiB?: number; threads?: number }
  | { type: "load"; id: number; bytes: Uint8Array; what?: string }
  | { type: "build"; id: number; spec: ModelSpec; seed?: number }
  | { type: "setData"; id: number; name: string; data: Dataset }
  | { type: "predict"; id: number; images: Uint8Array | Float32Array }
  | { type: "train"; id: number; options: WorkerTrainOptions }
  | { type: "stop"; id: number }
  | { type: "evaluate"; id: number; data: string; limit?: number }
  | { type: "evaluateReconstruction"; id: number; data: string; limit?: number }
  | { type: "save"; id: number; facts?: Record<string, string>; optimizerState?: boolean }
  | { type: "info"; id: number };

export type RequestType = Request["type"];

/** What each request resolves to. */
export interface Results {
  init: KernelFeatures;
  load: ModelInfo;
  build: ModelInfo;
  setData: { name: string; count: number };
  /** Class probabilities, [count, classes] row-major. */
  predict: Float32Array;
  train: WorkerTrainResult;
  /** Whether a run was training (and now stops after its current batch). */
  stop: { stopping: boolean };
  evaluate: WorkerEvaluation;
  evaluateReconstruction: WorkerReconstructionEvaluation;
  /** The model file, exactly as the CLI writes it (serializeModel). */
  save: Uint8Array;
  /** Undefined when the worker holds no model yet. */
  info: ModelInfo | undefined;
}

/** An error as it crosses the boundary; `code` is set for the SDK's own errors. */
export interface WireError {
  code?: ErrorCode;
  message: string;
}

export type Response =
  | { type: "result"; id: number; value: Results[RequestType] }
  | { type: "error"; id: number; error: WireError }
  | { type: "progress"; id: number; progress: TrainProgress };

const ERROR_CODES: readonly ErrorCode[] = [
  "BAD_FILE",
  "BAD_SHAPE",
  "BAD_ARGUMENT",
  "OUT_OF_MEMORY",
  "DIVERGED",
  "WRONG_TASK",
  "BAD_STATE",
];

export function toWireError(e: unknown): WireError {
  if (e instanceof MnistWasmError) return { code: e.code, message: e.message };
  return { message: e instanceof Error ? e.message : String(e) };
}

/** The page-side error for a wire error: an MnistWasmError with its code when it was one. */
export function fromWireError(e: WireError): Error {
  return e.code && ERROR_CODES.includes(e.code) ? new MnistWasmError(e.code, e.message) : new Error(e.message);
}

/**
 * The distinct ArrayBuffers behind `arrays`, for a transfer list: postMessage refuses a list
 * naming one buffer twice, and a SharedArrayBuffer is shared, never transferred.
 */
export function buffersOf(...arrays: (ArrayBufferView | undefined)[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) {
    if (a && a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  }
  return [...out];
}
