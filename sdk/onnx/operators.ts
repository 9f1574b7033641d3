// The operator tables of the ONNX exporter and importer: how each layer type becomes ONNX nodes,
// and how each ONNX operator becomes a layer. Supporting another layer or operator is one entry
// in each table; export.ts and import.ts walk the chain and do the rest.
import type { NamedTensor } from "../io/safetensors";
import type { LayerSpec } from "../spec";
import {
  ATTRIBUTE,
  type AttributeProto,
  floatAttribute,
  intAttribute,
  intsAttribute,
  stringAttribute,
  type TensorProto,
} from "./proto";
import { type QuantizedLayer, quantizedWeightAndBias } from "./qdq";

/** What a layer's exporter is given and can do (export.ts). */
export interface ExportContext {
  /** The input activation's shape, one sample (no batch dimension). */
  readonly shape: readonly number[];
  /** The layer's own tensor ("weight", "bias", "gamma", …) as the model holds it. */
  param(name: string): NamedTensor;
  /** Adds the layer's tensor as an initializer (named as in a model file, "<layer>.<name>") and returns its name. */
  initializer(name: string, shape: readonly number[], data: Float32Array): string;
  /** Adds an int64 vector (a shape, starts and ends) as an initializer "<layer>.<name>" and returns its name. */
  integers(name: string, values: readonly number[]): string;
  /** Adds a node on the current activation (and `inputs` after it); its output becomes the current activation. */
  node(opType: string, inputs: string[], attributes?: AttributeProto[]): void;
  /** A dense or conv2d layer of an int8 model: its int8 weights, and its input's quantization when it runs in int8. */
  readonly int8?: QuantizedLayer;
  /** Adds an initializer of any type, named "<layer>.<its name>", and returns its name. */
  tensor(proto: TensorProto): string;
  /** Adds a node off the chain (a weight's DequantizeLinear) whose output is "<layer>.<output>", and returns that name. */
  valueNode(opType: string, inputs: string[], output: string, attributes?: AttributeProto[]): string;
  /** Quantizes the current activation as the int8 layer's input (QuantizeLinear, DequantizeLinear; see qdq.ts). */
  quantizeInput(): void;
}

export type LayerExporter = (layer: LayerSpec, ctx: ExportContext) => void;

/** Flattens an image activation for a layer that reads it flat (Gemm takes [batch, features]). */
function flattenIfImage(ctx: ExportContext): void {
  if (ctx.shape.length > 1) ctx.node("Flatten", [], [intAttribute("axis", 1)]);
}

const param = (ctx: ExportContext, name: string): string => {
  const t = ctx.param(name);
  return ctx.initializer(name, t.shape, t.data);
};

/**
 * The weight and bias inputs of a dense or conv2d layer's node: float initializers, or for an int8
 * layer its int8 weights dequantized along `outputAxis`, after its input's quantization (qdq.ts).
 */
function weightAndBias(ctx: ExportContext, outputAxis: number): string[] {
  if (!ctx.int8) return [param(ctx, "weight"), param(ctx, "bias")];
  if (ctx.int8.input) ctx.quantizeInput();
  return quantizedWeightAndBias(ctx, ctx.int8, outputAxis);
}

