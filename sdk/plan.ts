import { fail } from "./errors";
import { outputSide } from "./layers/conv2d";
import { transposedSide } from "./layers/conv-transpose";
import { sparseListBytes } from "./layers/dense";
import { sizeOf } from "./layers/layer";
import type { LayerSpec, ModelSpec } from "./spec";

/**
 * What a model may ask for, checked from its spec before anything is allocated, so that a small
 * hostile spec (a file of a few hundred bytes) cannot plan gigabytes or hours of work. Far above
 * what the models of this project need (the LeNet-like CIFAR-10 net: 9 layers, 0.3 M parameters,
 * under 1 MiB of activations per image), within what wasm32's 4 GiB holds with room to train:
 * the parameters are held about seven times (values, gradients, up to two optimizer slots, the
 * packed copies of a convolution's filters), 32 M parameters about 900 MiB.
 */
export const PLAN_LIMITS = {
  /** Layers in a spec. */
  layers: 256,
  /** Any count in a spec: an input dimension, units, filters (and the input's values in all). */
  size: 1 << 24,
  /** A convolution's or pooling's window side and stride; padding must also be below the window. */
  window: 128,
  /** An upsampling layer's factor. */
  upsample: 16,
  /** Learnable and saved values (float32) of the whole model. */
  parameters: 1 << 25,
  /** Activation memory one image needs in a training pass (inference needs less). */
  imageBytes: 64 * 2 ** 20,
  /** The convolutions' patch matrices (im2col) of one image, all layers, for training, held per thread, and a first dense layer's nonzeros' lists (at most 16 MB). */
  scratchBytes: 64 * 2 ** 20,
  /** Multiply-adds of one image's forward pass. */
  multiplyAdds: 2 ** 31,
};

/** Activation memory that evaluate(), predict() and the CLI's inference give one batch. */
export const INFERENCE_BATCH_BYTES = 256 * 2 ** 20;
/** Images per inference batch when memory allows more (larger batches gain nothing). */
export const MAX_INFERENCE_BATCH = 1000;
/** Activation memory fit() lets one training batch take (the LeNet-like CIFAR-10 net: 1.1 MiB an image). */
export const TRAINING_BATCH_BYTES = 512 * 2 ** 20;

