import { describeValue } from "../args";
import { fail } from "../errors";
import { initWeights, type Initializer } from "../init";
import type { Random } from "../random";
import type { Runtime } from "../runtime/runtime";
import { splitRange, type KernelCall } from "../runtime/threads";
import type { Int8Forward, Int8Weights } from "./int8";
import type { Pool2D } from "./pool2d";
import { sumBiasGrad } from "./bias-grad";
import { BatchBuffer, disposeParams, type Layer, layerDisposed, makeParam, type Param } from "./layer";
import { WinogradConv, winogradTile, type WinogradTile } from "./winograd";

export interface Conv2DSpec {
  type: "conv2d";
  /** K: number of filters (output channels). */
  filters: number;
  /** R: filters are R x R. */
  size: number;
  stride?: number;
  /** Zero padding on every side. */
  padding?: number;
  init?: Initializer;
}

/**
 * Output side of a convolution or pooling window: (in + 2·pad - size) / stride + 1 (0 or less
 * when the window does not fit). All four are integers: size and stride at least 1, the others 0 or more.
 */
export function outputSide(input: number, size: number, stride: number, pad: number): number {
  const args = [input, size, stride, pad];
  if (!args.every((v) => Number.isSafeInteger(v) && v >= 0) || size < 1 || stride < 1) {
    fail(
      "BAD_ARGUMENT",
      `outputSide: input, size, stride and padding must be integers (size and stride at least 1, input and padding 0 or more), got ${args.map(describeValue).join(", ")}`,
    );
  }
  return Math.floor((input + 2 * pad - size) / stride) + 1;
}

/**
 * 2-D convolution by im2col (eq. 56-62): x [batch, C, H, W] -> y [batch, K, OH, OW], filters
 * W [K, C, R, R] used as the matrix [K, C·R·R], one bias per filter. Per image: cols = im2col(x),
 * y = W·cols + b. Backward: dW += dy·colsᵀ, db = Σ dy, dx = col2im(Wᵀ·dy), the patches made
 * again from the input the forward pass saw. Shapes: cols and dcols [C·R·R, OH·OW] per thread.
 * A shallow forward product (a first layer on grey images) skips im2col: see DIRECT_MAX_DEPTH.
 * When the model asks for it (Model.winograd), the passes of a 3x3 stride-1 layer, forward and
 * backward, run Winograd's F(2x2, 3x3) or F(4x4, 3x3) instead, where it pays: see sdk/layers/winograd.ts.
 * test/sdk/layers/conv2d.test.ts checks every path against plain loops (test/support/conv2d-reference.ts).
 */
/** Filter bands of a one-image forward pass are multiples of the GEMM micro-kernel's 5 rows. */
const FILTER_BAND_ALIGN = 5;
/**
 * Patches narrower than this (one input channel: 3x3 is 9 values) make dW's GEMM a product with
 * a few columns, where the micro-kernel's 8-column tiles run mostly empty; the layer then
 * multiplies out dWᵀ (filters as columns) and transposes it when adding the threads' shares.
 */
const NARROW_PATCH = 16;
/**
 * Forward passes with patches this shallow or shallower (one channel, up to 5x5), stride 1 and
 * no padding run kernels.convDirect, which reads the pixels of each patch from the image: with
 * 9 or 25 values per patch, writing and packing the patches and the GEMM's per-tile work cost as
 * much as the multiply-adds. Same floats; measured 1.2x (3x3) and 2.2x (5x5) faster on 28x28
 * images, a wash for 3-channel 3x3 patches (27 values), slower for conv2's 288.
 */
const DIRECT_MAX_DEPTH = 25;

