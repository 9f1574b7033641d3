import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { splitRange, type KernelCall } from "../runtime/threads";

/**
 * How a layer's input is quantized: q = clamp(round(x / scale) + zero, 0, 127), 7 bits (the relaxed
 * dot's unsigned operand). A layer after a ReLU has zero 0; one that sees negative values (the
 * first layer of a normalised data set) a zero point that maps the calibrated minimum to 0.
 */
export interface InputQuant {
  scale: number;
  zero: number;
}

/** A dense or conv2d layer's weights quantized: int8 in the float layout, one scale per output. */
export interface Int8Weights {
  /** [in, units] (dense) or [K, C, R, R] (conv2d), values -128..127 (quantizeModel writes -127..127). */
  weight: Int8Array;
  /** [outputs]: weight ≈ q · weightScale[output]. */
  weightScale: Float32Array;
}

/** A layer of an int8 model: its int8 weights and how its input is quantized. */
export interface LayerQuant extends Int8Weights {
  input: InputQuant;
}

/** The shape of the product a quantized layer runs. */
export type Int8Shape =
  | { kind: "dense"; inSize: number; units: number }
  | {
      kind: "conv";
      C: number;
      H: number;
      W: number;
      R: number;
      stride: number;
      pad: number;
      OH: number;
      OW: number;
      filters: number;
    };

/** Layers that run in int8: dense and conv2d. */
export const isQuantizable = (type: string): boolean => type === "dense" || type === "conv2d";

/** Which output weight i of a layer feeds: a conv's [K, C, R, R] by rows, a dense's [in, units] by columns. */
export function outputIndex(type: string, shape: readonly number[]): (i: number) => number {
  if (type === "conv2d") {
    const per = shape[1] * shape[2] * shape[3];
    return (i) => Math.floor(i / per);
  }
  const units = shape[1];
  return (i) => i % units;
}

/** The largest int32. */
const INT32_MAX = 2 ** 31 - 1;

/**
 * A bias in int32 steps of the product's scale (input scale · weight scale, one per output), as
 * ONNX's QLinearConv and QGemm hold it: values round(b / scale). Undefined when one does not fit
 * in int32 (a scale tiny beside its bias): that bias stays float.
 */
