import { describeValue } from "../args";
import { fail } from "../errors";
import { initWeights, type Initializer } from "../init";
import type { Random } from "../random";
import type { Runtime } from "../runtime/runtime";
import { splitRange, type KernelCall } from "../runtime/threads";
import { sumBiasGrad } from "./bias-grad";
import { BatchBuffer, disposeParams, type Layer, layerDisposed, makeParam, type Param } from "./layer";

export interface ConvTransposeSpec {
  type: "convT";
  /** K: number of filters (output channels). */
  filters: number;
  /** R: filters are R x R. */
  size: number;
  /** Default 1: the output grows by this factor. */
  stride?: number;
  /** Default 0: rows and columns cropped from every side of the output. */
  padding?: number;
  init?: Initializer;
}

/**
 * Output side of a transposed convolution: (input - 1)·stride - 2·pad + size, the input side of
 * the convolution whose input-gradient it computes (0 or less when the padding crops everything).
 * All four are integers: size and stride at least 1, the others 0 or more.
 */
export function transposedSide(input: number, size: number, stride: number, pad: number): number {
  const args = [input, size, stride, pad];
  if (!args.every((v) => Number.isSafeInteger(v) && v >= 0) || size < 1 || stride < 1) {
    fail(
      "BAD_ARGUMENT",
      `transposedSide: input, size, stride and padding must be integers (size and stride at least 1, input and padding 0 or more), got ${args.map(describeValue).join(", ")}`,
    );
  }
  return (input - 1) * stride - 2 * pad + size;
}

/**
 * Transposed convolution ("deconvolution"): x [batch, C, H, W] -> y [batch, K, OH, OW] with
 * OH = (H - 1)·S - 2P + R (likewise OW), filters W [C, K, R, R] as PyTorch's ConvTranspose2d
 * stores them, used as the matrix [C, K·R·R], one bias per filter. It is the input-gradient of a
 * convolution from [K, OH, OW] to [C, H, W] with the same filters, stride and padding: per image
 * cols[K·R·R, H·W] = Wᵀ·x, y = col2im(cols) + b. Backward: dcols = im2col(dy) [K·R·R, H·W],
 * dx = W·dcols, dW += x·dcolsᵀ, db = Σ dy. Images are shared out among the threads, each with its
 * own cols [K·R·R, H·W]; the threads after the first sum their dW shares apart, added in thread order.
 * test/sdk/layers/conv-transpose.test.ts checks it against plain loops.
 */
