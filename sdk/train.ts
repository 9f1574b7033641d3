import { fail } from "./errors";
import type { Dataset } from "./data/dataset";
import { DeviceData } from "./data/device-data";
import { chanceLoss, DIVERGENCE_WINDOW, divergedMeanLoss } from "./divergence";
import { checkShapes, evaluate, evaluateReconstruction } from "./evaluate";
import { tensorProblem } from "./io/model-file";
import { checkFitArguments } from "./fit-arguments";
import { PIXEL_SCALE, type Model } from "./model";
import { checkTrainingBatch } from "./plan";
import type { Optimizer } from "./optim/optimizer";
import { Random } from "./random";
import { learningRateAt, type ScheduleName } from "./schedule";

/** What one epoch of training measured. */
export interface EpochRecord {
  epoch: number;
  /**
   * Mean loss over the epoch's training batches, per sample: cross-entropy, or ½|p - t|² for MSE;
   * for an autoencoder or VAE the reconstruction loss an image, plus a VAE's KL divergence.
   */
  loss: number;
  /** A classifier's accuracy on the training batches as they were seen. */
  trainAccuracy?: number;
  /** An autoencoder's or VAE's mean reconstruction loss an image over the training batches. */
  reconstruction?: number;
  /** A VAE's mean KL divergence an image over the training batches, in nats. */
  kl?: number;
  testLoss?: number;
  testAccuracy?: number;
  /** Reconstruction loss, KL divergence and ELBO on the test set (evaluateReconstruction). */
  testReconstruction?: number;
  testKl?: number;
  testElbo?: number;
  /** Wall time of the epoch's training steps (evaluation excluded). */
  seconds: number;
}

export interface BatchInfo {
  epoch: number;
  /** 1-based index of the batch in the epoch. */
  batch: number;
  batches: number;
  /** Mean loss of this batch. */
  loss: number;
  /** Samples in this batch (the last batch of an epoch may be short). */
  size: number;
  /** How many of them the model classified right, before this batch's update (0 for an autoencoder). */
  correct: number;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  /** Seeds the shuffling; the same seed gives the same run. */
  seed?: number;
  /** Evaluated after every epoch when given. */
  test?: Dataset | DeviceData;
  onBatchEnd?: (info: BatchInfo) => void;
  onEpochEnd?: (record: EpochRecord) => void | Promise<void>;
  /** Aborting stops training after the current batch. */
  signal?: AbortSignal;
  /** Epoch number of the first epoch (for runs resumed from a file). Default 1. */
  firstEpoch?: number;
  /**
   * Learning-rate schedule over this call's steps: "constant" (default), or "cosine", which
   * decays the optimizer's rate from its value to 0 along half a cosine.
   */
  schedule?: ScheduleName;
  /**
   * Epochs (a fraction of one too) at the start of the schedule over which the rate ramps up
   * linearly from near 0 to its value (learningRateAt); default 0. With "cosine", the one-cycle
   * schedule of fast CNN training recipes.
   */
  warmup?: number;
  /**
   * Label smoothing ε in [0, 1) for a classifier's cross-entropy: the training target is
   * (1 - ε)·onehot + ε/classes (default 0). The epoch's training loss is against those targets;
   * evaluation uses the labels as they are.
   */
  labelSmoothing?: number;
  /**
   * Whether the run's passes (training steps and the test evaluation) run 3x3 stride-1
   * convolutions by Winograd's F(2x2, 3x3) or F(4x4, 3x3) where it pays (Model's `winograd`, set for the run and
   * put back after it); default: the model's own setting. Faster; the floats differ from the
   * default path's in the last bits, so a run reproduces bit for bit only with the same setting.
   */
  winograd?: boolean;
  /**
   * Random horizontal flips (when `flip`) and shifts of up to `shift` pixels of every training
   * image, drawn from the seeded generator. For photographs (CIFAR-10) flips help; digits are
   * not mirror-symmetric, so for MNIST use shifts only.
   */
  augment?: { flip: boolean; shift: number };
  /**
   * Where a run stopped inside its first epoch continues (TrainingSession keeps it): the batches
   * of `firstEpoch` already trained are skipped (their shuffle and augmentation draws replayed),
   * and their loss and correct counts go into the epoch's record.
   */
  resumeAt?: EpochPosition;
  /**
   * The schedule's position and length in steps when it spans more than this call (a resumed
   * run); default: from 0 over this call's steps.
   */
  scheduleSteps?: { step: number; steps: number };
}

