import { checkOptions, checkSeed, describeValue, pixelArray, refuseNonFinite } from "./args";
import { fail } from "./errors";
import { Activation } from "./layers/activation";
import { BatchNorm } from "./layers/batchnorm";
import { Dropout } from "./layers/dropout";
import { Conv2D } from "./layers/conv2d";
import { ConvTranspose } from "./layers/conv-transpose";
import { Dense } from "./layers/dense";
import { Flatten } from "./layers/flatten";
import { Pool2D } from "./layers/pool2d";
import { Reshape } from "./layers/reshape";
import { Sampling } from "./layers/sampling";
import { Upsample } from "./layers/upsample";
import { BatchBuffer, sizeOf, type Layer, type Param, type StateBuffer } from "./layers/layer";
import { SoftmaxLoss } from "./layers/softmax-loss";
import { inferenceBatch, planModel } from "./plan";
import { Random } from "./random";
import { Runtime } from "./runtime/runtime";
import { validateSpec, type LayerSpec, type ModelSpec } from "./spec";

/** Pixel bytes 0-255 are scaled to [0, 1] on the way in, as the course does. */
export const PIXEL_SCALE = 1 / 255;

/**
 * predict() checks float pixels for NaN and Infinity in wasm: it sums the batch's floats in
 * columns of this many (kernels.sumRows; a NaN or an infinity anywhere makes its column's sum
 * non-finite) and reads only the sums: about 0.15 ns a pixel (120-200 µs for 1000 MNIST images,
 * as much as copying them in; a tenth of the smallest MLP's forward pass) where a JavaScript scan
 * takes 1.5-2 ns, as long as that whole forward pass.
 */
const FINITE_CHECK_COLUMNS = 64;

/**
 * A sequential model built from a spec. It owns its layers' parameters and activation buffers
 * in wasm memory, an input buffer and a label buffer. Training and evaluation drive it through
 * forward(), loss and backward(); predict() is the convenient entry for raw pixels.
 *
 * dispose() frees all of it. After that every use of the model (and of its layers, parameters
 * and loss) is refused with BAD_STATE, as is every use once its runtime is disposed; a second
 * dispose() does nothing. One fit() at a time may train a model: a second is refused (BAD_STATE).
 */
export class Model {
  readonly spec: ModelSpec;
  readonly layers: readonly Layer[];
  /** Every learnable tensor, in layer order (gathered once: the optimizer reads it every step). */
  readonly params: readonly Param[];
  /** Saved, non-learnable tensors (batch norm's running statistics), in layer order. */
  readonly buffers: readonly StateBuffer[];
  readonly loss: SoftmaxLoss;
  readonly inputSize: number;
  readonly classCount: number;
  private readonly inputBuffer: BatchBuffer;
  private labelBuffer = 0;
  /** Room for forward passes of up to `capacity` samples; for training ones up to `trainingCapacity`. */
  private capacity = 0;
  private trainingCapacity = 0;
  /** Each dense or conv2d layer followed by a ReLU, with that ReLU (see `fusion`). */
  private readonly fusedPairs: readonly (readonly [Layer, Activation])[];
  /** Each ReLU followed by a max-pool, with that pool (see `fusion`). */
  private readonly maskedPairs: readonly (readonly [Activation, Pool2D])[];
  private fusionOn = false;
  /** predict()'s raw bytes before scaling, kept between calls: one image takes microseconds. */
  private staging = { ptr: 0, bytes: 0 };
  /** The column sums of checkFinite(), FINITE_CHECK_COLUMNS floats (allocated on first use). */
  private finiteSums = 0;
  private isDisposed = false;
  private training = false;

