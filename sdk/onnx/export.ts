import { checkModel } from "../evaluate";
import { fail } from "../errors";
import { factProblem, tensorProblem } from "../io/model-file";
import type { NamedTensor } from "../io/safetensors";
import type { Model } from "../model";
import { planModel } from "../plan";
import { specLoss } from "../spec";
import type { InputQuant, Int8Weights } from "../layers/int8";
import { type ExportContext, LAYER_EXPORTERS } from "./operators";
import { activationParams, type QuantizedLayer } from "./qdq";
import {
  type AttributeProto,
  FLOAT,
  type ModelProto,
  floatTensor,
  intAttribute,
  IR_VERSION,
  type NodeProto,
  onnx,
  OPSET,
  int64Tensor,
  type TensorProto,
  type ValueInfoProto,
} from "./proto";

/** The graph's input: float32 [batch, ...the model's input shape], each pixel byte divided by 255. */
export const ONNX_INPUT = "pixels";
/** The graph's output: float32 [batch, classes], the softmax probabilities. */
export const ONNX_OUTPUT = "probabilities";
/** An autoencoder's or VAE's output: float32 [batch, ...its decoder's output shape]. */
export const ONNX_RECONSTRUCTION = "reconstruction";
/** The symbolic name of the batch dimension of the input and the output. */
export const ONNX_BATCH = "batch";

/** Facts of a model file that are not for ONNX's metadata (the SDK's own records). */
const NOT_EXPORTED = new Set(["format", "spec", "optimizer", "run"]);

/**
 * The model as an ONNX model (opset 13): one input "pixels", float32 [batch, …input] holding each
 * pixel byte divided by 255, one output, and the batch dimension dynamic: a classifier's
 * "probabilities", float32 [batch, classes] (its head a Softmax); an autoencoder's or VAE's
 * "reconstruction", float32 [batch, …decoder output] (a Sigmoid when its loss is "bce"), a VAE
 * decoding the mean of its code (what its sampling layer gives in inference). Each layer becomes
 * the nodes of LAYER_EXPORTERS (dropout none: it passes its input through in inference). Its
 * metadata_props carry the class names ("classes", a JSON list), an autoencoder's or VAE's task,
 * code tensor and pixel loss ("task", "code", "pixelLoss") and the facts given (data set name as "dataset",
 * epochs, test accuracy, …; not the SDK's own records: spec, optimizer, run).
 * Weights beyond the plausible range (a diverged run) are a DIVERGED error, as for serializeModel.
 * An int8 model (quantizeModel's) is written as QDQ: int8 weights with their per-output scales,
 * and each int8 layer's input quantized with its calibrated scale and zero point by QuantizeLinear
 * and DequantizeLinear, so that ONNX Runtime runs it as QLinearConv and QGemm (see qdq.ts).
 */
