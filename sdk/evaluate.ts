import { checkInteger, checkOptions, describeValue } from "./args";
import { fail } from "./errors";
import { checkDataset, sampleSize, type Dataset } from "./data/dataset";
import { DeviceData } from "./data/device-data";
import { Model, PIXEL_SCALE } from "./model";
import { inferenceBatch } from "./plan";

export interface Evaluation {
  /** Fraction of samples whose arg-max class is the label. */
  accuracy: number;
  /** Mean loss (cross-entropy, or ½|p - t|² for a model with loss "mse"). */
  loss: number;
  /** Predicted class of every sample. */
  predictions: Int32Array;
  /** confusion[label][predicted] counts. */
  confusion: number[][];
}

/** Refuses a data set whose sample shape the model was not built for; names both shapes. */
export function checkShapes(model: Model, data: Dataset): void {
  checkModel(model, "checkShapes");
  checkDataset(data, "checkShapes: data", false);
  if (sampleSize(data) !== model.inputSize) {
    fail("BAD_SHAPE", `the model expects input [${model.spec.input}] but the data has images of [${data.shape}]`);
  }
  // An autoencoder's classes only colour its codes: data of any classes fits it.
  if (model.task === "classifier" && data.classes.length !== model.classCount) {
    fail("BAD_SHAPE", `the model has ${model.classCount} classes but the data has ${data.classes.length}`);
  }
}

/**
 * Refuses (BAD_ARGUMENT) what is not a Model, and (BAD_STATE) a disposed one or one whose runtime
 * is disposed.
 */
export function checkModel(model: unknown, call: string): asserts model is Model {
  if (!(model instanceof Model)) fail("BAD_ARGUMENT", `${call}: model must be a Model, got ${describeValue(model)}`);
  if (model.disposed) fail("BAD_STATE", `${call}: the model was disposed`);
  if (model.rt.disposed) fail("BAD_STATE", `${call}: the model's runtime was disposed`);
}

/**
 * Refuses data that is neither a Dataset nor a DeviceData, an empty one, a disposed DeviceData
 * (BAD_STATE), and a DeviceData in another runtime's memory than the model's.
 */
export function checkData(
  model: Model,
  data: unknown,
  call: string,
  what: string,
): asserts data is Dataset | DeviceData {
  if (data instanceof DeviceData) {
    if (data.disposed) fail("BAD_STATE", `${call}: ${what} (DeviceData) was disposed`);
    if (data.rt !== model.rt)
      fail("BAD_ARGUMENT", `${call}: ${what} (DeviceData) lives in another runtime than the model`);
  } else {
    checkDataset(data, `${call}: ${what}`);
  }
  if ((data as Dataset | DeviceData).count === 0) fail("BAD_ARGUMENT", `${call}: ${what} is empty`);
}

export interface EvaluateOptions {
  /** Images a forward pass (default 1000; fewer when they would not fit INFERENCE_BATCH_BYTES). */
  batchSize?: number;
  /**
   * Test-time flips: each image's probabilities are the mean of the model's on the image and on
   * its horizontal mirror (two forward passes). For photographs, whose classes look the same
   * mirrored (CIFAR-10, with models trained on flips); not for digits.
   */
  flip?: boolean;
}

/**
 * Accuracy, loss, predictions and confusion matrix of `model` on `data`, in batches of up to
 * `batchSize` (fewer when they would not fit INFERENCE_BATCH_BYTES). The third argument is the
 * batch size or EvaluateOptions.
 */
