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
import { BatchBuffer, sizeOf, type Layer, type NoisePosition, type Param, type StateBuffer } from "./layers/layer";
import { PixelLoss } from "./layers/pixel-loss";
import { SoftmaxLoss } from "./layers/softmax-loss";
import { inferenceBatch, inputReader, planModel } from "./plan";
import { Random } from "./random";
import { Runtime } from "./runtime/runtime";
import { specLoss, validateSpec, type LayerSpec, type ModelSpec, type Task } from "./spec";

/**
 * What the model needs of a VAE's sampling layer (sdk/layers/sampling.ts): the KL divergence of
 * its last forward pass, summed over the batch, and control of its noise for evaluations.
 */
export interface KlSource {
  readonly klSum: number;
  /** Draw noise in inference passes too (an evaluation of the ELBO), instead of passing the mean. */
  sampleAlways: boolean;
  /** Restarts the noise from `seed`: an evaluation draws the same noise every time. */
  reseed(seed: number): void;
  /** Where the draws stand (an evaluation puts the training's back). */
  noise: NoisePosition;
}

/** A batch's loss, summed over its samples: the loss head's, and the KL divergence of its sampling layers. */
export interface BatchLoss {
  /** A classifier's cross-entropy (or MSE), an autoencoder's reconstruction loss. */
  head: number;
  /** The sampling layers' KL divergence (a VAE's); 0 without them. */
  kl: number;
}