/** How far a run got into an epoch: batches trained and the sums its record is made of. */
export interface EpochPosition {
  /** Batches of the epoch trained. */
  batch: number;
  /** Sum of the loss over the samples of those batches. */
  lossSum: number;
  /** Samples of those batches classified right, before each batch's update. */
  correct: number;
  /** A VAE's KL divergence summed over those samples (a part of lossSum). */
  klSum?: number;
}

export interface FitResult {
  history: EpochRecord[];
  /** True when `signal` stopped training before the last epoch ended. */
  stopped: boolean;
  /** Where a stopped run stopped: its epoch and the position in it. */
  stoppedAt?: EpochPosition & { epoch: number };
  /** The schedule's step after the last trained batch (counted from scheduleSteps.step). */
  step: number;
}

/**
 * A run has diverged when its mean batch loss grows beyond LOSS_GROWTH times its first batch's,
 * and beyond MIN_DIVERGED_LOSS (a trained model's first loss may be near 0; cross-entropy starts
 * near ln(classes) ≤ 5.6, the MSE of probabilities stays ≤ 1). A finite loss of 1e31 is what a
 * learning rate of 1e30 gives. A bounded loss (MSE) is judged by its mean against chance
 * (checkMeanLoss), and the weights check at the end of each epoch catches what both miss.
 */
const LOSS_GROWTH = 100;
const MIN_DIVERGED_LOSS = 1e3;
const divergedLoss = (first: number): number => Math.max(LOSS_GROWTH * first, MIN_DIVERGED_LOSS);

/**
 * Refuses to go on with weights a model file may not hold (tensorProblem: beyond ±MAX_ABS_VALUE,
 * not finite, a negative variance): a DIVERGED error, so a caller never saves them. One pass over
 * the weights, once an epoch.
 */
function checkWeights(model: Model, epoch: number): void {
  for (const p of [...model.params, ...model.buffers]) {
    const problem = tensorProblem(p.name, p.value.view());
    if (problem) fail("DIVERGED", `training diverged in epoch ${epoch}: ${problem}; try a smaller learning rate`);
  }
}

/**
 * Refuses to go on when the mean loss over `images` images is worse than chance by far
 * (divergedMeanLoss): what a diverged run shows when its loss is bounded, as the MSE's is.
 */
function checkMeanLoss(model: Model, epoch: number, lossSum: number, images: number, firstLoss: number): void {
  const mean = lossSum / images;
  const chance = chanceLoss(model.loss.kind, model.outputSize, model.task);
  if (mean > divergedMeanLoss(model.loss.kind, model.outputSize, firstLoss, model.task)) {
    fail(
      "DIVERGED",
      `training diverged in epoch ${epoch}: the mean loss over ${images} images is ${mean.toPrecision(4)}, ` +
        `far worse than a guess of chance (${chance.toPrecision(4)}); try a smaller learning rate`,
    );
  }
}

/** Gives the event loop a turn (progress bars, signals, a page's UI) about this often. */
const YIELD_MS = 50;
const now = (): number => (globalThis.performance ?? Date).now();
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The fit loop shared by the CLI, the demo and the benchmarks: mini-batch training with a fresh
 * shuffle every epoch. The data set lives in wasm memory; each step is a handful of kernel calls
 * (gather the batch, forward, loss, backward, update), with no per-element JavaScript.
 * Bad arguments are refused before anything changes; a model disposed, or already trained by
 * another fit() at the same time, is refused with BAD_STATE.
 */
export async function fit(model: Model, train: Dataset | DeviceData, options: FitOptions): Promise<FitResult> {
  checkFitArguments(model, train, options);
  const release = model.startTraining("fit");
  try {
    return await fitClaimed(model, train, options);
  } finally {
    release();
  }
}

