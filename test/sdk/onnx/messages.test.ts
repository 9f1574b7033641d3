// The protobuf codec's field tables (sdk/onnx/messages.ts) against the official onnx.proto
// (sdk/onnx/onnx.proto, as published by the ONNX project): every field the SDK reads or writes
// has onnx.proto's number, type and label; and the codec round-trips every kind of field.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MESSAGE_TABLES, type ModelProto, onnx } from "../../../sdk/onnx/messages";
import { decodeMessage, encodeMessage, type MessageTable } from "../../../sdk/onnx/wire";

const PROTO = readFileSync(new URL("../../../sdk/onnx/onnx.proto", import.meta.url), "utf8");

/** onnx.proto's fields of `message` ("TypeProto.Tensor" for a nested one): name -> [label, type, number, packed]. */
function protoFields(message: string): Map<string, { label: string; type: string; number: number; packed: boolean }> {
  const path = message.split(".");
  let text = PROTO.replace(/\/\/.*$/gm, "");
  for (const name of path) {
    const start = text.search(new RegExp(`message\\s+${name}\\s*\\{`));
    expect(start, `message ${message} in onnx.proto`).toBeGreaterThanOrEqual(0);
    let depth = 0;
    let end = text.indexOf("{", start);
    for (; end < text.length; end++) {
      if (text[end] === "{") depth++;
      else if (text[end] === "}" && --depth === 0) break;
    }
    text = text.slice(text.indexOf("{", start) + 1, end);
  }
  // The message's own fields: nested messages taken out.
  let own = text;
  for (;;) {
    const nested = own.search(/(message|enum)\s+\w+\s*\{/);
    if (nested < 0) break;
    let depth = 0;
    let end = own.indexOf("{", nested);
    for (; end < own.length; end++) {
      if (own[end] === "{") depth++;
      else if (own[end] === "}" && --depth === 0) break;
    }
    own = own.slice(0, nested) + own.slice(end + 1);
  }
  const fields = new Map<string, { label: string; type: string; number: number; packed: boolean }>();
  for (const m of own.matchAll(/(optional|repeated)?\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[packed\s*=\s*true\])?\s*;/g)) {
    fields.set(m[3], { label: m[1] ?? "oneof", type: m[2], number: Number(m[4]), packed: m[5] !== undefined });
  }
  return fields;
}

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const KIND_OF: Record<string, string> = {
  int64: "int",
  int32: "int",
  uint64: "int",
  float: "float",
  double: "double",
  string: "string",
  bytes: "bytes",
  AttributeType: "int",
  DataLocation: "int",
};

describe("the ONNX messages' field tables", () => {
  it.each(Object.keys(MESSAGE_TABLES))("%s: each field has onnx.proto's number, type and label", (message) => {
    const official = protoFields(message);
    for (const field of MESSAGE_TABLES[message]) {
      const o = official.get(snake(field.name));
      expect(o, `${message}.${snake(field.name)} in onnx.proto`).toBeDefined();
      expect(field.number, `${message}.${field.name}: number`).toBe(o!.number);
      expect(field.repeated === true, `${message}.${field.name}: repeated`).toBe(o!.label === "repeated");
      expect(field.packed === true, `${message}.${field.name}: packed`).toBe(o!.packed);
      const kind = KIND_OF[o!.type] ?? (field.kind === "raw" ? "raw" : "message");
      expect(field.kind, `${message}.${field.name}: kind for ${o!.type}`).toBe(kind);
    }
  });
});

describe("the codec", () => {
  it("round-trips every kind of field, negative int64 and packed runs included", () => {
    const model: ModelProto = {
      irVersion: 8,
      producerName: "mnist-wasm ✓",
      modelVersion: -3,
      opsetImport: [{ domain: "", version: 13 }],
      metadataProps: [{ key: "classes", value: "[]" }],
      trainingInfo: [Uint8Array.from([10, 0])],
      graph: {
        node: [
          {
            opType: "Reshape",
            input: ["x", "shape"],
            output: ["y"],
            attribute: [
              { name: "alpha", type: 1, f: 0.25 },
              { name: "perm", type: 7, ints: [0, -1, 2 ** 40] },
              { name: "scales", type: 6, floats: [1.5, -2] },
              { name: "mode", type: 3, s: new TextEncoder().encode("nearest") },
            ],
          },
        ],
        initializer: [
          { name: "shape", dims: [2], dataType: 7, int64Data: [-1, 784] },
          { name: "w", dims: [2, 1], dataType: 1, floatData: [0.5, -0.125], doubleData: [1e300] },
          { name: "r", dims: [1], dataType: 1, rawData: Uint8Array.from([0, 0, 128, 63]) },
        ],
        input: [
          {
            name: "x",
            type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "batch" }, { dimValue: 784 }] } } },
          },
        ],
      },
    };
    const bytes = onnx.ModelProto.encode(model).finish();
    expect(onnx.ModelProto.decode(bytes)).toEqual(model);
  });

  it("reads fields it does not know past, and unpacked runs of packed fields", () => {
    const table = [{ name: "values", number: 4, kind: "float" as const, repeated: true, packed: true }];
    // Field 9 (a varint), then field 4 twice unpacked (fixed32 1.0 and 2.0).
    const bytes = Uint8Array.from([0x48, 0x96, 0x01, 0x25, 0, 0, 128, 63, 0x25, 0, 0, 0, 64]);
    expect(decodeMessage(bytes, table)).toEqual({ values: [1, 2] });
    expect(encodeMessage({ values: [1, 2] }, table)).toEqual(Uint8Array.from([0x22, 8, 0, 0, 128, 63, 0, 0, 0, 64]));
  });

  it.each([
    ["a truncated varint", [0x08, 0x80]],
    ["a length past the end", [0x12, 0x05, 0x61]],
    ["wire type 3 (groups)", [0x0b]],
    ["field number 0", [0x00, 0x01]],
    ["a string field with a varint's wire type", [0x10, 0x01]],
  ])("refuses %s", (_, bytes) => {
    expect(() => onnx.ModelProto.decode(Uint8Array.from(bytes))).toThrow();
  });

  it("refuses messages nested beyond 16 levels", () => {
    const table: MessageTable = [{ name: "inner", number: 1, kind: "message", message: () => table }];
    let bytes = new Uint8Array(0);
    for (let i = 0; i < 20; i++) bytes = Uint8Array.from([0x0a, bytes.length, ...bytes]);
    expect(() => decodeMessage(bytes, table)).toThrow(/nested too deeply/);
  });
});
