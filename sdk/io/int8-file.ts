// The int8 model file (mnist-wasm quantize): safetensors with format "mnist-wasm-int8/1". Every
// dense and conv2d layer's weight is an I8 tensor "<layer>.weight" in the float layout, with
// "<layer>.weight_scale" (F32 [outputs]: weight ≈ q · scale) and "<layer>.input_quant" (F32
// [scale, zero point]: how its input is quantized, see sdk/layers/int8.ts); every other tensor
// (biases, a batch norm's that quantizeModel did not fold) is F32 as in a float file. About a quarter
// of the float file's size.
import { fail } from "../errors";
import type { Conv2D } from "../layers/conv2d";
import type { Pool2D } from "../layers/pool2d";
import {
  Int8Forward,
  int32Bias,
  isQuantizable,
  outputIndex,
  type Int8Shape,
  type Int8Weights,
  type LayerQuant,
} from "../layers/int8";
import type { Model } from "../model";
import type { LayerPlan } from "../plan";
import type { ModelSpec } from "../spec";
import { quote } from "../text";
import { encodeSafetensors, type NamedInt8Tensor, type NamedTensor } from "./safetensors";

/** Written in every int8 model file's metadata; the reader knows an int8 file by it. */
export const INT8_MODEL_FORMAT = "mnist-wasm-int8/1";

/** A scale beyond this (or not above 0) is refused: no trained model's weights or activations come near it. */
export const MAX_SCALE = 1e8;

/**
 * The file's bytes: the model `spec` with its float tensors `tensors` ("<layer>.<name>", every
 * parameter and buffer the spec needs), the quantized layers' weights (named in `quants` by layer
 * index) written in int8 in place of their float ones.
 */
export function encodeInt8Model(
  spec: ModelSpec,
  tensors: Map<string, NamedTensor>,
  quants: Map<number, LayerQuant>,
  facts: Record<string, string>,
): Uint8Array {
  const floats = new Map<string, NamedTensor>();
  const int8 = new Map<string, NamedInt8Tensor>();
  for (const [name, t] of tensors) {
    const index = Number(name.split(".")[0]);
    const q = quants.get(index);
    if (q && name === `${index}.weight`) {
      int8.set(name, { shape: [...t.shape], data: q.weight });
      floats.set(`${index}.weight_scale`, { shape: [q.weightScale.length], data: q.weightScale });
      floats.set(`${index}.input_quant`, { shape: [2], data: Float32Array.of(q.input.scale, q.input.zero) });
    } else {
      floats.set(name, t);
    }
  }
  return encodeSafetensors(floats, { ...facts, format: INT8_MODEL_FORMAT, spec: JSON.stringify(spec) }, int8);
}

/**
 * Checks an int8 file's quantized tensors against the spec's plans and turns them into float
 * ones in `tensors` (the weights dequantized, so that the model's parameters hold what the int8
 * layers compute with); returns each quantized layer's LayerQuant. Refuses (BAD_FILE) a model
 * that is not a classifier, a missing or misshapen tensor, a scale that is not a positive number
 * up to 1e8, a zero point that is not an integer from 0 to 127, and any I8 tensor besides the
 * quantized weights. The F32 tensors are checked by the float reader.
 */
export function readInt8Tensors(
  spec: ModelSpec,
  plans: LayerPlan[],
  tensors: Map<string, NamedTensor>,
  int8: Map<string, NamedInt8Tensor>,
  what: string,
): Map<number, LayerQuant> {
  if ((spec.task ?? "classifier") !== "classifier") fail("BAD_FILE", `${what}: an int8 model must be a classifier`);
  const quants = new Map<number, LayerQuant>();
  const used = new Set<string>();
  spec.layers.forEach((layer, index) => {
    if (!isQuantizable(layer.type)) return;
    const name = `${index}.weight`;
    const shape = plans[index].tensors.find((t) => t.name === name)!.shape;
    const w = int8.get(name);
    if (!w) {
      const hint = tensors.has(name) ? " (it is F32; an int8 file holds it as I8)" : "";
      fail("BAD_FILE", `${what}: I8 tensor "${name}" is missing${hint}`);
    }
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))
      fail("BAD_FILE", `${what}: tensor "${name}" has shape [${w.shape}], the spec needs [${shape}]`);
    const outputs = layer.type === "conv2d" ? shape[0] : shape[1];
    const scale = floatTensor(tensors, `${index}.weight_scale`, outputs, what);
    for (const s of scale)
      if (!(s > 0 && s <= MAX_SCALE))
        fail("BAD_FILE", `${what}: "${index}.weight_scale" holds ${s}, not a scale (0 to ${MAX_SCALE})`);
    const [inputScale, zero] = floatTensor(tensors, `${index}.input_quant`, 2, what);
    if (!(inputScale > 0 && inputScale <= MAX_SCALE))
      fail("BAD_FILE", `${what}: "${index}.input_quant" has scale ${inputScale}, not a scale (0 to ${MAX_SCALE})`);
    if (!(Number.isInteger(zero) && zero >= 0 && zero <= 127))
      fail("BAD_FILE", `${what}: "${index}.input_quant" has zero point ${zero}, not an integer from 0 to 127`);
    tensors.delete(`${index}.weight_scale`);
    tensors.delete(`${index}.input_quant`);
    const outputOf = outputIndex(layer.type, shape);
    const dequantized = new Float32Array(w.data.length);
    for (let i = 0; i < w.data.length; i++) dequantized[i] = w.data[i] * scale[outputOf(i)];
    tensors.set(name, { shape, data: dequantized });
    used.add(name);
    quants.set(index, { weight: w.data, weightScale: scale, input: { scale: inputScale, zero } });
  });
  for (const name of int8.keys())
    if (!used.has(name)) fail("BAD_FILE", `${what}: unexpected I8 tensor ${quote(name)} for this spec`);
  return quants;
}

