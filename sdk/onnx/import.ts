import { byteArray } from "../args";
import { fail, MnistWasmError } from "../errors";
import { FILE_LIMITS, formatBytes } from "../io/limits";
import { type LoadedModel, modelFromTensors } from "../io/model-file";
import type { NamedTensor } from "../io/safetensors";
import { PLAN_LIMITS, planModel } from "../plan";
import type { LayerSpec } from "../spec";
import { quote } from "../text";
import { attachInt8 } from "../io/int8-file";
import type { Int8Weights, LayerQuant } from "../layers/int8";
import { type ConstantTensor, type ImportContext, OPERATOR_IMPORTERS, OPERATOR_SIGNATURES } from "./operators";
import { ACTIVATION_QDQ_OPS, QdqReader } from "./qdq-import";
import { ONNX_LIMITS, readFloatTensor, tensorDims } from "./tensors";

export { ONNX_LIMITS } from "./tensors";
import {
  ATTRIBUTE,
  type AttributeProto,
  FLOAT,
  type GraphProto,
  INT64,
  int,
  type ModelProto,
  type NodeProto,
  onnx,
  type TensorProto,
  type ValueInfoProto,
} from "./proto";

/** AttributeProto's value fields, and the field of each attribute type the operators take. */
const ATTRIBUTE_FIELDS = [
  "f",
  "i",
  "s",
  "t",
  "g",
  "sparseTensor",
  "tp",
  "floats",
  "ints",
  "strings",
  "tensors",
  "graphs",
] as const;
const FIELD_OF_TYPE: Record<number, (typeof ATTRIBUTE_FIELDS)[number]> = {
  [ATTRIBUTE.FLOAT]: "f",
  [ATTRIBUTE.INT]: "i",
  [ATTRIBUTE.STRING]: "s",
  [ATTRIBUTE.INTS]: "ints",
};

/** The default operator domain, as ONNX names it (either way). */
const isDefaultDomain = (domain: string | null | undefined): boolean => !domain || domain === "ai.onnx";

/**
 * Reads an ONNX model of a chain of supported operators (OPERATOR_IMPORTERS: what this SDK's
 * exporter writes and what torch.onnx.export makes of such networks) into a model: initializers
 * become the layers' weights, layouts converted (a Gemm's [units, in] weight transposed). The graph
 * may end in a Softmax or in the logits (the model's head applies softmax either way). Its
 * metadata_props come back as the metadata (class names from "classes", a JSON list).
 * A QDQ graph (QuantizeLinear / DequantizeLinear, as exportOnnx writes an int8 model) becomes an
 * int8 model: its int8 weights kept, each quantized input run by the int8 kernels (qdq-import.ts).
 *
 * Anything else is a BAD_FILE error naming what is wrong: bytes that are not an ONNX model, an
 * unsupported operator or attribute (naming the operator and its node), a graph that is not a
 * chain, external data, shapes that do not fit.
 */
export function importOnnx(
  rt: Parameters<typeof modelFromTensors>[0],
  bytes: Uint8Array,
  what = "ONNX model",
): LoadedModel {
  bytes = byteArray(bytes, "importOnnx: bytes");
  if (bytes.length > FILE_LIMITS.modelBytes)
    fail(
      "BAD_FILE",
      `${what}: ${bytes.length.toLocaleString("en")} bytes is more than the ${formatBytes(FILE_LIMITS.modelBytes)} limit for a model file`,
    );
  let proto: ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    fail("BAD_FILE", `${what}: not an ONNX model (${e instanceof Error ? e.message : String(e)})`);
  }
  const graph = proto.graph;
  if (!graph?.node?.length) fail("BAD_FILE", `${what}: not an ONNX model (no graph)`);
  checkOpset(proto, what);
  const metadata = readMetadata(proto, what);
  const task = metadata.task ?? "classifier";
  const { spec, tensors, quants } = readGraph(graph, what, task, metadata.code);
  if (metadata.classes !== undefined) {
    try {
      spec.classes = JSON.parse(metadata.classes);
    } catch {
      fail("BAD_FILE", `${what}: metadata "classes" is not a JSON list of names`);
    }
  }
  if (task !== "classifier") readGenerative(spec, task, metadata.pixelLoss, what);
  const model = modelFromTensors(rt, spec, tensors, metadata, what);
  if (quants.size > 0) {
    if (task !== "classifier") {
      model.dispose();
      fail("BAD_FILE", `${what}: an int8 model must be a classifier`);
    }
    // The graph's quantization as written: a first convolution whose input it quantizes runs in
    // int8 too; its biases stay as the graph gives them.
    attachInt8(model, quants, true);
  }
  return { model, metadata };
}

