// The protobuf wire format for the ONNX messages this SDK reads and writes, from field tables
// (sdk/onnx/messages.ts) whose names, numbers and types are those of the official onnx.proto
// (sdk/onnx/onnx.proto; test/sdk/onnx/messages.test.ts checks every entry against it). A message
// decodes to a plain object with an own property for each field present (repeated fields as
// arrays, int64 as numbers) and none for the others; unknown fields are skipped; fields of
// messages the SDK never reads (subgraphs, sparse tensors, types other than tensors) are kept as
// their raw bytes, so that their presence is seen and they encode back as they were.
// A hand-written codec because protobufjs with the generated messages weighs 20 KB gzipped in a
// page; this weighs about 2 (docs/DESIGN.md, "ONNX in and out").

/** How a field is encoded: a varint (int32, int64, enum), float32 (fixed32), float64 (fixed64), text, bytes, a message or raw message bytes. */
export type FieldKind = "int" | "float" | "double" | "string" | "bytes" | "message" | "raw";

/**
 * One field: its name (the camelCase of onnx.proto's), number, kind, whether repeated (and
 * written packed, as onnx.proto says for some), and a message's table.
 */
export interface Field {
  name: string;
  number: number;
  kind: FieldKind;
  repeated?: boolean;
  packed?: boolean;
  message?: () => MessageTable;
}

export type MessageTable = readonly Field[];

/** Nesting deeper than this is refused (a hostile file's recursion); ONNX models need 6 levels. */
const MAX_DEPTH = 16;

const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;
const wireOf = (kind: FieldKind): number =>
  kind === "int" ? WIRE.varint : kind === "float" ? WIRE.fixed32 : kind === "double" ? WIRE.fixed64 : WIRE.bytes;

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** A varint as a number: int64 values beyond ±2^53 lose their low bits; negatives come back negative. */
  varint(): number {
    let low = 0;
    let high = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.at >= this.bytes.length) throw new Error("truncated varint");
      if (shift > 63) throw new Error("varint longer than 10 bytes");
      const byte = this.bytes[this.at++];
      if (shift < 28) low |= (byte & 0x7f) << shift;
      else if (shift === 28) {
        low |= (byte & 0x0f) << 28;
        high |= (byte & 0x7f) >> 4;
      } else high |= (byte & 0x7f) << (shift - 32);
      if (byte < 0x80) break;
    }
    // Two's complement of 64 bits: the high word signed, the low one not.
    return high * 2 ** 32 + (low >>> 0);
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.bytes.length) throw new Error("truncated field");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === WIRE.varint) this.varint();
    else if (wire === WIRE.fixed64) this.take(8);
    else if (wire === WIRE.bytes) this.take(this.varint());
    else if (wire === WIRE.fixed32) this.take(4);
    else throw new Error(`wire type ${wire} is not supported`);
  }
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** One value of a scalar field read with wire type `wire` (a packed run is handled by the caller). */
function scalar(r: Reader, kind: FieldKind, wire: number): number {
  if (wire !== wireOf(kind)) throw new Error(`a field of kind ${kind} came with wire type ${wire}`);
  if (kind === "int") return r.varint();
  if (kind === "float") return view(r.take(4)).getFloat32(0, true);
  return view(r.take(8)).getFloat64(0, true);
}

/** Decodes one message of `table` from `bytes`. Throws an Error on malformed bytes. */
export function decodeMessage(bytes: Uint8Array, table: MessageTable, depth = 0): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new Error("messages nested too deeply");
  const r = new Reader(bytes);
  const out: Record<string, unknown> = {};
  while (r.at < bytes.length) {
    const tag = r.varint();
    const [number, wire] = [Math.floor(tag / 8), tag % 8];
    if (number < 1) throw new Error(`field number ${number}`);
    const field = table.find((f) => f.number === number);
    if (!field) {
      r.skip(wire);
      continue;
    }
    const values: unknown[] = [];
    const numeric = field.kind === "int" || field.kind === "float" || field.kind === "double";
    if (numeric && field.repeated && wire === WIRE.bytes) {
      // A packed run of scalars.
      const run = new Reader(r.take(r.varint()));
      while (run.at < run.bytes.length) values.push(scalar(run, field.kind, wireOf(field.kind)));
    } else if (numeric) {
      values.push(scalar(r, field.kind, wire));
    } else {
      if (wire !== WIRE.bytes) throw new Error(`field ${field.name} came with wire type ${wire}`);
      const data = r.take(r.varint());
      if (field.kind === "string") values.push(new TextDecoder().decode(data));
      else if (field.kind === "message") values.push(decodeMessage(data, field.message!(), depth + 1));
      else values.push(data.slice());
    }
    if (field.repeated) out[field.name] = [...((out[field.name] as unknown[] | undefined) ?? []), ...values];
    else out[field.name] = values[values.length - 1];
  }
  return out;
}

class Writer {
  private parts: Uint8Array[] = [];
  private pending: number[] = [];

  varint(value: number): void {
    // Negative int64: ten bytes of two's complement.
    let v = value < 0 ? BigInt.asUintN(64, BigInt(Math.trunc(value))) : BigInt(Math.trunc(value));
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  raw(bytes: Uint8Array): void {
    this.flush();
    this.parts.push(bytes);
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.parts.push(Uint8Array.from(this.pending));
    this.pending = [];
  }
}

function writeScalar(w: Writer, kind: FieldKind, value: number): void {
  if (kind === "int") w.varint(value);
  else {
    const b = new Uint8Array(kind === "float" ? 4 : 8);
    if (kind === "float") view(b).setFloat32(0, value, true);
    else view(b).setFloat64(0, value, true);
    w.raw(b);
  }
}

/** Encodes a message of `table`: every field present (not undefined or null); repeated scalars packed where onnx.proto says so. */
export function encodeMessage(message: Record<string, unknown>, table: MessageTable): Uint8Array {
  const w = new Writer();
  for (const field of table) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    const values = field.repeated ? (value as unknown[]) : [value];
    const numeric = field.kind === "int" || field.kind === "float" || field.kind === "double";
    if (numeric && field.packed) {
      if (values.length === 0) continue;
      const run = new Writer();
      for (const v of values) writeScalar(run, field.kind, Number(v));
      const bytes = run.finish();
      w.varint(field.number * 8 + WIRE.bytes);
      w.varint(bytes.length);
      w.raw(bytes);
      continue;
    }
    for (const v of values) {
      w.varint(field.number * 8 + wireOf(field.kind));
      if (numeric) {
        writeScalar(w, field.kind, Number(v));
        continue;
      }
      const bytes =
        field.kind === "string"
          ? new TextEncoder().encode(String(v))
          : field.kind === "message"
            ? encodeMessage(v as Record<string, unknown>, field.message!())
            : (v as Uint8Array);
      w.varint(bytes.length);
      w.raw(bytes);
    }
  }
  return w.finish();
}