export class ConvTranspose implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params: readonly Param[];
  private readonly weight: Param;
  private readonly bias: Param;
  private readonly stride: number;
  private readonly pad: number;
  /** K·R·R: the rows of cols. */
  private readonly patch: number;
  /** H·W: the columns of cols. */
  private readonly inSpatial: number;
  private readonly inSize: number;
  private readonly outSize: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  /** Per thread: one image's cols (forward) or dcols (backward), [K·R·R, H·W]. */
  private colsScratch: number[] = [];
  /** The input of the last forward pass (dW needs it). */
  private input = 0;
  /** Threads after the first accumulate their share of dW here, [threads - 1, C·K·R·R]. */
  private dwPartials = 0;
  /** The model sets this when a ReLU follows: the bias kernel applies it (see Layer.reluFused). */
  reluFused = false;
  /** Wᵀ [K·R·R, C] packed for the forward GEMM, and W [C, K·R·R] for the input gradient. */
  private packedWt = 0;
  private packedW = 0;
  /** The weights packedWt was made from: a forward pass repacks only if they changed. */
  private packedFrom = 0;
  private packedValid = false;

  constructor(
    private readonly rt: Runtime,
    readonly spec: ConvTransposeSpec,
    readonly inputShape: readonly number[],
    /** From planModel, which has checked that the output is not empty. */
    outputShape: readonly number[],
    index: number,
    rng: Random,
  ) {
    const [C, H, W] = inputShape;
    const R = spec.size;
    this.stride = spec.stride ?? 1;
    this.pad = spec.padding ?? 0;
    this.outputShape = outputShape;
    const [K, OH, OW] = outputShape;
    this.patch = K * R * R;
    this.inSpatial = H * W;
    this.inSize = C * H * W;
    this.outSize = K * OH * OW;
    this.weight = makeParam(rt, `${index}.weight`, [C, K, R, R], "weight");
    this.bias = makeParam(rt, `${index}.bias`, [K], "bias");
    this.params = [this.weight, this.bias];
    // He's fan-in is the number of products summed into one output: each output pixel takes
    // about (R/S)² taps of each of the C input channels (exactly that when S divides R), so
    // fan-in C·R²/S²; every input value reaches K·R·R outputs (the fan-out, for xavier).
    const fanIn = Math.max(1, Math.round((C * R * R) / (this.stride * this.stride)));
    initWeights(this.weight.value.view(), spec.init ?? "he", fanIn, this.patch, rng);
    this.bias.value.fill(0);
    this.out = new BatchBuffer(rt, this.outSize);
    this.dx = new BatchBuffer(rt, this.inSize);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    const { rt } = this;
    const C = this.inputShape[0];
    if (!this.packedFrom) this.packedFrom = rt.alloc(this.weight.value.length * 4);
    if (!this.packedWt) this.packedWt = rt.alloc(rt.kernels.packedABytes(this.patch, C));
    while (this.colsScratch.length < rt.threads) this.colsScratch.push(rt.alloc(this.patch * this.inSpatial * 4));
    if (!training) return;
    this.dx.ensure(batch);
    if (!this.packedW) this.packedW = rt.alloc(rt.kernels.packedABytes(C, this.patch));
    if (rt.threads > 1 && !this.dwPartials) this.dwPartials = rt.alloc((rt.threads - 1) * this.weight.value.length * 4);
  }

  forward(x: number, batch: number, _training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec, patch, inSpatial } = this;
    const [C, H, W] = this.inputShape;
    const [K, OH, OW] = this.outputShape;
    const addBias = this.reluFused ? "addBiasChannelsRelu" : "addBiasChannels";
    const bias = this.bias.value.ptr;
    this.input = x;
    // op(A) = Wᵀ [K·R·R, C]: W stored [C, K·R·R] read transposed.
    if (this.weightsChanged()) rt.kernels.packA(this.weight.value.ptr, patch, patch, C, 1, this.packedWt);
    rt.parallel(
      splitRange(batch, rt.threads).map(([start, end], t) => {
        const calls: KernelCall[] = [];
        const cols = this.colsScratch[t];
        for (let i = start; i < end; i++) {
          const out = this.out.ptr + i * this.outSize * 4;
          // cols[K·R·R, H·W] = Wᵀ · x_i, scattered onto the output (col2im overwrites it), plus the bias.
          calls.push(rt.gemmPackedCall(t, this.packedWt, x + i * this.inSize * 4, cols, patch, C, inSpatial, false, 0));
          calls.push(["col2im", cols, out, K, OH, OW, spec.size, this.stride, this.pad, H, W]);
          calls.push([addBias, out, bias, 1, K, OH * OW]);
        }
        return calls;
      }),
    );
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec, patch, inSpatial } = this;
    const [C, H, W] = this.inputShape;
    const [K, OH, OW] = this.outputShape;
    const weightSize = this.weight.value.length;
    const ranges = splitRange(batch, rt.threads);
    // op(A) = W [C, K·R·R] as stored.
    if (needInputGrad) rt.kernels.packA(this.weight.value.ptr, patch, C, patch, 0, this.packedW);
    rt.parallel(
      ranges.map(([start, end], t) => {
        const calls: KernelCall[] = [];
        const dw = t === 0 ? this.weight.grad.ptr : this.dwPartials + (t - 1) * weightSize * 4;
        const dcols = this.colsScratch[t];
        for (let i = start; i < end; i++) {
          calls.push(["im2col", dy + i * this.outSize * 4, dcols, K, OH, OW, spec.size, this.stride, this.pad, H, W]);
          const xi = this.input + i * this.inSize * 4;
          // dW[C, K·R·R] (+)= x_i[C, H·W] · dcolsᵀ.
          calls.push(rt.gemmCall(t, xi, dcols, dw, C, inSpatial, patch, false, true, i === start ? 0 : 1));
          if (needInputGrad) {
            // dx_i[C, H·W] = W · dcols.
            calls.push(
              rt.gemmPackedCall(
                t,
                this.packedW,
                dcols,
                this.dx.ptr + i * this.inSize * 4,
                C,
                patch,
                inSpatial,
                false,
                0,
              ),
            );
          }
        }
        return calls;
      }),
    );
    // dW = thread 0's share + the others' (summed in thread order: deterministic per thread count).
    if (ranges.length > 1) rt.kernels.sumRows(this.dwPartials, this.weight.grad.ptr, ranges.length - 1, weightSize, 1);
    sumBiasGrad(rt, dy, this.bias.grad.ptr, batch, K, OH * OW);
    return needInputGrad ? this.dx.ptr : 0;
  }

  /** Whether the weights differ from those packedWt was made from (and notes them). */
  private weightsChanged(): boolean {
    const changed =
      this.rt.kernels.copyIfChanged(this.weight.value.ptr, this.packedFrom, this.weight.value.length) === 1;
    if (!changed && this.packedValid) return false;
    this.packedValid = true;
    return true;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
    const free = (ptr: number): void => {
      if (ptr && !this.rt.disposed) this.rt.free(ptr);
    };
    for (const ptr of this.colsScratch) free(ptr);
    this.colsScratch = [];
    for (const ptr of [this.dwPartials, this.packedW, this.packedWt, this.packedFrom]) free(ptr);
    this.dwPartials = 0;
    this.packedW = 0;
    this.packedWt = 0;
    this.packedFrom = 0;
    this.packedValid = false;
    disposeParams(this.params);
  }
}
