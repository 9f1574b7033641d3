import { fail } from "../errors";
import { Allocator } from "./allocator";
import { compileKernels, instantiateKernels, relaxedSimdSupported, type KernelFeatures, type Kernels } from "./kernels";
import { KernelThreads, runCalls, splitRange, threadsUnavailableReason, type KernelCall } from "./threads";

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/**
 * A product is split across threads from this many flops (2·m·k·n) up (see worthSplitting):
 * about 200 µs of work on one thread. Handing work to a worker that spins costs a few µs, but one
 * that has gone to sleep (the caller was idle over 0.2 ms: a page classifying a drawing now and
 * then) takes 20-60 µs to wake on bare metal and ~500 µs on this VM.
 */
const PARALLEL_GEMM_FLOPS = 6e6;
/** Row bands of a split GEMM are multiples of the micro-kernel's 5 rows, column bands of its 8. */
const GEMM_ROW_ALIGN = 5;
const GEMM_COL_ALIGN = 8;

export interface RuntimeOptions {
  /** Initial wasm memory; it grows as needed. */
  initialMiB?: number;
  /** false forces the plain SIMD build (the default picks relaxed SIMD where the engine has it). */
  relaxedSimd?: boolean;
  /**
   * Threads running kernels (default 1). More than one starts a pool of workers sharing the wasm
   * memory; where that is impossible (a page without cross-origin isolation) the runtime runs on
   * one thread and `features.threadsNote` says why.
   */
  threads?: number;
}

/**
 * One kernel instance and the linear memory it works on. Everything a model or a data set keeps
 * in wasm lives here; tensors are (address, shape) pairs into this memory. Typed-array views of
 * the memory are made on demand, because growing the memory detaches the old ones.
 */
export class Runtime {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  /** The wasm features the kernels use here. */
  readonly features: KernelFeatures;
  private readonly allocator: Allocator;
  /** Scratch for gemm (packed panels), one per thread, allocated once. */
  private readonly gemmWork: number[];
  private readonly pool: KernelThreads | undefined;

  private constructor(memory: WebAssembly.Memory, kernels: Kernels, features: KernelFeatures, pool: KernelThreads | undefined) {
    this.memory = memory;
    this.kernels = kernels;
    this.features = features;
    this.pool = pool;
    this.allocator = new Allocator(kernels.heapBase(), memory.buffer.byteLength, (bytes) => this.grow(bytes));
    this.gemmWork = Array.from({ length: features.threads }, () => this.alloc(kernels.gemmWorkspaceBytes()));
  }

