import { checkModel } from "../evaluate";
import { fail } from "../errors";
import { factProblem, tensorProblem } from "../io/model-file";
import type { NamedTensor } from "../io/safetensors";
import type { Model } from "../model";
import { planModel } from "../plan";
import { type ExportContext, LAYER_EXPORTERS } from "./operators";
import {
  type AttributeProto,
  FLOAT,
  floatTensor,
  intAttribute,
  IR_VERSION,
  type NodeProto,
  onnx,
  OPSET,
  type TensorProto,
  type ValueInfoProto,
} from "./proto";

/** The graph's input: float32 [batch, ...the model's input shape], each pixel byte divided by 255. */
export const ONNX_INPUT = "pixels";
/** The graph's output: float32 [batch, classes], the softmax probabilities. */
export const ONNX_OUTPUT = "probabilities";
/** The symbolic name of the batch dimension of the input and the output. */
export const ONNX_BATCH = "batch";

/** Facts of a model file that are not for ONNX's metadata (the SDK's own records). */
const NOT_EXPORTED = new Set(["format", "spec", "optimizer", "run"]);

/**
 * The model as an ONNX model (opset 13): one input "pixels", float32 [batch, …input] holding each
 * pixel byte divided by 255, one output "probabilities", float32 [batch, classes], and the batch
 * dimension dynamic. Each layer becomes the nodes of LAYER_EXPORTERS (dropout none: it passes
 * its input through in inference) and the model's head a Softmax. Its metadata_props carry the
 * class names ("classes", a JSON list), the task and the facts given (data set name as
 * "dataset", epochs, test accuracy, …; not the SDK's own records: spec, optimizer, run).
 * Weights beyond the plausible range (a diverged run) are a DIVERGED error, as for serializeModel.
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
  let shape: readonly number[] = spec.input;
  spec.layers.forEach((layer, index) => {
    let step = 0;
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
      node: (opType, inputs, attributes: AttributeProto[] = []) => {
        const name = `${index}.${layer.type}.${opType}${step ? `.${step}` : ""}`;
        step++;
        nodes.push({ name, opType, input: [current, ...inputs], output: [name], attribute: attributes });
        current = name;
        // The shape after the node: a Flatten makes it flat; otherwise the layer's own output.
        shape = opType === "Flatten" ? [shape.reduce((a, b) => a * b, 1)] : plans[index].outputShape;
      },
    };
    LAYER_EXPORTERS[layer.type](layer, ctx);
    shape = plans[index].outputShape;
  });
  nodes.push({
    name: "head.Softmax",
    opType: "Softmax",
    input: [current],
    output: [ONNX_OUTPUT],
    attribute: [intAttribute("axis", 1)],
  });

  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(facts)) if (!NOT_EXPORTED.has(key)) metadata[key] = value;
  if (spec.classes) metadata.classes = JSON.stringify(spec.classes);
  const task = (spec as { task?: unknown }).task;
  if (typeof task === "string") metadata.task = task;

  const model_: onnx.ModelProto.$Properties = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: "mnist-wasm",
    docString:
      `Input "${ONNX_INPUT}": float32 [${ONNX_BATCH}, ${spec.input.join(", ")}], each pixel byte divided by 255. ` +
      `Output "${ONNX_OUTPUT}": float32 [${ONNX_BATCH}, ${model.classCount}], the softmax probabilities of the classes.`,
    graph: {
      name: "mnist-wasm",
      node: nodes,
      initializer: initializers,
      input: [valueInfo(ONNX_INPUT, spec.input)],
      output: [valueInfo(ONNX_OUTPUT, [model.classCount])],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  // A Uint8Array of its own: in Node, protobufjs writes into a Buffer (whose slice() is a view),
  // possibly in a pool shared with other small buffers.
  return new Uint8Array(onnx.ModelProto.encode(model_).finish());
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
