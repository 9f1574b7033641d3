// How the SDK calls a kernel: two forms, chosen by one rule in every layer, the model and the
// optimizer.
//
// - Work that is never shared out among threads (a bias over one product's rows, a reduction, packing
//   weights, an optimizer step) is a direct call, `rt.kernels.addBiasRows(y, b, rows, cols)`: no array,
//   no dispatch, so one image's forward pass through Dense (a drawing classified in a page) stays a
//   few microseconds.
// - Work that can be shared out (a batch's images, an element-wise pass, the planes of a pooling) is
//   built as a list of KernelCalls per thread, `["reluForward", x, y, n]`, and handed to
//   rt.parallelFor(count, minPerThread, task) (the runtime splits a range) or rt.parallel(tasks) (the
//   layer splits, as Conv2D does by images or by filters). With one thread, or too little work to
//   split, the calls run on this thread in turn. rt.gemm does this for a product itself.
//
// Both forms are checked against the kernels' signatures (Kernels, kernels.ts): a direct call as a
// method call, a KernelCall as `[name, ...Parameters<Kernels[name]>]` (threads.ts). A call with a
// wrong name, a missing or extra argument, or a non-number does not compile
// (test/types/kernel-calls.test.ts). Workers receive numbers only; the typing costs nothing at run time.
import { checkInteger, checkOptions, describeValue } from "../args";
import { fail } from "../errors";
import { Allocator } from "./allocator";
import { compileKernels, instantiateKernels, relaxedSimdSupported, type KernelFeatures, type Kernels } from "./kernels";
import {
  KernelThreads,
  runCalls,
  splitRange,
  threadsUnavailableReason,
  type KernelCall,
  type KernelName,
} from "./threads";

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/** Bounds of RuntimeOptions.initialMiB: at least a MiB (memory grows from there), at most the wasm32 limit. */
const MIN_INITIAL_MIB = 1;
const MAX_INITIAL_MIB = 4096;
const MAX_THREADS = 64;
const OPTION_NAMES = ["initialMiB", "relaxedSimd", "threads"] as const;
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
  /** Initial wasm memory in MiB, 1 to 4096 (default 16); it grows as needed. */
  initialMiB?: number;
  /** false forces the plain SIMD build (the default picks relaxed SIMD where the engine has it); true insists on relaxed SIMD. */
  relaxedSimd?: boolean;
  /**
   * Threads running kernels, 1 to 64 (default 1). More than one starts a pool of workers sharing the wasm
   * memory; where that is impossible (a page without cross-origin isolation) the runtime runs on
   * one thread and `features.threadsNote` says why.
   */
  threads?: number;
}

/**
 * One kernel instance and the linear memory it works on. Everything a model or a data set keeps
 * in wasm lives here; tensors are (address, shape) pairs into this memory. Typed-array views of
 * the memory are made on demand, because growing the memory detaches the old ones.
 *
 * dispose() stops the worker threads and lets go of the memory, even while models or tensors
 * made on this runtime are still referenced; every use after it is refused (BAD_STATE).
 */
export class Runtime {
  /** The wasm features the kernels use here. */
  readonly features: KernelFeatures;
  private live:
    | {
        memory: WebAssembly.Memory;
        kernels: Kernels;
        allocator: Allocator;
        /** Scratch for gemm (packed panels), one per thread, allocated once. */
        gemmWork: number[];
        pool: KernelThreads | undefined;
      }
    | undefined;

  private constructor(
    memory: WebAssembly.Memory,
    kernels: Kernels,
    features: KernelFeatures,
    pool: KernelThreads | undefined,
  ) {
    this.features = features;
    const allocator = new Allocator(kernels.heapBase(), memory.buffer.byteLength, (bytes) => this.grow(bytes));
    this.live = { memory, kernels, allocator, gemmWork: [], pool };
    this.live.gemmWork = Array.from({ length: features.threads }, () => allocator.alloc(kernels.gemmWorkspaceBytes()));
  }