function checkWinograd(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== "boolean") fail("BAD_ARGUMENT", `${name} must be true or false, got ${describeValue(value)}`);
}

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
  /** The loss head: softmax for a classifier, the pixel loss for an autoencoder or VAE. */
  readonly loss: SoftmaxLoss | PixelLoss;
  readonly task: Task;
  readonly inputSize: number;
  /** Values the last layer outputs per sample: the classes, or the reconstructed pixels. */
  readonly outputSize: number;
  /**
   * A classifier's classes; for an autoencoder or VAE, the classes of the data set it was trained
   * on when its spec names them (0 otherwise): they only colour its codes.
   */
  readonly classCount: number;
  /** Values of an autoencoder's or VAE's code per sample (0 for a classifier). */
  readonly latentSize: number;
  /** A VAE's sampling layer: its code. */
  readonly sampling?: KlSource;
  /** Every sampling layer: each adds its KL divergence to the loss. */
  private readonly klLayers: readonly KlSource[];
  /** The first layer of the decoder, and (for encode) the layer after the code (the sampling layer's for a VAE). */
  private readonly decoderStart: number;
  /**
   * The layer that reads the input as it is (plan.ts inputReader): only flatten or reshape before
   * it, which have nothing to learn, so no pass needs the gradient of its input.
   */
  private readonly inputReader: number;
  private readonly codeEnd: number;
  /** decode()'s input buffer: codes [capacity, latentSize]. */
  private codeBuffer?: BatchBuffer;
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
  private winogradOn = false;
  /** predict()'s raw bytes before scaling, kept between calls: one image takes microseconds. */
  private staging = { ptr: 0, bytes: 0 };
  /** The column sums of checkFinite(), FINITE_CHECK_COLUMNS floats (allocated on first use). */
  private finiteSums = 0;
  private isDisposed = false;
  private training = false;

  constructor(
    readonly rt: Runtime,
    spec: ModelSpec,
    options: { seed?: number; winograd?: boolean } = {},
  ) {
    if (!(rt instanceof Runtime))
      fail("BAD_ARGUMENT", `new Model: rt must be a Runtime (from Runtime.create()), got ${describeValue(rt)}`);
    if (rt.disposed) fail("BAD_STATE", "new Model: the runtime was disposed");
    const { seed, winograd } = checkOptions<{ seed: number; winograd: boolean }>(options, "new Model options", [
      "seed",
      "winograd",
    ]);
    if (seed !== undefined) checkSeed(seed, "new Model: seed");
    if (winograd !== undefined) checkWinograd(winograd, "new Model: winograd");
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
    this.outputSize = sizeOf(shape);
    this.klLayers = layers.filter((l): l is Sampling => l instanceof Sampling);
    this.task = this.spec.task ?? "classifier";
    if (this.task === "classifier") {
      this.classCount = this.outputSize;
      this.latentSize = 0;
      this.decoderStart = this.codeEnd = layers.length;
      this.loss = new SoftmaxLoss(rt, this.outputSize, this.spec.loss === "mse" ? "mse" : "cross-entropy");
    } else {
      this.classCount = this.spec.classes?.length ?? 0;
      this.decoderStart = this.spec.encoder!;
      const vae = this.task === "vae";
      this.codeEnd = vae ? this.decoderStart - 1 : this.decoderStart;
      // The code is the last encoder layer's output: for a VAE, its sampling layer's draw, whose
      // means encode() gives.
      const code = layers[this.decoderStart - 1];
      this.latentSize = sizeOf(code.outputShape);
      if (vae && code instanceof Sampling) this.sampling = code;
      if (this.outputSize !== this.inputSize) {
        for (const layer of layers) layer.dispose();
        fail(
          "BAD_SHAPE",
          `model spec: an ${vae ? "VAE" : "autoencoder"} reconstructs its input of ${this.inputSize} values, but its decoder outputs [${shape}] (${this.outputSize} values)`,
        );
      }
      this.loss = new PixelLoss(rt, this.outputSize, specLoss(this.spec) === "mse" ? "mse" : "bce");
      this.codeBuffer = new BatchBuffer(rt, this.latentSize);
    }
    this.inputBuffer = new BatchBuffer(rt, this.inputSize);
    // No pair straddles an autoencoder's split: encode() stops and decode() starts there, each
    // running its own half's layers as they are.
    const straddles = (i: number): boolean => i + 1 === this.decoderStart;
    this.fusedPairs = layers.flatMap((layer, i) => {
      const next = layers[i + 1];
      return "reluFused" in layer && next instanceof Activation && next.spec.type === "relu" && !straddles(i)
        ? [[layer, next] as const]
        : [];
    });
    this.maskedPairs = layers.flatMap((layer, i) => {
      const next = layers[i + 1];
      return layer instanceof Activation &&
        layer.spec.type === "relu" &&
        next instanceof Pool2D &&
        next.spec.type === "maxpool" &&
        !straddles(i)
        ? [[layer, next] as const]
        : [];
    });
    this.inputReader = Math.max(0, inputReader(this.spec.layers));
    const reader = layers[this.inputReader];
    if (reader instanceof Dense) reader.sparseInput = true;
    this.fusion = true;
    if (winograd) this.winograd = true;
  }

  /**
   * Whether 3x3 stride-1 convolutions run by Winograd's F(2x2, 3x3) or F(4x4, 3x3) where it pays
   * (sdk/layers/winograd.ts, which picks the tile size per layer; off by default): inference passes and training ones, forward and
   * backward. Fewer multiply-adds, but the floats differ from the default path's in the last bits
   * (within float32 rounding of the exact convolution and its gradients), so a run reproduces bit
   * for bit only with the same setting (fit's `winograd`, a training run's setting).
   */
  get winograd(): boolean {
    return this.winogradOn;
  }

  set winograd(on: boolean) {
    this.check("winograd");
    checkWinograd(on, "winograd");
    this.winogradOn = on;
    for (const layer of this.layers) if (layer instanceof Conv2D) layer.winograd = on;
  }

  /**
   * How many convolutions run Winograd in inference when `winograd` is on (3x3, stride 1, where it
   * pays; not an int8 model's).
   */
  get winogradLayers(): number {
    this.check("winogradLayers");
    return this.layers.filter((l) => l instanceof Conv2D && l.winogradEligible && !l.int8).length;
  }

  /**
   * How many convolutions run Winograd in training when `winograd` is on: those of winogradLayers,
   * and those whose maps are too small for one image to fill the products (see winogradPays in
   * sdk/layers/winograd.ts).
   */
  get winogradTrainingLayers(): number {
    this.check("winogradTrainingLayers");
    return this.layers.filter((l) => l instanceof Conv2D && l.winogradTrainable).length;
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
    for (const layer of this.layers) if (layer instanceof Conv2D) layer.int8PoolFused = on;
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
    this.codeBuffer?.ensure(batch);
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

  /**
   * Where the loss finds its targets for a training batch: the labels for a classifier, the input
   * pixels themselves for an autoencoder or VAE.
   */
  get targetPtr(): number {
    return this.task === "classifier" ? this.labelPtr : this.inputPtr;
  }

  /** Runs the layers on `batch` samples at `x`; returns the address of the logits. */
  forward(x: number, batch: number, training: boolean): number {
    this.check("forward");
    if (training) this.allocate(batch, true);
    return this.runLayers(x, batch, training, 0, this.layers.length);
  }

  private runLayers(x: number, batch: number, training: boolean, from: number, to: number): number {
    let out = x;
    for (let i = from; i < to; i++) out = this.layers[i].forward(out, batch, training);
    return out;
  }

  /**
   * The loss of the last forward() of `batch` samples whose output is at `output`, against
   * `targets` (labels for a classifier, pixels for an autoencoder: see targetPtr), summed over the
   * batch: the loss head's, and the KL divergence of every sampling layer (a VAE's code). With
   * `withGrad`, the loss head's gradient is ready for backward() (sampling layers add the KL's there).
   * `labelSmoothing` (a classifier's cross-entropy only) softens the targets: see SoftmaxLoss.
   */
  batchLoss(output: number, targets: number, batch: number, withGrad: boolean, labelSmoothing = 0): BatchLoss {
    this.check("batchLoss");
    const head =
      this.loss instanceof SoftmaxLoss
        ? this.loss.forward(output, targets, batch, withGrad, labelSmoothing)
        : this.loss.forward(output, targets, batch, withGrad);
    let kl = 0;
    for (const layer of this.klLayers) kl += layer.klSum;
    return { head, kl };
  }

  /** Back-propagates the loss gradient of the last loss.forward(…, withGrad) through every layer. */
  backward(batch: number): void {
    this.check("backward");
    this.allocate(batch, true);
    let grad = this.loss.gradPtr;
    for (let i = this.layers.length - 1; i >= this.inputReader; i--) {
      grad = this.layers[i].backward(grad, batch, i > this.inputReader);
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
    this.checkTask("predict", ["classifier"]);
    return this.mapImages("predict", pixels, count, this.classCount, (n) => {
      this.loss.forward(this.forward(this.inputPtr, n, false), 0, n, false);
      return this.loss.probsPtr;
    });
  }

  /**
   * An autoencoder's or VAE's reconstruction of `count` images of raw pixels (as predict() takes
   * them): [count, inputSize] row-major, pixels in [0, 1] for the "bce" loss (the sigmoid of the
   * output), the output as it is for "mse". A VAE passes the mean of each code, not a draw.
   */
  reconstruct(
    pixels: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array | ArrayBuffer | readonly number[],
    count?: number,
  ): Float32Array {
    this.checkTask("reconstruct", ["autoencoder", "vae"]);
    return this.mapImages("reconstruct", pixels, count, this.outputSize, (n) => {
      this.loss.forward(this.forward(this.inputPtr, n, false), 0, n, false);
      return this.loss.probsPtr;
    });
  }

  /**
   * The codes of `count` images of raw pixels (as predict() takes them): [count, latentSize]
   * row-major; a VAE's code is the mean of the distribution its encoder gives.
   */
  encode(
    pixels: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array | ArrayBuffer | readonly number[],
    count?: number,
  ): Float32Array {
    this.checkTask("encode", ["autoencoder", "vae"]);
    const width = sizeOf(this.layers[this.codeEnd - 1].outputShape);
    const codes = this.mapImages("encode", pixels, count, width, (n) =>
      this.runLayers(this.inputPtr, n, false, 0, this.codeEnd),
    );
    if (width === this.latentSize) return codes;
    // A VAE's encoder gives [mean, log-variance] a sample: keep the means.
    const n = codes.length / width;
    const means = new Float32Array(n * this.latentSize);
    for (let i = 0; i < n; i++) means.set(codes.subarray(i * width, i * width + this.latentSize), i * this.latentSize);
    return means;
  }

  /**
   * The images an autoencoder's or VAE's decoder makes of `count` codes of latentSize floats each
   * (finite numbers; a Float32Array, a Float64Array or an array): [count, inputSize] row-major,
   * as reconstruct() gives them. Codes drawn from a standard normal (priorSamples) make a VAE's
   * samples.
   */
  decode(codes: Float32Array | Float64Array | readonly number[], count?: number): Float32Array {
    this.checkTask("decode", ["autoencoder", "vae"]);
    if (!(codes instanceof Float32Array || codes instanceof Float64Array || Array.isArray(codes))) {
      fail(
        "BAD_ARGUMENT",
        `decode: codes must be a Float32Array, a Float64Array or an array of numbers, got ${describeValue(codes)}`,
      );
    }
    const values = codes instanceof Float32Array ? codes : Float32Array.from(codes as ArrayLike<number>);
    refuseNonFinite(values, "decode: codes");
    const total = this.checkCount("decode", values.length, count, this.latentSize, `a code of ${this.latentSize}`);
    const result = new Float32Array(total * this.outputSize);
    const chunk = Math.min(total, inferenceBatch(this.spec));
    this.allocate(chunk, false);
    const codeBuffer = this.codeBuffer!;
    for (let start = 0; start < total; start += chunk) {
      const n = Math.min(chunk, total - start);
      this.rt
        .f32(codeBuffer.ptr, n * this.latentSize)
        .set(values.subarray(start * this.latentSize, (start + n) * this.latentSize));
      const out = this.runLayers(codeBuffer.ptr, n, false, this.decoderStart, this.layers.length);
      this.loss.forward(out, 0, n, false);
      result.set(this.rt.f32(this.loss.probsPtr, n * this.outputSize), start * this.outputSize);
    }
    return result;
  }

  /**
   * Refuses (WRONG_TASK) a call that needs another kind of model than this one, naming both.
   * Also refuses a disposed model (BAD_STATE).
   */
  private checkTask(call: string, tasks: readonly Task[]): void {
    this.check(call);
    if (tasks.includes(this.task)) return;
    const name = (t: Task) => (t === "classifier" ? "a classifier" : t === "vae" ? "a VAE" : "an autoencoder");
    const hint =
      this.task === "classifier"
        ? "; predict() gives its class probabilities"
        : "; reconstruct(), encode() and decode() fit it";
    fail(
      "WRONG_TASK",
      `${call}: the model is ${name(this.task)}, and ${call}() needs ${tasks.map(name).join(" or ")}${hint}`,
    );
  }

  /** The number of samples in `length` values of `width` each, checked against `count` when given. */
  private checkCount(call: string, length: number, count: number | undefined, width: number, what: string): number {
    if (count !== undefined && (typeof count !== "number" || !Number.isSafeInteger(count) || count <= 0)) {
      fail("BAD_ARGUMENT", `${call}: count must be a positive integer, got ${describeValue(count)}`);
    }
    const total = count ?? length / width;
    if (!Number.isInteger(total) || total <= 0 || length !== total * width) {
      const expected = count !== undefined ? `${count} x ${width}` : `a multiple of ${width}`;
      fail("BAD_SHAPE", `${call}: expected ${expected} values (${what}), got ${length}`);
    }
    return total;
  }

  /**
   * Runs `run` over `count` images of raw pixels in chunks that fit the inference budget, each
   * chunk scaled into the input buffer first; `run(n)` returns the address of `width` floats per
   * image, gathered into the result [count, width].
   */
  private mapImages(
    call: string,
    pixels: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array | ArrayBuffer | readonly number[],
    count: number | undefined,
    width: number,
    run: (n: number) => number,
  ): Float32Array {
    const values = pixelArray(pixels, `${call}: pixels`, false);
    const total = this.checkCount(call, values.length, count, this.inputSize, `input [${this.spec.input}]`);
    const result = new Float32Array(total * width);
    const chunk = Math.min(total, inferenceBatch(this.spec));
    this.allocate(chunk, false);
    for (let start = 0; start < total; start += chunk) {
      const n = Math.min(chunk, total - start);
      const slice = values.subarray(start * this.inputSize, (start + n) * this.inputSize);
      if (slice instanceof Uint8Array) {
        const staging = this.stagingBytes(slice.length);
        this.rt.u8(staging, slice.length).set(slice);
        this.rt.kernels.scaleU8(staging, this.inputPtr, slice.length, PIXEL_SCALE);
      } else {
        this.rt.f32(this.inputPtr, slice.length).set(slice);
        this.checkFinite(slice, start * this.inputSize, call);
      }
      result.set(this.rt.f32(run(n), n * width), start * width);
    }
    return result;
  }

  /**
   * Refuses float pixels holding NaN or ±Infinity (BAD_ARGUMENT naming the first), `slice`
   * being the values just copied to the input buffer and `offset` their place in predict()'s
   * argument. Sums in wasm (see FINITE_CHECK_COLUMNS); only a non-finite sum, which finite
   * values near the float limit can also make, leads to a scan in JavaScript.
   */
  private checkFinite(slice: Float32Array, offset: number, call: string): void {
    const { rt } = this;
    if (!this.finiteSums) this.finiteSums = rt.alloc(FINITE_CHECK_COLUMNS * 4);
    const rows = Math.floor(slice.length / FINITE_CHECK_COLUMNS);
    rt.kernels.sumRows(this.inputPtr, this.finiteSums, rows, FINITE_CHECK_COLUMNS, 0);
    const sums = rt.f32(this.finiteSums, FINITE_CHECK_COLUMNS);
    let finite = true;
    for (let i = 0; i < FINITE_CHECK_COLUMNS; i++) if (sums[i] - sums[i] !== 0) finite = false;
    if (!finite) refuseNonFinite(slice, `${call}: pixels`, offset);
    const tail = rows * FINITE_CHECK_COLUMNS;
    refuseNonFinite(slice.subarray(tail), `${call}: pixels`, offset + tail);
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

  /**
   * Whether this is an int8 model (read from a file of mnist-wasm quantize, or from an ONNX QDQ
   * graph): its dense and conv2d layers hold int8 weights and run inference in int8 (a shallow
   * first convolution in float with them dequantized). It predicts and evaluates; it is not
   * trained or saved as float.
   */
  get quantized(): boolean {
    return this.layers.some((l) => (l as { int8Weights?: unknown }).int8Weights !== undefined);
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
    if (this.quantized)
      fail("BAD_STATE", `${call}: an int8 model runs inference only; train the float model it was quantized from`);
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
    this.codeBuffer?.release();
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