export function evaluate(model: Model, data: Dataset | DeviceData, options: number | EvaluateOptions = {}): Evaluation {
  checkModel(model, "evaluate");
  if (model.task !== "classifier") {
    fail(
      "WRONG_TASK",
      `evaluate: the model is ${model.task === "vae" ? "a VAE" : "an autoencoder"}; evaluateReconstruction() measures it`,
    );
  }
  checkData(model, data, "evaluate", "data");
  // Anything but an object is read as the batch size (the third argument's older form), and checked as one.
  const o =
    typeof options === "object" && options !== null
      ? checkOptions<EvaluateOptions>(options, "evaluate options", ["batchSize", "flip"])
      : { batchSize: options as number };
  const batchSize = o.batchSize === undefined ? 1000 : o.batchSize;
  checkInteger(batchSize, "evaluate: batchSize", 1);
  if (o.flip !== undefined && typeof o.flip !== "boolean")
    fail("BAD_ARGUMENT", `evaluate: flip must be true or false, got ${describeValue(o.flip)}`);
  if (o.flip && model.spec.input.length !== 3)
    fail("BAD_ARGUMENT", `evaluate: flip mirrors images [C, H, W]; the model's input is [${model.spec.input}]`);
  const device = data instanceof DeviceData ? data : new DeviceData(model.rt, data);
  checkShapes(model, device.data);
  const { rt, classCount } = model;
  const batch = Math.min(inferenceBatch(model.spec, batchSize), device.count);
  model.allocate(batch, false);
  const predictionsPtr = rt.alloc(batch * 4);
  const flips = o.flip ? new FlipBuffers(model, batch, device.sampleSize) : undefined;
  const predictions = new Int32Array(device.count);
  let lossSum = 0;
  try {
    for (let start = 0; start < device.count; start += batch) {
      const n = Math.min(batch, device.count - start);
      rt.kernels.scaleU8(
        device.imagesPtr + start * device.sampleSize,
        model.inputPtr,
        n * device.sampleSize,
        PIXEL_SCALE,
      );
      const logits = model.forward(model.inputPtr, n, false);
      const labels = device.labelsPtr + start;
      const loss = model.batchLoss(logits, labels, n, false);
      lossSum += flips ? flips.meanOfMirrored(n, labels) : loss.head + loss.kl;
      rt.kernels.argmaxRows(model.loss.probsPtr, n, classCount, predictionsPtr);
      predictions.set(rt.i32(predictionsPtr, n), start);
    }
  } finally {
    rt.free(predictionsPtr);
    flips?.dispose();
    if (device !== data) device.dispose();
  }
  const confusion = Array.from({ length: classCount }, () => new Array<number>(classCount).fill(0));
  let correct = 0;
  const labels = device.data.labels;
  for (let i = 0; i < device.count; i++) {
    confusion[labels[i]][predictions[i]]++;
    if (labels[i] === predictions[i]) correct++;
  }
  return { accuracy: correct / device.count, loss: lossSum / device.count, predictions, confusion };
}

/** How well an autoencoder or VAE reconstructs a data set, per image on average. */
export interface ReconstructionEvaluation {
  /** The loss it trains on: reconstruction plus, for a VAE, the KL divergence. */
  loss: number;
  /** Binary cross-entropy in nats ("bce"), or ½ Σ (y - x)² ("mse"), an image. */
  reconstruction: number;
  /** A VAE's KL divergence of its codes' distribution from the standard normal, in nats an image (0 for an autoencoder). */
  kl: number;
  /**
   * A VAE's evidence lower bound, -(reconstruction + kl) in nats an image, estimated with one
   * draw of the code per image (the noise seeded, so the same model gives the same figure);
   * only for the "bce" loss, whose reconstruction term is a log-likelihood.
   */
  elbo?: number;
}

/** The seed of the noise an evaluation of a VAE draws. */
const EVALUATION_NOISE_SEED = 0xe1b0;

/**
 * The mean reconstruction loss (and a VAE's KL divergence and ELBO) of an autoencoder or VAE on
 * `data`, in batches of up to `batchSize`. A VAE is measured as it trains: its code is drawn
 * (reproducibly), not its mean.
 */