  /** Loads the kernels into a fresh memory (see RuntimeOptions). */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const asked = options.threads ?? 1;
    if (!Number.isInteger(asked) || asked < 1 || asked > 64) fail("BAD_ARGUMENT", `threads must be an integer from 1 to 64, got ${asked}`);
    let threadsNote = asked > 1 ? threadsUnavailableReason() : "";
    const shared = asked > 1 && !threadsNote;
    const relaxedSimd = options.relaxedSimd ?? relaxedSimdSupported();
    const initialPages = Math.ceil(((options.initialMiB ?? 16) * 1024 * 1024) / PAGE);
    const memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared } as WebAssembly.MemoryDescriptor);
    const module = await compileKernels({ relaxedSimd, shared });
    const kernels = await instantiateKernels(module, memory);
    let pool: KernelThreads | undefined;
    if (shared) {
      const names = Object.keys(kernels).filter((name) => typeof kernels[name as keyof Kernels] === "function") as (keyof Kernels)[];
      try {
        pool = await KernelThreads.start(module, memory, asked - 1, names);
      } catch (e) {
        // Workers may be forbidden here (a Content-Security-Policy without blob: workers, say):
        // the shared memory works as well on one thread.
        threadsNote = `kernel workers could not start (${(e as Error).message}): running on one thread`;
      }
    }
    return new Runtime(memory, kernels, { relaxedSimd, threads: pool ? pool.count : 1, threadsNote }, pool);
  }

  /** Threads running kernels (1 without a pool). */
  get threads(): number {
    return this.features.threads;
  }

  /**
   * Runs tasks[t] on thread t (tasks.length ≤ threads), all at once; returns when all are done.
   * With one thread the tasks run in turn here: the same calls, the same results.
   */
  parallel(tasks: readonly (readonly KernelCall[])[]): void {
    if (this.pool && tasks.length > 1) this.pool.run(tasks, this.kernels);
    else for (const task of tasks) runCalls(task, this.kernels);
  }

  /**
   * Splits `count` items (elements, images, planes) among the threads when there are at least
   * `minPerThread` for each of two, and runs task(start, end, t) for each share; else one task.
   */
  parallelFor(count: number, minPerThread: number, task: (start: number, end: number, t: number) => KernelCall[]): void {
    const parts = this.pool && count >= 2 * minPerThread ? Math.min(this.threads, Math.floor(count / minPerThread)) : 1;
    if (parts === 1) runCalls(task(0, count, 0), this.kernels);
    else this.parallel(splitRange(count, parts, 4).map(([start, end], t) => task(start, end, t)));
  }

  /** The gemm scratch of thread `t`. */
  gemmWorkspace(t: number): number {
    return this.gemmWork[t];
  }

  /** Stops the worker threads (the runtime then only works on one thread: do not use it). */
  dispose(): void {
    this.pool?.terminate();
  }

  alloc(bytes: number): number {
    return this.allocator.alloc(bytes);
  }

  free(ptr: number): void {
    this.allocator.free(ptr);
  }

  /** Bytes allocated and not yet freed. */
  get usedBytes(): number {
    return this.allocator.usedBytes;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  /** Whether work of `flops` is worth sharing out among the threads (see PARALLEL_GEMM_FLOPS). */
  worthSplitting(flops: number): boolean {
    return this.pool !== undefined && flops >= PARALLEL_GEMM_FLOPS;
  }

  /**
   * C[m,n] = op(A)·op(B) + beta·C (see assembly/gemm.ts), all contiguous. Big products are split
   * across the threads in bands of C's rows (or columns, when C is wide), each band a gemm of its own
   * written in place: the same sums in the same order as on one thread, so the result is identical.
   */
  gemm(a: number, b: number, c: number, m: number, k: number, n: number,
    transA: boolean, transB: boolean, beta: number): void {
    if (!this.worthSplitting(2 * m * k * n)) {
      // Called directly, not through a KernelCall: one image's dense layer takes microseconds.
      this.kernels.gemm(a, transA ? m : k, b, transB ? k : n, c, n, m, k, n, transA ? 1 : 0, transB ? 1 : 0, beta, this.gemmWork[0]);
      return;
    }
    const byRows = m >= n;
    const bands = splitRange(byRows ? m : n, this.threads, byRows ? GEMM_ROW_ALIGN : GEMM_COL_ALIGN);
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    const ta = transA ? 1 : 0;
    const tb = transB ? 1 : 0;
    this.parallel(bands.map(([start, end], t): KernelCall[] => {
      const work = this.gemmWork[t];
      if (byRows) {
        // Rows start..end of op(A) and of C.
        const aBand = a + 4 * (transA ? start : start * lda);
        return [["gemm", aBand, lda, b, ldb, c + 4 * start * n, n, end - start, k, n, ta, tb, beta, work]];
      }
      // Columns start..end of op(B) and of C.
      const bBand = b + 4 * (transB ? start * ldb : start);
      return [["gemm", a, lda, bBand, ldb, c + 4 * start, n, m, k, end - start, ta, tb, beta, work]];
    }));
  }

  /**
   * The kernel call of a contiguous gemm whose op(A) [m,k] was packed by kernels.packA (into
   * kernels.packedABytes(m, k) bytes) on thread `t`, for parallel(): the weights a convolution
   * multiplies by every image of a batch are packed once, not per image.
   */
  gemmPackedCall(t: number, packedA: number, b: number, c: number, m: number, k: number, n: number,
    transB: boolean, beta: number): KernelCall {
    return ["gemmPacked", packedA, b, transB ? k : n, c, n, m, k, n, transB ? 1 : 0, beta, this.gemmWork[t]];
  }

  /** The kernel call of a contiguous gemm (as in gemm()) on thread `t`, for parallel(). */
  gemmCall(t: number, a: number, b: number, c: number, m: number, k: number, n: number,
    transA: boolean, transB: boolean, beta: number): KernelCall {
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    return ["gemm", a, lda, b, ldb, c, n, m, k, n, transA ? 1 : 0, transB ? 1 : 0, beta, this.gemmWork[t]];
  }

  private grow(bytes: number): number {
    const pages = Math.ceil(bytes / PAGE);
    try {
      this.memory.grow(pages);
    } catch {
      fail("OUT_OF_MEMORY",
        `wasm memory cannot grow by ${(bytes / 2 ** 20).toFixed(1)} MiB ` +
        `(now ${(this.memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB); use a smaller batch or model`);
    }
    return this.memory.buffer.byteLength;
  }
}
