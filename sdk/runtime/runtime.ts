import { fail } from "../errors";
import { Allocator } from "./allocator";
import { instantiateKernels, type KernelFeatures, type Kernels } from "./kernels";

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

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
  /** Scratch for gemm (packed panels), allocated once. */
  readonly gemmWork: number;

  private constructor(memory: WebAssembly.Memory, kernels: Kernels, features: KernelFeatures) {
    this.memory = memory;
    this.kernels = kernels;
    this.features = features;
    this.allocator = new Allocator(kernels.heapBase(), memory.buffer.byteLength, (bytes) => this.grow(bytes));
    this.gemmWork = this.alloc(kernels.gemmWorkspaceBytes());
  }

  /**
   * Loads the kernels into a fresh memory of `initialMiB`. `relaxedSimd: false` forces the plain
   * SIMD build (the default picks relaxed SIMD where the engine supports it).
   */
  static async create(options: { initialMiB?: number; relaxedSimd?: boolean } = {}): Promise<Runtime> {
    const initialPages = Math.ceil(((options.initialMiB ?? 16) * 1024 * 1024) / PAGE);
    const memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES });
    const { kernels, features } = await instantiateKernels(memory, options.relaxedSimd);
    return new Runtime(memory, kernels, features);
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

  /** C[m,n] = op(A)·op(B) + beta·C (see assembly/gemm.ts) with this runtime's scratch. */
  gemm(a: number, b: number, c: number, m: number, k: number, n: number,
    transA: boolean, transB: boolean, beta: number): void {
    this.kernels.gemm(a, b, c, m, k, n, transA ? 1 : 0, transB ? 1 : 0, beta, this.gemmWork);
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
