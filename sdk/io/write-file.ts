// Writing files (Node only) so that what the target is stays what it is. A regular file (or a new
// path) is replaced atomically: a temporary file beside it, flushed, then renamed over it. A
// symbolic link is followed and the file it points to is replaced the same way (the link stays a
// link). A character device (/dev/null, a terminal) or a FIFO with a reader is written to
// directly. A directory, a block device, a socket or a FIFO without a reader is refused.
import {
  accessSync,
  closeSync,
  constants,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  type Stats,
} from "node:fs";
import { lstat, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fail } from "../errors";
import { describeKind, errorCode } from "./read-file";

/** Where bytes for a path go: a regular file to replace (or create), or a device or FIFO to write to. */
export type WriteTarget =
  | { kind: "replace"; path: string; existing?: { mode: number; uid: number; gid: number } }
  | { kind: "direct"; path: string; fifo: boolean };

/** Symbolic links followed before giving up, as the kernel does (ELOOP). */
const MAX_LINKS = 40;

/**
 * What writing to `path` would do, decided from what is there now; a path that cannot be written
 * is a one-line BAD_FILE error naming `what`. Checks the folder of a file to replace: it must
 * exist, be a folder, and be writable.
 */
export function resolveWriteTarget(path: string, what = path): WriteTarget {
  const target = followLinks(path, what);
  let st: Stats | undefined;
  try {
    st = statSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
  }
  if (!st || st.isFile()) {
    checkWritableFolder(dirname(target), what);
    return { kind: "replace", path: target, existing: st && { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
  }
  if (st.isCharacterDevice() || st.isFIFO()) return { kind: "direct", path: target, fifo: st.isFIFO() };
  if (st.isDirectory()) fail("BAD_FILE", `${what}: is a directory; give a file name`);
  fail("BAD_FILE", `${what}: is ${describeKind(st)}; refusing to write to it`);
}

/**
 * The path bytes for `path` end up at: itself when it is not a symbolic link; else the file the
 * chain of links names, whether it exists or not (a dangling link creates its target).
 */
function followLinks(path: string, what: string): string {
  let current = resolve(path);
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    let st: Stats;
    try {
      st = lstatSync(current);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return current;
      if (code === "ENOTDIR")
        fail("BAD_FILE", `${what}: cannot write (${firstNonFolder(dirname(current))} is not a folder)`);
      fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
    }
    if (!st.isSymbolicLink()) return current;
    try {
      // An existing file: its real path (this also resolves links among the folders above it).
      return realpathSync.native(current);
    } catch {
      // dangling (or not a path, like /proc/self/fd/N of a pipe): follow it one step
    }
    let link: string;
    try {
      link = readlinkSync(current);
    } catch (e) {
      fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
    }
    // /proc/self/fd/N of a pipe or socket names no path ("pipe:[1234]"): opening the link itself reaches it.
    if (/^[a-z_]+:\[[^\]]*\]$/.test(link)) return current;
    current = resolve(dirname(current), link);
  }
  fail("BAD_FILE", `${what}: cannot write (more than ${MAX_LINKS} symbolic links in a chain)`);
}

/** The first of `path` and the folders above it that exists but is no folder: what ENOTDIR is about. */
function firstNonFolder(path: string): string {
  let dir = path;
  while (dir !== dirname(dir)) {
    try {
      if (!statSync(dir).isDirectory()) return dir;
    } catch {
      // missing or itself below a file: look higher
    }
    dir = dirname(dir);
  }
  return path;
}

/** Checks that `dir` exists, is a folder and is writable; else a one-line BAD_FILE error naming `what`. */
export function checkWritableFolder(dir: string, what: string): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") fail("BAD_FILE", `${what}: cannot write (the folder ${dir} does not exist)`);
    if (code === "ENOTDIR") fail("BAD_FILE", `${what}: cannot write (${firstNonFolder(dir)} is not a folder)`);
    fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
  }
  if (!st.isDirectory()) fail("BAD_FILE", `${what}: cannot write (${dir} is ${describeKind(st)}, not a folder)`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    fail("BAD_FILE", `${what}: cannot write (the folder ${dir} is not writable: ${errorCode(e)})`);
  }
}

/**
 * FIFOs whose reader a pre-check found, each with the write end it opened, held until the write:
 * closing it would tell the reader the data has ended before any was sent.
 */
const heldFifos = new Map<string, number>();

/**
 * Checks that `path` can be written, before any work whose result it will hold: the same rules
 * as writeFileAtomic(), the same one-line BAD_FILE errors. A FIFO must have its reader now; its
 * write end stays open (one descriptor) until writeFileAtomic() writes to it, or the process ends.
 */
