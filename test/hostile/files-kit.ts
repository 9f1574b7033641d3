// Hostile files, generated at test time: paths that are no regular file (devices, FIFOs, links to
// them, folders, sockets), gzip bombs with and without a header that declares a size, PNG headers
// of huge images, and idx bytes. Used by the reader unit tests and the CLI probes.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { crc32, createDeflate, deflateSync, gzipSync } from "node:zlib";

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

/** A PNG's layout: colour type 0 grey, 2 RGB, 3 palette, 4 grey and alpha, 6 RGBA. */
export interface PngLayout {
  width: number;
  height: number;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  colourType: 0 | 2 | 3 | 4 | 6;
  interlaced?: boolean;
}

const SAMPLES = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Bytes a PNG of this layout inflates to: every row (of every Adam7 pass) with its filter byte. */
export function pngRawBytes({ width, height, bitDepth, colourType, interlaced }: PngLayout): number {
  const rowBytes = (w: number): number => 1 + Math.ceil((w * SAMPLES[colourType] * bitDepth) / 8);
  if (!interlaced) return height * rowBytes(width);
  let raw = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w > 0 && h > 0) raw += h * rowBytes(w);
  }
  return raw;
}

/**
 * A valid PNG of this layout, all black (zero samples, filter 0), whose image data inflates to
 * `rawBytes` (default: what the header declares; more makes a PNG whose data is too long).
 * Deflated as a stream, so a 200 MB image costs no 200 MB buffer.
 */
export async function pngImage(layout: PngLayout, rawBytes = pngRawBytes(layout)): Promise<Uint8Array> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(layout.width, 0);
  ihdr.writeUInt32BE(layout.height, 4);
  ihdr.set([layout.bitDepth, layout.colourType, 0, 0, layout.interlaced ? 1 : 0], 8);
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on("data", (d: Buffer) => parts.push(d));
  const ended = new Promise((resolve) => deflate.on("end", resolve));
  const zeros = Buffer.alloc(MiB);
  for (let left = rawBytes; left > 0; left -= zeros.length) {
    if (!deflate.write(left >= zeros.length ? zeros : zeros.subarray(0, left)))
      await new Promise((r) => deflate.once("drain", r));
  }
  deflate.end();
  await ended;
  const signature = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const palette = layout.colourType === 3 ? [chunk("PLTE", new Uint8Array(3 * 2 ** layout.bitDepth).fill(0))] : [];
  return Buffer.concat([
    signature,
    chunk("IHDR", ihdr),
    ...palette,
    chunk("IDAT", Buffer.concat(parts)),
    chunk("IEND", new Uint8Array(0)),
  ]);
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
  return Buffer.concat([
    signature,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(64))),
    chunk("IEND", new Uint8Array(0)),
  ]);
}