function checkOpset(proto: ModelProto, what: string): void {
  const opset = (proto.opsetImport ?? []).find((o) => isDefaultDomain(o.domain));
  const version = int(opset?.version);
  const [low, high] = ONNX_LIMITS.opsets;
  if (!opset || version < low || version > high)
    fail("BAD_FILE", `${what}: ONNX opset ${opset ? version : "(none)"} is not supported (opsets ${low} to ${high})`);
}

function readMetadata(proto: ModelProto, what: string): Record<string, string> {
  const props = proto.metadataProps ?? [];
  if (props.length > ONNX_LIMITS.metadata)
    fail("BAD_FILE", `${what}: ${props.length} metadata entries, beyond the limit of ${ONNX_LIMITS.metadata}`);
  const metadata: Record<string, string> = {};
  for (const { key, value } of props) if (key) metadata[key] = value ?? "";
  return metadata;
}

/** Where a node is, for messages: operator "Conv" (node "/conv1/Conv"). */
const nodeName = (node: NodeProto, index: number): string =>
  `operator ${quote(node.opType ?? "")} (node ${node.name ? quote(node.name) : `#${index}`})`;

/** What readGraph() gives: a spec to be validated, and the layers' tensors by their model-file names. */
interface GraphSpec {
  input: number[];
  layers: LayerSpec[];
  classes?: unknown;
  task?: string;
  loss?: string;
  encoder?: number;
}

/**
 * An autoencoder's or VAE's spec from its graph: the task, its head (a final Sigmoid is the "bce"
 * loss's; metadata "pixelLoss" says which when the exporter wrote it) and its encoder (the layers up to
 * the code's tensor, or for a VAE up to its sampling layer).
 */
function readGenerative(spec: GraphSpec, task: string, loss: string | undefined, what: string): void {
  spec.task = task;
  const last = spec.layers[spec.layers.length - 1];
  if ((loss ?? (last?.type === "sigmoid" ? "bce" : "mse")) === "bce") {
    if (last?.type !== "sigmoid") fail("BAD_FILE", `${what}: a "bce" model's graph ends in a Sigmoid`);
    spec.layers.pop();
  } else spec.loss = "mse";
  if (spec.encoder === undefined && task === "vae") {
    const sampling = spec.layers.findIndex((l) => l.type === "sampling");
    if (sampling >= 0) spec.encoder = sampling + 1;
  }
  if (spec.encoder === undefined)
    fail("BAD_FILE", `${what}: an ${task === "vae" ? "VAE" : "autoencoder"} needs metadata "code", its code's tensor`);
}

