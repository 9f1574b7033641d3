// Bounded reading of files (Node only). Every file is checked before its content is read: it must
// be a regular file (a device, a FIFO, a socket or a folder is refused, so nothing reads forever
// or waits for a writer), no larger than the limit of its format; gzip is inflated with an output
// limit, the one the content's own header declares when it declares one.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { constants as zlib, gunzipSync } from "node:zlib";
import { isGzip } from "../data/gzip";
import { fail } from "../errors";
import { FILE_LIMITS, formatBytes } from "./limits";

/** What a path is, in words: "a directory", "a FIFO (named pipe)", … */
export function describeKind(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** An error's code, with what the common ones mean: "ENOENT: no such file or folder". */
export function errorCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (!code) return (e as Error).message;
  return ERRNO_MEANINGS[code] ? `${code}: ${ERRNO_MEANINGS[code]}` : code;
}

const ERRNO_MEANINGS: Record<string, string> = Object.assign(Object.create(null), {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a folder",
  ELOOP: "too many symbolic links",
  EMFILE: "too many open files",
});

/** A regular file opened for reading, its kind and size checked. */
export interface RegularFile {
  fd: number;
  size: number;
  what: string;
}

export interface ReadLimit {
  /** The largest size accepted, in bytes. */
  maxBytes: number;
  /** What kind of file the limit is for, in messages: "model file", "data file", … */
  label: string;
  /** The file's name in messages (default: the path). */
  what?: string;
  /** The limit in messages (default: "the <maxBytes> limit for a <label>"). */
  limitName?: string;
}

function refuseUnlessRegular(st: Stats, what: string, label: string): void {
  if (!st.isFile()) fail("BAD_FILE", `${what}: is ${describeKind(st)}, not a regular file (expected a ${label})`);
}

/** Opens `path` when it is a regular file of at most `maxBytes`; else a one-line BAD_FILE error. */
export function openRegularFile(path: string, { maxBytes, label, what = path, limitName }: ReadLimit): RegularFile {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    fail("BAD_FILE", `${what}: cannot read (${errorCode(e)})`);
  }
  refuseUnlessRegular(st, what, label);
  let fd: number;
  try {
    // Non-blocking: should the path have turned into a FIFO since stat, opening it does not wait.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    fail("BAD_FILE", `${what}: cannot read (${errorCode(e)})`);
  }
  try {
    st = fstatSync(fd);
    refuseUnlessRegular(st, what, label);
    if (st.size > maxBytes) {
      fail(
        "BAD_FILE",
        `${what}: ${st.size.toLocaleString("en")} bytes is more than ${limitName ?? `the ${formatBytes(maxBytes)} limit for a ${label}`}`,
      );
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return { fd, size: st.size, what };
}

/** Up to `length` bytes from `position` (fewer at the end of the file), as a Node Buffer of its own. */
export function readAt(file: RegularFile, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(Math.max(0, Math.min(length, file.size - position)));
  let done = 0;
  try {
    while (done < out.length) {
      const n = readSync(file.fd, out, done, out.length - done, position + done);
      if (n === 0) break; // the file shrank while being read
      done += n;
    }
  } catch (e) {
    fail("BAD_FILE", `${file.what}: cannot read (${errorCode(e)})`);
  }
  return done === out.length ? out : out.subarray(0, done);
}

export function closeFile(file: RegularFile): void {
  closeSync(file.fd);
}

/** The whole of a regular file of at most `maxBytes`, checked before reading. */
export function readFileBounded(path: string, limit: ReadLimit): Buffer {
  const file = openRegularFile(path, limit);
  try {
    return readAt(file, 0, file.size);
  } finally {
    closeFile(file);
  }
}

/** The first `n` inflated bytes of gzip data (fewer if it is shorter), inflating at most about 64 MB. */
export function gunzipHead(bytes: Uint8Array, n: number): Uint8Array {
  let head = new Uint8Array(0);
  // Deflate expands at most about 1,032 times: a 1 KiB prefix yields under 1.1 MB, 64 KiB under 70 MB.
  for (const prefix of [1024, 65536]) {
    try {
      head = gunzipSync(bytes.subarray(0, prefix), { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch {
      return head; // corrupt: the full inflate says so
    }
    if (head.length >= n || prefix >= bytes.length) break;
  }
  return head.subarray(0, n);
}

/**
 * Inflates gzip data, refusing it as soon as the output passes `limit` bytes: at most `limit`
 * bytes are ever inflated. `why` says where the limit comes from, for the message.
 */
export function gunzipBounded(bytes: Uint8Array, what: string, limit: number, why: string): Uint8Array {
  // The trailer holds the inflated size modulo 2^32 (of the last member): the true size is at
  // least that, so a larger value is refused before inflating anything.
  if (bytes.length >= 18) {
    const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 4, true);
    if (declared > limit) {
      fail(
        "BAD_FILE",
        `${what}: its gzip trailer declares ${declared.toLocaleString("en")} inflated bytes, more than ${why} ` +
          "(or the file is truncated)",
      );
    }
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(1, limit) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      fail("BAD_FILE", `${what}: inflates to more than ${why}; refused after ${limit.toLocaleString("en")} bytes`);
    }
    fail("BAD_FILE", `${what}: corrupt gzip data (${(e as Error).message})`);
  }
}

export interface DataReadOptions {
  /** The file's name in messages (default: the path). */
  what?: string;
  /** The largest size accepted, on disk and inflated (default FILE_LIMITS.dataBytes). */
  maxBytes?: number;
  /** The limit in messages (default: "the <maxBytes> limit for a data file"). */
  limitName?: string;
  /**
   * The whole size the content's own header declares, given its first bytes (undefined: the
   * header declares none, or this is not that format). Gzip is then inflated to at most that.
   */
  declaredBytes?: (head: Uint8Array) => number | undefined;
  /** How many leading bytes declaredBytes needs. */
  headBytes?: number;
}

/** Reads a data file, inflating it when it is gzipped, within the limits of DataReadOptions. */
export function readDataFile(path: string, options: DataReadOptions = {}): Uint8Array {
  const { what = path, maxBytes = FILE_LIMITS.dataBytes, declaredBytes, headBytes = 1024 } = options;
  const bytes = readFileBounded(path, { maxBytes, label: "data file", what, limitName: options.limitName });
  if (!isGzip(bytes)) return bytes;
  let limit = maxBytes;
  let why = options.limitName ?? `the ${formatBytes(maxBytes)} limit for a data file`;
  const declared = declaredBytes?.(gunzipHead(bytes, headBytes));
  if (declared !== undefined) {
    if (declared > maxBytes) {
      fail("BAD_FILE", `${what}: its header declares ${declared.toLocaleString("en")} bytes, more than ${why}`);
    }
    limit = declared;
    why = `the ${declared.toLocaleString("en")} bytes its header declares`;
  }
  return gunzipBounded(bytes, what, limit, why);
}
