// From the --arch, --hidden, --activation and --init flags to a model spec.
import {
  ARCH_PRESETS,
  MnistWasmError,
  mlpSpec,
  parseArch,
  planModel,
  readFileBounded,
  validateSpec,
  withClassifier,
  type Dataset,
  type Initializer,
  type LayerSpec,
  type LossName,
  type ModelSpec,
} from "../sdk/node";
import { UsageError } from "./errors";

export interface ArchOptions {
  arch: string;
  hidden: number[];
  activation: "sigmoid" | "relu";
  init?: Initializer;
  dropout?: number;
  batchnorm?: boolean;
  /** Unset: the task's default (cross-entropy for a classifier). */
  loss?: LossName;
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
      input: data.shape,
      hidden: options.hidden,
      classes: data.classes.length,
      activation: options.activation,
      dropout: options.dropout,
      batchnorm: options.batchnorm,
    }).layers;
  } else if (options.dropout !== undefined || options.batchnorm) {
    throw new UsageError(
      "--dropout and --batchnorm shape the mlp preset; with --arch, write them into the architecture " +
        "(e.g. conv:32x3,batchnorm,relu,maxpool:2,dropout:0.25,dense:128,relu)",
    );
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
    layers = layers.map((l) =>
      (l.type === "dense" || l.type === "conv2d") && !l.init ? { ...l, init: options.init } : l,
    );
  }
  const spec = validateSpec({
    input: data.shape,
    layers,
    classes: data.classes,
    ...(options.loss !== undefined ? { loss: options.loss } : {}),
  });
  planModel(spec); // every layer fits its input, checked before anything is allocated
  return spec;
}

function readArchFile(path: string): LayerSpec[] {
  let json: unknown;
  try {
    // A regular file of at most MAX_ARCH_FILE_BYTES, checked before it is read (a FIFO never blocks).
    json = JSON.parse(
      readFileBounded(path, {
        maxBytes: MAX_ARCH_FILE_BYTES,
        label: "JSON architecture file",
        what: `--arch ${path}`,
      }).toString("utf8"),
    );
  } catch (e) {
    if (e instanceof MnistWasmError) throw e; // buildSpec makes it a usage mistake
    throw new UsageError(`--arch ${path}: not valid JSON (${(e as Error).message})`);
  }
  const layers = Array.isArray(json) ? json : (json as { layers?: unknown })?.layers;
  if (!Array.isArray(layers))
    throw new UsageError(`--arch ${path}: expected a list of layers, or an object with "layers"`);
  // Checked with the rest of the spec once the classifier is in place.
  return layers as LayerSpec[];
}
