import { byteArray } from "../args";
import { fail } from "../errors";

/** One regular file of a tar archive (its bytes are a view into the archive). */
export interface TarEntry {
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;

function field(header: Uint8Array, offset: number, length: number): string {
  const bytes = header.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * Lists the regular files of a (ustar or GNU) tar archive: names with the ustar prefix, sizes
 * checked against the archive's length and the header checksum verified, so a damaged archive
 * fails with a message instead of yielding garbage.
 */
export function readTar(bytes: Uint8Array, what: string): TarEntry[] {
  bytes = byteArray(bytes, "readTar: bytes");
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    const stored = parseInt(field(header, 148, 8).trim(), 8);
    if (stored !== sum)
      fail("BAD_FILE", `${what}: not a tar archive, or damaged (bad header checksum at byte ${offset})`);
    const size = parseInt(field(header, 124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) fail("BAD_FILE", `${what}: bad size in the tar header at byte ${offset}`);
    const start = offset + BLOCK;
    if (start + size > bytes.length) fail("BAD_FILE", `${what}: truncated (an entry runs past the end of the archive)`);
    const type = String.fromCharCode(header[156]);
    const prefix = field(header, 345, 155);
    const name = (prefix ? `${prefix}/` : "") + field(header, 0, 100);
    if (type === "0" || type === "\0") entries.push({ name, data: bytes.subarray(start, start + size) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  // Fewer than 512 bytes left that are not padding: the archive was cut inside a header.
  if (offset < bytes.length && offset + BLOCK > bytes.length && !bytes.subarray(offset).every((b) => b === 0)) {
    fail("BAD_FILE", `${what}: truncated (the archive ends inside a header)`);
  }
  return entries;
}
