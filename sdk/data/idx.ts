import { byteArray } from "../args";
import { fail } from "../errors";

/** The idx format of the MNIST files: magic 00 00 <type> <ndims>, big-endian sizes, then data. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

/**
 * Parses idx bytes (already inflated) holding unsigned bytes. Checks the magic number, the type,
 * `expectDims` dimensions, and that the declared sizes match the file's length exactly.
 */
export function parseIdx(bytes: Uint8Array, expectDims: number, what: string): IdxArray {
  bytes = byteArray(bytes, "parseIdx: bytes");
  if (bytes.length < 4) fail("BAD_FILE", `${what}: ${bytes.length} bytes is too short for an idx file`);
  if (bytes[0] !== 0 || bytes[1] !== 0) fail("BAD_FILE", `${what}: not an idx file (bad magic number)`);
  if (bytes[2] !== UBYTE)
    fail("BAD_FILE", `${what}: idx data type 0x${bytes[2].toString(16)} is not unsigned byte (0x08)`);
  const ndims = bytes[3];
  if (ndims !== expectDims) fail("BAD_FILE", `${what}: expected ${expectDims} dimensions, the header says ${ndims}`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) fail("BAD_FILE", `${what}: truncated header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) fail("BAD_FILE", `${what}: dimension ${i} is zero`);
    dims.push(d);
    size *= d;
  }
  const actual = bytes.length - headerBytes;
  if (actual !== size) {
    fail("BAD_FILE", `${what}: header declares ${dims.join(" x ")} = ${size} bytes of data, the file has ${actual}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * The whole size (header and data) an idx file of unsigned bytes declares in its header, read
 * from its first bytes: what the file must be, so that gzip is never inflated past it. Undefined
 * when the bytes do not start an idx header of unsigned bytes (the parser then says what is wrong).
 */
export function idxDeclaredBytes(head: Uint8Array): number | undefined {
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== UBYTE) return undefined;
  const ndims = head[3];
  const headerBytes = 4 + 4 * ndims;
  if (ndims === 0 || head.length < headerBytes) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let size = 1;
  for (let i = 0; i < ndims; i++) size *= view.getUint32(4 + 4 * i, false);
  return headerBytes + size;
}