export function evaluateReconstruction(
  model: Model,
  data: Dataset | DeviceData,
  batchSize = 1000,
): ReconstructionEvaluation {
  checkModel(model, "evaluateReconstruction");
  if (model.task === "classifier") {
    fail("WRONG_TASK", "evaluateReconstruction: the model is a classifier; evaluate() measures it");
  }
  checkData(model, data, "evaluateReconstruction", "data");
  checkInteger(batchSize, "evaluateReconstruction: batchSize", 1);
  const device = data instanceof DeviceData ? data : new DeviceData(model.rt, data);
  checkShapes(model, device.data);
  const { rt } = model;
  const batch = Math.min(inferenceBatch(model.spec, batchSize), device.count);
  model.allocate(batch, false);
  const sampling = model.sampling;
  // The evaluation draws its own noise, and leaves the training's draws where they stood.
  const trainingNoise = sampling?.noise;
  if (sampling) {
    sampling.sampleAlways = true;
    sampling.reseed(EVALUATION_NOISE_SEED);
  }
  let reconstruction = 0;
  let kl = 0;
  try {
    for (let start = 0; start < device.count; start += batch) {
      const n = Math.min(batch, device.count - start);
      rt.kernels.scaleU8(
        device.imagesPtr + start * device.sampleSize,
        model.inputPtr,
        n * device.sampleSize,
        PIXEL_SCALE,
      );
      const out = model.forward(model.inputPtr, n, false);
      const loss = model.batchLoss(out, model.inputPtr, n, false);
      reconstruction += loss.head;
      kl += loss.kl;
    }
  } finally {
    if (sampling) {
      sampling.sampleAlways = false;
      sampling.noise = trainingNoise!;
    }
    if (device !== data) device.dispose();
  }
  const count = device.count;
  const result: ReconstructionEvaluation = {
    loss: (reconstruction + kl) / count,
    reconstruction: reconstruction / count,
    kl: kl / count,
  };
  if (model.task === "vae" && model.loss.kind === "bce") result.elbo = -result.loss;
  return result;
}

/**
 * Test-time flips for evaluate(): after the forward pass of a batch, mirrors its images in place
 * (the augmentation kernel with flips only), runs the model again and leaves the mean of both
 * passes' probabilities in the loss head's buffer, where argmaxRows reads them.
 */
class FlipBuffers {
  private readonly paramsPtr: number;
  private readonly scratchPtr: number;
  private readonly firstPass: Float32Array;

  constructor(
    private readonly model: Model,
    batch: number,
    sampleSize: number,
  ) {
    const { rt } = model;
    this.paramsPtr = rt.alloc(batch * 3 * 4);
    this.scratchPtr = rt.alloc(sampleSize * 4);
    const params = rt.i32(this.paramsPtr, batch * 3);
    for (let i = 0; i < batch; i++) params.set([1, 0, 0], 3 * i);
    this.firstPass = new Float32Array(batch * model.classCount);
  }

  /**
   * Averages the probabilities of the last forward pass over `n` images with those of their
   * mirror images; returns the loss of the averaged probabilities summed over the batch
   * (cross-entropy -log p̄[label], or ½|p̄ - onehot|² for a model trained with MSE).
   */
  meanOfMirrored(n: number, labelsPtr: number): number {
    const { model } = this;
    const { rt, classCount } = model;
    const size = n * classCount;
    this.firstPass.set(rt.f32(model.loss.probsPtr, size));
    const [channels, height, width] = model.spec.input;
    rt.kernels.augmentImages(model.inputPtr, this.paramsPtr, n, channels, height, width, this.scratchPtr);
    model.loss.forward(model.forward(model.inputPtr, n, false), 0, n, false);
    const probs = rt.f32(model.loss.probsPtr, size);
    const labels = rt.u8(labelsPtr, n);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < classCount; j++) {
        const k = i * classCount + j;
        probs[k] = 0.5 * (probs[k] + this.firstPass[k]);
        if (model.loss.kind === "mse") loss += 0.5 * (probs[k] - (j === labels[i] ? 1 : 0)) ** 2;
      }
      if (model.loss.kind !== "mse") loss -= Math.log(Math.max(probs[i * classCount + labels[i]], Number.MIN_VALUE));
    }
    return loss;
  }

  dispose(): void {
    this.model.rt.free(this.paramsPtr);
    this.model.rt.free(this.scratchPtr);
  }
}