/** Layer type -> ONNX nodes. The model's softmax head is added after the last layer (export.ts). */
export const LAYER_EXPORTERS: Record<LayerSpec["type"], LayerExporter> = {
  dense: (_layer, ctx) => {
    flattenIfImage(ctx);
    // The weight is stored [in, units]: Gemm multiplies it as it is (transB 0); its outputs are axis 1.
    ctx.node("Gemm", weightAndBias(ctx, 1), [floatAttribute("alpha", 1), floatAttribute("beta", 1)]);
  },
  conv2d: (layer, ctx) => {
    const { size, stride = 1, padding = 0 } = layer as Extract<LayerSpec, { type: "conv2d" }>;
    ctx.node("Conv", weightAndBias(ctx, 0), [
      intsAttribute("kernel_shape", [size, size]),
      intsAttribute("strides", [stride, stride]),
      intsAttribute("pads", [padding, padding, padding, padding]),
    ]);
  },
  relu: (_layer, ctx) => ctx.node("Relu", []),
  sigmoid: (_layer, ctx) => ctx.node("Sigmoid", []),
  maxpool: (layer, ctx) => poolExporter("MaxPool", layer, ctx),
  avgpool: (layer, ctx) => poolExporter("AveragePool", layer, ctx),
  batchnorm: (layer, ctx) => {
    const { eps = 1e-5, momentum = 0.9 } = layer as Extract<LayerSpec, { type: "batchnorm" }>;
    ctx.node(
      "BatchNormalization",
      ["gamma", "beta", "running_mean", "running_var"].map((name) => param(ctx, name)),
      [floatAttribute("epsilon", eps), floatAttribute("momentum", momentum)],
    );
  },
  flatten: (_layer, ctx) => {
    if (ctx.shape.length > 1) ctx.node("Flatten", [], [intAttribute("axis", 1)]);
  },
  // Inference passes through a dropout layer: nothing to export.
  dropout: () => {},
  convT: (layer, ctx) => {
    const { size, stride = 1, padding = 0 } = layer as Extract<LayerSpec, { type: "convT" }>;
    // The weight is [C_in, K, R, R], as ConvTranspose (and PyTorch's ConvTranspose2d) stores it.
    ctx.node(
      "ConvTranspose",
      [param(ctx, "weight"), param(ctx, "bias")],
      [
        intsAttribute("kernel_shape", [size, size]),
        intsAttribute("strides", [stride, stride]),
        intsAttribute("pads", [padding, padding, padding, padding]),
      ],
    );
  },
  upsample: (layer, ctx) => {
    const { scale } = layer as Extract<LayerSpec, { type: "upsample" }>;
    // Nearest with asymmetric coordinates and floor: output pixel (y, x) is input (⌊y/S⌋, ⌊x/S⌋).
    const scales = ctx.initializer("scales", [4], Float32Array.of(1, 1, scale, scale));
    ctx.node(
      "Resize",
      ["", scales],
      [
        stringAttribute("mode", "nearest"),
        stringAttribute("coordinate_transformation_mode", "asymmetric"),
        stringAttribute("nearest_mode", "floor"),
      ],
    );
  },
  reshape: (layer, ctx) => {
    const { shape } = layer as Extract<LayerSpec, { type: "reshape" }>;
    ctx.node("Reshape", [ctx.integers("shape", [-1, ...shape])]);
  },
  // A VAE's sampling layer gives the mean in inference: the first half of each sample's values.
  sampling: (_layer, ctx) => {
    const half = ctx.shape[0] / 2;
    ctx.node("Slice", [ctx.integers("starts", [0]), ctx.integers("ends", [half]), ctx.integers("axes", [1])]);
  },
};

function poolExporter(opType: string, layer: LayerSpec, ctx: ExportContext): void {
  const { size, stride = size } = layer as Extract<LayerSpec, { type: "maxpool" | "avgpool" }>;
  ctx.node(opType, [], [intsAttribute("kernel_shape", [size, size]), intsAttribute("strides", [stride, stride])]);
}

/** A constant input of a node (an initializer or a Constant node's value), as float32. */
export interface ConstantTensor {
  shape: number[];
  data: Float32Array;
}

