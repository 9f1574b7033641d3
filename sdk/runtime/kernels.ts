import {
  KERNELS_RELAXED_SHARED_WASM_DELTA,
  KERNELS_RELAXED_WASM_DELTA,
  KERNELS_SHARED_WASM_DELTA,
  KERNELS_WASM_BASE64,
} from "./kernels.wasm.generated";
import { applyDelta } from "./wasm-delta";

// The Winograd kernels' signatures, shared by F(2x2, 3x3) and F(4x4, 3x3) (assembly/winograd*.ts).
/** winogradFilters(w, K, C, u, first, end) and winogradFilterGrad(du, K, C, dw, first, end): filters first..end-1. */
type WinogradFilters = (from: number, K: number, C: number, to: number, first: number, end: number) => void;
type WinogradPadBytes = (C: number, tilesH: number, tilesW: number) => number;
type WinogradInput = (
  x: number,
  C: number,
  H: number,
  W: number,
  pad: number,
  tilesH: number,
  tilesW: number,
  padded: number,
  v: number,
  ldv: number,
  col0: number,
) => void;
type WinogradOutput = (
  m: number,
  ldm: number,
  col0: number,
  K: number,
  tilesH: number,
  tilesW: number,
  bias: number,
  relu: number,
  y: number,
  OH: number,
  OW: number,
) => void;
type WinogradGradPlaneBytes = (tilesH: number, tilesW: number) => number;
type WinogradGradOutput = (
  dy: number,
  K: number,
  OH: number,
  OW: number,
  tilesH: number,
  tilesW: number,
  plane: number,
  dm: number,
  ldm: number,
  col0: number,
) => void;
type WinogradGradInput = (
  dv: number,
  ldv: number,
  col0: number,
  C: number,
  tilesH: number,
  tilesW: number,
  pad: number,
  H: number,
  W: number,
  plane: number,
  dx: number,
) => void;

