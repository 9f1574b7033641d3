// The ONNX messages this SDK reads and writes (sdk/onnx/messages.ts, encoded and decoded by
// sdk/onnx/wire.ts, from the official onnx.proto), and small helpers for their tensors and
// attributes.
export {
  onnx,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./messages";
import type { AttributeProto, TensorProto } from "./messages";

/** TensorProto.DataType values used here. */
export const FLOAT = 1;
export const UINT8 = 2;
export const INT8 = 3;
export const INT32 = 6;
export const INT64 = 7;

/** AttributeProto.AttributeType values used here. */
export const ATTRIBUTE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** The ONNX IR version written (ONNX 1.10's) and the operator set. */
export const IR_VERSION = 8;
export const OPSET = 13;

/** An int64 field as a number, 0 when absent (sdk/onnx/wire.ts decodes int64 to numbers). */
export const int = (value: number | undefined): number => value ?? 0;

export const intAttribute = (name: string, i: number): AttributeProto => ({ name, type: ATTRIBUTE.INT, i });
export const intsAttribute = (name: string, ints: number[]): AttributeProto => ({ name, type: ATTRIBUTE.INTS, ints });
export const floatAttribute = (name: string, f: number): AttributeProto => ({ name, type: ATTRIBUTE.FLOAT, f });
export const stringAttribute = (name: string, value: string): AttributeProto => ({
  name,
  type: ATTRIBUTE.STRING,
  s: new TextEncoder().encode(value),
});

/** A float32 tensor with its values as raw little-endian bytes, as PyTorch writes them. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return { name, dims: [...dims], dataType: FLOAT, rawData: raw };
}

/** An int64 tensor (a Reshape's shape). */
export function int64Tensor(name: string, values: readonly number[]): TensorProto {
  return { name, dims: [values.length], dataType: INT64, int64Data: [...values] };
}

/** An int8 tensor (quantized weights, an activation's zero point), its bytes as raw data. */
export function int8Tensor(name: string, dims: readonly number[], data: Int8Array): TensorProto {
  return {
    name,
    dims: [...dims],
    dataType: INT8,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.length).slice(),
  };
}

/** An int32 tensor (quantized biases), its values as raw little-endian bytes. */
export function int32Tensor(name: string, dims: readonly number[], data: Int32Array): TensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i], true);
  return { name, dims: [...dims], dataType: INT32, rawData: raw };
}