function readGraph(
  graph: GraphProto,
  what: string,
  task: string,
  code: string | undefined,
): { spec: GraphSpec; tensors: Map<string, NamedTensor>; quants: Map<number, Int8Weights | LayerQuant> } {
  const nodes = graph.node ?? [];
  if (nodes.length > ONNX_LIMITS.nodes)
    fail("BAD_FILE", `${what}: ${nodes.length} nodes, beyond the limit of ${ONNX_LIMITS.nodes}`);
  const initializerList = graph.initializer ?? [];
  if (initializerList.length > ONNX_LIMITS.initializers)
    fail(
      "BAD_FILE",
      `${what}: ${initializerList.length} initializers, beyond the limit of ${ONNX_LIMITS.initializers}`,
    );
  if (graph.sparseInitializer?.length) fail("BAD_FILE", `${what}: sparse initializers are not supported`);
  const constants = new Map<string, TensorProto>();
  for (const t of initializerList) constants.set(t.name ?? "", t);
  const qdq = new QdqReader(constants);

  const inputs = (graph.input ?? []).filter((v) => !constants.has(v.name ?? ""));
  if (inputs.length !== 1)
    fail("BAD_FILE", `${what}: the graph has ${inputs.length} inputs; one (the images) is supported`);
  const input = inputs[0];
  let current = input.name ?? "";
  let shape = inputShape(input, what);
  const specInput = [...shape];

  const layers: LayerSpec[] = [];
  const layerTensors: Record<string, ConstantTensor>[] = [];
  let previousOp: string | undefined;
  let ended = false;
  /** Layers up to the code's tensor (an autoencoder's or VAE's). */
  let encoder: number | undefined;
  nodes.forEach((node, n) => {
    const where = nodeName(node, n);
    const refuse: (problem: string) => never = (problem) => fail("BAD_FILE", `${what}: ${where}: ${problem}`);
    const opType = node.opType ?? "";
    if (!isDefaultDomain(node.domain)) refuse(`is not supported (domain ${quote(node.domain ?? "")})`);
    if (opType === "Constant") {
      const value = node.attribute?.find((a) => a.name === "value")?.t;
      if (!value || node.attribute?.length !== 1 || node.output?.length !== 1)
        refuse('only a Constant with a tensor "value" is supported');
      constants.set(node.output![0], value);
      return;
    }
    if (qdq.constantNode(node, refuse)) return;
    const activation = ACTIVATION_QDQ_OPS.has(opType);
    const importer = Object.hasOwn(OPERATOR_IMPORTERS, opType) ? OPERATOR_IMPORTERS[opType] : undefined;
    if (!importer && !activation) refuse("is not supported");
    if (ended) refuse("follows the Softmax, which must end the graph");
    const nodeInputs = node.input ?? [];
    if (nodeInputs[0] !== current)
      refuse(`takes ${quote(nodeInputs[0] ?? "")}, not the output of the node before: the graph is not a chain`);
    for (let i = 1; i < nodeInputs.length; i++) {
      if (nodeInputs[i] && !constants.has(nodeInputs[i]))
        refuse(`input ${quote(nodeInputs[i])} is not a constant (an initializer): the graph is not a chain`);
    }
    const signature = OPERATOR_SIGNATURES[opType];
    if (nodeInputs.length > signature.inputs) refuse(`has ${nodeInputs.length} inputs, more than ${signature.inputs}`);
    const outputs = node.output ?? [];
    if (outputs.length < 1 || outputs.length > signature.outputs || !outputs[0])
      refuse(
        `has ${outputs.length} outputs; ${signature.outputs === 1 ? "one" : `1 to ${signature.outputs}`} expected`,
      );
    const seen = new Set<string>();
    for (const a of node.attribute ?? []) {
      const name = a.name ?? "";
      const expected = Object.hasOwn(signature.attributes, name) ? signature.attributes[name] : undefined;
      if (expected === undefined) refuse(`attribute ${quote(name)} is not supported`);
      if (a.type !== expected) refuse(`attribute ${quote(name)} has type ${a.type}, not ${expected}`);
      // The value is in the field of its type, and in no other (as the ONNX checker requires).
      const held = ATTRIBUTE_FIELDS.filter((f) => (Array.isArray(a[f]) ? a[f].length > 0 : Object.hasOwn(a, f)));
      if (held.length !== 1 || held[0] !== FIELD_OF_TYPE[expected])
        refuse(`attribute ${quote(name)} holds its value in the wrong field`);
      if (seen.has(name)) refuse(`attribute ${quote(name)} appears twice`);
      seen.add(name);
    }
    if (activation || !importer) {
      qdq.activationNode(node, where, refuse);
      previousOp = opType;
      current = outputs[0];
      return;
    }
    const attribute = (name: string): AttributeProto | undefined => node.attribute?.find((x) => x.name === name);
    const constantInput = (i: number): TensorProto | undefined => {
      const name = nodeInputs[i];
      if (!name) return undefined;
      const t = constants.get(name);
      if (!t) refuse(`input ${quote(name)} is not a constant (an initializer): the graph is not a chain`);
      return t;
    };
    const ctx: ImportContext = {
      opType,
      shape,
      layers,
      previousOp,
      inputCount: nodeInputs.length,
      constant: (i) => {
        const t = constantInput(i);
        return t ? readFloatTensor(t, refuse) : undefined;
      },
      integers: (i) => {
        const t = constantInput(i);
        return t ? readIntegerTensor(t, refuse) : undefined;
      },
      int: (name, fallback) => {
        const a = attribute(name);
        return a ? int(a.i) : fallback;
      },
      ints: (name, fallback) => {
        const a = attribute(name);
        return a ? (a.ints ?? []).map(int) : fallback;
      },
      float: (name, fallback) => {
        const a = attribute(name);
        // Float32 attributes as the decimal they were written from (1e-5, not 9.99999974737875e-6).
        return a ? Number((a.f ?? 0).toPrecision(7)) : fallback;
      },
      string: (name, fallback) => {
        const a = attribute(name);
        return a ? new TextDecoder().decode(a.s ?? new Uint8Array(0)) : fallback;
      },
      refuse,
      addLayer: (layer, tensors = {}) => {
        layers.push(layer);
        layerTensors.push(tensors);
        try {
          const plans = planModel({ input: specInput, layers });
          shape = plans[plans.length - 1].outputShape;
        } catch (e) {
          if (e instanceof MnistWasmError) refuse(e.message);
          throw e;
        }
      },
      lastTensors: () => layerTensors[layerTensors.length - 1],
      softmaxHead: () => {
        if (task !== "classifier") refuse(`a Softmax does not end an ${task === "vae" ? "VAE" : "autoencoder"}`);
        if (layers[layers.length - 1]?.type !== "dense") refuse("a Softmax must follow the last Gemm (dense layer)");
        ended = true;
      },
    };
    const inputQuant = qdq.beforeOperator(opType, refuse);
    const layerCount = layers.length;
    importer(ctx);
    qdq.afterOperator(opType);
    if (layers.length > layerCount && (opType === "Conv" || opType === "Gemm" || opType === "MatMul")) {
      const layer = layers[layers.length - 1] as Extract<LayerSpec, { type: "conv2d" | "dense" }>;
      qdq.layer(
        layers.length - 1,
        opType,
        { transB: ctx.int("transB", 0) !== 0, alpha: ctx.float("alpha", 1) },
        nodeInputs[1],
        opType === "MatMul" ? undefined : nodeInputs[2],
        layerTensors[layerTensors.length - 1].weight.data,
        layer.type === "conv2d" ? layer.filters : layer.units,
        inputQuant,
        refuse,
      );
    }
    previousOp = opType;
    current = node.output?.[0] ?? "";
    if (code !== undefined && current === code) encoder = layers.length;
  });
  qdq.end((problem) => fail("BAD_FILE", `${what}: ${problem}`));
  const outputs = graph.output ?? [];
  if (outputs.length !== 1 || outputs[0].name !== current) {
    fail(
      "BAD_FILE",
      `${what}: the graph's output${outputs.length === 1 ? ` ${quote(outputs[0].name ?? "")}` : "s"} is not the end of its chain ${quote(current)}`,
    );
  }
  if (layers.length === 0) fail("BAD_FILE", `${what}: the graph has no layers`);
  const tensors = new Map<string, NamedTensor>();
  layerTensors.forEach((named, index) => {
    for (const [name, t] of Object.entries(named)) tensors.set(`${index}.${name}`, t);
  });
  return {
    spec: { input: specInput, layers, ...(encoder !== undefined ? { encoder } : {}) },
    tensors,
    quants: qdq.layers,
  };
}