/** The exports of assembly/index.ts. Pointers are byte addresses in the shared memory. */
export interface Kernels {
  heapBase(): number;
  gemmWorkspaceBytes(): number;
  gemm(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    m: number,
    k: number,
    n: number,
    transA: number,
    transB: number,
    beta: number,
    work: number,
  ): void;
  packedABytes(m: number, k: number): number;
  packA(a: number, lda: number, m: number, k: number, transA: number, dst: number): void;
  gemmPacked(
    packedA: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    m: number,
    k: number,
    n: number,
    transB: number,
    beta: number,
    work: number,
  ): void;
  gemmSeries(
    a: number,
    strideA: number,
    lda: number,
    b: number,
    strideB: number,
    ldb: number,
    c: number,
    strideC: number,
    ldc: number,
    m: number,
    k: number,
    n: number,
    transA: number,
    transB: number,
    beta: number,
    work: number,
    count: number,
  ): void;
  gemmPackedSeries(
    packedA: number,
    strideA: number,
    b: number,
    strideB: number,
    ldb: number,
    c: number,
    strideC: number,
    ldc: number,
    m: number,
    k: number,
    n: number,
    transB: number,
    beta: number,
    work: number,
    count: number,
  ): void;
  sparseRowsBytes(m: number, k: number): number;
  sparseRows(a: number, lda: number, m: number, k: number, counts: number, entries: number): number;
  transposeSparseRows(counts: number, entries: number, m: number, k: number, countsT: number, entriesT: number): void;
  sparseGemm(
    counts: number,
    entries: number,
    k: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    m: number,
    n: number,
    beta: number,
  ): void;
  addBiasRows(y: number, bias: number, rows: number, cols: number): void;
  addBiasRowsRelu(y: number, bias: number, rows: number, cols: number): void;
  sumRows(x: number, out: number, rows: number, cols: number, beta: number): void;
  scaleU8(src: number, dst: number, n: number, scale: number): void;
  gatherImagesU8(src: number, indices: number, count: number, rowLen: number, dst: number, scale: number): void;
  gatherBytes(src: number, indices: number, count: number, dst: number): void;
  argmaxRows(x: number, rows: number, cols: number, out: number): void;
  countCorrect(probs: number, labels: number, rows: number, cols: number): number;
  copyIfChanged(src: number, dst: number, n: number): number;
  allFinite(x: number, n: number): number;
  sigmoidForward(x: number, y: number, n: number): void;
  sigmoidBackward(y: number, dy: number, dx: number, n: number): void;
  reluForward(x: number, y: number, n: number): void;
  reluBackward(y: number, dy: number, dx: number, n: number): void;
  softmaxCrossEntropy(
    logits: number,
    labels: number,
    probs: number,
    dlogits: number,
    rows: number,
    cols: number,
    smoothing: number,
  ): number;
  softmaxMse(logits: number, labels: number, probs: number, dlogits: number, rows: number, cols: number): number;
  sigmoidBinaryCrossEntropy(z: number, targets: number, out: number, dz: number, rows: number, cols: number): number;
  squaredError(y: number, targets: number, dy: number, rows: number, cols: number): number;
  dropoutForward(x: number, y: number, mask: number, n: number, keep: number, seed: number, step: number): void;
  dropoutBackward(dy: number, mask: number, dx: number, n: number): void;
  batchNormTrain(
    x: number,
    y: number,
    xhat: number,
    invStd: number,
    gamma: number,
    beta: number,
    runningMean: number,
    runningVar: number,
    batch: number,
    C: number,
    S: number,
    eps: number,
    momentum: number,
    c0: number,
    c1: number,
  ): void;
  batchNormInfer(
    x: number,
    y: number,
    gamma: number,
    beta: number,
    runningMean: number,
    runningVar: number,
    batch: number,
    C: number,
    S: number,
    eps: number,
    c0: number,
    c1: number,
  ): void;
  batchNormBackward(
    dy: number,
    xhat: number,
    invStd: number,
    gamma: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    batch: number,
    C: number,
    S: number,
    c0: number,
    c1: number,
  ): void;
  augmentImages(x: number, params: number, batch: number, C: number, H: number, W: number, scratch: number): void;
  sgdUpdate(w: number, g: number, n: number, lr: number, decay: number): void;
  momentumUpdate(w: number, g: number, v: number, n: number, lr: number, alpha: number, decay: number): void;
  adagradUpdate(w: number, g: number, h: number, n: number, lr: number, decay: number): void;
  rmspropUpdate(w: number, g: number, h: number, n: number, lr: number, rho: number, eps: number, decay: number): void;
  adadeltaUpdate(w: number, g: number, h: number, s: number, n: number, rho: number, eps: number, decay: number): void;
  adamUpdate(
    w: number,
    g: number,
    m: number,
    v: number,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    c1: number,
    c2: number,
    decay: number,
  ): void;
  im2col(
    x: number,
    cols: number,
    C: number,
    H: number,
    W: number,
    R: number,
    stride: number,
    pad: number,
    OH: number,
    OW: number,
  ): void;
  convDirect(
    x: number,
    packedW: number,
    bias: number,
    y: number,
    filters: number,
    C: number,
    H: number,
    W: number,
    R: number,
    relu: number,
  ): void;
  packConvFilters(w: number, filters: number, depth: number, dst: number): void;
  /** Bytes per value of gemmI8's operands in this build: 1 (relaxed SIMD) or 2 (plain SIMD, int16). */
  int8OperandBytes(): number;
  quantizeRows(src: number, dst: number, rows: number, cols: number, kp: number, invScale: number, zero: number): void;
  quantizeToHwc(
    src: number,
    planes: number,
    dst: number,
    C: number,
    H: number,
    W: number,
    invScale: number,
    zero: number,
  ): void;
  im2colHwc(
    src: number,
    dst: number,
    C: number,
    H: number,
    W: number,
    R: number,
    stride: number,
    pad: number,
    OH: number,
    OW: number,
    kp: number,
    zero: number,
  ): void;
  gemmI8(
    a: number,
    b: number,
    kp: number,
    m: number,
    n: number,
    scale: number,
    bias: number,
    y: number,
    yi: number,
    yj: number,
    relu: number,
  ): void;
  convI8(
    x: number,
    batch: number,
    C: number,
    H: number,
    W: number,
    R: number,
    stride: number,
    pad: number,
    OH: number,
    OW: number,
    invScale: number,
    zero: number,
    hwc: number,
    cols: number,
    kp: number,
    w: number,
    m: number,
    scale: number,
    bias: number,
    y: number,
    relu: number,
    quantized: number,
  ): void;
  convPoolI8WeightBytes(K: number, C: number, R: number): number;
  convPoolI8ScratchBytes(C: number, H: number, W: number): number;
  packConvPoolI8(w: number, K: number, C: number, R: number, dst: number): void;
  convPoolI8(
    x: number,
    batch: number,
    C: number,
    H: number,
    W: number,
    R: number,
    invScale: number,
    zero: number,
    scratch: number,
    w: number,
    K: number,
    scale: number,
    bias: number,
    outInvScale: number,
    outZero: number,
    y: number,
    outStride: number,
    channelsLast: number,
    quantized: number,
  ): void;
  packedFiltersBytes(filters: number, depth: number): number;
  col2im(
    dcols: number,
    dx: number,
    C: number,
    H: number,
    W: number,
    R: number,
    stride: number,
    pad: number,
    OH: number,
    OW: number,
  ): void;
  addBiasChannels(y: number, bias: number, batch: number, channels: number, spatial: number): void;
  winogradFilters: WinogradFilters;
  winogradPadBytes: WinogradPadBytes;
  winogradInput: WinogradInput;
  winogradOutput: WinogradOutput;
  winogradGradPlaneBytes: WinogradGradPlaneBytes;
  winogradGradOutput: WinogradGradOutput;
  winogradGradInput: WinogradGradInput;
  winogradFilterGrad: WinogradFilters;
  /** The same calls for F(4x4, 3x3) (assembly/winograd4.ts, assembly/winograd4-grad.ts). */
  winograd4Filters: WinogradFilters;
  winograd4PadBytes: WinogradPadBytes;
  winograd4Input: WinogradInput;
  /** winogradOutput's arguments, then a scratch of winograd4OutputScratchBytes() bytes. */
  winograd4Output(
    m: number,
    ldm: number,
    col0: number,
    K: number,
    tilesH: number,
    tilesW: number,
    bias: number,
    relu: number,
    y: number,
    OH: number,
    OW: number,
    scratch: number,
  ): void;
  winograd4OutputScratchBytes(): number;
  winograd4GradPlaneBytes: WinogradGradPlaneBytes;
  winograd4GradOutput: WinogradGradOutput;
  winograd4GradInput: WinogradGradInput;
  winograd4FilterGrad: WinogradFilters;
  addBiasChannelsRelu(y: number, bias: number, batch: number, channels: number, spatial: number): void;
  sumChannels(dy: number, out: number, batch: number, channels: number, spatial: number, beta: number): void;
  sumChannelBand(
    dy: number,
    out: number,
    batch: number,
    channels: number,
    spatial: number,
    first: number,
    end: number,
    beta: number,
  ): void;
  maxPoolForward(
    x: number,
    y: number,
    argmax: number,
    planes: number,
    H: number,
    W: number,
    size: number,
    stride: number,
    OH: number,
    OW: number,
  ): void;
  maxPoolValues(
    x: number,
    y: number,
    planes: number,
    H: number,
    W: number,
    size: number,
    stride: number,
    OH: number,
    OW: number,
  ): void;
  maxPoolBackward(
    dy: number,
    argmax: number,
    dx: number,
    planes: number,
    H: number,
    W: number,
    OH: number,
    OW: number,
  ): void;
  maxPool2x2Backward(
    dy: number,
    argmax: number,
    y: number,
    dx: number,
    planes: number,
    H: number,
    W: number,
    OH: number,
    OW: number,
    relu: number,
  ): void;
  maxPoolBackwardRelu(
    dy: number,
    argmax: number,
    x: number,
    dx: number,
    planes: number,
    H: number,
    W: number,
    OH: number,
    OW: number,
  ): void;
  avgPoolForward(
    x: number,
    y: number,
    planes: number,
    H: number,
    W: number,
    size: number,
    stride: number,
    OH: number,
    OW: number,
  ): void;
  avgPoolBackward(
    dy: number,
    dx: number,
    planes: number,
    H: number,
    W: number,
    size: number,
    stride: number,
    OH: number,
    OW: number,
  ): void;
  upsampleForward(x: number, y: number, planes: number, H: number, W: number, S: number): void;
  upsampleBackward(dy: number, dx: number, planes: number, H: number, W: number, S: number): void;
  gaussianNoise(eps: number, n: number, seed: number, step: number): void;
  /** Returns the KL divergence summed over the batch. */
  samplingForward(x: number, eps: number, z: number, batch: number, d: number, noise: number): number;
  samplingBackward(
    x: number,
    eps: number,
    dz: number,
    dx: number,
    batch: number,
    d: number,
    scale: number,
    noise: number,
  ): void;
}

