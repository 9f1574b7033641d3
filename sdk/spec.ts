import { checkOptions } from "./args";
import { fail } from "./errors";
import { INITIALIZERS, type Initializer } from "./init";
import type { ActivationSpec } from "./layers/activation";
import type { BatchNormSpec } from "./layers/batchnorm";
import type { Conv2DSpec } from "./layers/conv2d";
import type { ConvTransposeSpec } from "./layers/conv-transpose";
import type { DropoutSpec } from "./layers/dropout";
import type { DenseSpec } from "./layers/dense";
import type { FlattenSpec } from "./layers/flatten";
import type { Pool2DSpec } from "./layers/pool2d";
import type { ReshapeSpec } from "./layers/reshape";
import type { SamplingSpec } from "./layers/sampling";
import type { UpsampleSpec } from "./layers/upsample";
import { PLAN_LIMITS } from "./plan";
import { codePointName, firstUnprintable, quote } from "./text";

export type LayerSpec =
  | DenseSpec
  | ActivationSpec
  | Conv2DSpec
  | Pool2DSpec
  | FlattenSpec
  | DropoutSpec
  | BatchNormSpec
  | ConvTransposeSpec
  | UpsampleSpec
  | ReshapeSpec
  | SamplingSpec;

/**
 * The loss. A classifier's is on its softmax output: cross-entropy (the course's) or the mean
 * squared error against the one-hot label. An autoencoder's or VAE's is on its reconstruction of
 * the input (sdk/layers/pixel-loss.ts): binary cross-entropy on a sigmoid of the output ("bce",
 * the default) or the squared error ("mse").
 */
export type LossName = "cross-entropy" | "mse" | "bce";

/**
 * What a model learns: to classify (the default), to reconstruct its input through a narrow code
 * ("autoencoder"), or to reconstruct it through a sampled code whose distribution is pulled
 * towards a standard normal ("vae", a variational autoencoder).
 */
export type Task = "classifier" | "autoencoder" | "vae";

export const TASKS: readonly Task[] = ["classifier", "autoencoder", "vae"];

/**
 * A sequential model, JSON-able: what the CLI flags, a JSON file or code describe, and what the
 * model file stores. `input` is the shape of one sample ([channels, height, width] for images);
 * the last layer's width is the number of classes; the loss is softmax + cross-entropy.
 */
export interface ModelSpec {
  input: number[];
  layers: LayerSpec[];
  /** Names of the classes, in label order (shown by predict). */
  classes?: string[];
  /** Default "cross-entropy" for a classifier, "bce" for an autoencoder or VAE. */
  loss?: LossName;
  /** Default "classifier". */
  task?: Task;
  /**
   * An autoencoder's or VAE's encoder: its first `encoder` layers, whose output is the code (for a
   * VAE, the last of them is the sampling layer and the code is its mean); the decoder is the rest.
   */
  encoder?: number;
}

/** Bound on every size in a spec (and on the values of one input sample): far above any real
 * image model, low enough that a hostile spec cannot ask for gigabytes. */
const MAX_SIZE = 1 << 24;

const isPositiveInt = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) > 0 && (v as number) <= MAX_SIZE;