export class Conv2D implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params: readonly Param[];
  private readonly weight: Param;
  private readonly bias: Param;
  private readonly stride: number;
  private readonly pad: number;
  private readonly patch: number; // C·R·R
  private readonly outSpatial: number; // OH·OW
  private readonly inSize: number;
  private readonly outSize: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  /** Per thread: one image's patches (im2col), and their gradient. */
  private colsScratch: number[] = [];
  private dcols: number[] = [];
  /** The input of the last forward pass: the backward pass makes its patches again. */
  private input = 0;
  /** Threads after the first accumulate their share of dW here, [threads - 1, K·C·R·R]. */
  private dwPartials = 0;
  /** Narrow patches (NARROW_PATCH): each thread's dWᵀ [C·R·R, K], [threads, C·R·R·K]. */
  private dwTransposed = 0;
  /** The model sets this when a ReLU follows: the bias kernel applies it (see Layer.reluFused). */
  reluFused = false;
  /** Set for an int8 model (sdk/io/int8-file.ts): inference passes run it instead of the float product. */
  int8?: Int8Forward;
  /**
   * Set for an int8 model's convolution followed by a ReLU, a 2x2 max-pool and another int8
   * convolution or dense layer (sdk/io/int8-file.ts): the pool, and the layer that reads its output.
   */
  int8Pool?: { pool: Pool2D; next: { int8?: Int8Forward } };
  private int8PoolOn = false;

  /**
   * Whether inference passes run the convolution, its ReLU and the max-pool in one int8 pass that
   * writes the next layer's quantized input (Int8Forward.forwardPooled; the model's
   * `fusion`, with the ReLU fused as well). The same values reach the next layer either way.
   */
  get int8PoolFused(): boolean {
    return this.int8PoolOn;
  }

  set int8PoolFused(on: boolean) {
    const pair = this.int8Pool;
    if (!pair?.next.int8 || !this.int8) return;
    this.int8PoolOn = on;
    pair.pool.appliedByPrevious = on;
    pair.next.int8.quantizedInput = on;
  }
  /**
   * Set by the model (its `winograd` option): the passes of a 3x3 stride-1 convolution where
   * Winograd pays (see winogradEligible), training ones included, run sdk/layers/winograd.ts
   * instead of the im2col product.
   */
  get winograd(): boolean {
    return this.winogradOn;
  }

  /** Turning it off frees the transformed filters and the scratch. */
  set winograd(on: boolean) {
    this.winogradOn = on;
    if (on) return;
    this.disposeWinograd();
  }

  private winogradOn = false;
  /** The Winograd passes made, by tile size: inference and training may each pick their own. */
  private winogradPasses: Partial<Record<WinogradTile, WinogradConv>> = {};
  /** The Winograd pass of the last training forward pass, if it ran one: its backward pass must too. */
  private winogradTraining?: WinogradConv;
  /**
   * Set for every quantized layer of an int8 model, int8 pass or not: its int8 weights (the float
   * weight holds them dequantized), which exportOnnx writes.
   */
  int8Weights?: Int8Weights;
  /**
   * W and Wᵀ packed for the GEMM (kernels.packA), shared by the threads: W when the weights have
   * changed since it was packed (see packedFrom), Wᵀ once per backward pass.
   */
  private packedW = 0;
  private packedWt = 0;
  /**
   * For convDirect: W packed by packConvFilters in region 0, kept while the weights do not change
   * (see packedFrom); a one-image pass split by filters packs thread t's band into region t + 1.
   */
  private packedFilters = 0;
  private packedFiltersBytes = 0;
  /**
   * The weights the forward packing (packedW or packedFilters) was made from: a forward pass
   * repacks only if they changed (inference on one image at a time packs once, not per image).
   */
  private packedFrom = 0;
  private packedValid = false;

  constructor(
    private readonly rt: Runtime,
    readonly spec: Conv2DSpec,
    readonly inputShape: readonly number[],
    /** From planModel, which has checked that the filters fit the input. */
    outputShape: readonly number[],
    index: number,
    rng: Random,
  ) {
    const [C, H, W] = inputShape;
    const R = spec.size;
    this.stride = spec.stride ?? 1;
    this.pad = spec.padding ?? 0;
    this.outputShape = outputShape;
    const [, OH, OW] = outputShape;
    this.patch = C * R * R;
    this.outSpatial = OH * OW;
    this.inSize = C * H * W;
    this.outSize = spec.filters * OH * OW;
    this.weight = makeParam(rt, `${index}.weight`, [spec.filters, C, R, R], "weight");
    this.bias = makeParam(rt, `${index}.bias`, [spec.filters], "bias");
    this.params = [this.weight, this.bias];
    initWeights(this.weight.value.view(), spec.init ?? "he", this.patch, spec.filters * R * R, rng);
    this.bias.value.fill(0);
    this.out = new BatchBuffer(rt, this.outSize);
    this.dx = new BatchBuffer(rt, this.inSize);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    const { rt } = this;
    if (!this.packedFrom) this.packedFrom = rt.alloc(this.weight.value.length * 4);
    if (this.direct) {
      if (!this.packedFilters) {
        this.packedFiltersBytes = rt.kernels.packedFiltersBytes(this.spec.filters, this.patch);
        this.packedFilters = rt.alloc((rt.threads + 1) * this.packedFiltersBytes);
      }
    } else {
      if (!this.packedW) this.packedW = rt.alloc(rt.kernels.packedABytes(this.spec.filters, this.patch));
    }
    if (this.direct && !training) return;
    while (this.colsScratch.length < rt.threads) this.colsScratch.push(rt.alloc(this.patch * this.outSpatial * 4));
    if (!training) return;
    this.dx.ensure(batch);
    while (this.dcols.length < rt.threads) this.dcols.push(rt.alloc(this.patch * this.outSpatial * 4));
    if (this.narrowPatch) {
      if (!this.dwTransposed) this.dwTransposed = rt.alloc(rt.threads * this.weight.value.length * 4);
    } else if (rt.threads > 1 && !this.dwPartials) {
      this.dwPartials = rt.alloc((rt.threads - 1) * this.weight.value.length * 4);
    }
    if (!this.packedWt) this.packedWt = rt.alloc(rt.kernels.packedABytes(this.patch, this.spec.filters));
  }

  // The batch is shared out among the threads, a run of whole images each: per image the work is
  // one im2col and one GEMM. One image alone with a big enough product is shared out by filters
  // instead: every thread makes the patches and multiplies its band of W's rows (the im2col is a
  // few microseconds, cheaper than a second dispatch to share it). The bias (and a fused ReLU) is
  // added right after each product, while its output is still in cache.
  forward(x: number, batch: number, training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (this.int8 && !training) {
      const next = this.int8Pool?.next.int8;
      if (this.int8PoolOn && next && this.reluFused) this.int8.forwardPooled(x, batch, next);
      else this.int8.forward(x, batch, this.out.ptr, this.reluFused);
      return this.out.ptr;
    }
    const { rt, spec, patch, outSpatial } = this;
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    // A backward pass after a Winograd training pass runs Winograd's; the default path's reads the input.
    if (training) {
      this.winogradTraining = undefined;
      this.input = x;
    }
    const tile = this.winograd ? this.winogradTile(training) : 0;
    if (tile) {
      this.winogradPasses[tile] ??= new WinogradConv(rt, spec.filters, C, H, W, this.pad, OH, OW, tile);
      const pass = this.winogradPasses[tile];
      pass.forward(x, batch, this.weight.value.ptr, this.bias.value.ptr, this.out.ptr, this.reluFused, training);
      if (training) this.winogradTraining = pass;
      return this.out.ptr;
    }
    const addBias = this.reluFused ? "addBiasChannelsRelu" : "addBiasChannels";
    const bias = this.bias.value.ptr;
    // One image is shared out by filters only when its product is big enough to repay waking a
    // worker (rt.worthSplitting): not the LeNet-like nets' layers (0.4 and 4.5 MFLOP).
    const oneImageSplit =
      batch === 1 && spec.filters >= 2 * FILTER_BAND_ALIGN && rt.worthSplitting(2 * spec.filters * patch * outSpatial);
    if (this.direct) {
      const weight = this.weight.value.ptr;
      const relu = this.reluFused ? 1 : 0;
      // convDirect takes four filters at a time: a band of fewer (many threads, few filters) would not do.
      const bands = splitRange(spec.filters, rt.threads, FILTER_BAND_ALIGN);
      if (oneImageSplit && bands.every(([first, end]) => end - first >= 4)) {
        rt.parallel(
          bands.map(([first, end], t): KernelCall[] => {
            const packed = this.packedFilters + (t + 1) * this.packedFiltersBytes;
            return [
              ["packConvFilters", weight + first * patch * 4, end - first, patch, packed],
              [
                "convDirect",
                x,
                packed,
                bias + first * 4,
                this.out.ptr + first * outSpatial * 4,
                end - first,
                C,
                H,
                W,
                spec.size,
                relu,
              ],
            ];
          }),
        );
        return this.out.ptr;
      }
      if (this.weightsChanged()) rt.kernels.packConvFilters(weight, spec.filters, patch, this.packedFilters);
      rt.parallel(
        splitRange(batch, rt.threads).map(([start, end]) => {
          const calls: KernelCall[] = [];
          for (let i = start; i < end; i++) {
            calls.push([
              "convDirect",
              x + i * this.inSize * 4,
              this.packedFilters,
              bias,
              this.out.ptr + i * this.outSize * 4,
              spec.filters,
              C,
              H,
              W,
              spec.size,
              relu,
            ]);
          }
          return calls;
        }),
      );
      return this.out.ptr;
    }
    if (oneImageSplit) {
      rt.parallel(
        splitRange(spec.filters, rt.threads, FILTER_BAND_ALIGN).map(([first, end], t): KernelCall[] => {
          const cols = this.colsScratch[t];
          const out = this.out.ptr + first * outSpatial * 4;
          return [
            ["im2col", x, cols, C, H, W, spec.size, this.stride, this.pad, OH, OW],
            rt.gemmCall(
              t,
              this.weight.value.ptr + first * patch * 4,
              cols,
              out,
              end - first,
              patch,
              outSpatial,
              false,
              false,
              0,
            ),
            [addBias, out, bias + first * 4, 1, end - first, outSpatial],
          ];
        }),
      );
      return this.out.ptr;
    }
    // Each thread writes an image's patches into its own scratch and multiplies them while they are
    // in cache; the backward pass makes them again (an im2col is cheaper than keeping 100 patch
    // matrices that fall out of cache between the two passes).
    if (this.weightsChanged()) rt.kernels.packA(this.weight.value.ptr, patch, spec.filters, patch, 0, this.packedW);
    rt.parallel(
      splitRange(batch, rt.threads).map(([start, end], t) => {
        const calls: KernelCall[] = [];
        for (let i = start; i < end; i++) {
          const cols = this.colsScratch[t];
          calls.push(["im2col", x + i * this.inSize * 4, cols, C, H, W, spec.size, this.stride, this.pad, OH, OW]);
          const out = this.out.ptr + i * this.outSize * 4;
          calls.push(rt.gemmPackedCall(t, this.packedW, cols, out, spec.filters, patch, outSpatial, false, 0));
          calls.push([addBias, out, bias, 1, spec.filters, outSpatial]);
        }
        return calls;
      }),
    );
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec, patch, outSpatial } = this;
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    if (this.winogradTraining) {
      this.winogradTraining.backward(dy, batch, needInputGrad ? this.dx.ptr : 0, this.weight.grad.ptr);
      sumBiasGrad(rt, dy, this.bias.grad.ptr, batch, spec.filters, outSpatial);
      return needInputGrad ? this.dx.ptr : 0;
    }
    const weightSize = this.weight.value.length;
    const ranges = splitRange(batch, rt.threads);
    // op(A) = Wᵀ [C·R·R, K]: W stored [K, C·R·R] read transposed.
    if (needInputGrad) rt.kernels.packA(this.weight.value.ptr, patch, patch, spec.filters, 1, this.packedWt);
    rt.parallel(
      ranges.map(([start, end], t) => {
        const calls: KernelCall[] = [];
        const dw = t === 0 ? this.weight.grad.ptr : this.dwPartials + (t - 1) * weightSize * 4;
        const dwT = this.dwTransposed + t * weightSize * 4;
        for (let i = start; i < end; i++) {
          const cols = this.colsScratch[t];
          calls.push([
            "im2col",
            this.input + i * this.inSize * 4,
            cols,
            C,
            H,
            W,
            spec.size,
            this.stride,
            this.pad,
            OH,
            OW,
          ]);
          const dyi = dy + i * this.outSize * 4;
          const beta = i === start ? 0 : 1;
          // dW[K, CRR] (+)= dy_i[K, OHOW] · cols_iᵀ, or for narrow patches dWᵀ[CRR, K] (+)= cols_i · dy_iᵀ.
          if (this.narrowPatch)
            calls.push(rt.gemmCall(t, cols, dyi, dwT, patch, outSpatial, spec.filters, false, true, beta));
          else calls.push(rt.gemmCall(t, dyi, cols, dw, spec.filters, outSpatial, patch, false, true, beta));
          if (needInputGrad) {
            // dcols[CRR, OHOW] = Wᵀ · dy_i, then scattered back onto the image.
            calls.push(
              rt.gemmPackedCall(t, this.packedWt, dyi, this.dcols[t], patch, spec.filters, outSpatial, false, 0),
            );
            calls.push([
              "col2im",
              this.dcols[t],
              this.dx.ptr + i * this.inSize * 4,
              C,
              H,
              W,
              spec.size,
              this.stride,
              this.pad,
              OH,
              OW,
            ]);
          }
        }
        return calls;
      }),
    );
    // dW = thread 0's share + the others' (summed in thread order: deterministic per thread count).
    if (this.narrowPatch) this.addTransposedShares(ranges.length);
    else if (ranges.length > 1)
      rt.kernels.sumRows(this.dwPartials, this.weight.grad.ptr, ranges.length - 1, weightSize, 1);
    sumBiasGrad(rt, dy, this.bias.grad.ptr, batch, spec.filters, outSpatial);
    return needInputGrad ? this.dx.ptr : 0;
  }

  /** dW[f, q] = Σ_t dWᵀ_t[q, f] over the first `shares` threads, in thread order (a few hundred values). */
  private addTransposedShares(shares: number): void {
    const filters = this.spec.filters;
    const size = this.weight.value.length;
    const grad = this.rt.f32(this.weight.grad.ptr, size);
    const parts = this.rt.f32(this.dwTransposed, shares * size);
    for (let f = 0; f < filters; f++) {
      for (let q = 0; q < this.patch; q++) {
        let sum = parts[q * filters + f];
        for (let t = 1; t < shares; t++) sum += parts[t * size + q * filters + f];
        grad[f * this.patch + q] = sum;
      }
    }
  }

  /** Whether the weights differ from those the forward packing was made from (and notes them). */
  private weightsChanged(): boolean {
    const changed =
      this.rt.kernels.copyIfChanged(this.weight.value.ptr, this.packedFrom, this.weight.value.length) === 1;
    if (!changed && this.packedValid) return false;
    this.packedValid = true;
    return true;
  }

  /**
   * The Winograd tile size inference passes run when the model asks for it, 0 for none: 3x3
   * filters, stride 1, and the shape the rule picks it for (winogradTile).
   */
  get winogradEligible(): WinogradTile | 0 {
    return this.winogradTile(false);
  }

  /** The Winograd tile size training passes run when the model asks for it (winogradTile for training), 0 for none. */
  get winogradTrainable(): WinogradTile | 0 {
    return this.winogradTile(true);
  }

  private winogradTile(training: boolean): WinogradTile | 0 {
    const [C] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    return this.spec.size === 3 && this.stride === 1 ? winogradTile(C, this.spec.filters, OH, OW, training) : 0;
  }

  private disposeWinograd(): void {
    for (const pass of Object.values(this.winogradPasses)) pass.dispose();
    this.winogradPasses = {};
    this.winogradTraining = undefined;
  }

  /** Whether forward passes run kernels.convDirect (see DIRECT_MAX_DEPTH). */
  get direct(): boolean {
    const [, , OW] = this.outputShape;
    return this.patch <= DIRECT_MAX_DEPTH && this.stride === 1 && this.pad === 0 && OW >= 8 && this.spec.filters >= 4;
  }

  /** Whether dW is multiplied out transposed (see NARROW_PATCH). */
  private get narrowPatch(): boolean {
    return this.patch < NARROW_PATCH && this.spec.filters > this.patch;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
    this.int8?.dispose();
    this.disposeWinograd();
    const free = (ptr: number): void => {
      if (ptr && !this.rt.disposed) this.rt.free(ptr);
    };
    for (const ptr of [...this.dcols, ...this.colsScratch]) free(ptr);
    this.dcols = [];
    this.colsScratch = [];
    for (const ptr of [
      this.dwPartials,
      this.dwTransposed,
      this.packedW,
      this.packedWt,
      this.packedFilters,
      this.packedFrom,
    ])
      free(ptr);
    this.dwPartials = 0;
    this.dwTransposed = 0;
    this.packedW = 0;
    this.packedWt = 0;
    this.packedFilters = 0;
    this.packedFrom = 0;
    this.packedValid = false;
    disposeParams(this.params);
  }
}
