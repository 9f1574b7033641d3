// The ONNX messages this SDK reads and writes, as field tables for sdk/onnx/wire.ts: the fields
// of onnx.proto (sdk/onnx/onnx.proto, the official file) it uses, with their numbers and types
// (test/sdk/onnx/messages.test.ts checks each against that file), and as TypeScript types.
// Fields of messages it never reads are "raw": kept as bytes, seen when present.
import { decodeMessage, encodeMessage, type Field, type MessageTable } from "./wire";

const f = (name: string, number: number, kind: Field["kind"], more: Partial<Field> = {}): Field => ({
  name,
  number,
  kind,
  ...more,
});
const repeated = { repeated: true } as const;
const packed = { repeated: true, packed: true } as const;

const STRING_STRING_ENTRY: MessageTable = [f("key", 1, "string"), f("value", 2, "string")];
const OPERATOR_SET_ID: MessageTable = [f("domain", 1, "string"), f("version", 2, "int")];
const DIMENSION: MessageTable = [f("dimValue", 1, "int"), f("dimParam", 2, "string"), f("denotation", 3, "string")];
const TENSOR_SHAPE: MessageTable = [f("dim", 1, "message", { ...repeated, message: () => DIMENSION })];
const TYPE_TENSOR: MessageTable = [f("elemType", 1, "int"), f("shape", 2, "message", { message: () => TENSOR_SHAPE })];
const TYPE: MessageTable = [
  f("tensorType", 1, "message", { message: () => TYPE_TENSOR }),
  f("sequenceType", 4, "raw"),
  f("mapType", 5, "raw"),
  f("denotation", 6, "string"),
  f("sparseTensorType", 8, "raw"),
  f("optionalType", 9, "raw"),
];
const VALUE_INFO: MessageTable = [
  f("name", 1, "string"),
  f("type", 2, "message", { message: () => TYPE }),
  f("docString", 3, "string"),
  f("metadataProps", 4, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
];
const TENSOR: MessageTable = [
  f("dims", 1, "int", repeated),
  f("dataType", 2, "int"),
  f("segment", 3, "raw"),
  f("floatData", 4, "float", packed),
  f("int32Data", 5, "int", packed),
  f("stringData", 6, "bytes", repeated),
  f("int64Data", 7, "int", packed),
  f("name", 8, "string"),
  f("rawData", 9, "bytes"),
  f("doubleData", 10, "double", packed),
  f("uint64Data", 11, "int", packed),
  f("docString", 12, "string"),
  f("externalData", 13, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
  f("dataLocation", 14, "int"),
  f("metadataProps", 16, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
];
const ATTRIBUTE: MessageTable = [
  f("name", 1, "string"),
  f("f", 2, "float"),
  f("i", 3, "int"),
  f("s", 4, "bytes"),
  f("t", 5, "message", { message: () => TENSOR }),
  f("g", 6, "raw"),
  f("floats", 7, "float", repeated),
  f("ints", 8, "int", repeated),
  f("strings", 9, "bytes", repeated),
  f("tensors", 10, "message", { ...repeated, message: () => TENSOR }),
  f("graphs", 11, "raw", repeated),
  f("docString", 13, "string"),
  f("tp", 14, "raw"),
  f("typeProtos", 15, "raw", repeated),
  f("type", 20, "int"),
  f("refAttrName", 21, "string"),
  f("sparseTensor", 22, "raw"),
  f("sparseTensors", 23, "raw", repeated),
];
const NODE: MessageTable = [
  f("input", 1, "string", repeated),
  f("output", 2, "string", repeated),
  f("name", 3, "string"),
  f("opType", 4, "string"),
  f("attribute", 5, "message", { ...repeated, message: () => ATTRIBUTE }),
  f("docString", 6, "string"),
  f("domain", 7, "string"),
  f("overload", 8, "string"),
  f("metadataProps", 9, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
];
const GRAPH: MessageTable = [
  f("node", 1, "message", { ...repeated, message: () => NODE }),
  f("name", 2, "string"),
  f("initializer", 5, "message", { ...repeated, message: () => TENSOR }),
  f("docString", 10, "string"),
  f("input", 11, "message", { ...repeated, message: () => VALUE_INFO }),
  f("output", 12, "message", { ...repeated, message: () => VALUE_INFO }),
  f("valueInfo", 13, "message", { ...repeated, message: () => VALUE_INFO }),
  f("quantizationAnnotation", 14, "raw", repeated),
  f("sparseInitializer", 15, "raw", repeated),
  f("metadataProps", 16, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
];
const MODEL: MessageTable = [
  f("irVersion", 1, "int"),
  f("producerName", 2, "string"),
  f("producerVersion", 3, "string"),
  f("domain", 4, "string"),
  f("modelVersion", 5, "int"),
  f("docString", 6, "string"),
  f("graph", 7, "message", { message: () => GRAPH }),
  f("opsetImport", 8, "message", { ...repeated, message: () => OPERATOR_SET_ID }),
  f("metadataProps", 14, "message", { ...repeated, message: () => STRING_STRING_ENTRY }),
  f("trainingInfo", 20, "raw", repeated),
  f("functions", 25, "raw", repeated),
  f("configuration", 26, "raw", repeated),
];

/** Every table by its onnx.proto message name, for the test that compares them with the file. */
export const MESSAGE_TABLES: Readonly<Record<string, MessageTable>> = {
  ModelProto: MODEL,
  GraphProto: GRAPH,
  NodeProto: NODE,
  AttributeProto: ATTRIBUTE,
  TensorProto: TENSOR,
  ValueInfoProto: VALUE_INFO,
  TypeProto: TYPE,
  "TypeProto.Tensor": TYPE_TENSOR,
  TensorShapeProto: TENSOR_SHAPE,
  "TensorShapeProto.Dimension": DIMENSION,
  OperatorSetIdProto: OPERATOR_SET_ID,
  StringStringEntryProto: STRING_STRING_ENTRY,
};

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}
export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
}
export interface DimensionProto {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}
export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: DimensionProto[] } };
  sequenceType?: Uint8Array;
  mapType?: Uint8Array;
  denotation?: string;
  sparseTensorType?: Uint8Array;
  optionalType?: Uint8Array;
}
export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}
export interface TensorProto {
  dims?: number[];
  dataType?: number;
  segment?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  stringData?: Uint8Array[];
  int64Data?: number[];
  name?: string;
  rawData?: Uint8Array;
  doubleData?: number[];
  uint64Data?: number[];
  docString?: string;
  externalData?: StringStringEntryProto[];
  dataLocation?: number;
  metadataProps?: StringStringEntryProto[];
}
export interface AttributeProto {
  name?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: Uint8Array;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: Uint8Array[];
  docString?: string;
  tp?: Uint8Array;
  typeProtos?: Uint8Array[];
  type?: number;
  refAttrName?: string;
  sparseTensor?: Uint8Array;
  sparseTensors?: Uint8Array[];
}
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  attribute?: AttributeProto[];
  docString?: string;
  domain?: string;
  overload?: string;
  metadataProps?: StringStringEntryProto[];
}
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  docString?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  quantizationAnnotation?: Uint8Array[];
  sparseInitializer?: Uint8Array[];
  metadataProps?: StringStringEntryProto[];
}
export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  opsetImport?: OperatorSetIdProto[];
  metadataProps?: StringStringEntryProto[];
  trainingInfo?: Uint8Array[];
  functions?: Uint8Array[];
  configuration?: Uint8Array[];
}

/** ModelProto's codec, in the shape protobufjs's generated code has: decode(bytes), encode(m).finish(). */
export const onnx = {
  ModelProto: {
    decode: (bytes: Uint8Array): ModelProto => decodeMessage(bytes, MODEL) as ModelProto,
    encode: (model: ModelProto): { finish(): Uint8Array } => {
      const bytes = encodeMessage(model as Record<string, unknown>, MODEL);
      return { finish: () => bytes };
    },
  },
};