/** What an operator's importer is given and can do (import.ts). */
export interface ImportContext {
  /** The node's operator type, e.g. "Conv". */
  readonly opType: string;
  /** The current activation's shape, one sample (no batch dimension). */
  readonly shape: readonly number[];
  /** The layers read so far. */
  readonly layers: readonly LayerSpec[];
  /** How many inputs the node has (empty trailing inputs not counted). */
  readonly inputCount: number;
  /** Input `i` (1 or more) as a float32 constant, or undefined when the node has no such input. */
  constant(i: number): ConstantTensor | undefined;
  /** Input `i` as an int64 constant (a Reshape's shape). */
  integers(i: number): number[] | undefined;
  /** Attribute readers: the value, or `fallback` when the node does not set it. */
  int(name: string, fallback: number): number;
  ints(name: string, fallback: number[]): number[];
  float(name: string, fallback: number): number;
  string(name: string, fallback: string): string;
  /** Refuses the node: BAD_FILE naming the operator and the node. */
  refuse(problem: string): never;
  /** Appends a layer and its tensors (named "weight", "bias", …; checked against the layer's plan). */
  addLayer(layer: LayerSpec, tensors?: Record<string, ConstantTensor>): void;
  /** The operator of the node before this one (Constant nodes aside). */
  readonly previousOp: string | undefined;
  /** The tensors of the last layer added, to amend (an Add after a MatMul sets the bias). */
  lastTensors(): Record<string, ConstantTensor> | undefined;
  /** Marks the node as the softmax head: it must be the last node, after a dense layer. */
  softmaxHead(): void;
}

export type OperatorImporter = (ctx: ImportContext) => void;

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const { FLOAT: F, INT: I, STRING: S, INTS: IS } = ATTRIBUTE;

/**
 * What a node of each operator may have: at most `inputs` inputs and `outputs` outputs (only the
 * first output is used), and the attributes named, each of its type. Anything else on a node is
 * refused: an attribute the importer does not read could change the result.
 */
export const OPERATOR_SIGNATURES: Record<
  string,
  { inputs: number; outputs: number; attributes: Record<string, number> }
> = {
  Gemm: { inputs: 3, outputs: 1, attributes: { alpha: F, beta: F, transA: I, transB: I } },
  MatMul: { inputs: 2, outputs: 1, attributes: {} },
  Add: { inputs: 2, outputs: 1, attributes: {} },
  Conv: {
    inputs: 3,
    outputs: 1,
    attributes: { kernel_shape: IS, strides: IS, pads: IS, dilations: IS, group: I, auto_pad: S },
  },
  Relu: { inputs: 1, outputs: 1, attributes: {} },
  Sigmoid: { inputs: 1, outputs: 1, attributes: {} },
  MaxPool: {
    inputs: 1,
    outputs: 1,
    attributes: { kernel_shape: IS, strides: IS, pads: IS, dilations: IS, ceil_mode: I, auto_pad: S, storage_order: I },
  },
  AveragePool: {
    inputs: 1,
    outputs: 1,
    attributes: {
      kernel_shape: IS,
      strides: IS,
      pads: IS,
      dilations: IS,
      ceil_mode: I,
      auto_pad: S,
      count_include_pad: I,
    },
  },
  BatchNormalization: { inputs: 5, outputs: 1, attributes: { epsilon: F, momentum: F, training_mode: I } },
  Flatten: { inputs: 1, outputs: 1, attributes: { axis: I } },
  Reshape: { inputs: 2, outputs: 1, attributes: { allowzero: I } },
  Dropout: { inputs: 3, outputs: 2, attributes: { seed: I } },
  Identity: { inputs: 1, outputs: 1, attributes: {} },
  Pad: { inputs: 3, outputs: 1, attributes: { mode: S } },
  Softmax: { inputs: 1, outputs: 1, attributes: { axis: I } },
  ConvTranspose: {
    inputs: 3,
    outputs: 1,
    attributes: {
      kernel_shape: IS,
      strides: IS,
      pads: IS,
      dilations: IS,
      group: I,
      auto_pad: S,
      output_padding: IS,
    },
  },
  Resize: {
    inputs: 4,
    outputs: 1,
    attributes: {
      mode: S,
      coordinate_transformation_mode: S,
      nearest_mode: S,
      cubic_coeff_a: F,
      exclude_outside: I,
      extrapolation_value: F,
    },
  },
  Slice: { inputs: 5, outputs: 1, attributes: {} },
  // An activation's quantization (qdq-import.ts): per tensor, so axis changes nothing.
  QuantizeLinear: { inputs: 3, outputs: 1, attributes: { axis: I } },
  DequantizeLinear: { inputs: 3, outputs: 1, attributes: { axis: I } },
  Clip: { inputs: 3, outputs: 1, attributes: {} },
};