/** fit() on checked arguments, with the model claimed for this run. */
async function fitClaimed(model: Model, train: Dataset | DeviceData, options: FitOptions): Promise<FitResult> {
  const { rt } = model;
  const { epochs, batchSize, optimizer } = options;
  // Before the data set is copied into wasm memory and the model changed: a batch too large for
  // this model, or a resume point outside the run, is refused first.
  checkTrainingBatch(model.spec, Math.min(batchSize, train.count));
  const batches = Math.ceil(train.count / Math.min(batchSize, train.count));
  const resumeAt = options.resumeAt ?? { batch: 0, lossSum: 0, correct: 0 };
  if (!Number.isInteger(resumeAt.batch) || resumeAt.batch < 0 || resumeAt.batch > batches) {
    fail("BAD_ARGUMENT", `resumeAt.batch must be an integer from 0 to ${batches}, got ${resumeAt.batch}`);
  }
  const span = options.scheduleSteps;
  if (
    span &&
    !(Number.isInteger(span.step) && Number.isInteger(span.steps) && span.step >= 0 && span.steps >= span.step)
  ) {
    fail(
      "BAD_ARGUMENT",
      `scheduleSteps must be integers with 0 <= step <= steps, got step ${span.step} of ${span.steps}`,
    );
  }
  for (const [name, value] of [
    ["lossSum", resumeAt.lossSum],
    ["correct", resumeAt.correct],
    ["klSum", resumeAt.klSum ?? 0],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0))
      fail("BAD_ARGUMENT", `resumeAt.${name} must be a non-negative number, got ${value}`);
  }
  const device = train instanceof DeviceData ? train : new DeviceData(rt, train);
  const test = options.test && !(options.test instanceof DeviceData) ? new DeviceData(rt, options.test) : options.test;
  checkShapes(model, device.data);
  const batch = Math.min(batchSize, device.count);
  model.allocate(batch);
  const order = new Int32Array(device.count);
  const orderPtr = rt.alloc(order.byteLength);
  const rng = new Random((options.seed ?? 0) + 0x5eed);
  const history: EpochRecord[] = [];
  const firstEpoch = options.firstEpoch ?? 1;
  const baseLr = optimizer.learningRate;
  const totalSteps = span?.steps ?? epochs * batches - resumeAt.batch;
  let step = options.scheduleSteps?.step ?? 0;
  const schedule = options.schedule ?? "constant";
  const warmupSteps = Math.min(Math.round((options.warmup ?? 0) * batches), totalSteps);
  const augment = options.augment && (options.augment.flip || options.augment.shift > 0) ? options.augment : undefined;
  const augmentParams = augment ? new Int32Array(batch * 3) : undefined;
  const augmentParamsPtr = augment ? rt.alloc(batch * 3 * 4) : 0;
  const augmentScratch = augment ? rt.alloc(device.sampleSize * 4) : 0;
  const [channels, height, width] = device.data.shape;
  const classifier = model.task === "classifier";
  // A run resumed at epoch k draws what an uninterrupted run would have drawn from epoch k on:
  // replay the shuffles and augmentation draws of the epochs before it.
  for (let e = 1; e < firstEpoch; e++) {
    rng.shuffle(order);
    if (augment) for (let i = 0; i < device.count * (augment.flip ? 3 : 2); i++) rng.nextU32();
  }
  let stopped = false;
  let stoppedAt: FitResult["stoppedAt"];
  /** Mean loss of this call's first batch, before any update: what divergence is measured against. */
  let firstLoss: number | undefined;
  /** Loss summed over the images since the mean loss was last judged (divergedMeanLoss). */
  let window = { loss: 0, images: 0 };
  // Kept across epochs: an epoch shorter than YIELD_MS must not keep a run from yielding.
  let lastYield = now();
  // The run's convolution path, restored when it ends however it ends.
  const winogradBefore = model.winograd;
  if (options.winograd !== undefined) model.winograd = options.winograd;
  try {
    for (let e = 0; e < epochs && !stopped; e++) {
      const epoch = firstEpoch + e;
      for (let i = 0; i < order.length; i++) order[i] = i;
      rng.shuffle(order);
      rt.i32(orderPtr, order.length).set(order);
      const started = now();
      // The first epoch of a run resumed inside it starts at the batch it stopped at.
      const firstBatch = e === 0 ? resumeAt.batch : 0;
      if (augment && firstBatch > 0) {
        const drawn = Math.min(firstBatch * batch, device.count) * (augment.flip ? 3 : 2);
        for (let i = 0; i < drawn; i++) rng.nextU32();
      }
      let lossSum = e === 0 ? resumeAt.lossSum : 0;
      let correct = e === 0 ? resumeAt.correct : 0;
      let klSum = e === 0 ? (resumeAt.klSum ?? 0) : 0;
      // Images behind lossSum: those of the batches trained before a resume, then this call's.
      let seen = e === 0 ? Math.min(firstBatch * batch, device.count) : 0;
      for (let b = firstBatch; b < batches; b++) {
        const start = b * batch;
        const n = Math.min(batch, device.count - start);
        const indices = orderPtr + start * 4;
        rt.kernels.gatherImagesU8(device.imagesPtr, indices, n, device.sampleSize, model.inputPtr, PIXEL_SCALE);
        if (classifier) rt.kernels.gatherBytes(device.labelsPtr, indices, n, model.labelPtr);
        if (augment && augmentParams) {
          for (let i = 0; i < n; i++) {
            augmentParams[3 * i] = augment.flip ? rng.int(2) : 0;
            augmentParams[3 * i + 1] = rng.int(2 * augment.shift + 1) - augment.shift;
            augmentParams[3 * i + 2] = rng.int(2 * augment.shift + 1) - augment.shift;
          }
          rt.i32(augmentParamsPtr, n * 3).set(augmentParams.subarray(0, n * 3));
          rt.kernels.augmentImages(model.inputPtr, augmentParamsPtr, n, channels, height, width, augmentScratch);
        }
        if (schedule !== "constant" || warmupSteps > 0) {
          optimizer.learningRate = learningRateAt(baseLr, schedule, step, totalSteps, warmupSteps);
        }
        step++;
        const output = model.forward(model.inputPtr, n, true);
        const parts = model.batchLoss(output, model.targetPtr, n, true, options.labelSmoothing ?? 0);
        const loss = parts.head + parts.kl;
        firstLoss ??= loss / n;
        if (!Number.isFinite(loss) || loss / n > divergedLoss(firstLoss)) {
          fail(
            "DIVERGED",
            `training diverged in epoch ${epoch}, batch ${b + 1}: the loss is ${loss / n}` +
              `${Number.isFinite(loss) ? ` (it started at ${firstLoss})` : ""}; try a smaller learning rate`,
          );
        }
        seen += n;
        const batchCorrect = classifier
          ? rt.kernels.countCorrect(model.loss.probsPtr, model.labelPtr, n, model.classCount)
          : 0;
        correct += batchCorrect;
        model.backward(n);
        optimizer.step(model.params);
        lossSum += loss;
        klSum += parts.kl;
        window = { loss: window.loss + loss, images: window.images + n };
        if (window.images >= DIVERGENCE_WINDOW) {
          checkMeanLoss(model, epoch, window.loss, window.images, firstLoss);
          window = { loss: 0, images: 0 };
        }
        options.onBatchEnd?.({ epoch, batch: b + 1, batches, loss: loss / n, size: n, correct: batchCorrect });
        if (now() - lastYield > YIELD_MS) {
          await nextTurn();
          lastYield = now();
        }
        // After every batch, not only after a turn of the event loop: an abort from onBatchEnd
        // stops the run there, however fast its batches are.
        if (options.signal?.aborted) {
          stopped = true;
          stoppedAt = { epoch, batch: b + 1, lossSum, correct, ...(model.sampling ? { klSum } : {}) };
          break;
        }
      }
      // An epoch shorter than the window is judged as a whole.
      if (firstLoss !== undefined && seen > 0) checkMeanLoss(model, epoch, lossSum, seen, firstLoss);
      // Divergence the loss does not show: weights a model file may not hold.
      checkWeights(model, epoch);
      if (stopped) break;
      const record: EpochRecord = { epoch, loss: lossSum / device.count, seconds: (now() - started) / 1000 };
      if (classifier) record.trainAccuracy = correct / device.count;
      else {
        record.reconstruction = (lossSum - klSum) / device.count;
        if (model.sampling) record.kl = klSum / device.count;
      }
      if (test && classifier) {
        const result = evaluate(model, test);
        record.testLoss = result.loss;
        record.testAccuracy = result.accuracy;
      } else if (test) {
        const result = evaluateReconstruction(model, test);
        record.testLoss = result.loss;
        record.testReconstruction = result.reconstruction;
        if (model.sampling) record.testKl = result.kl;
        if (result.elbo !== undefined) record.testElbo = result.elbo;
      }
      history.push(record);
      await options.onEpochEnd?.(record);
      if (options.signal?.aborted) stopped = e < epochs - 1;
    }
  } finally {
    optimizer.learningRate = baseLr;
    if (!model.disposed && !rt.disposed) model.winograd = winogradBefore;
    if (augment) {
      rt.free(augmentParamsPtr);
      rt.free(augmentScratch);
    }
    rt.free(orderPtr);
    if (device !== train) device.dispose();
    if (test && test !== options.test) test.dispose();
  }
  return { history, stopped, ...(stoppedAt ? { stoppedAt } : {}), step };
}
