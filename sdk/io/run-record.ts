// The "run" record of a model file: how a training run trains and how far it got, so that a
// checkpoint continues the run it was cut from (TrainingSession.fromFile). Read back, every field
// is range-checked: a record that fails is dropped as a whole, like a damaged optimizer record.
import { OPTIMIZERS, type OptimizerName, type OptimizerSpec } from "../optim/optimizer";
import { SCHEDULES, type ScheduleName } from "../schedule";

/** How a run trains: everything that decides its weights besides the model and the data's bytes. */
export interface RunSettings {
  /** The update rule and its settings (the rate is the schedule's start). */
  optimizer: OptimizerSpec;
  schedule: ScheduleName;
  /** Epochs of linear warm-up at the schedule's start (fit's warmup); absent: none. */
  warmup?: number;
  /** Label smoothing of a classifier's cross-entropy (fit's labelSmoothing); absent: none. */
  labelSmoothing?: number;
  /** Convolutions by Winograd (F(2x2, 3x3) or F(4x4, 3x3)) where it pays (fit's winograd); absent: the default path. */
  winograd?: boolean;
  /** Number of the run's last epoch. */
  epochs: number;
  batchSize: number;
  /** Seeds the shuffling and the augmentation draws. */
  seed: number;
  augment?: { flip: boolean; shift: number };
  /** The run trains on the first `limit` samples of its data set. */
  limit?: number;
  /** The data set: the reader's name (train's --dataset) and, when it was read from one, its path as given. */
  dataset?: { name: string; path?: string };
}

/** How far a run got. */
export interface RunPosition {
  /** Complete epochs. */
  epochsDone: number;
  /** Batches trained of epoch epochsDone + 1 (a run stopped inside an epoch), and their sums. */
  batch: number;
  lossSum: number;
  correct: number;
  /** A VAE's KL divergence summed over those batches' samples (a part of lossSum). */
  klSum?: number;
  /** Batches per epoch; 0 until the run has seen its data. */
  batches: number;
  /** The learning-rate schedule's step and length: it spans the run from where it started. */
  step: number;
  steps: number;
}

/** The record as written: settings, position, and the model's loss (informative). */
export interface RunRecord extends RunSettings, RunPosition {
  loss?: string;
  /** Where each drawing layer's draws stand (dropout, sampling), in layer order: [seed, step]. */
  noise?: [number, number][];
}

/** The most epochs a run may count (a model file's "epochs" fact has the same bound). */
export const MAX_EPOCHS = 1e6;

/** A warm-up (fit's warmup, a run's setting): a number of epochs from 0 to MAX_EPOCHS. */
export const isWarmup = (v: unknown): v is number => typeof v === "number" && v >= 0 && v <= MAX_EPOCHS;

/** A label smoothing ε (fit's labelSmoothing, a run's setting): a number from 0 up to 1. */
export const isLabelSmoothing = (v: unknown): v is number => typeof v === "number" && v >= 0 && v < 1;
const MAX_COUNT = 2 ** 31;
const MAX_TEXT = 4096;
const OPTIMIZER_KEYS = ["lr", "momentum", "rho", "eps", "beta1", "beta2", "weightDecay"] as const;
const BELOW_ONE = new Set(["momentum", "rho", "beta1", "beta2"]);

const FIELDS = new Set([
  "optimizer",
  "schedule",
  "warmup",
  "labelSmoothing",
  "winograd",
  "epochs",
  "batchSize",
  "seed",
  "augment",
  "limit",
  "dataset",
  "epochsDone",
  "batch",
  "lossSum",
  "correct",
  "klSum",
  "batches",
  "step",
  "steps",
  "loss",
  "noise",
]);

/** The first key of `value` not in `known`, or undefined. */
const unknownKey = (value: object, known: ReadonlySet<string>): string | undefined =>
  Object.keys(value).find((k) => !known.has(k));

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const show = (v: unknown): string => String(JSON.stringify(v)).slice(0, 60);

/** What is wrong with a "run" record's text, or undefined; `record` is set when nothing is. */
export function readRunRecord(text: string): { record?: RunRecord; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "it is not JSON" };
  }
  const problem = runRecordProblem(value);
  return problem ? { problem } : { record: value as RunRecord };
}

