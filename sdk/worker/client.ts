// The page side of the model worker: a promise per request, progress callbacks for training, and
// typed arrays transferred instead of copied where the caller says it no longer needs them.
import { describeValue } from "../args";
import { fail, MnistWasmError } from "../errors";
import type { Dataset } from "../data/dataset";
import type { KernelFeatures } from "../runtime/kernels";
import type { ModelSpec } from "../spec";
import {
  buffersOf,
  fromWireError,
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

/** What ModelWorker needs of a Worker (a MessagePort serves in tests). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: "message" | "error" | "messageerror", listener: (event: Event) => void): void;
  terminate?(): void;
}

type Pending = {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
  onProgress?: (progress: TrainProgress) => void;
};

/** Request fields other than its type and id. */
type Body<T extends RequestType> = Omit<Extract<Request, { type: T }>, "type" | "id">;

/**
 * Refuses an empty array up front: it is most often one whose buffer an earlier call transferred
 * away, and Node's postMessage drops a message naming a detached buffer without a word.
 */
function emptyArray(call: string, what: string): Promise<never> {
  return Promise.reject(
    new MnistWasmError(
      "BAD_ARGUMENT",
      `${call}: ${what} is empty (if it was passed with { transfer: true } before, its buffer now belongs to the worker)`,
    ),
  );
}

/** A training run in the worker: `done` settles when it ends, `stop()` ends it early. */
export class TrainingRun {
  constructor(
    /** The run's result; `stopped` says whether stop() ended it before its last epoch. */
    readonly done: Promise<WorkerTrainResult>,
    private readonly requestStop: () => Promise<Results["stop"]>,
  ) {}

  /**
   * Stops the run after its current batch; the model keeps what it learnt and stays usable.
   * Resolves to false when the run had already ended.
   */
  async stop(): Promise<boolean> {
    return (await this.requestStop()).stopping;
  }
}

/**
 * A model that lives in a Web Worker, so that training and inference never block the page:
 *
 *   const mw = await ModelWorker.create(new Worker(new URL("./model-worker.js", import.meta.url), { type: "module" }));
 *   await mw.load(bytes);                      // or mw.build(spec)
 *   const probs = await mw.predict(pixels);    // Float32Array [count, classes]
 *
 * where model-worker.js calls startModelWorker(). Requests are answered in order of arrival;
 * while a run trains, only stop() and info() are answered, the rest are refused (BAD_STATE).
 */
export class ModelWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Set once the worker can no longer answer (failed or terminated). */
  private broken?: Error;

  private kernelFeatures?: KernelFeatures;

  private constructor(private readonly worker: WorkerLike) {
    worker.addEventListener("message", (event) => this.receive((event as MessageEvent<Response>).data));
    worker.addEventListener("error", (event) => {
      const message = (event as ErrorEvent).message;
      this.breakWith(new Error(`model worker: ${message || "the worker script failed to load or threw"}`));
    });
    worker.addEventListener("messageerror", () =>
      this.breakWith(new Error("model worker: a message could not be deserialized")),
    );
  }

  /** The wasm features the worker's kernels use. */
  get features(): KernelFeatures {
    return { ...this.kernelFeatures! };
  }

  /**
   * Connects to a worker that runs startModelWorker(): a Worker (or anything WorkerLike), or
   * the URL of its module script. Resolves once its wasm Runtime is ready; `relaxedSimd: false`
   * forces the plain SIMD kernels, as in Runtime.create().
   */
  static async create(
    worker: WorkerLike | string | URL,
    options: { relaxedSimd?: boolean; initialMiB?: number; threads?: number } = {},
  ): Promise<ModelWorker> {
    if (
      !(
        typeof worker === "string" ||
        worker instanceof URL ||
        typeof (worker as WorkerLike | null)?.postMessage === "function"
      )
    ) {
      fail("BAD_ARGUMENT", `ModelWorker.create: expected a Worker or a module URL, got ${describeValue(worker)}`);
    }
    let target: WorkerLike;
    if (typeof worker === "string" || worker instanceof URL) {
      if (typeof Worker === "undefined")
        fail("BAD_STATE", "ModelWorker.create(url): this environment has no Web Workers");
      target = new Worker(worker, { type: "module" });
    } else {
      target = worker;
    }
    const client = new ModelWorker(target);
    try {
      client.kernelFeatures = await client.request("init", options);
    } catch (e) {
      client.terminate();
      throw e;
    }
    return client;
  }

  /** Loads a model file's bytes (safetensors, as the CLI saves). `transfer` hands the bytes over instead of copying them. */
  load(bytes: Uint8Array, options: { transfer?: boolean; what?: string } = {}): Promise<ModelInfo> {
    if (bytes?.length === 0) return emptyArray("load", "bytes");
    return this.request(
      "load",
      { bytes, ...(options.what ? { what: options.what } : {}) },
      options.transfer ? buffersOf(bytes) : [],
    );
  }

  /** Builds a freshly initialised model from a spec (seeded, as new Model(rt, spec, { seed })). */
  build(spec: ModelSpec, options: { seed?: number } = {}): Promise<ModelInfo> {
    return this.request("build", { spec, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
  }

  /**
   * Gives the worker a data set under `name`, for train() and evaluate(). A big set is best
   * transferred (`transfer: true`): its arrays then move to the worker and are empty here.
   */
  setData(name: string, data: Dataset, options: { transfer?: boolean } = {}): Promise<Results["setData"]> {
    if (data?.images?.length === 0 || data?.labels?.length === 0) return emptyArray("setData", "images or labels");
    const plain: Dataset = {
      name: data.name,
      shape: data.shape,
      images: data.images,
      labels: data.labels,
      count: data.count,
      classes: data.classes,
    };
    return this.request("setData", { name, data: plain }, options.transfer ? buffersOf(data.images, data.labels) : []);
  }

  /** Class probabilities of `images` (pixels 0-255, or floats in [0, 1]), [count, classes] row-major. */
  predict(images: Uint8Array | Float32Array, options: { transfer?: boolean } = {}): Promise<Float32Array> {
    if (images?.length === 0) return emptyArray("predict", "images");
    return this.request("predict", { images }, options.transfer ? buffersOf(images) : []);
  }

  /**
   * Trains the worker's model on a data set given by setData(). `onProgress` hears about batches
   * (throttled, see progressIntervalMs), the start of each epoch's evaluation, and each epoch's end
   * (for an autoencoder or VAE with the `codes` option, with the codes of the first test images).
   */
  train(options: WorkerTrainOptions, onProgress?: (progress: TrainProgress) => void): TrainingRun {
    const done = this.request("train", { options }, [], onProgress);
    return new TrainingRun(done, () => this.request("stop", {}));
  }

  /** Accuracy, loss, predictions and confusion matrix on a data set given by setData(). */
  evaluate(data: string, options: { limit?: number } = {}): Promise<WorkerEvaluation> {
    return this.request("evaluate", { data, ...(options.limit !== undefined ? { limit: options.limit } : {}) });
  }

  /**
   * An autoencoder's or VAE's reconstruction loss, KL divergence and ELBO on a data set given
   * by setData(), as evaluateReconstruction() measures them.
   */
  evaluateReconstruction(data: string, options: { limit?: number } = {}): Promise<WorkerReconstructionEvaluation> {
    return this.request("evaluateReconstruction", {
      data,
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
  }

  /**
   * The model file (safetensors, byte for byte what the CLI would write for this model), with
   * the optimizer's state unless `optimizerState: false` and `facts` added to its metadata.
   */
  save(options: { facts?: Record<string, string>; optimizerState?: boolean } = {}): Promise<Uint8Array> {
    return this.request("save", options);
  }

  /** The model's spec, size, epochs and facts; undefined before load() or build(). */
  info(): Promise<ModelInfo | undefined> {
    return this.request("info", {});
  }

  /** Ends the worker at once (a run in progress with it); pending requests reject. */
  terminate(): void {
    this.worker.terminate?.();
    this.breakWith(new MnistWasmError("BAD_STATE", "the model worker was terminated"));
  }

  private request<T extends RequestType>(
    type: T,
    body: Body<T>,
    transfer: Transferable[] = [],
    onProgress?: (progress: TrainProgress) => void,
  ): Promise<Results[T]> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<Results[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: never) => void, reject, onProgress });
      try {
        this.worker.postMessage({ ...body, type, id }, transfer);
      } catch (e) {
        // A value that cannot be cloned, or a buffer already detached by an earlier transfer.
        this.pending.delete(id);
        reject(new MnistWasmError("BAD_ARGUMENT", `${type}: cannot send to the worker: ${(e as Error).message}`));
      }
    });
  }

  private receive(message: Response): void {
    const pending = this.pending.get(message?.id);
    if (!pending) return; // an answer to a request nobody waits for any more
    switch (message.type) {
      case "progress":
        pending.onProgress?.(message.progress);
        break;
      case "result":
        this.pending.delete(message.id);
        pending.resolve(message.value as never);
        break;
      case "error":
        this.pending.delete(message.id);
        pending.reject(fromWireError(message.error));
        break;
    }
  }

  private breakWith(error: Error): void {
    this.broken ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