function floatTensor(tensors: Map<string, NamedTensor>, name: string, length: number, what: string): Float32Array {
  const t = tensors.get(name);
  if (!t) fail("BAD_FILE", `${what}: tensor "${name}" is missing`);
  if (t.shape.length !== 1 || t.shape[0] !== length)
    fail("BAD_FILE", `${what}: tensor "${name}" has shape [${t.shape}], expected [${length}]`);
  return t.data;
}

/**
 * Gives each quantized layer of `model` its int8 weights, and its int8 inference pass when its
 * input quantization is given ("input" in its LayerQuant; without it the layer runs in float with
 * the dequantized weights), so that the model computes what its ONNX export says. A convolution
 * followed by a ReLU, a 2x2 max-pool and another int8 layer runs the three in one int8 pass
 * where the model's fusion is on (pooledPair, Conv2D.int8PoolFused). For an int8 file, each int8
 * layer's bias is rounded to int32 steps (int32Bias); an ONNX graph (`asGraph`) keeps its biases
 * as they are.
 */
export function attachInt8(model: Model, quants: Map<number, Int8Weights | LayerQuant>, asGraph = false): void {
  for (const [index, quant] of quants) {
    const layer = model.layers[index] as unknown as {
      int8?: Int8Forward;
      int8Weights?: Int8Weights;
      inputShape: readonly number[];
      outputShape: readonly number[];
    };
    const spec = model.spec.layers[index];
    layer.int8Weights = { weight: quant.weight, weightScale: quant.weightScale };
    if (!("input" in quant)) continue;
    // The bias in int32 steps of input scale · weight scale, as ONNX's QLinearConv and QGemm add
    // it: then exportOnnx writes exactly what the layer computes (the step is about 1e-5 of the
    // next layer's, so accuracy does not move).
    const biasParam = model.params.find((p) => p.name === `${index}.bias`)!.value;
    let bias = biasParam.read();
    const steps = asGraph ? undefined : int32Bias(bias, quant.input.scale, quant.weightScale);
    if (steps) {
      bias = Float32Array.from(steps.values, (v, o) => v * steps.scale[o]);
      biasParam.write(bias);
    }
    let shape: Int8Shape;
    if (spec.type === "conv2d") {
      const [C, H, W] = layer.inputShape;
      const [, OH, OW] = layer.outputShape;
      shape = {
        kind: "conv",
        C,
        H,
        W,
        R: spec.size,
        stride: spec.stride ?? 1,
        pad: spec.padding ?? 0,
        OH,
        OW,
        filters: spec.filters,
      };
    } else {
      shape = { kind: "dense", inSize: layer.inputShape.reduce((a, b) => a * b, 1), units: layer.outputShape[0] };
    }
    layer.int8 = new Int8Forward(model.rt, shape, quant, bias);
  }
  for (const index of quants.keys()) {
    const pair = pooledPair(model, index, quants);
    const conv = model.layers[index] as Conv2D;
    if (!pair || !conv.int8 || !pair.next.int8) continue;
    conv.int8Pool = pair;
    conv.int8PoolFused = model.fusion;
  }
}

/**
 * The max-pool and the next layer of layer `index` when the four layers from it are an int8
 * convolution (stride 1, no padding, filters a multiple of 8), a ReLU, a 2x2 max-pool of stride 2
 * and another int8 convolution or dense layer: what kernels.convPoolI8 runs as one pass.
 */
function pooledPair(
  model: Model,
  index: number,
  quants: Map<number, Int8Weights | LayerQuant>,
): { pool: Pool2D; next: { int8?: Int8Forward } } | undefined {
  const [conv, relu, pool, next] = model.spec.layers.slice(index, index + 4);
  if (conv?.type !== "conv2d" || relu?.type !== "relu" || pool?.type !== "maxpool") return undefined;
  if (next?.type !== "conv2d" && next?.type !== "dense") return undefined;
  if ((conv.stride ?? 1) !== 1 || (conv.padding ?? 0) !== 0 || conv.filters % 8 !== 0) return undefined;
  if (pool.size !== 2 || (pool.stride ?? 2) !== 2) return undefined;
  const before = quants.get(index);
  const after = quants.get(index + 3);
  if (!before || !("input" in before) || !after || !("input" in after)) return undefined;
  return {
    pool: model.layers[index + 2] as unknown as Pool2D,
    next: model.layers[index + 3] as unknown as { int8?: Int8Forward },
  };
}