/** What a layer will hold, worked out from the spec alone: no memory is touched. */
export interface LayerPlan {
  outputShape: number[];
  /** Parameters and saved buffers, with the names they have in a model file. */
  tensors: { name: string; shape: number[] }[];
  /** Bytes of the activation buffers this layer holds per image: inference, and training. */
  imageBytes: { inference: number; training: number };
  /** Bytes of per-thread scratch (a convolution's patches) for inference, and for training. */
  scratchBytes: { inference: number; training: number };
  /** Multiply-adds (or comparable element operations) of one image's forward pass. */
  multiplyAdds: number;
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;

/** "layer 3 (conv2d 1x1 padding 10000)": how a refusal names a layer. */
export function describeLayer(layer: LayerSpec, index: number): string {
  const l = layer as unknown as Record<string, unknown>;
  let what = String(l.type);
  if (l.type === "dense") what += ` ${String(l.units)}`;
  if (l.type === "conv2d" || l.type === "convT") what += ` ${String(l.filters)} ${String(l.size)}x${String(l.size)}`;
  if (l.type === "upsample") what += ` ${String(l.scale)}`;
  if (l.type === "reshape" && Array.isArray(l.shape)) what += ` ${l.shape.map(String).join("x")}`;
  if (l.type === "maxpool" || l.type === "avgpool") what += ` ${String(l.size)}`;
  if (l.stride !== undefined) what += ` stride ${String(l.stride)}`;
  if (l.padding !== undefined) what += ` padding ${String(l.padding)}`;
  return `layer ${index} (${what})`;
}

/**
 * The shapes a spec implies, layer by layer, checked before anything is allocated: a layer that
 * does not fit its input is a BAD_SHAPE naming both, and a model file's tensors can be compared
 * with what its spec needs before the model is built. A spec beyond PLAN_LIMITS is a BAD_SHAPE
 * naming the layer where the limit is crossed.
 */
export function planModel(spec: ModelSpec): LayerPlan[] {
  const given = spec as Partial<ModelSpec> | null;
  if (typeof given !== "object" || given === null || !Array.isArray(given.layers) || !Array.isArray(given.input)) {
    fail(
      "BAD_ARGUMENT",
      "planModel: spec must be a model spec ({ input, layers }); validateSpec() says what is wrong with one",
    );
  }
  if (spec.layers.length > PLAN_LIMITS.layers) {
    fail("BAD_SHAPE", `a model of ${spec.layers.length} layers is beyond the limit of ${PLAN_LIMITS.layers}`);
  }
  const plans: LayerPlan[] = [];
  let shape = [...spec.input];
  const inputBytes = sizeOf(shape) * 4;
  let parameters = 0;
  let training = inputBytes;
  let multiplyAdds = 0;
  let scratch = 0;
  const reader = inputReader(spec.layers);
  spec.layers.forEach((layer, index) => {
    const where = (): string => describeLayer(layer, index);
    const plan = planLayer(layer, shape, index, where, index === reader);
    for (const d of plan.outputShape) {
      if (d > PLAN_LIMITS.size)
        fail(
          "BAD_SHAPE",
          `${where()}: an output of [${plan.outputShape}] is beyond the limit of ${PLAN_LIMITS.size} per dimension`,
        );
    }
    parameters += plan.tensors.reduce((n, t) => n + sizeOf(t.shape), 0);
    if (parameters > PLAN_LIMITS.parameters) {
      fail(
        "BAD_SHAPE",
        `${where()}: the model reaches ${parameters} parameters, beyond the limit of ${PLAN_LIMITS.parameters}`,
      );
    }
    training += plan.imageBytes.training;
    if (training > PLAN_LIMITS.imageBytes) {
      fail(
        "BAD_SHAPE",
        `${where()}: the model reaches ${MiB(training)} of activations per image, beyond the limit of ${MiB(PLAN_LIMITS.imageBytes)}`,
      );
    }
    scratch += plan.scratchBytes.training;
    if (scratch > PLAN_LIMITS.scratchBytes) {
      fail(
        "BAD_SHAPE",
        `${where()}: the model reaches ${MiB(scratch)} of patch matrices per thread, beyond the limit of ${MiB(PLAN_LIMITS.scratchBytes)}`,
      );
    }
    multiplyAdds += plan.multiplyAdds;
    if (multiplyAdds > PLAN_LIMITS.multiplyAdds) {
      fail(
        "BAD_SHAPE",
        `${where()}: the model reaches ${multiplyAdds} multiply-adds per image, beyond the limit of ${PLAN_LIMITS.multiplyAdds}`,
      );
    }
    plans.push(plan);
    shape = plan.outputShape;
  });
  return plans;
}

/**
 * The index of the layer that reads the model's input as it is: the first that computes, only
 * flatten or reshape (which move nothing) before it; -1 when there is none. A dense layer there
 * skips the input's zeros (Dense.sparseInput), and holds the lists that takes.
 */
export function inputReader(layers: readonly LayerSpec[]): number {
  return layers.findIndex((l) => l.type !== "flatten" && l.type !== "reshape");
}

function planLayer(
  layer: LayerSpec,
  input: number[],
  index: number,
  where: () => string,
  readsInput: boolean,
): LayerPlan {
  const t = (name: string, shape: number[]): { name: string; shape: number[] } => ({ name: `${index}.${name}`, shape });
  const inSize = sizeOf(input);
  // Float32 buffers per image: outputs for inference; for training also what backward needs.
  const buffers = (inference: number, training: number): LayerPlan["imageBytes"] => ({
    inference: 4 * inference,
    training: 4 * training,
  });
  const noScratch = { inference: 0, training: 0 };
  switch (layer.type) {
    case "dense": {
      const units = layer.units;
      // Reading the model's input, it lists the input's nonzeros (Dense.sparseInput) for batches
      // of up to SPARSE_MAX_VALUES input values: a fixed amount, whatever the batch.
      return {
        outputShape: [units],
        tensors: [t("weight", [inSize, units]), t("bias", [units])],
        imageBytes: buffers(units, units + inSize),
        scratchBytes: readsInput ? sparseListBytes(inSize) : noScratch,
        multiplyAdds: inSize * units,
      };
    }
    case "conv2d": {
      const [C, H, W] = imageShape(input, where);
      const size = layer.size;
      const stride = layer.stride ?? 1;
      const pad = layer.padding ?? 0;
      checkWindow(size, stride, pad, where);
      const OH = outputSide(H, size, stride, pad);
      const OW = outputSide(W, size, stride, pad);
      if (OH <= 0 || OW <= 0) fail("BAD_SHAPE", `${where()} does not fit its input [${input}]`);
      const out = layer.filters * OH * OW;
      const patches = C * size * size * OH * OW;
      return {
        outputShape: [layer.filters, OH, OW],
        tensors: [t("weight", [layer.filters, C, size, size]), t("bias", [layer.filters])],
        imageBytes: buffers(out, out + inSize),
        scratchBytes: { inference: 4 * patches, training: 8 * patches },
        multiplyAdds: layer.filters * patches,
      };
    }
    case "maxpool":
    case "avgpool": {
      const [C, H, W] = imageShape(input, where);
      const stride = layer.stride ?? layer.size;
      checkWindow(layer.size, stride, 0, where);
      const OH = outputSide(H, layer.size, stride, 0);
      const OW = outputSide(W, layer.size, stride, 0);
      if (OH <= 0 || OW <= 0) fail("BAD_SHAPE", `${where()} does not fit its input [${input}]`);
      const out = C * OH * OW;
      return {
        outputShape: [C, OH, OW],
        tensors: [],
        imageBytes: buffers(out, out + inSize + (layer.type === "maxpool" ? out : 0)),
        scratchBytes: noScratch,
        multiplyAdds: out * layer.size * layer.size,
      };
    }
    case "flatten":
      return {
        outputShape: [inSize],
        tensors: [],
        imageBytes: buffers(0, 0),
        scratchBytes: noScratch,
        multiplyAdds: 0,
      };
    case "batchnorm": {
      const C = input[0];
      return {
        outputShape: input,
        tensors: [t("gamma", [C]), t("beta", [C]), t("running_mean", [C]), t("running_var", [C])],
        imageBytes: buffers(inSize, 3 * inSize),
        scratchBytes: noScratch,
        multiplyAdds: inSize,
      };
    }
    case "sigmoid":
    case "relu":
      return {
        outputShape: input,
        tensors: [],
        imageBytes: buffers(inSize, 2 * inSize),
        scratchBytes: noScratch,
        multiplyAdds: inSize,
      };
    case "convT": {
      const [C, H, W] = imageShape(input, where);
      const size = layer.size;
      const stride = layer.stride ?? 1;
      const pad = layer.padding ?? 0;
      checkWindow(size, stride, pad, where);
      const OH = transposedSide(H, size, stride, pad);
      const OW = transposedSide(W, size, stride, pad);
      if (OH <= 0 || OW <= 0) {
        fail("BAD_SHAPE", `${where()}: its padding crops the whole output of its input [${input}]`);
      }
      const out = layer.filters * OH * OW;
      // One image's cols [K·R·R, H·W] per thread: the forward product's, then the backward im2col's.
      const cols = layer.filters * size * size * H * W;
      return {
        outputShape: [layer.filters, OH, OW],
        tensors: [t("weight", [C, layer.filters, size, size]), t("bias", [layer.filters])],
        imageBytes: buffers(out, out + inSize),
        scratchBytes: { inference: 4 * cols, training: 4 * cols },
        multiplyAdds: C * cols,
      };
    }
    case "upsample": {
      const [C, H, W] = imageShape(input, where);
      const scale = layer.scale;
      if (!(Number.isInteger(scale) && scale >= 1 && scale <= PLAN_LIMITS.upsample)) {
        fail("BAD_SHAPE", `${where()}: the scale must be an integer from 1 to ${PLAN_LIMITS.upsample}`);
      }
      const out = inSize * scale * scale;
      return {
        outputShape: [C, H * scale, W * scale],
        tensors: [],
        imageBytes: buffers(out, out + inSize),
        scratchBytes: noScratch,
        multiplyAdds: out,
      };
    }
    case "reshape": {
      const shape = layer.shape;
      if (!Array.isArray(shape) || shape.length < 1 || shape.length > 3 || sizeOf(shape) !== inSize) {
        fail("BAD_SHAPE", `${where()}: cannot give its input [${input}] (${inSize} values) the shape [${shape}]`);
      }
      return {
        outputShape: [...shape],
        tensors: [],
        imageBytes: buffers(0, 0),
        scratchBytes: noScratch,
        multiplyAdds: 0,
      };
    }
    case "sampling": {
      if (input.length !== 1 || input[0] % 2 !== 0) {
        fail("BAD_SHAPE", `${where()} needs a flat input of an even size (means, then log-variances), got [${input}]`);
      }
      const latent = input[0] / 2;
      // Outputs and noise; for training also the input gradient.
      return {
        outputShape: [latent],
        tensors: [],
        imageBytes: buffers(2 * latent, 2 * latent + inSize),
        scratchBytes: noScratch,
        multiplyAdds: 4 * inSize,
      };
    }
    case "dropout":
      // In inference a dropout layer passes its input through.
      return {
        outputShape: input,
        tensors: [],
        imageBytes: buffers(0, 3 * inSize),
        scratchBytes: noScratch,
        multiplyAdds: 0,
      };
  }
}

function imageShape(input: number[], where: () => string): [number, number, number] {
  if (input.length !== 3) fail("BAD_SHAPE", `${where()} needs [channels, height, width] input, got [${input}]`);
  return input as [number, number, number];
}

function checkWindow(size: number, stride: number, pad: number, where: () => string): void {
  if (size > PLAN_LIMITS.window || stride > PLAN_LIMITS.window) {
    fail("BAD_SHAPE", `${where()}: windows and strides are limited to ${PLAN_LIMITS.window}`);
  }
  if (pad >= size) fail("BAD_SHAPE", `${where()}: padding must be smaller than the window (${size})`);
}

/** Float32 values the model's parameters and buffers hold. */
export const planSize = (plans: LayerPlan[]): number =>
  plans.reduce((n, p) => n + p.tensors.reduce((m, t) => m + sizeOf(t.shape), 0), 0);

/** Memory one image needs, and per-thread scratch, for a model's passes. */
export interface ImageCost {
  /** Activation bytes per image: the layers' buffers, the input, the class probabilities (and their gradient). */
  inference: number;
  training: number;
  /** Bytes of per-thread scratch the layers hold (independent of the batch). */
  scratch: { inference: number; training: number };
}

const costs = new WeakMap<ModelSpec, ImageCost>();

/**
 * Bytes per image of a model's forward (inference) and training passes, as planModel counts them
 * (fused ReLUs counted as separate, so an upper bound); kept per spec object.
 */
export function imageCost(spec: ModelSpec): ImageCost {
  let cost = costs.get(spec);
  if (!cost) {
    const plans = planModel(spec);
    const classes = sizeOf(plans[plans.length - 1].outputShape);
    // Input floats, the staged pixel bytes and the label byte; the probabilities (and their gradient).
    const base = sizeOf(spec.input) * 5 + 1 + 4;
    cost = {
      inference: base + 4 * classes + plans.reduce((n, p) => n + p.imageBytes.inference, 0),
      training: base + 8 * classes + plans.reduce((n, p) => n + p.imageBytes.training, 0),
      scratch: {
        inference: plans.reduce((n, p) => n + p.scratchBytes.inference, 0),
        training: plans.reduce((n, p) => n + p.scratchBytes.training, 0),
      },
    };
    costs.set(spec, cost);
  }
  return cost;
}

/**
 * The inference batch for `spec`: as many images as fit INFERENCE_BATCH_BYTES, at least 1 and
 * at most `wanted` (default MAX_INFERENCE_BATCH).
 */
export function inferenceBatch(spec: ModelSpec, wanted = MAX_INFERENCE_BATCH): number {
  const fits = Math.floor(INFERENCE_BATCH_BYTES / imageCost(spec).inference);
  return Math.max(1, Math.min(wanted, fits));
}

/**
 * Refuses a training batch whose activations would exceed TRAINING_BATCH_BYTES (a BAD_ARGUMENT
 * that says which batch would fit), before anything is allocated.
 */
export function checkTrainingBatch(spec: ModelSpec, batch: number): void {
  const perImage = imageCost(spec).training;
  if (batch * perImage > TRAINING_BATCH_BYTES) {
    const fits = Math.max(1, Math.floor(TRAINING_BATCH_BYTES / perImage));
    fail(
      "BAD_ARGUMENT",
      `a training batch of ${batch} images needs ${MiB(batch * perImage)} of activations with this model, ` +
        `beyond the limit of ${MiB(TRAINING_BATCH_BYTES)}: use a batch of at most ${fits}`,
    );
  }
}