  constructor(
    readonly rt: Runtime,
    spec: ModelSpec,
    options: { seed?: number } = {},
  ) {
    if (!(rt instanceof Runtime))
      fail("BAD_ARGUMENT", `new Model: rt must be a Runtime (from Runtime.create()), got ${describeValue(rt)}`);
    if (rt.disposed) fail("BAD_STATE", "new Model: the runtime was disposed");
    const { seed } = checkOptions<{ seed: number }>(options, "new Model options", ["seed"]);
    if (seed !== undefined) checkSeed(seed, "new Model: seed");
    this.spec = validateSpec(spec);
    // Every layer must fit its input before the first byte is allocated.
    const plans = planModel(this.spec);
    const rng = new Random(seed ?? 0);
    const layers: Layer[] = [];
    let shape: readonly number[] = this.spec.input;
    try {
      this.spec.layers.forEach((layerSpec, index) => {
        const layer = buildLayer(rt, layerSpec, shape, plans[index].outputShape, index, rng);
        layers.push(layer);
        shape = layer.outputShape;
      });
    } catch (e) {
      // A layer that does not fit its input: free what the layers before it allocated.
      for (const layer of layers) layer.dispose();
      throw e;
    }
    this.layers = layers;
    this.params = layers.flatMap((l) => l.params);
    this.buffers = layers.flatMap((l) => l.buffers ?? []);
    this.inputSize = sizeOf(this.spec.input);
    this.classCount = sizeOf(shape);
    this.loss = new SoftmaxLoss(rt, this.classCount, this.spec.loss);
    this.inputBuffer = new BatchBuffer(rt, this.inputSize);
    this.fusedPairs = layers.flatMap((layer, i) => {
      const next = layers[i + 1];
      return "reluFused" in layer && next instanceof Activation && next.spec.type === "relu"
        ? [[layer, next] as const]
        : [];
    });
    this.maskedPairs = layers.flatMap((layer, i) => {
      const next = layers[i + 1];
      return layer instanceof Activation &&
        layer.spec.type === "relu" &&
        next instanceof Pool2D &&
        next.spec.type === "maxpool"
        ? [[layer, next] as const]
        : [];
    });
    this.fusion = true;
  }

  /**
   * Whether ReLUs are folded into their neighbours (on by default): a dense or conv2d layer
   * followed by a ReLU applies it as it adds its bias, and a max-pool after a ReLU applies the
   * ReLU's backward pass as it routes the gradient. Each saves a pass over the ReLU's data, which
   * for the LeNet-like net's first convolution is 8.6 MB per 100 images. The results are the same
   * floats either way; layerActivations() turns it off, to report a layer's output before the ReLU.
   */
  get fusion(): boolean {
    return this.fusionOn && this.fusedPairs.length + this.maskedPairs.length > 0;
  }

  set fusion(on: boolean) {
    this.check("fusion");
    if (typeof on !== "boolean") fail("BAD_ARGUMENT", `fusion must be true or false, got ${describeValue(on)}`);
    this.fusionOn = on;
    for (const [layer, relu] of this.fusedPairs) {
      layer.reluFused = on;
      relu.appliedByPrevious = on;
    }
    for (const [relu, pool] of this.maskedPairs) {
      relu.maskedByNext = on;
      pool.reluBefore = on;
    }
  }

  /** Number of learnable values. */
  get paramCount(): number {
    return this.params.reduce((n, p) => n + p.value.length, 0);
  }

  /**
   * Makes room for batches of up to `batch` samples (no-op when there is room): for training
   * (forward and backward passes), or with `training` false for inference only, which needs about
   * a third of the memory (no input gradients, no max-pool arg-max: 428 -> 146 MiB for predict() on
   * 1000 images with the LeNet-like net). forward() and backward() make room for training if it is missing.
   */
  allocate(batch: number, training = true): void {
    this.check("allocate");
    if (!Number.isSafeInteger(batch) || batch <= 0)
      fail("BAD_ARGUMENT", `batch size must be a positive integer, got ${describeValue(batch)}`);
    const forwardRoom = batch <= this.capacity;
    if (forwardRoom && (!training || batch <= this.trainingCapacity)) return;
    // Until every buffer is in place the model has no capacity: a failed allocation (out of
    // memory) may have released some buffers already, and the next call must re-make them.
    const [capacity, trainingCapacity] = [this.capacity, this.trainingCapacity];
    this.capacity = this.trainingCapacity = 0;
    for (const layer of this.layers) layer.allocate(batch, training);
    this.loss.allocate(batch, training);
    this.inputBuffer.ensure(batch);
    if (!forwardRoom) {
      if (this.labelBuffer) this.rt.free(this.labelBuffer);
      this.labelBuffer = 0; // until the new one exists: a failed alloc must not leave a freed address
      this.labelBuffer = this.rt.alloc(batch);
    }
    this.capacity = Math.max(capacity, batch);
    this.trainingCapacity = training ? Math.max(trainingCapacity, batch) : trainingCapacity;
  }

