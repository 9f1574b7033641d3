// Output locations are checked before any work starts, so that a run never ends in "cannot
// write" after minutes of training. The checks are the writer's own (checkWritable): a bad
// location is one line naming the flag, a file error (exit 1).
import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkWritable, checkWritableFolder, MnistWasmError, resolveWriteTarget } from "../sdk/node";

/** Checks that each file can be written: its folder exists and is writable, it is not a folder. */
export function checkOutputFiles(outputs: readonly (readonly [flag: string, path: string])[]): void {
  for (const [flag, path] of outputs) checkWritable(path, `${flag} ${path}`);
}

/**
 * Checks that `files` can be written into the folder `dir`, which is created (with its parents)
 * when missing: then its nearest existing ancestor must be a writable folder.
 */
export function checkOutputFolder(flag: string, dir: string, files: readonly string[]): void {
  let existing = resolve(dir);
  for (;;) {
    try {
      const st = statSync(existing);
      if (!st.isDirectory()) {
        throw new MnistWasmError("BAD_FILE", `${flag} ${dir}: cannot create the folder (${existing} is not a folder)`);
      }
      break;
    } catch (e) {
      if (e instanceof MnistWasmError) throw e;
      if (existing === dirname(existing)) break;
      existing = dirname(existing);
    }
  }
  if (existing === resolve(dir)) {
    checkOutputFiles(files.map((name) => [flag, join(dir, name)] as const));
  } else {
    // The folder is made when the results are written: the folder it is made in must take it.
    checkWritableFolder(existing, `${flag} ${dir}`);
  }
}

/**
 * True when writing `out` would replace the file at `path`: the same path, or the same file
 * reached through a symbolic link or a hard link.
 */
export function writesTo(out: string, path: string): boolean {
  const target = resolveWriteTarget(out);
  if (target.kind !== "replace") return false;
  if (resolve(target.path) === resolve(path)) return true;
  try {
    const a = statSync(target.path);
    const b = statSync(path);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false; // one of them does not exist (yet)
  }
}

/**
 * Writes `bytes` to standard output and waits until they are handed on. A reader that went away
 * (`| head`) ends the output quietly, as with other command-line tools.
 */
export function writeStdout(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      if (e.code === "EPIPE") resolve();
      else reject(new MnistWasmError("BAD_FILE", `standard output: cannot write (${e.code ?? e.message})`));
    };
    process.stdout.once("error", onError);
    process.stdout.write(bytes, (e) => {
      process.stdout.off("error", onError);
      if (e) onError(e);
      else resolve();
    });
  });
}
