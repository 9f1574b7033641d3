// Post-training int8 quantization of a classifier (mnist-wasm quantize): batch norms folded into
// the dense or conv2d layer before them, per-output-channel symmetric weight scales, and each
// quantized layer's input range calibrated on sample images.
import { pixelArray } from "./args";
import { fail } from "./errors";
import { checkModel } from "./evaluate";
import { encodeInt8Model } from "./io/int8-file";
import { MAX_ABS_VALUE } from "./io/model-file";
import type { NamedTensor } from "./io/safetensors";
import { isQuantizable, outputIndex, type InputQuant, type LayerQuant } from "./layers/int8";
import { PIXEL_SCALE, type Model } from "./model";

/** Images a calibration pass runs at a time. */
const CALIBRATION_BATCH = 100;

/**
 * Symmetric int8 weights, one scale per output: q = round(w / s) with s = max|w| / 127 over the
 * output's weights (an all-zero output gets s = 1). `outputOf(i)` is the output weight i feeds.
 */
export function quantizeWeights(
  w: Float32Array,
  outputs: number,
  outputOf: (i: number) => number,
): { weight: Int8Array; weightScale: Float32Array } {
  const maxAbs = new Float64Array(outputs);
  for (let i = 0; i < w.length; i++) {
    const o = outputOf(i);
    maxAbs[o] = Math.max(maxAbs[o], Math.abs(w[i]));
  }
  const weightScale = Float32Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1));
  const weight = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++)
    weight[i] = Math.max(-127, Math.min(127, Math.round(w[i] / weightScale[outputOf(i)])));
  return { weight, weightScale };
}

/**
 * The quantization of an input seen over [min, max]: non-negative inputs (after a ReLU, or pixels)
 * map 0..max to 0..127 with zero point 0; others map min..max to 0..127, 0.0 to the zero point.
 */
export function inputQuant(min: number, max: number): InputQuant {
  if (!(max > 0)) return { scale: 1, zero: 0 };
  if (min >= 0) return { scale: max / 127, zero: 0 };
  const scale = (max - min) / 127;
  return { scale, zero: Math.min(127, Math.max(0, Math.round(-min / scale))) };
}

export interface QuantizeOptions {
  /** Facts written in the file's metadata (the float file's dataset, classes, …). */
  facts?: Record<string, string>;
}

/**
 * The int8 model file of a float classifier, calibrated on `count` images (raw pixels as predict()
 * takes them; a thousand or two training images are plenty): each dense and conv2d layer's input
 * range is the largest and smallest value it sees over them. A batch norm right after a dense or
 * conv2d layer is folded into it (foldBatchNorm): the int8 model's spec is the float one's without
 * those batch norms, its layers numbered anew. Autoencoders and VAEs are refused.
 */