/** Checks an untrusted spec (from a file or a page) and returns it typed; says what is wrong. */
export function validateSpec(value: unknown): ModelSpec {
  if (typeof value !== "object" || value === null) fail("BAD_ARGUMENT", "model spec: not an object");
  const spec = value as Record<string, unknown>;
  if (!Array.isArray(spec.input) || spec.input.length === 0 || !spec.input.every(isPositiveInt)) {
    fail(
      "BAD_ARGUMENT",
      `model spec: "input" must be a list of positive integers, got ${quote(String(JSON.stringify(spec.input)))}`,
    );
  }
  if ((spec.input as number[]).reduce((a, b) => a * b, 1) > MAX_SIZE) {
    fail("BAD_ARGUMENT", `model spec: an input of [${spec.input}] is larger than ${MAX_SIZE} values`);
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    fail("BAD_ARGUMENT", 'model spec: "layers" must be a non-empty list');
  }
  if (spec.layers.length > PLAN_LIMITS.layers) {
    fail("BAD_ARGUMENT", `model spec: ${spec.layers.length} layers is beyond the limit of ${PLAN_LIMITS.layers}`);
  }
  const layers = spec.layers.map((layer: unknown, i: number) => validateLayer(layer, i));
  if (spec.task !== undefined && !TASKS.includes(spec.task as Task)) {
    fail(
      "BAD_ARGUMENT",
      `model spec: "task" must be one of ${TASKS.join(", ")}, got ${quote(String(JSON.stringify(spec.task)))}`,
    );
  }
  const task = (spec.task ?? "classifier") as Task;
  const generative = task !== "classifier";
  if (!generative && spec.encoder !== undefined) {
    fail("BAD_ARGUMENT", 'model spec: "encoder" belongs to an autoencoder or VAE, not a classifier');
  }
  const samplingAt = layers.flatMap((l, i) => (l.type === "sampling" ? [i] : []));
  if (generative) {
    if (
      !(Number.isInteger(spec.encoder) && (spec.encoder as number) >= 1 && (spec.encoder as number) < layers.length)
    ) {
      fail(
        "BAD_ARGUMENT",
        `model spec: an ${task === "vae" ? "VAE" : "autoencoder"} needs "encoder", the number of its encoder's layers (1 to ${layers.length - 1}), got ${quote(String(JSON.stringify(spec.encoder)))}`,
      );
    }
  }
  const encoder = spec.encoder as number;
  if (task === "vae" && !samplingAt.includes(encoder - 1)) {
    fail("BAD_ARGUMENT", "model spec: a VAE's encoder ends with a sampling layer (its code)");
  }
  const loss = spec.loss;
  const losses: LossName[] = generative ? ["bce", "mse"] : ["cross-entropy", "mse"];
  if (loss !== undefined && !losses.includes(loss as LossName)) {
    fail(
      "BAD_ARGUMENT",
      `model spec: the loss of ${generative ? "an autoencoder or VAE" : "a classifier"} is ${losses.map((l) => `"${l}"`).join(" or ")}, got ${quote(String(JSON.stringify(loss)))}`,
    );
  }
  if (generative && (loss ?? "bce") === "bce" && layers[layers.length - 1].type === "sigmoid") {
    fail(
      "BAD_ARGUMENT",
      'model spec: the "bce" loss applies the sigmoid itself: end the decoder without one (or use "mse")',
    );
  }
  if (!generative && layers[layers.length - 1].type !== "dense") {
    fail("BAD_ARGUMENT", "model spec: the last layer must be dense (its units are the classes)");
  }
  const classCount = generative
    ? Array.isArray(spec.classes)
      ? spec.classes.length
      : 0
    : (layers[layers.length - 1] as DenseSpec).units;
  if (classCount > 255) fail("BAD_ARGUMENT", `model spec: at most 255 classes, got ${classCount}`);
  let classes: string[] | undefined;
  if (spec.classes !== undefined) {
    if (!Array.isArray(spec.classes) || spec.classes.length !== classCount || classCount === 0) {
      fail(
        "BAD_ARGUMENT",
        generative
          ? 'model spec: "classes" must be a list of names'
          : `model spec: "classes" must be ${classCount} names`,
      );
    }
    spec.classes.forEach((name: unknown, i: number) => {
      const problem = classNameProblem(name);
      if (problem) fail("BAD_ARGUMENT", `model spec: "classes"[${i}] ${problem}`);
    });
    classes = spec.classes as string[];
  }
  return {
    input: spec.input as number[],
    layers,
    ...(classes ? { classes } : {}),
    ...(loss !== undefined && loss !== losses[0] ? { loss: loss as LossName } : {}),
    ...(generative ? { task, encoder } : {}),
  };
}

/** The loss a spec trains with, its default filled in. */
export function specLoss(spec: ModelSpec): LossName {
  return spec.loss ?? ((spec.task ?? "classifier") === "classifier" ? "cross-entropy" : "bce");
}

/** Longest class name, in characters (code points). */
export const MAX_CLASS_NAME = 64;

/** What is wrong with a class name, or undefined when it is a name that prints as itself. */
export function classNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return "is not a string";
  if (name.length === 0) return "is empty";
  // A code point is one or two UTF-16 units: count them only in a string that may be short enough.
  if (name.length > 2 * MAX_CLASS_NAME || [...name].length > MAX_CLASS_NAME) {
    return `is longer than the limit of ${MAX_CLASS_NAME} characters`;
  }
  // Class names are printed to terminals and pages as they are.
  const bad = firstUnprintable(name);
  return bad === undefined ? undefined : `holds the unprintable character ${codePointName(bad)}`;
}