  /** Loads the kernels into a fresh memory (see RuntimeOptions); a bad option is BAD_ARGUMENT. */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const opts = checkOptions<RuntimeOptions>(options, "Runtime.create options", OPTION_NAMES);
    const asked = opts.threads === undefined ? 1 : checkInteger(opts.threads, "threads", 1, MAX_THREADS);
    const initialMiB = opts.initialMiB === undefined ? 16 : opts.initialMiB;
    if (typeof initialMiB !== "number" || !(initialMiB >= MIN_INITIAL_MIB && initialMiB <= MAX_INITIAL_MIB)) {
      fail(
        "BAD_ARGUMENT",
        `initialMiB must be a number from ${MIN_INITIAL_MIB} to ${MAX_INITIAL_MIB}, got ${describeValue(initialMiB)}`,
      );
    }
    if (opts.relaxedSimd !== undefined && typeof opts.relaxedSimd !== "boolean") {
      fail("BAD_ARGUMENT", `relaxedSimd must be true or false, got ${describeValue(opts.relaxedSimd)}`);
    }
    if (opts.relaxedSimd === true && !relaxedSimdSupported())
      fail("BAD_ARGUMENT", "relaxedSimd: true, but this engine has no relaxed SIMD");
    const relaxedSimd = opts.relaxedSimd ?? relaxedSimdSupported();
    let threadsNote = asked > 1 ? threadsUnavailableReason() : "";
    const shared = asked > 1 && !threadsNote;
    const initialPages = Math.ceil((initialMiB * 1024 * 1024) / PAGE);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({
        initial: initialPages,
        maximum: MAX_PAGES,
        shared,
      } as WebAssembly.MemoryDescriptor);
    } catch (e) {
      fail(
        "OUT_OF_MEMORY",
        `cannot reserve ${initialMiB} MiB of wasm memory (${(e as Error).message}); ask for less initialMiB`,
      );
    }
    const module = await compileKernels({ relaxedSimd, shared });
    const kernels = await instantiateKernels(module, memory);
    let pool: KernelThreads | undefined;
    if (shared) {
      const names = Object.keys(kernels).filter(
        (name) => typeof kernels[name as KernelName] === "function",
      ) as KernelName[];
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

  /** True once dispose() has run. */
  get disposed(): boolean {
    return this.live === undefined;
  }

  /** The state of a runtime not yet disposed; refuses (BAD_STATE) after dispose(). */
  private get state(): NonNullable<Runtime["live"]> {
    return this.live ?? fail("BAD_STATE", "the runtime was disposed");
  }

  /** The linear memory (BAD_STATE after dispose()). */
  get memory(): WebAssembly.Memory {
    return this.state.memory;
  }

  /** The kernel exports (BAD_STATE after dispose()). */
  get kernels(): Kernels {
    return this.state.kernels;
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
    const { pool, kernels } = this.state;
    if (pool && tasks.length > 1) pool.run(tasks, kernels);
    else for (const task of tasks) runCalls(task, kernels);
  }

  /**
   * Splits `count` items (elements, images, planes) among the threads when there are at least
   * `minPerThread` for each of two, and runs task(start, end, t) for each share; else one task.
   */
  parallelFor(
    count: number,
    minPerThread: number,
    task: (start: number, end: number, t: number) => KernelCall[],
  ): void {
    const { pool, kernels } = this.state;
    const parts = pool && count >= 2 * minPerThread ? Math.min(this.threads, Math.floor(count / minPerThread)) : 1;
    if (parts === 1) runCalls(task(0, count, 0), kernels);
    else this.parallel(splitRange(count, parts, 4).map(([start, end], t) => task(start, end, t)));
  }

  /** The gemm scratch of thread `t`. */
  gemmWorkspace(t: number): number {
    return this.state.gemmWork[t];
  }

  /**
   * Stops the worker threads and drops the memory, the kernels and the allocator, so that they
   * are freed even while models or tensors of this runtime are still referenced. Any later use of
   * the runtime, or of what was made on it, is refused (BAD_STATE); a second dispose() does nothing.
   */
  dispose(): void {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    live.pool?.terminate();
  }

  /** `bytes` fresh bytes of wasm memory (contents unspecified); free() them when done. */
  alloc(bytes: number): number {
    return this.state.allocator.alloc(bytes);
  }

  /** Returns a block from alloc(); an address not currently allocated is refused (BAD_STATE). */
  free(ptr: number): void {
    this.state.allocator.free(ptr);
  }

  /** Bytes allocated and not yet freed (0 after dispose()). */
  get usedBytes(): number {
    return this.live ? this.live.allocator.usedBytes : 0;
  }

  /** A float32 view of `length` values at `ptr` (valid until the memory grows). */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.view(ptr, length, 4), ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.view(ptr, length, 1), ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.view(ptr, length, 4), ptr, length);
  }

  /** The memory's buffer, once [ptr, ptr + length·size) is known to lie inside it (and aligned). */
  private view(ptr: number, length: number, size: number): ArrayBufferLike {
    const buffer = this.state.memory.buffer;
    if (
      !(
        Number.isInteger(ptr) &&
        Number.isInteger(length) &&
        ptr >= 0 &&
        length >= 0 &&
        ptr % size === 0 &&
        ptr + length * size <= buffer.byteLength
      )
    ) {
      fail(
        "BAD_ARGUMENT",
        `no ${describeValue(length)} values of ${size} bytes at address ${describeValue(ptr)} in ${buffer.byteLength} bytes of wasm memory`,
      );
    }
    return buffer;
  }

  /** Whether work of `flops` is worth sharing out among the threads (see PARALLEL_GEMM_FLOPS). */
  worthSplitting(flops: number): boolean {
    return this.state.pool !== undefined && flops >= PARALLEL_GEMM_FLOPS;
  }

  /**
   * C[m,n] = op(A)·op(B) + beta·C (see assembly/gemm.ts), all contiguous. Big products are split
   * across the threads in bands of C's rows (or columns, when C is wide), each band a gemm of its own
   * written in place: the same sums in the same order as on one thread, so the result is identical.
   */
  gemm(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
    beta: number,
  ): void {
    const split = this.gemmSplit(m, k, n);
    if (!split) {
      // Called directly, not through a KernelCall: one image's dense layer takes microseconds.
      const { kernels, gemmWork } = this.state;
      kernels.gemm(
        a,
        transA ? m : k,
        b,
        transB ? k : n,
        c,
        n,
        m,
        k,
        n,
        transA ? 1 : 0,
        transB ? 1 : 0,
        beta,
        gemmWork[0],
      );
      return;
    }
    const { byRows, bands } = split;
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    const ta = transA ? 1 : 0;
    const tb = transB ? 1 : 0;
    const { gemmWork } = this.state;
    this.parallel(
      bands.map(([start, end], t): KernelCall[] => {
        const work = gemmWork[t];
        if (byRows) {
          // Rows start..end of op(A) and of C.
          const aBand = a + 4 * (transA ? start : start * lda);
          return [["gemm", aBand, lda, b, ldb, c + 4 * start * n, n, end - start, k, n, ta, tb, beta, work]];
        }
        // Columns start..end of op(B) and of C.
        const bBand = b + 4 * (transB ? start * ldb : start);
        return [["gemm", a, lda, bBand, ldb, c + 4 * start, n, m, k, end - start, ta, tb, beta, work]];
      }),
    );
  }

  /**
   * How gemm() shares out C[m,n] = op(A)[m,k]·op(B): in bands of C's rows when m >= n, else of its
   * columns; undefined when the product is too small to split (or there is one thread).
   */
  private gemmSplit(m: number, k: number, n: number): { byRows: boolean; bands: [number, number][] } | undefined {
    if (!this.worthSplitting(2 * m * k * n)) return undefined;
    const byRows = m >= n;
    return { byRows, bands: splitRange(byRows ? m : n, this.threads, byRows ? GEMM_ROW_ALIGN : GEMM_COL_ALIGN) };
  }

  /** Bytes of the scratch sparseRows() writes for an S of m x k. */
  sparseRowsBytes(m: number, k: number): number {
    return this.kernels.sparseRowsBytes(m, k);
  }

  /**
   * Lists the nonzeros of S = A [m,k] into `rows` (sparseRowsBytes(m, k) bytes) for sparseGemm();
   * returns how many there are. On this thread: the count decides whether the sparse product pays
   * before any of it is shared out.
   */
  sparseRows(a: number, m: number, k: number, rows: number): number {
    return this.kernels.sparseRows(a, k, m, k, rows + m * k * 8, rows);
  }

  /** Lists the nonzeros of Sᵀ [k,m] into `rowsT` (sparseRowsBytes(k, m) bytes) from those of S [m,k] in `rows`. */
  sparseTranspose(rows: number, m: number, k: number, rowsT: number): void {
    this.kernels.transposeSparseRows(rows + m * k * 8, rows, m, k, rowsT + k * m * 8, rowsT);
  }

  /**
   * C[m,n] = S·B, S [m,k] the nonzeros sparseRows() or sparseTranspose() listed in `rows`, B
   * [k,n], all contiguous, the zeros skipped (assembly/sparse.ts). Shared out among the threads
   * exactly as gemm() shares out the same product, so C holds the floats of gemm() with op(A) = S
   * (and beta 0), bit for bit, where B is finite: a NaN or an infinity in B meeting a zero of S
   * gives NaN only in gemm().
   */
  sparseGemm(rows: number, b: number, c: number, m: number, k: number, n: number): void {
    const counts = rows + m * k * 8;
    const split = this.gemmSplit(m, k, n);
    if (!split) {
      this.kernels.sparseGemm(counts, rows, k, b, n, c, n, m, n, 0);
      return;
    }
    const { byRows, bands } = split;
    this.parallel(
      bands.map(([start, end]): KernelCall[] =>
        byRows
          ? [["sparseGemm", counts + 4 * start, rows + start * k * 8, k, b, n, c + 4 * start * n, n, end - start, n, 0]]
          : [["sparseGemm", counts, rows, k, b + 4 * start, n, c + 4 * start, n, m, end - start, 0]],
      ),
    );
  }

  /**
   * The kernel call of a contiguous gemm whose op(A) [m,k] was packed by kernels.packA (into
   * kernels.packedABytes(m, k) bytes) on thread `t`, for parallel(): the weights a convolution
   * multiplies by every image of a batch are packed once, not per image.
   */
  gemmPackedCall(
    t: number,
    packedA: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    transB: boolean,
    beta: number,
  ): KernelCall {
    return ["gemmPacked", packedA, b, transB ? k : n, c, n, m, k, n, transB ? 1 : 0, beta, this.state.gemmWork[t]];
  }

  /** The kernel call of a contiguous gemm (as in gemm()) on thread `t`, for parallel(). */
  gemmCall(
    t: number,
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
    beta: number,
  ): KernelCall {
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    return ["gemm", a, lda, b, ldb, c, n, m, k, n, transA ? 1 : 0, transB ? 1 : 0, beta, this.state.gemmWork[t]];
  }

  private grow(bytes: number): number {
    const pages = Math.ceil(bytes / PAGE);
    const memory = this.state.memory;
    try {
      memory.grow(pages);
    } catch {
      fail(
        "OUT_OF_MEMORY",
        `wasm memory cannot grow by ${(bytes / 2 ** 20).toFixed(1)} MiB ` +
          `(now ${(memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB); use a smaller batch or model`,
      );
    }
    return memory.buffer.byteLength;
  }
}