/** A square window's side from kernel_shape (and the same for strides), refusing other windows. */
function square(ctx: ImportContext, name: string, values: number[]): number {
  if (values.length !== 2 || values[0] !== values[1] || !(values[0] >= 1))
    ctx.refuse(`${name} [${values}] is not supported (square 2-D windows only)`);
  return values[0];
}

/** The padding of every side, which must be the same; auto_pad must be unset (or VALID with no padding). */
function uniformPadding(ctx: ImportContext): number {
  const pads = ctx.ints("pads", [0, 0, 0, 0]);
  const autoPad = ctx.string("auto_pad", "NOTSET");
  if (autoPad !== "NOTSET" && autoPad !== "VALID") ctx.refuse(`auto_pad ${autoPad} is not supported (give pads)`);
  if (pads.length !== 4 || pads.some((p) => p !== pads[0]) || !(pads[0] >= 0))
    ctx.refuse(`pads [${pads}] is not supported (the same padding on every side only)`);
  if (autoPad === "VALID" && pads[0] !== 0) ctx.refuse("auto_pad VALID with pads is contradictory");
  return pads[0];
}

function noDilation(ctx: ImportContext): void {
  const dilations = ctx.ints("dilations", [1, 1]);
  if (dilations.some((d) => d !== 1)) ctx.refuse(`dilations [${dilations}] are not supported`);
}

function needImage(ctx: ImportContext): [number, number, number] {
  if (ctx.shape.length !== 3)
    ctx.refuse(`needs an image input [batch, channels, height, width], got [batch, ${ctx.shape}]`);
  return ctx.shape as [number, number, number];
}

function needConstant(ctx: ImportContext, i: number, what: string): ConstantTensor {
  const t = ctx.constant(i);
  if (!t) ctx.refuse(`has no ${what} (input ${i})`);
  return t;
}

/** [units] from a bias of shape [units], [1, units] or a broadcast scalar. */
function biasVector(ctx: ImportContext, t: ConstantTensor, units: number, scale: number): ConstantTensor {
  const n = sizeOf(t.shape);
  if (n !== units && n !== 1) ctx.refuse(`bias of shape [${t.shape}] does not match ${units} units`);
  const data = new Float32Array(units);
  for (let i = 0; i < units; i++) data[i] = scale * t.data[n === 1 ? 0 : i];
  return { shape: [units], data };
}

function poolImporter(type: "maxpool" | "avgpool"): OperatorImporter {
  return (ctx: ImportContext) => {
    const [, H, W] = needImage(ctx);
    const size = square(ctx, "kernel_shape", ctx.ints("kernel_shape", []));
    // ONNX's default stride is 1 (this SDK's is the window): always say it.
    const stride = square(ctx, "strides", ctx.ints("strides", [1, 1]));
    if (uniformPadding(ctx) !== 0) ctx.refuse("padding is not supported for pooling");
    noDilation(ctx);
    // Rounding up differs only when the windows do not tile the input exactly.
    if (ctx.int("ceil_mode", 0) !== 0 && ((H - size) % stride !== 0 || (W - size) % stride !== 0))
      ctx.refuse("ceil_mode 1 is not supported (the windows do not tile the input)");
    if (ctx.int("storage_order", 0) !== 0) ctx.refuse("storage_order 1 is not supported");
    ctx.addLayer({ type, size, ...(stride !== size ? { stride } : {}) });
  };
}

/** A Flatten or a Reshape to [batch, features]: a flatten layer (nothing when already flat). */
function flattenLayer(ctx: ImportContext): void {
  if (ctx.shape.length > 1) ctx.addLayer({ type: "flatten" });
}

