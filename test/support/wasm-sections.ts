// Reads a wasm binary's export names and active data segments from its sections, without
// compiling it (the relaxed-SIMD builds compile only where the engine has relaxed SIMD).

/** Reads an unsigned LEB128 at `at`; returns the value and the offset after it. */
function uleb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0,
    shift = 0,
    byte: number;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

/** Signed LEB128 (an i32.const's operand). */
function sleb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0,
    shift = 0,
    byte: number;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  if (byte & 0x40) value -= 2 ** shift;
  return [value, at];
}

/** The payload of every section with id `id`. */
function sections(bytes: Uint8Array, id: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 8; // magic and version
  while (at < bytes.length) {
    const sectionId = bytes[at];
    const [size, start] = uleb(bytes, at + 1);
    if (sectionId === id) out.push(bytes.subarray(start, start + size));
    at = start + size;
  }
  return out;
}

const EXPORT_SECTION = 7,
  DATA_SECTION = 11;
const decoder = new TextDecoder();

/** Names and kinds (0 function, 1 table, 2 memory, 3 global) of the module's exports. */
export function wasmExports(bytes: Uint8Array): { name: string; kind: number }[] {
  const out: { name: string; kind: number }[] = [];
  for (const s of sections(bytes, EXPORT_SECTION)) {
    let [count, at] = uleb(s, 0);
    while (count-- > 0) {
      const [length, nameAt] = uleb(s, at);
      const name = decoder.decode(s.subarray(nameAt, nameAt + length));
      const kind = s[nameAt + length];
      [, at] = uleb(s, nameAt + length + 1);
      out.push({ name, kind });
    }
  }
  return out;
}

/** Start and length of every active data segment whose offset is an i32.const (memory 0). */
export function wasmDataSegments(bytes: Uint8Array): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  for (const s of sections(bytes, DATA_SECTION)) {
    let [count, at] = uleb(s, 0);
    while (count-- > 0) {
      let flags: number;
      [flags, at] = uleb(s, at);
      let offset = -1;
      if (flags === 2) [, at] = uleb(s, at); // memory index
      if (flags !== 1) {
        if (s[at] !== 0x41) throw new Error(`data segment offset: opcode 0x${s[at].toString(16)}, not i32.const`);
        [offset, at] = sleb(s, at + 1);
        if (s[at++] !== 0x0b) throw new Error("data segment offset: no end");
      }
      let length: number;
      [length, at] = uleb(s, at);
      at += length;
      if (offset >= 0) out.push({ offset, length });
    }
  }
  return out;
}
