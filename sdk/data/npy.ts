// NumPy .npy files: a strict reader that runs in browsers and Node (no Node built-ins, no eval),
// and the steps from an array to model input: pixels (uint8, or floats in 0-1 or 0-255) and
// images laid out as the model wants them ([channels, height, width], channels first).
import { byteArray, describeValue } from "../args";
import { fail } from "../errors";

/** Element kind of an array: unsigned integer, signed integer, or floating point. */
export type NpyKind = "u" | "i" | "f";

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** A parsed .npy array; `data` is always in C (row-major) order, whatever the file's order. */
export interface NpyArray {
  /** The dtype as the header wrote it, e.g. "|u1" or "<f4". */
  descr: string;
  kind: NpyKind;
  /** Bytes per element in the file. */
  itemSize: number;
  shape: number[];
  /** True when the file stored the data in Fortran (column-major) order; `data` is transposed to C order. */
  fortranOrder: boolean;
  /** Format version, "1.0", "2.0" or "3.0". */
  version: string;
  /** The elements, C order. 64-bit integers come as a Float64Array (values beyond 2^53 are refused). */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** numpy's own default bound on the header (np.load's max_header_size): real headers are < 200 bytes. */
export const NPY_MAX_HEADER_BYTES = 10000;

/** The dtypes read: one-byte types in any byte order, wider types little-endian. */
const DTYPES: Record<string, { kind: NpyKind; size: number }> = {
  u1: { kind: "u", size: 1 },
  i1: { kind: "i", size: 1 },
  u2: { kind: "u", size: 2 },
  i2: { kind: "i", size: 2 },
  u4: { kind: "u", size: 4 },
  i4: { kind: "i", size: 4 },
  u8: { kind: "u", size: 8 },
  i8: { kind: "i", size: 8 },
  f4: { kind: "f", size: 4 },
  f8: { kind: "f", size: 8 },
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses the bytes of a .npy file (already inflated). Checks the magic string, the version (1.0,
 * 2.0, 3.0), the header length (bounded by `maxHeaderBytes`, and inside the file), the header
 * dict (a small strict parser of the Python literal: exactly 'descr', 'fortran_order', 'shape'),
 * the dtype, and that the shape's byte size equals what follows the header. Fortran-ordered data
 * is transposed to C order. Every problem is a MnistWasmError BAD_FILE naming `what`.
 */
export function parseNpy(bytes: Uint8Array, what: string, options: { maxHeaderBytes?: number } = {}): NpyArray {
  bytes = byteArray(bytes, "parseNpy: bytes");
  const maxHeader = options.maxHeaderBytes ?? NPY_MAX_HEADER_BYTES;
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail("BAD_FILE", `${what}: not a .npy file (no \\x93NUMPY magic string)`);
  }
  if (bytes.length < 8) fail("BAD_FILE", `${what}: truncated .npy header (${bytes.length} bytes)`);
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3 || minor !== 0)
    fail("BAD_FILE", `${what}: unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) fail("BAD_FILE", `${what}: truncated .npy header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > maxHeader) {
    fail("BAD_FILE", `${what}: .npy header length ${headerLength} is beyond the limit of ${maxHeader} bytes`);
  }
  if (prefix + headerLength > bytes.length) {
    fail(
      "BAD_FILE",
      `${what}: .npy header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  const headerBytes = bytes.subarray(prefix, prefix + headerLength);
  let header: string;
  if (major === 3) {
    try {
      header = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
    } catch {
      fail("BAD_FILE", `${what}: .npy header is not valid UTF-8`);
    }
  } else {
    header = "";
    for (const b of headerBytes) header += String.fromCharCode(b); // latin-1
  }
  const dict = parseHeader(header, what);

  const descr = dict.descr;
  if (typeof descr === "object" && "list" in descr) {
    fail("BAD_FILE", `${what}: structured .npy dtypes (records with named fields) are not supported`);
  }
  if (typeof descr !== "string") fail("BAD_FILE", `${what}: .npy header: 'descr' must be a string`);
  const dtype = dtypeOf(descr, what);
  if (typeof dict.fortran_order !== "boolean")
    fail("BAD_FILE", `${what}: .npy header: 'fortran_order' must be True or False`);
  const shape = dict.shape;
  if (!isTuple(shape) || !shape.items.every((d): d is number => typeof d === "number")) {
    fail("BAD_FILE", `${what}: .npy header: 'shape' must be a tuple of non-negative integers`);
  }
  const dims = shape.items as number[];
  let count = 1;
  for (const d of dims) count *= d; // may lose precision when huge: then it is far beyond the file anyway
  const dataBytes = bytes.length - prefix - headerLength;
  const declared = count * dtype.size;
  if (declared !== dataBytes) {
    fail(
      "BAD_FILE",
      `${what}: .npy header declares shape (${dims.join(", ")}) of ${descr} = ${declared} bytes of data, ` +
        `the file has ${dataBytes}`,
    );
  }
  const start = prefix + headerLength;
  // A copy (aligned, and not a Node Buffer whose slice() would share the file's memory).
  let data = typedArray(new Uint8Array(bytes.subarray(start, start + declared)), dtype, what);
  if (dict.fortran_order) data = fortranToC(data, dims);
  return {
    descr,
    kind: dtype.kind,
    itemSize: dtype.size,
    shape: dims,
    fortranOrder: dict.fortran_order,
    version: `${major}.0`,
    data,
  };
}

function dtypeOf(descr: string, what: string): { kind: NpyKind; size: number } {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  const order = m?.[1] ?? "";
  const code = m ? `${m[2]}${m[3]}` : "";
  if (m && m[2] === "O")
    fail("BAD_FILE", `${what}: object arrays (dtype ${descr}, pickled Python objects) are not supported`);
  const dtype = DTYPES[code];
  if (!dtype) {
    fail(
      "BAD_FILE",
      `${what}: .npy dtype ${JSON.stringify(descr)} is not supported ` +
        "(expected |u1, <f4 or <f8 for images, or an integer type for labels)",
    );
  }
  if (dtype.size > 1 && order === ">") {
    fail(
      "BAD_FILE",
      `${what}: big-endian .npy data (${descr}) is not supported; save it little-endian, e.g. a.astype("<${code}")`,
    );
  }
  if (dtype.size > 1 && order !== "<" && !(order === "=" && LITTLE_ENDIAN_HOST)) {
    fail("BAD_FILE", `${what}: .npy dtype ${JSON.stringify(descr)} has no byte order (expected <${code})`);
  }
  return dtype;
}

/** A typed array over `own` (a fresh Uint8Array at offset 0 of its buffer) of little-endian elements. */
function typedArray(own: Uint8Array, dtype: { kind: NpyKind; size: number }, what: string): NpyData {
  const { kind, size } = dtype;
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    for (let i = 0; i < own.length; i += size) own.subarray(i, i + size).reverse();
  }
  const buffer = own.buffer;
  const n = own.length / size;
  if (kind === "f") return size === 4 ? new Float32Array(buffer, 0, n) : new Float64Array(buffer, 0, n);
  switch (size) {
    case 1:
      return kind === "u" ? own : new Int8Array(buffer, 0, n);
    case 2:
      return kind === "u" ? new Uint16Array(buffer, 0, n) : new Int16Array(buffer, 0, n);
    case 4:
      return kind === "u" ? new Uint32Array(buffer, 0, n) : new Int32Array(buffer, 0, n);
    default: {
      const wide = kind === "u" ? new BigUint64Array(buffer, 0, n) : new BigInt64Array(buffer, 0, n);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = wide[i];
        if (v > 9007199254740991n || v < -9007199254740991n)
          fail("BAD_FILE", `${what}: element ${i} (${v}) is too large`);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Reorders column-major data of `shape` into row-major order. */
function fortranToC(src: NpyData, shape: number[]): NpyData {
  const k = shape.length;
  if (k <= 1 || src.length === 0) return src;
  const out = new (src.constructor as new (n: number) => NpyData)(src.length);
  const strides: number[] = [];
  let s = 1;
  for (let j = 0; j < k; j++) {
    strides.push(s);
    s *= shape[j];
  }
  const index = new Array<number>(k).fill(0);
  let offset = 0;
  for (let c = 0; c < src.length; c++) {
    out[c] = src[offset];
    for (let j = k - 1; j >= 0; j--) {
      offset += strides[j];
      if (++index[j] < shape[j]) break;
      offset -= strides[j] * shape[j];
      index[j] = 0;
    }
  }
  return out;
}

// --- The header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (10, 784), }

type Value = string | number | boolean | { tuple: true; items: Value[] } | { list: true; items: Value[] };

const isTuple = (v: unknown): v is { tuple: true; items: Value[] } =>
  typeof v === "object" && v !== null && "tuple" in v;

const KEYS = ["descr", "fortran_order", "shape"];

function parseHeader(text: string, what: string): Record<string, Value> {
  let pos = 0;
  const bad = (why: string): never =>
    fail("BAD_FILE", `${what}: .npy header is not a valid dict literal (${why} at character ${pos})`);
  const skip = (): void => {
    while (pos < text.length && " \t\r\n".includes(text[pos])) pos++;
  };
  const expect = (ch: string): void => {
    skip();
    if (text[pos] !== ch) bad(`expected "${ch}"`);
    pos++;
  };
  const value = (depth: number): Value => {
    if (depth > 4) bad("nested too deeply");
    skip();
    const ch = text[pos];
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, pos + 1);
      if (end < 0) bad("unterminated string");
      const s = text.slice(pos + 1, end);
      if (/[\\\n]/.test(s)) bad("escapes in a string");
      pos = end + 1;
      return s;
    }
    if (ch !== undefined && ch >= "0" && ch <= "9") {
      const m = /^\d+L?/.exec(text.slice(pos, pos + 32))!;
      const digits = m[0].replace("L", "");
      if (digits.length > 16) bad("integer too large");
      pos += m[0].length;
      return Number(digits);
    }
    if (text.startsWith("True", pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith("False", pos)) {
      pos += 5;
      return false;
    }
    if (ch === "(" || ch === "[") {
      const close = ch === "(" ? ")" : "]";
      pos++;
      const items: Value[] = [];
      let comma = false;
      for (;;) {
        skip();
        if (text[pos] === close) {
          pos++;
          break;
        }
        if (items.length > 0 && !comma) bad(`expected "," or "${close}"`);
        items.push(value(depth + 1));
        skip();
        comma = text[pos] === ",";
        if (comma) pos++;
      }
      // (5) is a parenthesised number in Python, not a tuple
      if (close === ")" && items.length === 1 && !comma) return items[0];
      return close === ")" ? { tuple: true, items } : { list: true, items };
    }
    return bad("unexpected token");
  };

  skip();
  if (text[pos] !== "{") bad('expected "{"');
  pos++;
  const dict: Record<string, Value> = Object.create(null); // no prototype: a key "__proto__" is a key
  for (;;) {
    skip();
    if (text[pos] === "}") {
      pos++;
      break;
    }
    const key = value(1);
    if (typeof key !== "string") return bad("a key that is not a string");
    if (Object.hasOwn(dict, key)) bad(`duplicate key '${key}'`);
    expect(":");
    dict[key] = value(1);
    skip();
    if (text[pos] === ",") pos++;
    else if (text[pos] !== "}") bad('expected "," or "}"');
  }
  skip();
  if (pos !== text.length) bad("text after the dict");
  const keys = Object.keys(dict).sort();
  if (keys.join() !== KEYS.join()) {
    fail(
      "BAD_FILE",
      `${what}: .npy header must have exactly the keys 'descr', 'fortran_order', 'shape', got ${keys.map((k) => `'${k}'`).join(", ") || "none"}`,
    );
  }
  return dict;
}

// --- From an array to model input

/** How the values of an image array were read. */
export type PixelRange = "uint8" | "0-1" | "0-255";

/**
 * Pixels 0-255 from image values: uint8 as is; floats whose maximum is at most 1 are taken as
 * 0-1 and scaled by 255, other floats as 0-255; then rounded and clamped to 0-255 (`clamped`
 * counts the values that were outside). Other element types, NaN and infinities are refused.
 */
export function toPixels(
  array: Pick<NpyArray, "kind" | "itemSize" | "data" | "descr">,
  what: string,
): { pixels: Uint8Array; range: PixelRange; clamped: number } {
  if (!ArrayBuffer.isView((array as Partial<NpyArray> | null)?.data))
    fail("BAD_ARGUMENT", `toPixels: array must be a parsed .npy array (from parseNpy), got ${describeValue(array)}`);
  const { data } = array;
  if (array.kind === "u" && array.itemSize === 1) return { pixels: data as Uint8Array, range: "uint8", clamped: 0 };
  if (array.kind !== "f") {
    fail("BAD_FILE", `${what}: image values of dtype ${array.descr} are not supported (expected |u1, <f4 or <f8)`);
  }
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) fail("BAD_FILE", `${what}: value ${i} is ${v} (images must be finite numbers)`);
    if (v > max) max = v;
  }
  const range: PixelRange = max <= 1 ? "0-1" : "0-255";
  const scale = range === "0-1" ? 255 : 1;
  const pixels = new Uint8Array(data.length);
  let clamped = 0;
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(data[i] * scale);
    if (v < 0 || v > 255) clamped++;
    pixels[i] = Math.min(Math.max(v, 0), 255); // NaN stays NaN, as the comparisons left it
  }
  return { pixels, range, clamped };
}

/** Images laid out for a model: `count` samples of `shape` (channels first), and how they were found. */
export interface ArrangedImages {
  count: number;
  shape: number[];
  images: Uint8Array;
  /** "N x H x W", "N x C x H x W", "N x H x W x C (transposed to channels first)" or "N x D". */
  layout: string;
}

const sameDims = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Lays out `pixels` of array shape `dims` (N first) as model input of `inputShape` ([C, H, W] or
 * flat [D]): N x H x W for one channel, N x C x H x W, N x H x W x C (transposed to channels
 * first: the channel axis is the one of size C), or N x D with D the input size (a flat-input
 * model takes any sample of its size, flattened in C order). Without
 * `inputShape` the layout is guessed: a last axis of size 3 or 4 after two larger ones is taken
 * as channels-last. A sample shape the model cannot take is a BAD_SHAPE error naming both.
 */
export function arrangeImages(
  dims: readonly number[],
  pixels: Uint8Array,
  inputShape: readonly number[] | undefined,
  what: string,
): ArrangedImages {
  if (!Array.isArray(dims) || !(pixels instanceof Uint8Array))
    fail(
      "BAD_ARGUMENT",
      `arrangeImages: dims must be an array and pixels a Uint8Array, got ${describeValue(dims)}, ${describeValue(pixels)}`,
    );
  if (dims.length < 2 || dims.length > 4) {
    fail(
      "BAD_SHAPE",
      `${what}: an array of shape (${dims.join(", ")}) is not images: expected N x H x W, N x C x H x W, N x H x W x C or N x D`,
    );
  }
  const count = dims[0];
  if (count === 0) fail("BAD_FILE", `${what}: the array holds no images (shape (${dims.join(", ")}))`);
  const sample = dims.slice(1);
  const size = sample.reduce((a, b) => a * b, 1);
  if (size === 0) fail("BAD_SHAPE", `${what}: images of shape [${sample}] have no pixels`);
  const shown = sample.length === 2 ? [1, ...sample] : sample; // one channel, as a model's input is written
  const refuse = (): never =>
    fail("BAD_SHAPE", `the model expects input [${inputShape}] but the data has images of [${shown}]`);
  const channelsLast = (c: number): ArrangedImages => {
    const [h, w] = sample;
    return {
      count,
      shape: [c, h, w],
      images: hwcToChw(pixels, count, h, w, c),
      layout: "N x H x W x C (transposed to channels first)",
    };
  };
  const layout = ["", "N x D", "N x H x W", "N x C x H x W"][sample.length];
  if (inputShape) {
    const m = [...inputShape];
    const inputSize = m.reduce((a, b) => a * b, 1);
    if (sameDims(sample, m)) return { count, shape: m, images: pixels, layout };
    if (m.length === 3) {
      const [c, h, w] = m;
      if (c === 1 && sameDims(sample, [h, w])) return { count, shape: m, images: pixels, layout: "N x H x W" };
      if (sameDims(sample, [h, w, c])) return channelsLast(c);
    }
    if (sample.length === 1 && size === inputSize) return { count, shape: m, images: pixels, layout: "N x D" };
    // a model of flat input takes any sample of its size, flattened in C order
    if (m.length === 1 && size === inputSize)
      return { count, shape: m, images: pixels, layout: `${layout} (flattened)` };
    return refuse();
  }
  if (sample.length === 1) return { count, shape: [1, 1, size], images: pixels, layout };
  if (sample.length === 2) return { count, shape: [1, ...sample], images: pixels, layout };
  const [a, b, c] = sample;
  if ((c === 3 || c === 4) && a > 4 && b > 4) return channelsLast(c);
  return { count, shape: sample, images: pixels, layout };
}

function hwcToChw(src: Uint8Array, count: number, h: number, w: number, c: number): Uint8Array {
  if (c === 1) return src;
  const out = new Uint8Array(src.length);
  const plane = h * w;
  const sample = plane * c;
  for (let n = 0; n < count; n++) {
    const base = n * sample;
    for (let p = 0; p < plane; p++) {
      for (let k = 0; k < c; k++) out[base + k * plane + p] = src[base + p * c + k];
    }
  }
  return out;
}

/**
 * Class labels from an integer array of shape (N,) or (N, 1): each 0-254 (the range check
 * against a model's classes is the caller's). Float or negative labels are refused.
 */
export function labelsFromNpy(array: NpyArray, what: string): Uint8Array {
  if (!Array.isArray(array?.shape) || !ArrayBuffer.isView(array?.data))
    fail(
      "BAD_ARGUMENT",
      `labelsFromNpy: array must be a parsed .npy array (from parseNpy), got ${describeValue(array)}`,
    );
  const { shape, data } = array;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    fail("BAD_FILE", `${what}: labels must be an array of shape (N,) or (N, 1), got (${shape.join(", ")})`);
  }
  if (array.kind === "f") fail("BAD_FILE", `${what}: labels must be integers, the array holds ${array.descr} floats`);
  const labels = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || v > 254) fail("BAD_FILE", `${what}: label ${i} is ${v}, not a class index`);
    labels[i] = v;
  }
  return labels;
}

/** The bytes of a .npy version 1.0 file holding `data` with `shape` (C order): for tests and exports. */
export function encodeNpy(data: Uint8Array | Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  if (
    !(data instanceof Uint8Array || data instanceof Float32Array || data instanceof Float64Array) ||
    !Array.isArray(shape)
  )
    fail(
      "BAD_ARGUMENT",
      `encodeNpy: data must be a Uint8Array, Float32Array or Float64Array and shape an array, got ${describeValue(data)}, ${describeValue(shape)}`,
    );
  const descr = data instanceof Uint8Array ? "|u1" : data instanceof Float32Array ? "<f4" : "<f8";
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || data instanceof Uint8Array) out.set(body, 10 + header.length);
  else {
    const size = data.BYTES_PER_ELEMENT;
    out.set(body, 10 + header.length);
    for (let i = 10 + header.length; i < out.length; i += size) out.subarray(i, i + size).reverse();
  }
  return out;
}
