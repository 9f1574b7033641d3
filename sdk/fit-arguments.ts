// The argument checks of fit(): everything it is given is refused up front with one line naming
// it, before any memory is allocated or any weight changes.
import { checkInteger, checkOptions, checkSeed, describeValue } from "./args";
import type { Dataset } from "./data/dataset";
import type { DeviceData } from "./data/device-data";
import { fail } from "./errors";
import { checkData, checkModel } from "./evaluate";
import type { Model } from "./model";
import { isLabelSmoothing, isWarmup, MAX_EPOCHS } from "./io/run-record";
import { Optimizer } from "./optim/optimizer";
import { SCHEDULES } from "./schedule";
import type { FitOptions } from "./train";

/** Most pixels an augmentation may shift an image by. */
const MAX_SHIFT = 64;

export function checkFitArguments(
  model: unknown,
  train: unknown,
  options: unknown,
): asserts train is Dataset | DeviceData {
  checkModel(model, "fit");
  checkData(model as Model, train, "fit", "train");
  const o = checkOptions<FitOptions>(options, "fit options");
  if (options === undefined) fail("BAD_ARGUMENT", "fit: options are required ({ epochs, batchSize, optimizer })");
  checkInteger(o.epochs, "fit: epochs", 0);
  checkInteger(o.batchSize, "fit: batchSize", 1);
  const { optimizer } = o;
  if (!(optimizer instanceof Optimizer))
    fail("BAD_ARGUMENT", `fit: optimizer must be an Optimizer, got ${describeValue(optimizer)}`);
  if (optimizer.disposed) fail("BAD_STATE", "fit: the optimizer was disposed");
  if (optimizer.rt !== (model as Model).rt)
    fail("BAD_ARGUMENT", "fit: the optimizer belongs to another runtime than the model");
  if (o.test !== undefined) checkData(model as Model, o.test, "fit", "test");
  if (o.seed !== undefined) checkSeed(o.seed, "fit: seed");
  if (o.firstEpoch !== undefined) checkInteger(o.firstEpoch, "fit: firstEpoch", 1);
  if (o.schedule !== undefined && !SCHEDULES.includes(o.schedule)) {
    fail("BAD_ARGUMENT", `fit: schedule must be "constant" or "cosine", got ${describeValue(o.schedule)}`);
  }
  if (o.warmup !== undefined && !isWarmup(o.warmup)) {
    fail(
      "BAD_ARGUMENT",
      `fit: warmup must be a number of epochs from 0 to ${MAX_EPOCHS}, got ${describeValue(o.warmup)}`,
    );
  }
  if (o.labelSmoothing !== undefined) {
    const eps = o.labelSmoothing;
    if (!isLabelSmoothing(eps))
      fail("BAD_ARGUMENT", `fit: labelSmoothing must be a number from 0 up to 1, got ${describeValue(eps)}`);
    const m = model as Model;
    if (eps > 0 && (m.task !== "classifier" || m.loss.kind !== "cross-entropy"))
      fail("BAD_ARGUMENT", "fit: label smoothing applies to a classifier's cross-entropy loss");
  }
  if (o.winograd !== undefined && typeof o.winograd !== "boolean")
    fail("BAD_ARGUMENT", `fit: winograd must be true or false, got ${describeValue(o.winograd)}`);
  if (o.winograd === true && (model as Model).winogradTrainingLayers === 0)
    fail(
      "BAD_ARGUMENT",
      "fit: winograd: none of the model's convolutions runs Winograd in training (3x3, stride 1, at least 8 channels in and 4 filters)",
    );
  if (o.augment !== undefined) {
    const a = checkOptions<{ flip: boolean; shift: number }>(o.augment, "fit: augment", ["flip", "shift"]);
    if (typeof a.flip !== "boolean")
      fail("BAD_ARGUMENT", `fit: augment.flip must be true or false, got ${describeValue(a.flip)}`);
    checkInteger(a.shift, "fit: augment.shift", 0, MAX_SHIFT);
  }
  for (const name of ["onBatchEnd", "onEpochEnd"] as const) {
    if (o[name] !== undefined && typeof o[name] !== "function")
      fail("BAD_ARGUMENT", `fit: ${name} must be a function, got ${describeValue(o[name])}`);
  }
  if (o.signal !== undefined && typeof (o.signal as { aborted?: unknown })?.aborted !== "boolean") {
    fail("BAD_ARGUMENT", `fit: signal must be an AbortSignal, got ${describeValue(o.signal)}`);
  }
}