/** The first field of a run record out of its range, or undefined. */
export function runRecordProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "it is not a JSON object";
  const r = value as Record<string, unknown>;
  const extra = unknownKey(r, FIELDS);
  if (extra !== undefined) return `"${extra.slice(0, 40)}" is not a field of a run record`;
  const o = r.optimizer as Record<string, unknown> | undefined;
  if (typeof o !== "object" || o === null || !OPTIMIZERS.includes(o.name as OptimizerName))
    return `"optimizer" names no known optimizer`;
  const extraSetting = unknownKey(o, new Set(["name", ...OPTIMIZER_KEYS]));
  if (extraSetting !== undefined) return `"optimizer.${extraSetting.slice(0, 40)}" is not an optimizer setting`;
  for (const key of OPTIMIZER_KEYS) {
    const v = o[key];
    if (v === undefined) continue;
    if (
      typeof v !== "number" ||
      !Number.isFinite(v) ||
      v < 0 ||
      (key === "lr" && v === 0) ||
      (BELOW_ONE.has(key) && v >= 1)
    ) {
      return `"optimizer.${key}" is ${show(v)}, out of range`;
    }
  }
  if (!SCHEDULES.includes(r.schedule as ScheduleName))
    return `"schedule" is ${show(r.schedule)}, not "constant" or "cosine"`;
  if (r.warmup !== undefined && !isWarmup(r.warmup))
    return `"warmup" is ${show(r.warmup)}, not a number of epochs from 0 to ${MAX_EPOCHS}`;
  if (r.labelSmoothing !== undefined && !isLabelSmoothing(r.labelSmoothing))
    return `"labelSmoothing" is ${show(r.labelSmoothing)}, not a number from 0 up to 1`;
  if (r.winograd !== undefined && typeof r.winograd !== "boolean")
    return `"winograd" is ${show(r.winograd)}, not true or false`;
  const integers: [string, number, number][] = [
    ["epochs", 0, MAX_EPOCHS],
    ["epochsDone", 0, MAX_EPOCHS],
    ["batchSize", 1, MAX_COUNT],
    ["seed", 0, 2 ** 32 - 1],
    ["batches", 0, MAX_COUNT],
    ["batch", 0, MAX_COUNT],
    ["correct", 0, MAX_COUNT],
    ["steps", 0, Number.MAX_SAFE_INTEGER],
    ["step", 0, Number.MAX_SAFE_INTEGER],
  ];
  for (const [key, min, max] of integers) {
    if (!isInt(r[key], min, max)) return `"${key}" is ${show(r[key])}, not an integer from ${min} to ${max}`;
  }
  const n = r as unknown as RunRecord;
  if (n.epochsDone > n.epochs || (n.batch > 0 && n.epochsDone >= n.epochs))
    return `"epochsDone" is ${n.epochsDone}, beyond the run's ${n.epochs} epochs`;
  if (n.batch > n.batches) return `"batch" is ${n.batch}, beyond the ${n.batches} batches of an epoch`;
  if (n.step > n.steps) return `"step" is ${n.step}, beyond the schedule's ${n.steps} steps`;
  if (n.correct > n.batch * n.batchSize)
    return `"correct" is ${n.correct}, more than the samples of ${n.batch} batches`;
  if (typeof r.lossSum !== "number" || !Number.isFinite(r.lossSum) || r.lossSum < 0)
    return `"lossSum" is ${show(r.lossSum)}, not a non-negative number`;
  if (
    r.klSum !== undefined &&
    (typeof r.klSum !== "number" || !Number.isFinite(r.klSum) || r.klSum < 0 || r.klSum > (r.lossSum as number))
  )
    return `"klSum" is ${show(r.klSum)}, not a non-negative number up to "lossSum"`;
  if (r.noise !== undefined) {
    const noise = r.noise;
    if (
      !Array.isArray(noise) ||
      noise.length > 256 ||
      !noise.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => isInt(v, 0, 0xffff_ffff)))
    )
      return `"noise" is ${show(noise)}, not a list of [seed, step] pairs of integers from 0 to 4294967295`;
  }
  if (r.limit !== undefined && !isInt(r.limit, 1, MAX_COUNT))
    return `"limit" is ${show(r.limit)}, not a positive integer`;
  if (r.augment !== undefined) {
    const a = r.augment as Record<string, unknown> | null;
    if (
      typeof a !== "object" ||
      a === null ||
      typeof a.flip !== "boolean" ||
      !isInt(a.shift, 0, 64) ||
      unknownKey(a, new Set(["flip", "shift"])) !== undefined
    )
      return `"augment" is ${show(a)}, not { flip, shift }`;
  }
  if (r.dataset !== undefined) {
    const d = r.dataset as Record<string, unknown> | null;
    const text = (v: unknown): boolean => typeof v === "string" && v.length > 0 && v.length <= MAX_TEXT;
    if (
      typeof d !== "object" ||
      d === null ||
      !text(d.name) ||
      (d.path !== undefined && !text(d.path)) ||
      unknownKey(d, new Set(["name", "path"])) !== undefined
    )
      return `"dataset" is ${show(d)}, not { name, path }`;
  }
  if (r.loss !== undefined && typeof r.loss !== "string") return `"loss" is ${show(r.loss)}, not a name`;
  return undefined;
}