export function quantizeModel(
  model: Model,
  pixels: Parameters<Model["predict"]>[0],
  count: number,
  options: QuantizeOptions = {},
): Uint8Array {
  checkModel(model, "quantizeModel");
  if (model.task !== "classifier")
    fail(
      "BAD_ARGUMENT",
      `quantizeModel: only classifiers are quantized; this model is ${model.task === "vae" ? "a VAE" : "an autoencoder"}`,
    );
  if (model.quantized) fail("BAD_ARGUMENT", "quantizeModel: the model is already an int8 model");
  const values = pixelArray(pixels, "quantizeModel: pixels");
  if (!Number.isSafeInteger(count) || count <= 0 || values.length !== count * model.inputSize)
    fail(
      "BAD_SHAPE",
      `quantizeModel: expected ${count} images of ${model.inputSize} values, got ${values.length} values`,
    );
  const { rt, layers } = model;
  const ranges = layers.map(() => ({ min: Infinity, max: -Infinity }));
  const batch = Math.min(count, CALIBRATION_BATCH);
  model.allocate(batch, false);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const input = rt.f32(model.inputPtr, n * model.inputSize);
    const from = start * model.inputSize;
    if (values instanceof Uint8Array) for (let i = 0; i < input.length; i++) input[i] = values[from + i] * PIXEL_SCALE;
    else input.set(values.subarray(from, from + input.length));
    let x = model.inputPtr;
    layers.forEach((layer, index) => {
      if (isQuantizable(model.spec.layers[index].type)) {
        const seen = rt.f32(x, n * layer.inputShape.reduce((a, b) => a * b, 1));
        const r = ranges[index];
        for (let i = 0; i < seen.length; i++) {
          const v = seen[i];
          if (v < r.min) r.min = v;
          if (v > r.max) r.max = v;
        }
      }
      x = layer.forward(x, n, false);
    });
  }
  // The int8 model's spec: the float one's without the batch norms that fold into the layer before.
  const folded = model.spec.layers.map((layer, index) =>
    isQuantizable(layer.type) && model.spec.layers[index + 1]?.type === "batchnorm"
      ? foldBatchNorm(model, index)
      : undefined,
  );
  const folds = folded.map((f) => f !== undefined);
  const kept: number[] = [];
  model.spec.layers.forEach((_, index) => {
    if (!(index > 0 && folds[index - 1])) kept.push(index);
  });
  const newIndex = new Map(kept.map((old, i) => [old, i]));
  const tensors = new Map<string, NamedTensor>();
  for (const p of [...model.params, ...model.buffers]) {
    const [old, ...rest] = p.name.split(".");
    const index = newIndex.get(Number(old));
    if (index !== undefined)
      tensors.set(`${index}.${rest.join(".")}`, { shape: [...p.value.shape], data: p.value.read() });
  }
  const quants = new Map<number, LayerQuant>();
  model.spec.layers.forEach(({ type }, old) => {
    if (!isQuantizable(type)) return;
    const index = newIndex.get(old)!;
    const weight = tensors.get(`${index}.weight`)!;
    const outputs = type === "conv2d" ? weight.shape[0] : weight.shape[1];
    const outputOf = outputIndex(type, weight.shape);
    const fold = folded[old];
    if (fold) {
      weight.data.set(fold.weight);
      tensors.get(`${index}.bias`)!.data.set(fold.bias);
    }
    const q = quantizeWeights(weight.data, outputs, outputOf);
    quants.set(index, { ...q, input: inputQuant(ranges[old].min, ranges[old].max) });
  });
  const spec = { ...model.spec, layers: kept.map((old) => model.spec.layers[old]) };
  return encodeInt8Model(spec, tensors, quants, { ...(options.facts ?? {}), calibrationImages: String(count) });
}

/**
 * The weights and bias of layer `index` with the batch norm after it folded in (inference:
 * y = (x - mean) · g + beta with g = gamma / sqrt(var + eps), per output): w · g and
 * (b - mean) · g + beta. The int8 model then runs the layer and its ReLU as one pass (a batch norm
 * between them keeps them apart), and ONNX Runtime fuses the exported convolution, ReLU and
 * quantization into QLinearConv. Per-output weight scales make the fold exact up to rounding: the
 * int8 weights are the same up to a channel's sign, their scales times |g|. Undefined, and the
 * batch norm kept, when a folded value would not be a finite number a model file may hold
 * (MAX_ABS_VALUE: a running variance near 0 under a large gamma).
 */
function foldBatchNorm(model: Model, index: number): { weight: Float32Array; bias: Float32Array } | undefined {
  const norm = model.spec.layers[index + 1] as { eps?: number };
  const eps = norm.eps ?? 1e-5;
  const read = (layer: number, name: string): Float32Array =>
    [...model.params, ...model.buffers].find((p) => p.name === `${layer}.${name}`)!.value.read();
  const [gamma, beta, mean, variance] = ["gamma", "beta", "running_mean", "running_var"].map((n) => read(index + 1, n));
  const weight = read(index, "weight");
  const bias = read(index, "bias");
  const outputOf = outputIndex(
    model.spec.layers[index].type,
    model.params.find((p) => p.name === `${index}.weight`)!.value.shape,
  );
  const g = Float64Array.from(gamma, (v, o) => v / Math.sqrt(variance[o] + eps));
  for (let i = 0; i < weight.length; i++) weight[i] *= g[outputOf(i)];
  for (let o = 0; o < bias.length; o++) bias[o] = (bias[o] - mean[o]) * g[o] + beta[o];
  const holdable = (v: number): boolean => Math.abs(v) <= MAX_ABS_VALUE;
  return weight.every(holdable) && bias.every(holdable) ? { weight, bias } : undefined;
}
