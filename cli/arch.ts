// From the --arch, --hidden, --activation and --init flags to a model spec.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import {
  ARCH_PRESETS, MnistWasmError, mlpSpec, parseArch, planModel, validateSpec, withClassifier,
  type Dataset, type Initializer, type LayerSpec, type LossName, type ModelSpec,
} from "../sdk/node";
import { UsageError } from "./errors";

export interface ArchOptions {
  arch: string;
  hidden: number[];
  activation: "sigmoid" | "relu";
  init?: Initializer;
  dropout?: number;
  batchnorm?: boolean;
  loss: LossName;
}

/** The largest architecture file read (a layer list is a few hundred bytes). */
export const MAX_ARCH_FILE_BYTES = 1024 * 1024;

/** Whether `arch` names a preset (own properties only: "constructor" is not one). */
export function isArchPreset(arch: string): boolean {
  return arch === "mlp" || Object.hasOwn(ARCH_PRESETS, arch);
}

/**
 * --arch is a preset name (mlp, cnn, cnn-cifar), a compact string
 * (conv:32x3,relu,maxpool:2,dense:128,relu,dense:10) or a JSON file holding a layer list or a
 * whole model spec. The classifier layer is added when missing; --init applies to every layer
 * with weights that does not name its own; --dropout and --batchnorm add those layers to the mlp.
 * Whatever is wrong with the architecture the flags describe (unreadable, or not fitting the
 * images) is a usage mistake.
 */
export function buildSpec(options: ArchOptions, data: Dataset): ModelSpec {
  try {
    return specOf(options, data);
  } catch (e) {
    if (e instanceof MnistWasmError) throw new UsageError(e.message);
    throw e;
  }
}

function specOf(options: ArchOptions, data: Dataset): ModelSpec {
  let layers: LayerSpec[];
  if (options.arch === "mlp") {
    layers = mlpSpec({
      input: data.shape, hidden: options.hidden, classes: data.classes.length, activation: options.activation,
      dropout: options.dropout, batchnorm: options.batchnorm,
    }).layers;
  } else if (options.dropout !== undefined || options.batchnorm) {
    throw new UsageError("--dropout and --batchnorm shape the mlp preset; with --arch, write them into the architecture " +
      "(e.g. conv:32x3,batchnorm,relu,maxpool:2,dropout:0.25,dense:128,relu)");
  } else if (isArchPreset(options.arch)) {
    layers = parseArch(ARCH_PRESETS[options.arch]);
  } else if (options.arch.endsWith(".json")) {
    layers = readArchFile(options.arch);
  } else {
    layers = parseArch(options.arch);
  }
  const last = layers[layers.length - 1] as { type?: unknown } | undefined;
  if (last && typeof last === "object" && last.type !== "dense") layers = withClassifier(layers, data.classes.length);
  if (options.init) {
    layers = layers.map((l) => (l.type === "dense" || l.type === "conv2d") && !l.init ? { ...l, init: options.init } : l);
  }
  const spec = validateSpec({ input: data.shape, layers, classes: data.classes, loss: options.loss });
  planModel(spec); // every layer fits its input, checked before anything is allocated
  return spec;
}

function readArchFile(path: string): LayerSpec[] {
  let json: unknown;
  try {
    json = JSON.parse(readSmallTextFile(path));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--arch ${path}: not valid JSON (${(e as Error).message})`);
  }
  const layers = Array.isArray(json) ? json : (json as { layers?: unknown })?.layers;
  if (!Array.isArray(layers)) throw new UsageError(`--arch ${path}: expected a list of layers, or an object with "layers"`);
  // Checked with the rest of the spec once the classifier is in place.
  return layers as LayerSpec[];
}

/**
 * A regular file of at most MAX_ARCH_FILE_BYTES, as UTF-8. It is opened without blocking (a FIFO
 * cannot hang the open) and what the open descriptor is, is what is checked and read.
 */
function readSmallTextFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--arch ${path}: ${code === "ENOENT" ? "no such file" : `cannot open (${code ?? (e as Error).message})`}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`--arch ${path}: not a regular file`);
    if (stat.size > MAX_ARCH_FILE_BYTES) {
      throw new UsageError(`--arch ${path}: ${stat.size} bytes, more than an architecture file may have (${MAX_ARCH_FILE_BYTES})`);
    }
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read).toString("utf8");
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--arch ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}