function decodeBase64(text: string): Uint8Array {
  // atob exists in browsers and in Node >= 16; no Buffer, so this stays browser-safe.
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Which build of the kernels this engine runs. */
export interface KernelFeatures {
  /** Hardware fused multiply-add through relaxed SIMD (Chromium by default; Node 20 behind a flag). */
  relaxedSimd: boolean;
  /** Threads running kernels: 1, or 1 + the workers of the pool sharing this memory. */
  threads: number;
  /** Why fewer threads than asked for run (no SharedArrayBuffer, no Worker), or "" . */
  threadsNote: string;
}

/** Which of the four builds: relaxed SIMD or not, importing a shared memory or not. */
export interface KernelBuild {
  relaxedSimd: boolean;
  shared: boolean;
}

/**
 * The plain build whole, the others as deltas (scripts/embed-wasm.mjs says why): each delta and
 * the build it applies to.
 */
const DELTAS: Record<string, [string, KernelBuild]> = {
  relaxed: [KERNELS_RELAXED_WASM_DELTA, { relaxedSimd: false, shared: false }],
  "plain-shared": [KERNELS_SHARED_WASM_DELTA, { relaxedSimd: false, shared: false }],
  "relaxed-shared": [KERNELS_RELAXED_SHARED_WASM_DELTA, { relaxedSimd: true, shared: false }],
};

let plainBytes: Uint8Array | undefined;

/** The bytes of one build of the kernels. */
export function kernelBytes(build: KernelBuild): Uint8Array {
  plainBytes ??= decodeBase64(KERNELS_WASM_BASE64);
  const key = buildKey(build);
  if (key === "plain") return plainBytes;
  const [delta, against] = DELTAS[key];
  return applyDelta(kernelBytes(against), decodeBase64(delta));
}
const buildKey = (b: KernelBuild): string => `${b.relaxedSimd ? "relaxed" : "plain"}${b.shared ? "-shared" : ""}`;

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** True when this engine runs the relaxed-SIMD build. */
export const relaxedSimdSupported = (): boolean =>
  WebAssembly.validate(kernelBytes({ relaxedSimd: true, shared: false }) as BufferSource);

/** Compiles one build of the kernels once per process (or page); instances share the code. */
export function compileKernels(build: KernelBuild): Promise<WebAssembly.Module> {
  const key = buildKey(build);
  let module = compiled.get(key);
  if (!module) {
    const bytes = kernelBytes(build);
    module = WebAssembly.compile(bytes as BufferSource).catch((e: Error) => {
      throw new Error(`cannot compile the kernels (this engine needs WebAssembly SIMD): ${e.message}`);
    });
    compiled.set(key, module);
  }
  return module;
}

/** Instantiates a compiled build over `memory` (imported, so the SDK owns it). */
export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: () => {
        throw new Error("wasm kernel aborted");
      },
    },
  });
  return instance.exports as unknown as Kernels;
}