/** One sample's shape from the graph input: float32 [batch, ...] with every other dimension fixed. */
function inputShape(input: ValueInfoProto, what: string): number[] {
  const name = quote(input.name ?? "");
  const tensor = input.type?.tensorType;
  if (!tensor) fail("BAD_FILE", `${what}: input ${name} is not a tensor`);
  if (tensor.elemType !== FLOAT)
    fail("BAD_FILE", `${what}: input ${name} is not float32 (element type ${tensor.elemType})`);
  const dims = tensor.shape?.dim ?? [];
  if (dims.length < 2 || dims.length > 4)
    fail(
      "BAD_FILE",
      `${what}: input ${name} has ${dims.length} dimensions; [batch, features] or [batch, channels, height, width] is supported`,
    );
  const shape = dims.slice(1).map((d) => (d.dimValue === undefined || d.dimValue === null ? 0 : int(d.dimValue)));
  if (shape.some((d) => !(d >= 1 && d <= PLAN_LIMITS.size)))
    fail("BAD_FILE", `${what}: input ${name} has dimensions that are not fixed sizes after the batch`);
  if (shape.length === 2) fail("BAD_FILE", `${what}: input ${name} of [batch, ${shape}] is not supported`);
  return shape;
}

function readIntegerTensor(t: TensorProto, refuse: (problem: string) => never): number[] {
  const name = quote(t.name ?? "");
  const shape = tensorDims(t, refuse, 16);
  const count = shape.reduce((a, b) => a * b, 1);
  if (t.dataType === INT64) {
    const raw = t.rawData;
    if (raw?.length) {
      if (raw.length !== count * 8)
        refuse(`tensor ${name} [${shape}] has ${raw.length} bytes of data, not ${count * 8}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    }
    const values = (t.int64Data ?? []).map(int);
    if (values.length !== count) refuse(`tensor ${name} [${shape}] has ${values.length} values, not ${count}`);
    return values;
  }
  // Dropout's training_mode is a bool (data type 9), held in int32_data or raw bytes.
  if (t.dataType === 9) {
    const values = t.rawData?.length ? [...t.rawData] : (t.int32Data ?? []);
    if (values.length !== count) refuse(`tensor ${name} [${shape}] has ${values.length} values, not ${count}`);
    return values.map(Number);
  }
  return refuse(`tensor ${name} is not int64 (data type ${t.dataType})`);
}
