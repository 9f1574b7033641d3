// Reading an ONNX file's tensors: their dimensions checked against the limits, float data from
// raw bytes or float_data. Shared by the graph reader (import.ts) and the QDQ reader (qdq-import.ts).
import { PLAN_LIMITS } from "../plan";
import { quote } from "../text";
import type { ConstantTensor } from "./operators";
import { FLOAT, int, type TensorProto } from "./proto";

/** Limits of an ONNX file's graph, checked as it is read (the bytes are bounded by FILE_LIMITS.modelBytes). */
export const ONNX_LIMITS = {
  /** Nodes of the graph: a few per layer (up to 8 for an int8 layer's QDQ nodes). */
  nodes: 8 * PLAN_LIMITS.layers,
  /** Initializers of the graph. */
  initializers: 4096,
  /** Entries of metadata_props. */
  metadata: 256,
  /** Dimensions of one tensor. */
  rank: 8,
  /**
   * Opset versions of the default domain read: from 11 (older ones give Pad, Dropout and the
   * pooling operators other attributes) to 23 (the newest ONNX Runtime 1.31 runs).
   */
  opsets: [11, 23] as const,
};

/** A tensor's dimensions, checked: a few non-negative sizes whose product is at most `maxValues`. */
export function tensorDims(t: TensorProto, refuse: (problem: string) => never, maxValues: number): number[] {
  const dims = (t.dims ?? []).map(int);
  const name = quote(t.name ?? "");
  if (dims.length > ONNX_LIMITS.rank) refuse(`tensor ${name} has ${dims.length} dimensions`);
  if (dims.some((d) => !(Number.isSafeInteger(d) && d >= 0)) || dims.reduce((a, b) => a * b, 1) > maxValues)
    refuse(`tensor ${name} has dimensions [${dims}] beyond the limits`);
  if (t.dataLocation === 1 || t.externalData?.length)
    refuse(`tensor ${name} has external data, which is not supported`);
  return dims;
}

export function readFloatTensor(t: TensorProto, refuse: (problem: string) => never): ConstantTensor {
  const name = quote(t.name ?? "");
  if (t.dataType !== FLOAT) refuse(`tensor ${name} is not float32 (data type ${t.dataType})`);
  const shape = tensorDims(t, refuse, PLAN_LIMITS.parameters);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  const raw = t.rawData;
  if (raw?.length) {
    if (raw.length !== count * 4) refuse(`tensor ${name} [${shape}] has ${raw.length} bytes of data, not ${count * 4}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  } else {
    const values = t.floatData ?? [];
    if (values.length !== count) refuse(`tensor ${name} [${shape}] has ${values.length} values, not ${count}`);
    data.set(values);
  }
  return { shape, data };
}