function validateLayer(value: unknown, index: number): LayerSpec {
  const where = `model spec: layer ${index}`;
  if (typeof value !== "object" || value === null) fail("BAD_ARGUMENT", `${where}: not an object`);
  const layer = value as Record<string, unknown>;
  switch (layer.type) {
    case "dense": {
      if (!isPositiveInt(layer.units)) fail("BAD_ARGUMENT", `${where}: dense "units" must be a positive integer`);
      if (layer.init !== undefined && !INITIALIZERS.includes(layer.init as Initializer)) {
        fail("BAD_ARGUMENT", `${where}: "init" must be one of ${INITIALIZERS.join(", ")}`);
      }
      return { type: "dense", units: layer.units, ...(layer.init ? { init: layer.init as Initializer } : {}) };
    }
    case "sigmoid":
    case "relu":
    case "flatten":
      return { type: layer.type };
    case "conv2d":
    case "convT": {
      const type = layer.type;
      if (!isPositiveInt(layer.filters)) fail("BAD_ARGUMENT", `${where}: ${type} "filters" must be a positive integer`);
      if (!isPositiveInt(layer.size)) fail("BAD_ARGUMENT", `${where}: ${type} "size" must be a positive integer`);
      if (layer.stride !== undefined && !isPositiveInt(layer.stride))
        fail("BAD_ARGUMENT", `${where}: ${type} "stride" must be a positive integer`);
      if (layer.padding !== undefined && !(Number.isInteger(layer.padding) && (layer.padding as number) >= 0)) {
        fail("BAD_ARGUMENT", `${where}: ${type} "padding" must be a non-negative integer`);
      }
      if (layer.init !== undefined && !INITIALIZERS.includes(layer.init as Initializer)) {
        fail("BAD_ARGUMENT", `${where}: "init" must be one of ${INITIALIZERS.join(", ")}`);
      }
      return {
        type,
        filters: layer.filters,
        size: layer.size,
        ...(layer.stride !== undefined ? { stride: layer.stride as number } : {}),
        ...(layer.padding !== undefined ? { padding: layer.padding as number } : {}),
        ...(layer.init ? { init: layer.init as Initializer } : {}),
      };
    }
    case "dropout": {
      const rate = layer.rate;
      if (typeof rate !== "number" || !(rate >= 0 && rate < 1))
        fail("BAD_ARGUMENT", `${where}: dropout "rate" must be in [0, 1)`);
      return { type: "dropout", rate };
    }
    case "batchnorm": {
      const { momentum, eps } = layer;
      if (momentum !== undefined && !(typeof momentum === "number" && momentum >= 0 && momentum < 1)) {
        fail("BAD_ARGUMENT", `${where}: batchnorm "momentum" must be in [0, 1)`);
      }
      if (eps !== undefined && !(typeof eps === "number" && eps > 0))
        fail("BAD_ARGUMENT", `${where}: batchnorm "eps" must be positive`);
      return {
        type: "batchnorm",
        ...(momentum !== undefined ? { momentum: momentum as number } : {}),
        ...(eps !== undefined ? { eps: eps as number } : {}),
      };
    }
    case "maxpool":
    case "avgpool": {
      if (!isPositiveInt(layer.size)) fail("BAD_ARGUMENT", `${where}: ${layer.type} "size" must be a positive integer`);
      if (layer.stride !== undefined && !isPositiveInt(layer.stride))
        fail("BAD_ARGUMENT", `${where}: ${layer.type} "stride" must be a positive integer`);
      return {
        type: layer.type,
        size: layer.size,
        ...(layer.stride !== undefined ? { stride: layer.stride as number } : {}),
      };
    }
    case "upsample": {
      const scale = layer.scale;
      if (!(Number.isInteger(scale) && (scale as number) >= 1 && (scale as number) <= PLAN_LIMITS.upsample)) {
        fail("BAD_ARGUMENT", `${where}: upsample "scale" must be an integer from 1 to ${PLAN_LIMITS.upsample}`);
      }
      return { type: "upsample", scale: scale as number };
    }
    case "reshape": {
      const shape = layer.shape;
      if (!Array.isArray(shape) || shape.length < 1 || shape.length > 3 || !shape.every(isPositiveInt)) {
        fail("BAD_ARGUMENT", `${where}: reshape "shape" must be a list of 1 to 3 positive integers`);
      }
      return { type: "reshape", shape: [...(shape as number[])] };
    }
    case "sampling":
      return { type: "sampling" };
    default:
      fail("BAD_ARGUMENT", `${where}: unknown type ${quote(String(JSON.stringify(layer.type)))}`);
  }
}

/**
 * The course's network: input -> dense(hidden) -> activation -> dense(classes), with optional
 * batch normalization (before the activation) and dropout (after it) in every hidden layer.
 */
export function mlpSpec(options: {
  input: number[];
  hidden: number[];
  classes: number;
  activation?: "sigmoid" | "relu";
  init?: Initializer;
  batchnorm?: boolean;
  dropout?: number;
}): ModelSpec {
  if (!Array.isArray(checkOptions<{ hidden: number[] }>(options, "mlpSpec options").hidden))
    fail("BAD_ARGUMENT", "mlpSpec: options.hidden must be an array of layer widths");
  const activation = options.activation ?? "sigmoid";
  const layers: LayerSpec[] = [];
  const dense = (units: number): DenseSpec => ({
    type: "dense",
    units,
    ...(options.init ? { init: options.init } : {}),
  });
  for (const units of options.hidden) {
    layers.push(dense(units));
    if (options.batchnorm) layers.push({ type: "batchnorm" });
    layers.push({ type: activation });
    if (options.dropout) layers.push({ type: "dropout", rate: options.dropout });
  }
  layers.push(dense(options.classes));
  return { input: options.input, layers };
}