/** ONNX operator -> layer. Constant nodes are read by import.ts itself. */
export const OPERATOR_IMPORTERS: Record<string, OperatorImporter> = {
  Gemm: (ctx: ImportContext) => {
    if (ctx.shape.length !== 1) ctx.refuse(`needs a flat input [batch, features], got [batch, ${ctx.shape}]`);
    if (ctx.int("transA", 0) !== 0) ctx.refuse("transA 1 is not supported");
    const b = needConstant(ctx, 1, "weight");
    const inSize = ctx.shape[0];
    const transB = ctx.int("transB", 0) !== 0;
    if (b.shape.length !== 2 || b.shape[transB ? 1 : 0] !== inSize)
      ctx.refuse(`weight of shape [${b.shape}]${transB ? " (transposed)" : ""} does not take ${inSize} features`);
    const units = b.shape[transB ? 0 : 1];
    const alpha = ctx.float("alpha", 1);
    const beta = ctx.float("beta", 1);
    // The SDK's dense weight is [in, units]: PyTorch's Linear (transB 1) stores it [units, in].
    const weight = new Float32Array(inSize * units);
    for (let i = 0; i < inSize; i++)
      for (let u = 0; u < units; u++) weight[i * units + u] = alpha * b.data[transB ? u * inSize + i : i * units + u];
    const c = ctx.constant(2);
    const bias = c ? biasVector(ctx, c, units, beta) : { shape: [units], data: new Float32Array(units) };
    ctx.addLayer({ type: "dense", units }, { weight: { shape: [inSize, units], data: weight }, bias });
  },
  MatMul: (ctx: ImportContext) => {
    if (ctx.shape.length !== 1) ctx.refuse(`needs a flat input [batch, features], got [batch, ${ctx.shape}]`);
    const b = needConstant(ctx, 1, "weight");
    if (b.shape.length !== 2 || b.shape[0] !== ctx.shape[0])
      ctx.refuse(`weight of shape [${b.shape}] does not take ${ctx.shape[0]} features`);
    const units = b.shape[1];
    ctx.addLayer({ type: "dense", units }, { weight: b, bias: { shape: [units], data: new Float32Array(units) } });
  },
  // The bias of a MatMul: only right after one (PyTorch's Linear exported without Gemm).
  Add: (ctx: ImportContext) => {
    const previous = ctx.layers[ctx.layers.length - 1];
    const tensors = ctx.lastTensors();
    if (ctx.previousOp !== "MatMul" || previous?.type !== "dense" || !tensors)
      ctx.refuse("an Add is supported only as the bias of a MatMul, right after it");
    tensors.bias = biasVector(ctx, needConstant(ctx, 1, "bias"), previous.units, 1);
  },
  Conv: (ctx: ImportContext) => importConvolution(ctx, "conv2d"),
  Relu: (ctx: ImportContext) => ctx.addLayer({ type: "relu" }),
  Sigmoid: (ctx: ImportContext) => ctx.addLayer({ type: "sigmoid" }),
  MaxPool: poolImporter("maxpool"),
  AveragePool: poolImporter("avgpool"),
  BatchNormalization: (ctx: ImportContext) => {
    if (ctx.int("training_mode", 0) !== 0) ctx.refuse("training_mode 1 is not supported (an inference graph is)");
    const channels = ctx.shape[0];
    const [gamma, beta, mean, variance] = ["scale", "bias", "mean", "variance"].map((what, i) => {
      const t = needConstant(ctx, i + 1, what);
      if (sizeOf(t.shape) !== channels || t.shape.length !== 1)
        ctx.refuse(`${what} of shape [${t.shape}] does not match ${channels} channels`);
      return t;
    });
    const eps = ctx.float("epsilon", 1e-5);
    const momentum = ctx.float("momentum", 0.9);
    if (!(eps > 0)) ctx.refuse(`epsilon ${eps} is not positive`);
    ctx.addLayer(
      {
        type: "batchnorm",
        ...(eps !== 1e-5 ? { eps } : {}),
        ...(momentum >= 0 && momentum < 1 && momentum !== 0.9 ? { momentum } : {}),
      },
      { gamma, beta, running_mean: mean, running_var: variance },
    );
  },
  Flatten: (ctx: ImportContext) => {
    const axis = ctx.int("axis", 1);
    if (axis !== 1 && !(axis === -1 && ctx.shape.length === 1))
      ctx.refuse(`axis ${axis} is not supported (only flattening each sample: axis 1)`);
    flattenLayer(ctx);
  },
  Reshape: (ctx: ImportContext) => {
    const target = ctx.integers(1);
    if (!target) ctx.refuse("has no constant target shape (input 1)");
    if (ctx.int("allowzero", 0) !== 0) ctx.refuse("allowzero 1 is not supported");
    const features = sizeOf(ctx.shape);
    // [batch, ...sample]: the batch as -1, 0 (copied) or a number; a 0 in the sample copies the input's
    // dimension there, one -1 takes what is left.
    const sample = target.slice(1).map((d, i) => (d === 0 ? (ctx.shape[i] ?? 0) : d));
    const known = sample.filter((d) => d !== -1);
    const unknown = sample.length - known.length;
    const rest = features / Math.max(1, sizeOf(known));
    if (unknown === 1 && Number.isInteger(rest)) sample[sample.indexOf(-1)] = rest;
    const batchOk = target[0] === -1 || target[0] === 0 || (target[0] > 0 && unknown === 1) || unknown === 0;
    if (
      target.length < 2 ||
      target.length > 4 ||
      unknown > 1 ||
      !batchOk ||
      sample.some((d) => !(d >= 1)) ||
      sizeOf(sample) !== features
    )
      ctx.refuse(`target shape [${target}] is not supported (only [batch, …] of ${features} values a sample)`);
    if (sample.length === ctx.shape.length && sample.every((d, i) => d === ctx.shape[i])) return;
    if (sample.length === 1) flattenLayer(ctx);
    else ctx.addLayer({ type: "reshape", shape: sample });
  },
  Dropout: (ctx: ImportContext) => {
    // Opset 12+: a training_mode input set to true makes it drop in inference.
    const training = ctx.integers(2);
    if (training?.[0]) ctx.refuse("training_mode true is not supported (an inference graph is)");
  },
  Identity: () => {},
  // PyTorch writes a Pad of nothing before an AvgPool2d: only that (an identity) is supported.
  Pad: (ctx: ImportContext) => {
    const pads = ctx.integers(1) ?? [];
    if (pads.length !== 2 * (ctx.shape.length + 1) || pads.some((p) => p !== 0))
      ctx.refuse(`pads [${pads}] are not supported (only a Pad of nothing, two zeros a dimension)`);
    const value = ctx.constant(2);
    if (value && value.data.length !== 1) ctx.refuse(`constant_value of shape [${value.shape}] is not one value`);
  },
  ConvTranspose: (ctx: ImportContext) => importConvolution(ctx, "convT"),
  // Nearest-neighbour upsampling by a whole factor: output pixel (y, x) is input (⌊y/S⌋, ⌊x/S⌋).
  Resize: (ctx: ImportContext) => {
    const [, H, W] = needImage(ctx);
    if (ctx.string("mode", "nearest") !== "nearest")
      ctx.refuse(`mode ${ctx.string("mode", "")} is not supported (nearest only)`);
    const coordinates = ctx.string("coordinate_transformation_mode", "half_pixel");
    const rounding = ctx.string("nearest_mode", "round_prefer_floor");
    // With a whole factor, half-pixel centres rounded either way pick the same pixel as floor.
    const exact =
      (coordinates === "asymmetric" && rounding === "floor") ||
      ((coordinates === "half_pixel" || coordinates === "pytorch_half_pixel") &&
        (rounding === "round_prefer_floor" || rounding === "round_prefer_ceil"));
    if (!exact)
      ctx.refuse(`coordinate_transformation_mode ${coordinates} with nearest_mode ${rounding} is not supported`);
    const scales = ctx.constant(2);
    const sizes = ctx.integers(3);
    let factors: number[];
    if (scales && scales.data.length > 0) {
      if (sizes) ctx.refuse("gives both scales and sizes");
      factors = Array.from(scales.data);
    } else if (sizes) {
      factors = [1, 1, sizes[2] / H, sizes[3] / W];
      if (sizes.length !== 4 || sizes[1] !== ctx.shape[0]) ctx.refuse(`sizes [${sizes}] do not keep the channels`);
    } else return ctx.refuse("has neither scales nor sizes");
    const [n, c, sy, sx] = factors;
    if (factors.length !== 4 || n !== 1 || c !== 1 || sy !== sx || !Number.isInteger(sy) || sy < 1)
      ctx.refuse(`scales [${factors}] are not supported (the same whole factor on height and width only)`);
    ctx.addLayer({ type: "upsample", scale: sy });
  },
  // A sampling layer in inference (a VAE's code): the means, the first half of each sample's values.
  Slice: (ctx: ImportContext) => {
    const [starts, ends, axes = [1], steps = [1]] = [1, 2, 3, 4].map((i) => ctx.integers(i));
    const width = ctx.shape[0];
    const half =
      ctx.shape.length === 1 &&
      width % 2 === 0 &&
      starts?.length === 1 &&
      starts[0] === 0 &&
      ends?.length === 1 &&
      ends[0] === width / 2 &&
      axes.length === 1 &&
      (axes[0] === 1 || axes[0] === -1) &&
      steps.length === 1 &&
      steps[0] === 1;
    if (!half) ctx.refuse("only the first half of a flat sample (a sampling layer's means) is supported");
    ctx.addLayer({ type: "sampling" });
  },
  Softmax: (ctx: ImportContext) => {
    const axis = ctx.int("axis", -1);
    if (ctx.shape.length !== 1 || (axis !== 1 && axis !== -1))
      ctx.refuse(`over axis ${axis} is not the classes' softmax`);
    ctx.softmaxHead();
  },
};

