// A pool of workers that run the same kernels on the runtime's shared wasm memory, so a layer can
// hand each thread a slice of its work (a band of a GEMM's rows, a share of a batch's images).
//
// Every worker instantiates the same compiled module over the same shared WebAssembly.Memory: the
// kernels are pure functions of addresses, so "run gemm on these addresses" means the same thing
// in every thread. Work is sent as a list of kernel calls written into a SharedArrayBuffer per
// worker; the worker sleeps in Atomics.wait until the generation counter moves, runs its list and
// bumps its "done" counter. No postMessage on the hot path: a dispatch costs a futex wake (tens of
// microseconds), which is why callers only split work worth a few hundred microseconds or more.
// When the SDK calls a kernel directly and when as a KernelCall: see the top of runtime.ts.
//
// Workers come from a spawner: Web Workers (a Blob URL, no file to resolve) in browsers, and
// worker_threads in Node (registered by "mnist-wasm/node"). Threads need a SharedArrayBuffer, so
// in browsers the page must be cross-origin isolated (COOP/COEP headers); otherwise the runtime
// runs on one thread and says why (Runtime.features.threadsNote).
import { describeValue } from "../args";
import { fail } from "../errors";
import type { Kernels } from "./kernels";

/** The name of a kernel export. */
export type KernelName = keyof Kernels;

/**
 * One kernel call as data: the export's name, then its arguments in the order and number its
 * signature in Kernels gives (addresses and sizes, all numbers). A call whose arguments do not fit
 * its kernel does not compile; on the wire (see WORKER_BODY) it is numbers only.
 */
export type KernelCall = { readonly [K in KernelName]: readonly [K, ...Parameters<Kernels[K]>] }[KernelName];

/** The least a worker handle must do. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

/**
 * Starts a worker running `body` (plain JavaScript that calls `onFirstMessage(handler)` and
 * `reply(message)`; the spawner defines both for its platform). `onMessage` gets every message.
 */
export type WorkerSpawner = (
  body: string,
  onMessage: (data: unknown) => void,
  onError: (error: Error) => void,
) => WorkerHandle;

// Layout of a worker's control buffer: four i32 (generation, done, failed, unused), then f64
// commands: [count, (kernel index, argument count, arguments...) x count].
const GENERATION = 0;
const DONE = 1;
const FAILED = 2;
const COMMANDS_OFFSET = 16;
const COMMAND_SLOTS = 1 << 16; // 512 KiB of f64 per worker: thousands of calls
const STOP = -1;
/** How long a worker may take to start before the runtime gives up on threads. */
const START_TIMEOUT_MS = 10_000;
/** How long a thread spins for the other side before it sleeps (see WORKER_BODY). */
const SPIN_MS = 0.2;

/** The code every worker runs (see WorkerSpawner for onFirstMessage and reply). */
export const WORKER_BODY = `
onFirstMessage(async ({ module, memory, control, names }) => {
  let exports;
  try {
    const abort = () => { throw new Error("wasm kernel aborted"); };
    exports = (await WebAssembly.instantiate(module, { env: { memory, abort } })).exports;
  } catch (e) {
    reply({ error: String((e && e.message) || e) });
    return;
  }
  const kernels = names.map((name) => exports[name]);
  const state = new Int32Array(control, 0, 4);
  const commands = new Float64Array(control, ${COMMANDS_OFFSET});
  reply({ ready: true });
  let seen = 0;
  for (;;) {
    // Spin a little before sleeping: layers send work every few hundred microseconds while a
    // model trains, and waking from Atomics.wait costs tens of microseconds each time.
    const spinUntil = performance.now() + ${SPIN_MS};
    while (Atomics.load(state, ${GENERATION}) === seen && performance.now() < spinUntil);
    Atomics.wait(state, ${GENERATION}, seen);
    const generation = Atomics.load(state, ${GENERATION});
    if (generation === ${STOP}) return;
    if (generation === seen) continue;
    seen = generation;
    try {
      const count = commands[0];
      for (let i = 0, p = 1; i < count; i++) {
        const argc = commands[p + 1];
        const args = new Array(argc);
        for (let j = 0; j < argc; j++) args[j] = commands[p + 2 + j];
        kernels[commands[p]](...args);
        p += 2 + argc;
      }
    } catch (e) {
      Atomics.store(state, ${FAILED}, 1);
    }
    Atomics.store(state, ${DONE}, generation);
    Atomics.notify(state, ${DONE});
  }
});
`;