export function exportOnnx(model: Model, facts: Record<string, string> = {}): Uint8Array {
  checkModel(model, "exportOnnx");
  const factIssue = factProblem(facts);
  if (factIssue) fail("BAD_ARGUMENT", `cannot export the model: ${factIssue}`);
  const spec = model.spec;
  const plans = planModel(spec);
  const tensors = new Map<string, NamedTensor>();
  for (const p of [...model.params, ...model.buffers]) {
    const data = p.value.read();
    const issue = tensorProblem(p.name, data);
    if (issue)
      fail("DIVERGED", `cannot export the model: ${issue} (training has diverged; try a smaller learning rate)`);
    tensors.set(p.name, { shape: [...p.value.shape], data });
  }

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = ONNX_INPUT;
  /** An autoencoder's or VAE's code: the output of its encoder's last layer. */
  let code: string | undefined;
  let shape: readonly number[] = spec.input;
  /** Whether the current activation is never negative (pixels, after a ReLU or a sigmoid): its quantization needs no Clip. */
  let nonNegative = true;
  const activationInitializers = new Set<string>();
  spec.layers.forEach((layer, index) => {
    let step = 0;
    const int8 = quantizedLayer(model, index);
    /** Clip (when the input may be negative), QuantizeLinear and DequantizeLinear of the current activation as layer `owner`'s input. */
    const quantizeActivation = (owner: number, quant: InputQuant, clip: boolean): void => {
      if (clip) ctx.node("Clip", [ctx.initializer(`input_min`, [], Float32Array.of(-quant.zero * quant.scale))]);
      const params = activationParams(owner, quant, (t) => initializers.push(t), activationInitializers);
      ctx.node("QuantizeLinear", params);
      ctx.node("DequantizeLinear", params);
    };
    const ctx: ExportContext = {
      get shape() {
        return shape;
      },
      param: (name) => tensors.get(`${index}.${name}`)!,
      initializer: (name, dims, data) => {
        const full = `${index}.${name}`;
        initializers.push(floatTensor(full, dims, data));
        return full;
      },
      integers: (name, values) => {
        const full = `${index}.${name}`;
        initializers.push(int64Tensor(full, values));
        return full;
      },
      node: (opType, inputs, attributes: AttributeProto[] = []) => {
        const name = `${index}.${layer.type}.${opType}${step ? `.${step}` : ""}`;
        step++;
        nodes.push({ name, opType, input: [current, ...inputs], output: [name], attribute: attributes });
        current = name;
        // The shape after the node: a Flatten makes it flat; a quantization keeps it; otherwise the layer's own output.
        if (opType === "Flatten") shape = [shape.reduce((a, b) => a * b, 1)];
        else if (!QUANTIZATION_OPS.has(opType)) shape = plans[index].outputShape;
      },
      int8,
      tensor: (proto) => {
        const full = `${index}.${proto.name}`;
        initializers.push({ ...proto, name: full });
        return full;
      },
      valueNode: (opType, inputs, output, attributes: AttributeProto[] = []) => {
        const full = `${index}.${output}`;
        nodes.push({
          name: `${index}.${layer.type}.${opType}.${output}`,
          opType,
          input: inputs,
          output: [full],
          attribute: attributes,
        });
        return full;
      },
      quantizeInput: () => quantizeActivation(index, int8!.input!, !nonNegative),
    };
    LAYER_EXPORTERS[layer.type](layer, ctx);
    // An int8 layer's output quantized as the next int8 layer's input, when only a ReLU and layers
    // that commute with the quantization come between (it then changes nothing): ONNX Runtime
    // needs a QuantizeLinear right after a Conv to run it as QLinearConv.
    if (int8?.input) {
      const next = nextQuantizedInput(model, index);
      if (next) quantizeActivation(next.index, next.quant, false);
    }
    if (layer.type === "relu" || layer.type === "sigmoid") nonNegative = true;
    else if (!KEEP_SIGN.has(layer.type)) nonNegative = false;
    shape = plans[index].outputShape;
    if (index === (spec.encoder ?? 0) - 1) code = current;
  });
  const classifier = (spec.task ?? "classifier") === "classifier";
  const output = classifier ? ONNX_OUTPUT : ONNX_RECONSTRUCTION;
  // The head: a classifier's softmax; an autoencoder's sigmoid when its loss ("bce") applies one.
  if (classifier) {
    nodes.push({
      name: "head.Softmax",
      opType: "Softmax",
      input: [current],
      output: [output],
      attribute: [intAttribute("axis", 1)],
    });
  } else if (specLoss(spec) === "bce") {
    nodes.push({ name: "head.Sigmoid", opType: "Sigmoid", input: [current], output: [output] });
  } else {
    nodes.push({ name: "head.Identity", opType: "Identity", input: [current], output: [output] });
  }

  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(facts)) if (!NOT_EXPORTED.has(key)) metadata[key] = value;
  if (spec.classes) metadata.classes = JSON.stringify(spec.classes);
  if (spec.task) metadata.task = spec.task;
  if (code) metadata.code = code;
  if (!classifier) metadata.pixelLoss = specLoss(spec);

  const model_: ModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: "mnist-wasm",
    docString:
      `Input "${ONNX_INPUT}": float32 [${ONNX_BATCH}, ${spec.input.join(", ")}], each pixel byte divided by 255. ` +
      (classifier
        ? `Output "${ONNX_OUTPUT}": float32 [${ONNX_BATCH}, ${model.classCount}], the softmax probabilities of the classes.`
        : `Output "${ONNX_RECONSTRUCTION}": float32 [${ONNX_BATCH}, ${shape.join(", ")}], the reconstruction (0 to 1 with a "bce" loss)` +
          `${spec.task === "vae" ? ", decoded from the mean of the code's distribution" : ""}; metadata "code" names the code's tensor.`),
    graph: {
      name: "mnist-wasm",
      node: nodes,
      initializer: initializers,
      input: [valueInfo(ONNX_INPUT, spec.input)],
      output: [valueInfo(output, shape)],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(model_).finish();
}

/** Layers whose output is never negative when their input is not. */
const KEEP_SIGN = new Set(["maxpool", "avgpool", "flatten", "dropout", "reshape", "upsample"]);
/** Layers that commute with an activation's quantization (rounding and saturating are monotonic, and keep 0). */
const COMMUTE_WITH_QUANTIZATION = new Set(["relu", "maxpool", "flatten", "dropout", "reshape"]);
/** Nodes that quantize an activation: they keep its shape. */
const QUANTIZATION_OPS = new Set(["Clip", "QuantizeLinear", "DequantizeLinear"]);

type QuantizedLayerFields = { int8Weights?: Int8Weights; int8?: { input: InputQuant } };

/** Layer `index` of an int8 model as exported: its int8 weights, its input's quantization when it runs in int8. */
function quantizedLayer(model: Model, index: number): QuantizedLayer | undefined {
  const layer = model.layers[index] as unknown as QuantizedLayerFields;
  if (!layer.int8Weights) return undefined;
  return { weights: layer.int8Weights, ...(layer.int8 ? { input: layer.int8.input } : {}) };
}

/** The next int8 layer after `index` and its input quantization, when only a ReLU and layers that commute with it come between. */
function nextQuantizedInput(model: Model, index: number): { index: number; quant: InputQuant } | undefined {
  let relu = false;
  for (let j = index + 1; j < model.spec.layers.length; j++) {
    const type = model.spec.layers[j].type;
    if (type === "relu") relu = true;
    else if (!COMMUTE_WITH_QUANTIZATION.has(type)) {
      const input = quantizedLayer(model, j)?.input;
      return relu && input ? { index: j, quant: input } : undefined;
    }
  }
  return undefined;
}

/** A float32 tensor [batch, ...shape] with a symbolic batch dimension. */
function valueInfo(name: string, shape: readonly number[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: [{ dimParam: ONNX_BATCH }, ...shape.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}
