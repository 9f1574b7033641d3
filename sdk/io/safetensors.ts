import { byteArray, describeValue } from "../args";
import { fail } from "../errors";
import { quote } from "../text";

/**
 * The safetensors container (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {…}},
 * then the raw little-endian data. Nothing in it executes; Python loads it with one call.
 * F32 tensors are written and read here, and I8 ones (an int8 model's weights) when asked for.
 */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** An I8 tensor: an int8 model's quantized weights (sdk/io/int8-file.ts). */
export interface NamedInt8Tensor {
  shape: number[];
  data: Int8Array;
}

/**
 * Headers beyond this are refused before parsing (the format's own limit is 100 MB): a model of
 * PLAN_LIMITS.layers layers with its optimizer state describes about 3,000 tensors in some 200 KB.
 */
export const MAX_HEADER_BYTES = 4 * 2 ** 20;
/** Tensors a file may describe (counted before any is read): 256 layers x 4 tensors x 3 (values, 2 optimizer slots). */
export const MAX_TENSORS = 4096;

export function encodeSafetensors(
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string>,
  int8: Map<string, NamedInt8Tensor> = new Map(),
): Uint8Array {
  if (!(tensors instanceof Map))
    fail(
      "BAD_ARGUMENT",
      `encodeSafetensors: tensors must be a Map of name to { shape, data }, got ${describeValue(tensors)}`,
    );
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  for (const [name, t] of int8) {
    header[name] = { dtype: "I8", shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padding = (8 - (headerBytes.length % 8)) % 8;
  if (padding) headerBytes = encoder.encode(json + " ".repeat(padding));
  // A reader refuses these before parsing: never write them.
  if (headerBytes.length > MAX_HEADER_BYTES || tensors.size + int8.size > MAX_TENSORS) {
    fail(
      "BAD_ARGUMENT",
      `a safetensors header of ${headerBytes.length} bytes and ${tensors.size} tensors is beyond the limits ` +
        `of ${MAX_HEADER_BYTES} bytes and ${MAX_TENSORS} tensors`,
    );
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  for (const t of int8.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Reads F32 tensors into `tensors`; with `allowInt8`, I8 ones into `int8` (refused otherwise). */
export function decodeSafetensors(
  bytes: Uint8Array,
  what: string,
  allowInt8 = false,
): { tensors: Map<string, NamedTensor>; int8: Map<string, NamedInt8Tensor>; metadata: Record<string, string> } {
  bytes = byteArray(bytes, "decodeSafetensors: bytes");
  if (bytes.length < 8) fail("BAD_FILE", `${what}: ${bytes.length} bytes is too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    fail(
      "BAD_FILE",
      `${what}: not a safetensors file (header length ${headerLength} does not fit in ${bytes.length} bytes` +
        `${headerLength > MAX_HEADER_BYTES ? ` or the limit of ${MAX_HEADER_BYTES}` : ""})`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    fail("BAD_FILE", `${what}: not a safetensors file (the header is not JSON)`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("BAD_FILE", `${what}: the header is not a JSON object`);
  const count = Object.keys(header).length - (Object.hasOwn(header, "__metadata__") ? 1 : 0);
  if (count > MAX_TENSORS)
    fail("BAD_FILE", `${what}: the header describes ${count} tensors, beyond the limit of ${MAX_TENSORS} tensors`);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, NamedTensor>();
  const int8 = new Map<string, NamedInt8Tensor>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || !Object.values(entry).every((v) => typeof v === "string")) {
        fail("BAD_FILE", `${what}: __metadata__ must map names to strings`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== "object") fail("BAD_FILE", `${what}: tensor ${quote(name)} has no description`);
    const isInt8 = allowInt8 && e.dtype === "I8";
    if (e.dtype !== "F32" && !isInt8)
      fail(
        "BAD_FILE",
        `${what}: tensor ${quote(name)} has dtype ${quote(String(JSON.stringify(e.dtype)))}; only F32${allowInt8 ? " and I8 are" : " is"} supported`,
      );
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail("BAD_FILE", `${what}: tensor ${quote(name)} has a bad shape ${quote(String(JSON.stringify(e.shape)))}`);
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail("BAD_FILE", `${what}: tensor ${quote(name)} has bad data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLength || end - begin !== count * (isInt8 ? 1 : 4)) {
      fail(
        "BAD_FILE",
        `${what}: tensor ${quote(name)} [${e.shape}] does not match its data range ${begin}-${end} (data is ${dataLength} bytes)`,
      );
    }
    ranges.push([begin, end]);
    if (isInt8) {
      const data = new Int8Array(count);
      new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
      int8.set(name, { shape: e.shape as number[], data });
      continue;
    }
    // Copy: the file's bytes need not be 4-byte aligned.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { shape: e.shape as number[], data });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail("BAD_FILE", `${what}: tensor data ranges overlap`);
  }
  return { tensors, int8, metadata };
}