export function checkWritable(path: string, what = path): void {
  const target = resolveWriteTarget(path, what);
  if (target.kind !== "direct" || !target.fifo || heldFifos.has(target.path)) return;
  try {
    heldFifos.set(target.path, openSync(target.path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENXIO")
      fail("BAD_FILE", `${what}: is a FIFO (named pipe) with no reader`);
    fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
  }
}

/** Closes the write end a pre-check held on the FIFO at `path`, if any. */
function releaseFifo(path: string): void {
  const fd = heldFifos.get(path);
  if (fd === undefined) return;
  heldFifos.delete(path);
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Writes `bytes` to `path` as resolveWriteTarget() decides: a regular file is replaced atomically
 * (an interrupted or failed write leaves the previous file as it was; its permission bits are
 * kept), a device or FIFO is written to directly.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const target = resolveWriteTarget(path);
  if (target.kind === "direct") return writeDirect(target.path, bytes, target.fifo, path);
  return replaceFile(target.path, bytes, target.existing, path);
}

async function writeDirect(path: string, bytes: Uint8Array, fifo: boolean, what: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    if (fifo) {
      // Opening a FIFO for writing waits for a reader; without one, say so instead of hanging.
      let probe: FileHandle;
      try {
        probe = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENXIO")
          fail("BAD_FILE", `${what}: is a FIFO (named pipe) with no reader`);
        throw e;
      }
      try {
        handle = await open(path, constants.O_WRONLY); // a reader is there: this does not wait
      } finally {
        await probe.close();
        releaseFifo(path);
      }
    } else {
      handle = await open(path, constants.O_WRONLY);
    }
    await handle.writeFile(bytes);
  } catch (e) {
    if ((e as { code?: string }).code === "BAD_FILE") throw e;
    fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
  } finally {
    releaseFifo(path);
    await handle?.close().catch(() => {});
  }
}

/** Temporary files of saves in progress, removed should the process exit during one. */
const inProgress = new Set<string>();
let exitHookInstalled = false;

function removeTempFilesOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const tmp of inProgress) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
  });
}

/**
 * The temporary file of a save: `<target>.mnist-wasm.<pid>.<milliseconds>.tmp`, beside the
 * target (a rename does not cross file systems). The pattern lets a later save recognise, and
 * remove, the ones a killed process left.
 */
export function tempPathFor(target: string, time = Date.now(), pid = process.pid): string {
  return `${target}.mnist-wasm.${pid}.${time}.tmp`;
}

/** A temporary file older than this is stale whatever its process id says (ids are reused). */
const STALE_AFTER_MS = 60 * 60 * 1000;

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Removes the temporary files earlier saves to `target` left behind (killed before they could
 * clean up): those of processes no longer running, of this process but no save in progress, or
 * older than an hour. Files of saves still running elsewhere are left alone.
 */
export async function removeStaleTempFiles(target: string): Promise<string[]> {
  const dir = dirname(target);
  const prefix = `${basename(target)}.mnist-wasm.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = name.startsWith(prefix) ? /^(\d+)\.(\d+)\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (!m) continue;
    const path = join(dir, name);
    const pid = Number(m[1]);
    try {
      const st = await lstat(path);
      if (!st.isFile()) continue;
      const ours = pid === process.pid;
      const stale = ours ? !inProgress.has(path) : !isAlive(pid) || Date.now() - st.mtimeMs > STALE_AFTER_MS;
      if (!stale) continue;
      await unlink(path);
      removed.push(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

/** Replaces (or creates) the regular file `target`, keeping an existing file's permission bits and owner. */
async function replaceFile(
  target: string,
  bytes: Uint8Array,
  existing: { mode: number; uid: number; gid: number } | undefined,
  what: string,
): Promise<void> {
  await removeStaleTempFiles(target);
  removeTempFilesOnExit();
  let time = Date.now();
  let tmp = tempPathFor(target, time);
  let handle: FileHandle | undefined;
  try {
    // Exclusive creation: never write through something already at the temporary name. The name
    // is registered before the file exists, so that an exit while it is being created removes it.
    for (;;) {
      inProgress.add(tmp);
      try {
        handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
        break;
      } catch (e) {
        inProgress.delete(tmp);
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        tmp = tempPathFor(target, ++time);
      }
    }
    if (existing) {
      await handle.chmod(existing.mode);
      // Only root can give a file away; anyone else's new file is theirs, as with any editor.
      if (process.getuid?.() === 0) await handle.chown(existing.uid, existing.gid);
    }
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
    inProgress.delete(tmp);
    await syncFolder(dirname(target));
  } catch (e) {
    await handle?.close().catch(() => {});
    if (inProgress.delete(tmp)) await unlink(tmp).catch(() => {});
    fail("BAD_FILE", `${what}: cannot write (${errorCode(e)})`);
  }
}

/** Flushes a folder's entries, so that the rename itself survives a crash (best effort). */
async function syncFolder(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // not every file system lets a folder be synced
  }
}