/**
 * A Conv (weight [filters, channels, R, R]) or a ConvTranspose (weight [channels, filters, R, R],
 * PyTorch's layout, which the convT layer keeps) as a layer: square windows, strides and padding,
 * no groups or dilation, and for ConvTranspose no output_padding.
 */
function importConvolution(ctx: ImportContext, type: "conv2d" | "convT"): void {
  const [C] = needImage(ctx);
  const w = needConstant(ctx, 1, "weight");
  if (ctx.int("group", 1) !== 1) ctx.refuse(`group ${ctx.int("group", 1)} is not supported (grouped convolution)`);
  noDilation(ctx);
  const transposed = type === "convT";
  if (transposed && ctx.ints("output_padding", [0, 0]).some((p) => p !== 0))
    ctx.refuse("output_padding is not supported");
  if (w.shape.length !== 4)
    ctx.refuse(
      `weight of shape [${w.shape}] is not [${transposed ? "channels, filters" : "filters, channels"}, height, width]`,
    );
  const [channelsAxis, filtersAxis] = transposed ? [0, 1] : [1, 0];
  const size = square(ctx, "kernel_shape", ctx.ints("kernel_shape", [w.shape[2], w.shape[3]]));
  if (w.shape[channelsAxis] !== C || w.shape[2] !== size || w.shape[3] !== size)
    ctx.refuse(`weight of shape [${w.shape}] does not fit ${C} input channels and ${size}x${size} windows`);
  const stride = square(ctx, "strides", ctx.ints("strides", [1, 1]));
  const padding = uniformPadding(ctx);
  const filters = w.shape[filtersAxis];
  const b = ctx.constant(2);
  const bias = b ? biasVector(ctx, b, filters, 1) : { shape: [filters], data: new Float32Array(filters) };
  ctx.addLayer(
    { type, filters, size, ...(stride !== 1 ? { stride } : {}), ...(padding !== 0 ? { padding } : {}) },
    { weight: w, bias },
  );
}