  /** Address of the float32 input batch [capacity, inputSize]. */
  get inputPtr(): number {
    this.check("inputPtr");
    return this.inputBuffer.ptr;
  }

  /** Address of the uint8 label batch [capacity]. */
  get labelPtr(): number {
    this.check("labelPtr");
    return this.labelBuffer;
  }

  /** Runs the layers on `batch` samples at `x`; returns the address of the logits. */
  forward(x: number, batch: number, training: boolean): number {
    this.check("forward");
    if (training) this.allocate(batch, true);
    let out = x;
    for (const layer of this.layers) out = layer.forward(out, batch, training);
    return out;
  }

  /** Back-propagates the loss gradient of the last loss.forward(…, withGrad) through every layer. */
  backward(batch: number): void {
    this.check("backward");
    this.allocate(batch, true);
    let grad = this.loss.gradPtr;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      grad = this.layers[i].backward(grad, batch, i > 0);
    }
  }

  /**
   * Class probabilities for `count` samples of raw pixels, laid out sample after sample. Returns
   * [count, classes] row-major. Pixels are bytes 0-255 (a Uint8Array, a Uint8ClampedArray such as
   * ImageData.data, or an ArrayBuffer, read as bytes) or floats already in [0, 1] (a Float32Array,
   * a Float64Array, or a plain array of numbers, read as floats like a Float32Array). Floats must
   * be finite. Anything else is BAD_ARGUMENT; a length that is not `count` images is BAD_SHAPE.
   */
  predict(
    pixels: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array | ArrayBuffer | readonly number[],
    count?: number,
  ): Float32Array {
    this.check("predict");
    const values = pixelArray(pixels, "predict: pixels", false);
    if (count === undefined) count = values.length / this.inputSize;
    else if (typeof count !== "number" || !Number.isSafeInteger(count) || count <= 0) {
      fail("BAD_ARGUMENT", `predict: count must be a positive integer, got ${describeValue(count)}`);
    }
    if (!Number.isInteger(count) || count <= 0 || values.length !== count * this.inputSize) {
      const expected =
        Number.isInteger(count) && count > 0 ? `${count} x ${this.inputSize}` : `a multiple of ${this.inputSize}`;
      fail("BAD_SHAPE", `predict: expected ${expected} values (input [${this.spec.input}]), got ${values.length}`);
    }
    const result = new Float32Array(count * this.classCount);
    const chunk = Math.min(count, inferenceBatch(this.spec));
    this.allocate(chunk, false);
    for (let start = 0; start < count; start += chunk) {
      const n = Math.min(chunk, count - start);
      const slice = values.subarray(start * this.inputSize, (start + n) * this.inputSize);
      if (slice instanceof Uint8Array) {
        const staging = this.stagingBytes(slice.length);
        this.rt.u8(staging, slice.length).set(slice);
        this.rt.kernels.scaleU8(staging, this.inputPtr, slice.length, PIXEL_SCALE);
      } else {
        this.rt.f32(this.inputPtr, slice.length).set(slice);
        this.checkFinite(slice, start * this.inputSize);
      }
      const logits = this.forward(this.inputPtr, n, false);
      this.loss.forward(logits, 0, n, false);
      result.set(this.rt.f32(this.loss.probsPtr, n * this.classCount), start * this.classCount);
    }
    return result;
  }

  /**
   * Refuses float pixels holding NaN or ±Infinity (BAD_ARGUMENT naming the first), `slice`
   * being the values just copied to the input buffer and `offset` their place in predict()'s
   * argument. Sums in wasm (see FINITE_CHECK_COLUMNS); only a non-finite sum, which finite
   * values near the float limit can also make, leads to a scan in JavaScript.
   */
  private checkFinite(slice: Float32Array, offset: number): void {
    const { rt } = this;
    if (!this.finiteSums) this.finiteSums = rt.alloc(FINITE_CHECK_COLUMNS * 4);
    const rows = Math.floor(slice.length / FINITE_CHECK_COLUMNS);
    rt.kernels.sumRows(this.inputPtr, this.finiteSums, rows, FINITE_CHECK_COLUMNS, 0);
    const sums = rt.f32(this.finiteSums, FINITE_CHECK_COLUMNS);
    let finite = true;
    for (let i = 0; i < FINITE_CHECK_COLUMNS; i++) if (sums[i] - sums[i] !== 0) finite = false;
    if (!finite) refuseNonFinite(slice, "predict: pixels", offset);
    const tail = rows * FINITE_CHECK_COLUMNS;
    refuseNonFinite(slice.subarray(tail), "predict: pixels", offset + tail);
  }

  /** The staging area for `bytes` raw pixel bytes. */
  private stagingBytes(bytes: number): number {
    if (bytes > this.staging.bytes) {
      if (this.staging.ptr) this.rt.free(this.staging.ptr);
      this.staging = { ptr: 0, bytes: 0 };
      this.staging = { ptr: this.rt.alloc(bytes), bytes };
    }
    return this.staging.ptr;
  }

  /** True once dispose() has run. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Marks the model as trained by `call` (fit) until the returned function runs. Refuses with
   * BAD_STATE a model already training, or disposed, or whose runtime is disposed.
   */
  startTraining(call: string): () => void {
    this.check(call);
    if (this.training)
      fail(
        "BAD_STATE",
        `${call}: the model is already training (another fit() runs on it); wait for it to finish or stop it`,
      );
    this.training = true;
    return () => {
      this.training = false;
    };
  }

  /**
   * Frees every buffer this model holds in wasm memory. A second call does nothing; so does a
   * call after the runtime's dispose() (the memory went with it).
   */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const layer of this.layers) layer.dispose();
    this.loss.dispose();
    this.inputBuffer.release();
    const live = !this.rt.disposed;
    if (this.labelBuffer && live) this.rt.free(this.labelBuffer);
    this.labelBuffer = 0;
    if (this.staging.ptr && live) this.rt.free(this.staging.ptr);
    this.staging = { ptr: 0, bytes: 0 };
    if (this.finiteSums && live) this.rt.free(this.finiteSums);
    this.finiteSums = 0;
    this.capacity = this.trainingCapacity = 0;
  }

  /** Refuses (BAD_STATE) a call on a disposed model, or on one whose runtime is disposed. */
  private check(call: string): void {
    if (this.isDisposed) fail("BAD_STATE", `${call}: the model was disposed`);
    if (this.rt.disposed) fail("BAD_STATE", `${call}: the model's runtime was disposed`);
  }
}

function buildLayer(
  rt: Runtime,
  spec: LayerSpec,
  inputShape: readonly number[],
  outputShape: readonly number[],
  index: number,
  rng: Random,
): Layer {
  switch (spec.type) {
    case "dense":
      return new Dense(rt, spec, inputShape, index, rng);
    case "sigmoid":
    case "relu":
      return new Activation(rt, spec, inputShape);
    case "conv2d":
      return new Conv2D(rt, spec, inputShape, outputShape, index, rng);
    case "maxpool":
    case "avgpool":
      return new Pool2D(rt, spec, inputShape, outputShape);
    case "flatten":
      return new Flatten(spec, inputShape);
    case "dropout":
      return new Dropout(rt, spec, inputShape, rng);
    case "batchnorm":
      return new BatchNorm(rt, spec, inputShape, index);
    case "convT":
      return new ConvTranspose(rt, spec, inputShape, outputShape, index, rng);
    case "upsample":
      return new Upsample(rt, spec, inputShape, outputShape);
    case "reshape":
      return new Reshape(spec, inputShape);
    case "sampling":
      return new Sampling(rt, spec, inputShape, rng);
  }
}
