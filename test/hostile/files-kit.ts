// Hostile files, generated at test time: paths that are no regular file (devices, FIFOs, links to
// them, folders, sockets), gzip bombs with and without a header that declares a size, PNG headers
// of huge images, and idx bytes. Used by the reader unit tests and the CLI probes.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { crc32, deflateSync, gzipSync } from "node:zlib";

/** A path that is not a regular file, and the word the refusal must use for it. */
export interface NotAFile {
  name: string;
  path: string;
  kind: RegExp;
}

/**
 * One of each kind of path that is not a regular file, made in `dir`: character devices that
 * never end (/dev/zero, /dev/urandom) or are empty (/dev/null), a FIFO no one writes to, symbolic
 * links to a device and to a FIFO, a folder, and a Unix socket.
 */
export async function notRegularFiles(dir: string): Promise<NotAFile[]> {
  const fifo = join(dir, "fifo.gz");
  execFileSync("mkfifo", [fifo]);
  symlinkSync("/dev/zero", join(dir, "zero-link.gz"));
  symlinkSync(fifo, join(dir, "fifo-link.gz"));
  mkdirSync(join(dir, "folder.gz"));
  const socket = join(dir, "socket.gz");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  server.unref();
  return [
    { name: "/dev/zero", path: "/dev/zero", kind: /character device/ },
    { name: "/dev/urandom", path: "/dev/urandom", kind: /character device/ },
    { name: "/dev/null", path: "/dev/null", kind: /character device/ },
    { name: "a FIFO without a writer", path: fifo, kind: /FIFO/ },
    { name: "a symlink to /dev/zero", path: join(dir, "zero-link.gz"), kind: /character device/ },
    { name: "a symlink to a FIFO", path: join(dir, "fifo-link.gz"), kind: /FIFO/ },
    { name: "a folder", path: join(dir, "folder.gz"), kind: /directory/ },
    { name: "a socket", path: socket, kind: /socket/ },
  ];
}

/** Idx bytes: magic 00 00 08 <ndims>, big-endian dims, then `data` (zeros by default). */
export function idxBytes(dims: number[], data?: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header.set([0, 0, 8, dims.length]);
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + (data?.length ?? 0));
  out.set(header);
  if (data) out.set(data, header.length);
  return out;
}

const MiB = 2 ** 20;
let zerosMember: Buffer | undefined;

/**
 * Gzip that starts with `head` and then inflates to about `inflatedMiB` MiB of zeros, made of
 * concatenated gzip members (valid gzip): about 1 KB per MiB. Its trailer honestly declares only
 * the last member's 16 MiB, so only the output limit can stop it.
 */
export function gzipBomb(head: Uint8Array, inflatedMiB: number): Uint8Array {
  zerosMember ??= gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
  const parts: Uint8Array[] = [gzipSync(head)];
  for (let i = 0; i < Math.ceil(inflatedMiB / 16); i++) parts.push(zerosMember);
  return Buffer.concat(parts);
}

/** One PNG chunk: length, type, data, CRC. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A PNG file whose header says `width` x `height` (colour type 0 grey or 2 RGB, 8 bits) with a
 * tiny IDAT: a few hundred bytes that would decode to width x height pixels.
 */
export function pngOfSize(width: number, height: number, colorType: 0 | 2 = 0): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  const signature = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(64))), chunk("IEND", new Uint8Array(0))]);
}
