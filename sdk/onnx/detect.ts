import { MAX_HEADER_BYTES } from "../io/safetensors";

/** ModelProto's first fields (ir_version, producer_name, …, graph) as protobuf tags, each with its wire type. */
const MODEL_PROTO_TAGS = [0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42];

/**
 * Whether bytes may be an ONNX model: protobuf starting with one of ModelProto's fields, whose
 * first 8 bytes, read as a safetensors header length, are beyond that format's limit (which the
 * field's contents make them: a safetensors file never passes).
 */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || !MODEL_PROTO_TAGS.includes(bytes[0])) return false;
  return bytes.length < 8 || new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true) > MAX_HEADER_BYTES;
}