/** Web Workers from a Blob URL: no worker file for a bundler to find. */
const browserSpawner: WorkerSpawner = (body, onMessage, onError) => {
  const prelude =
    "const reply = (m) => self.postMessage(m);\n" +
    "const onFirstMessage = (f) => { self.onmessage = (e) => { self.onmessage = null; f(e.data); }; };\n";
  const url = URL.createObjectURL(new Blob([prelude + body], { type: "text/javascript" }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  worker.onmessage = (e) => onMessage(e.data);
  worker.onerror = (e) => onError(new Error(e.message));
  return worker;
};

let spawner: WorkerSpawner | undefined = typeof Worker === "function" ? browserSpawner : undefined;

/** Sets how workers are started (mnist-wasm/node registers worker_threads); returns the previous way. */
export function setWorkerSpawner(next: WorkerSpawner | undefined): WorkerSpawner | undefined {
  if (next !== undefined && typeof next !== "function")
    fail("BAD_ARGUMENT", `setWorkerSpawner: expected a function or undefined, got ${describeValue(next)}`);
  const previous = spawner;
  spawner = next;
  return previous;
}

/** Why threads cannot run here, or "" when they can. */
export function threadsUnavailableReason(): string {
  if (typeof SharedArrayBuffer !== "function") {
    return "no SharedArrayBuffer: a page needs cross-origin isolation (headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  }
  if (globalThis.crossOriginIsolated === false) {
    return "the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  }
  if (!spawner) return "no way to start a worker here (no Web Worker, no worker_threads)";
  return "";
}

/** Can this thread block in Atomics.wait? Not a browser's main thread. */
let mainCanBlock: boolean | undefined;
function waitUntilDone(state: Int32Array, generation: number): void {
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(state, DONE) !== generation && performance.now() < spinUntil);
  for (;;) {
    const done = Atomics.load(state, DONE);
    if (done === generation) return;
    if (mainCanBlock !== false) {
      try {
        Atomics.wait(state, DONE, done, 1000);
        mainCanBlock = true;
      } catch {
        mainCanBlock = false;
      }
    }
    // A browser's main thread may not block: spin. The wait is as long as the worker's share.
  }
}

interface PoolWorker {
  handle: WorkerHandle;
  state: Int32Array;
  commands: Float64Array;
}

/** Workers sharing the runtime's memory; thread 0 is the caller's own thread. */
export class KernelThreads {
  private generation = 0;
  private stopped = false;
  /** Kernel name -> the index the workers know it by. */
  private readonly indexOf: Map<KernelName, number>;

  private constructor(
    private readonly workers: PoolWorker[],
    names: readonly KernelName[],
  ) {
    this.indexOf = new Map(names.map((name, i) => [name, i]));
    this.count = workers.length + 1;
  }

  /**
   * Starts `count` workers over `memory` (shared) with the compiled kernels `module`. Rejects, with
   * every worker stopped, when one fails to start or is not ready within START_TIMEOUT_MS.
   */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    count: number,
    names: readonly KernelName[],
  ): Promise<KernelThreads> {
    if (!spawner) throw new Error(threadsUnavailableReason());
    const spawn = spawner;
    const handles: WorkerHandle[] = [];
    const starting = Array.from(
      { length: count },
      () =>
        new Promise<PoolWorker>((resolve, reject) => {
          const control = new SharedArrayBuffer(COMMANDS_OFFSET + COMMAND_SLOTS * 8);
          const timer = setTimeout(
            () => reject(new Error(`a kernel worker was not ready after ${START_TIMEOUT_MS / 1000} s`)),
            START_TIMEOUT_MS,
          );
          const fail = (error: Error): void => {
            clearTimeout(timer);
            reject(error);
          };
          try {
            const handle = spawn(
              WORKER_BODY,
              (data) => {
                clearTimeout(timer);
                const message = data as { ready?: boolean; error?: string };
                if (message.ready)
                  resolve({
                    handle,
                    state: new Int32Array(control, 0, 4),
                    commands: new Float64Array(control, COMMANDS_OFFSET),
                  });
                else reject(new Error(`a kernel worker failed to start: ${message.error}`));
              },
              fail,
            );
            handles.push(handle);
            handle.postMessage({ module, memory, control, names });
          } catch (e) {
            fail(e as Error);
          }
        }),
    );
    const settled = await Promise.allSettled(starting);
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) {
      for (const handle of handles) handle.terminate();
      throw failure.reason instanceof Error ? failure.reason : new Error(String(failure.reason));
    }
    return new KernelThreads(
      settled.map((r) => (r as PromiseFulfilledResult<PoolWorker>).value),
      names,
    );
  }

  /** Threads, the caller's included (fixed at start). */
  readonly count: number;

  /**
   * Runs tasks[0] on this thread and tasks[t] on worker t-1, all at once, and returns when all
   * are done. A task too long for a worker's command buffer runs here instead.
   */
  run(tasks: readonly (readonly KernelCall[])[], kernels: Kernels): void {
    if (this.stopped) fail("BAD_STATE", "this runtime was disposed: its worker threads are stopped");
    const dispatched: PoolWorker[] = [];
    const local: (readonly KernelCall[])[] = [tasks[0] ?? []];
    this.generation++;
    for (let t = 1; t < tasks.length; t++) {
      const worker = this.workers[t - 1];
      if (worker && tasks[t].length && this.encode(tasks[t], worker.commands)) {
        Atomics.store(worker.state, GENERATION, this.generation);
        Atomics.notify(worker.state, GENERATION);
        dispatched.push(worker);
      } else {
        local.push(tasks[t]);
      }
    }
    let error: unknown;
    try {
      for (const task of local) runCalls(task, kernels);
    } catch (e) {
      error = e;
    }
    let failed = false;
    for (const worker of dispatched) {
      waitUntilDone(worker.state, this.generation);
      if (Atomics.exchange(worker.state, FAILED, 0)) failed = true;
    }
    if (error) throw error;
    if (failed) throw new Error("wasm kernel failed in a worker thread");
  }

  /** Stops the workers and lets go of them and of their command buffers. */
  terminate(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const worker of this.workers) {
      Atomics.store(worker.state, GENERATION, STOP);
      Atomics.notify(worker.state, GENERATION);
      worker.handle.terminate();
    }
    this.workers.length = 0;
  }

  /** Writes `calls` into a command buffer; false when they do not fit. */
  private encode(calls: readonly KernelCall[], commands: Float64Array): boolean {
    let p = 1;
    for (const [name, ...args] of calls) {
      if (p + 2 + args.length > commands.length) return false;
      const index = this.indexOf.get(name);
      if (index === undefined) throw new Error(`kernel ${name} is not available to worker threads`);
      commands[p] = index;
      commands[p + 1] = args.length;
      commands.set(args, p + 2);
      p += 2 + args.length;
    }
    commands[0] = calls.length;
    return true;
  }
}

/** Runs kernel calls on this thread. */
export function runCalls(calls: readonly KernelCall[], kernels: Kernels): void {
  // Each call was checked against its kernel where it was written; here any kernel takes numbers.
  for (const [name, ...args] of calls) (kernels[name] as (...a: number[]) => unknown)(...args);
}

/** Splits [0, count) into `parts` contiguous ranges, sizes multiples of `align` where possible. */
export function splitRange(count: number, parts: number, align = 1): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  for (let t = 0; t < parts && start < count; t++) {
    const left = parts - t;
    let size = Math.ceil((count - start) / left / align) * align;
    if (t === parts - 1) size = count - start;
    const end = Math.min(count, start + size);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}