export function int32Bias(
  bias: Float32Array,
  inputScale: number,
  weightScale: Float32Array,
): { values: Int32Array; scale: Float32Array } | undefined {
  const scale = Float32Array.from(weightScale, (s) => inputScale * s);
  const values = new Int32Array(bias.length);
  for (let o = 0; o < bias.length; o++) {
    const v = Math.round(bias[o] / scale[o]);
    if (!(Math.abs(v) <= INT32_MAX)) return undefined;
    values[o] = v;
  }
  return { values, scale };
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * The inference pass of a dense or conv2d layer in int8 (assembly/int8.ts). At construction the
 * weights are laid out for gemmI8: [mp, kp], one row per output (mp = outputs rounded up to 4),
 * the reduction K contiguous and padded with zeros to kp (a multiple of 16), each value a byte in
 * the relaxed SIMD build and an int16 in the plain one (int8OperandBytes); a convolution's rows
 * in (ky, kx, c) order, as im2colHwc writes the patches of its channels-last bytes. The epilogue
 * computes scale·Σ + bias with scale = weightScale · input scale and the bias less the zero
 * point's share, zero · scale · Σ_k w, so that y = Σ_k w_k · x_k + b up to rounding.
 *
 * forward() reads float32 activations and writes float32 ones: the layers between (ReLU,
 * max-pool, flatten) run as they do in float. forwardPooled() runs a convolution with its ReLU
 * and 2x2 max-pool into the next int8 layer's input, already quantized (quantizedInput). A
 * convolution shares its batch out among the runtime's threads (each with its own scratch); a
 * dense layer runs on one.
 */
export class Int8Forward {
  readonly kp: number;
  /** Bytes per value of the product's operands (int8OperandBytes). */
  readonly valueBytes: number;
  private readonly rows: number;
  private readonly weights: number;
  private readonly scale: number;
  private readonly bias: number;
  /** Per thread (convolution): the image's bytes channels-last and their scratch [2·C·H·W], and its patches [np, kp]. */
  private readonly hwc: number[] = [];
  private readonly cols: number[] = [];
  /** Dense: the quantized batch [capacity rounded up to 4, kp] values. */
  private xq = 0;
  private xqRows = 0;
  /**
   * Set (by Conv2D.int8PoolFused) when the layer before writes this layer's input already
   * quantized (forwardPooled; a convolution's channels last, a dense layer's as its operand rows):
   * forward() reads it from quantizedInputBuffer() instead of x.
   */
  quantizedInput = false;
  /** A convolution's quantized input: [capacity, H, W, C] bytes. */
  private quantized = 0;
  private quantizedCapacity = 0;
  /** forwardPooled's weights (kernels.packConvPoolI8), made on first use, and each thread's scratch. */
  private pooledWeights = 0;
  private readonly pooledScratch: number[] = [];
  private disposed = false;

  constructor(
    private readonly rt: Runtime,
    readonly shape: Int8Shape,
    private readonly quant: LayerQuant,
    floatBias: Float32Array,
  ) {
    const outputs = shape.kind === "dense" ? shape.units : shape.filters;
    const depth = shape.kind === "dense" ? shape.inSize : shape.C * shape.R * shape.R;
    if (quant.weight.length !== outputs * depth || quant.weightScale.length !== outputs)
      fail(
        "BAD_SHAPE",
        `int8 layer: ${quant.weight.length} weights and ${quant.weightScale.length} scales for [${outputs}, ${depth}]`,
      );
    this.kp = roundUp(depth, 16);
    this.rows = roundUp(outputs, 4);
    this.valueBytes = rt.kernels.int8OperandBytes();
    const packed = this.valueBytes === 1 ? new Int8Array(this.rows * this.kp) : new Int16Array(this.rows * this.kp);
    const w = quant.weight;
    for (let o = 0; o < outputs; o++) {
      const row = o * this.kp;
      if (shape.kind === "dense") {
        for (let k = 0; k < depth; k++) packed[row + k] = w[k * outputs + o];
      } else {
        const { C, R } = shape;
        for (let c = 0; c < C; c++)
          for (let ky = 0; ky < R; ky++)
            for (let kx = 0; kx < R; kx++) packed[row + (ky * R + kx) * C + c] = w[((o * C + c) * R + ky) * R + kx];
      }
    }
    const scale = new Float32Array(this.rows);
    const bias = new Float32Array(this.rows);
    for (let o = 0; o < outputs; o++) {
      let sum = 0;
      for (let k = 0; k < depth; k++) sum += packed[o * this.kp + k];
      scale[o] = quant.weightScale[o] * quant.input.scale;
      bias[o] = floatBias[o] - quant.input.zero * scale[o] * sum;
    }
    this.weights = rt.alloc(packed.byteLength);
    rt.u8(this.weights, packed.byteLength).set(new Uint8Array(packed.buffer));
    this.scale = rt.alloc(this.rows * 4);
    rt.f32(this.scale, this.rows).set(scale);
    this.bias = rt.alloc(this.rows * 4);
    rt.f32(this.bias, this.rows).set(bias);
  }

  /** How the layer's input is quantized. */
  get input(): InputQuant {
    return this.quant.input;
  }

  /** Bytes of wasm memory the quantized weights take (the int8 rows, scales and biases). */
  get weightBytes(): number {
    return this.rows * this.kp * this.valueBytes + 8 * this.rows;
  }

  /** y [batch, outputs…] float32 = the layer's output for x [batch, inputs…] float32, ReLU'd with `relu`. */
  forward(x: number, batch: number, y: number, relu: boolean): void {
    if (this.disposed) fail("BAD_STATE", "an int8 layer was disposed (with its model)");
    const { rt, shape, kp } = this;
    const invScale = 1 / this.quant.input.scale;
    const zero = this.quant.input.zero;
    if (shape.kind === "dense") {
      if (!this.quantizedInput)
        rt.kernels.quantizeRows(x, this.quantizedInputBuffer(batch), batch, shape.inSize, kp, invScale, zero);
      else if (batch > this.xqRows) fail("BAD_STATE", "an int8 layer's quantized input was not written for this batch");
      rt.kernels.gemmI8(
        this.weights,
        this.xq,
        kp,
        shape.units,
        batch,
        this.scale,
        this.bias,
        y,
        1,
        shape.units,
        relu ? 1 : 0,
      );
      return;
    }
    const { C, H, W, R, stride, pad, OH, OW, filters } = shape;
    const quantized = this.quantizedInput;
    if (quantized && batch > this.quantizedCapacity)
      fail("BAD_STATE", "an int8 layer's quantized input was not written for this batch");
    const source = quantized ? this.quantized : x;
    const inBytes = C * H * W * (quantized ? 1 : 4);
    const outBytes = filters * OH * OW * 4;
    const ranges = splitRange(batch, rt.threads);
    while (this.hwc.length < ranges.length) {
      this.hwc.push(rt.alloc(2 * C * H * W));
      this.cols.push(rt.alloc(roundUp(OH * OW, 4) * kp * this.valueBytes));
    }
    rt.parallel(
      ranges.map(([start, end], t): KernelCall[] => [
        [
          "convI8",
          source + start * inBytes,
          end - start,
          C,
          H,
          W,
          R,
          stride,
          pad,
          OH,
          OW,
          invScale,
          zero,
          this.hwc[t],
          this.cols[t],
          kp,
          this.weights,
          filters,
          this.scale,
          this.bias,
          y + start * outBytes,
          relu ? 1 : 0,
          quantized ? 1 : 0,
        ],
      ]),
    );
  }

  /**
   * This convolution (stride 1, no padding, filters a multiple of 8), its ReLU and a 2x2 max-pool
   * of stride 2 over x [batch, C, H, W] float32, written quantized for `next` (the int8
   * convolution or dense layer after the pool) into its quantized input (kernels.convPoolI8): the
   * values its forward() would make of the pool's output. The batch is shared among the threads.
   */
  forwardPooled(x: number, batch: number, next: Int8Forward): void {
    if (this.disposed) fail("BAD_STATE", "an int8 layer was disposed (with its model)");
    const { rt, shape } = this;
    if (shape.kind !== "conv") fail("BAD_STATE", "forwardPooled: not a convolution");
    const { C, H, W, R, OH, OW, filters } = shape;
    if (!this.pooledWeights) {
      const bytes = rt.kernels.convPoolI8WeightBytes(filters, C, R);
      const w = rt.alloc(this.quant.weight.length);
      rt.u8(w, this.quant.weight.length).set(
        new Uint8Array(this.quant.weight.buffer, this.quant.weight.byteOffset, this.quant.weight.length),
      );
      this.pooledWeights = rt.alloc(bytes);
      rt.kernels.packConvPoolI8(w, filters, C, R, this.pooledWeights);
      rt.free(w);
    }
    const ranges = splitRange(batch, rt.threads);
    while (this.pooledScratch.length < ranges.length)
      this.pooledScratch.push(rt.alloc(rt.kernels.convPoolI8ScratchBytes(C, H, W)));
    const out = next.quantizedInputBuffer(batch);
    const dense = next.shape.kind === "dense";
    // A dense layer's operand rows: kp values of int8OperandBytes each.
    const outBytes = dense ? next.kp * next.valueBytes : (OH >> 1) * (OW >> 1) * filters;
    // This layer's input as the layer before wrote it (quantizedInput), or floats.
    const quantized = this.quantizedInput;
    if (quantized && batch > this.quantizedCapacity)
      fail("BAD_STATE", "an int8 layer's quantized input was not written for this batch");
    const source = quantized ? this.quantized : x;
    const inBytes = C * H * W * (quantized ? 1 : 4);
    rt.parallel(
      ranges.map(([start, end], t): KernelCall[] => [
        [
          "convPoolI8",
          source + start * inBytes,
          end - start,
          C,
          H,
          W,
          R,
          1 / this.quant.input.scale,
          this.quant.input.zero,
          this.pooledScratch[t],
          this.pooledWeights,
          filters,
          this.scale,
          this.bias,
          1 / next.input.scale,
          next.input.zero,
          out + start * outBytes,
          outBytes,
          dense ? 0 : 1,
          quantized ? 1 : 0,
        ],
      ]),
    );
  }

  /**
   * The buffer this layer's quantized input goes into for `batch` images: a convolution's
   * [batch, H, W, C] bytes (written by the layer before: quantizedInput), a dense layer's gemmI8
   * operand rows [batch rounded up to 4, kp] (by quantizeRows, or the layer before).
   */
  quantizedInputBuffer(batch: number): number {
    const { shape, rt } = this;
    if (shape.kind === "dense") {
      const rows = roundUp(batch, 4);
      if (rows > this.xqRows) {
        if (this.xq) rt.free(this.xq);
        this.xq = 0;
        this.xqRows = 0;
        this.xq = rt.alloc(rows * this.kp * this.valueBytes);
        this.xqRows = rows;
      }
      return this.xq;
    }
    if (batch > this.quantizedCapacity) {
      if (this.quantized) this.rt.free(this.quantized);
      this.quantized = 0;
      this.quantizedCapacity = 0;
      // 16 bytes of slack, zeros: a window row's last step may read past the last image
      // (convPoolI8, whose weights there are 0; the relaxed dot asks for bytes of 0..127).
      const bytes = batch * shape.C * shape.H * shape.W;
      this.quantized = this.rt.alloc(bytes + 16);
      this.rt.u8(this.quantized + bytes, 16).fill(0);
      this.quantizedCapacity = batch;
    }
    return this.quantized;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.rt.disposed) return;
    for (const p of [this.weights, this.scale, this.bias, ...this.hwc, ...this.cols, ...this.pooledScratch])
      this.rt.free(p);
    for (const p of [this.xq, this.quantized, this.pooledWeights]) if (p) this.rt.free(p);
  }
}
