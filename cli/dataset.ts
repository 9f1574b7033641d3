// Which data a model was trained on, and which data the commands use with it: train names the
// data set (--name, else the folder's name) and its classes (--classes, else CIFAR-10's
// batches.meta.txt, else the digits); eval and predict test a model on the data it was trained
// on, and refuse to fall back on the shipped MNIST test set for a model of other data.
import { InvalidArgumentError } from "commander";
import {
  CIFAR10_CLASSES,
  datasetNameOfFolder,
  datasetNameProblem,
  escapeText,
  loadCifar10,
  loadClassNames,
  loadMnist,
  maxLabel,
  MnistWasmError,
  selectClasses,
  type Dataset,
  type DatasetName,
  type Model,
  type Split,
  type Task,
} from "../sdk/node";
import { UsageError } from "./errors";

/** What a model file says of the data it was trained on. */
export interface TrainedOn {
  /** The data set's name: "mnist", "cifar10", "fashion", … (escaped and cut to 64 characters, for printing). */
  name: string;
  /** The format of its files: "mnist" for idx files, "cifar10" for CIFAR-10's binary batches. */
  format: DatasetName;
  /** Its class names, in label order. */
  classes: string[];
}

/** The class names of a model: those of its spec, else its class indices ("0", "1", …, as MNIST's digits). */
export function modelClasses(model: Model): string[] {
  return model.spec.classes ?? Array.from({ length: model.classCount }, (_, i) => String(i));
}

/**
 * The data a model was trained on, from its file's metadata ("dataset") and its spec. The format
 * follows from the input: three channels can only come from CIFAR-10's batches, one from idx
 * files. A file that names no data set was trained on MNIST (or CIFAR-10, for three channels).
 */
export function trainedOn(model: Model, metadata: Record<string, string>): TrainedOn {
  const format: DatasetName = model.spec.input[0] === 3 ? "cifar10" : "mnist";
  const recorded = metadata.dataset;
  const name =
    typeof recorded === "string" && recorded !== ""
      ? escapeText(recorded, 64)
      : format === "cifar10"
        ? "cifar10"
        : "mnist";
  return { name, format, classes: modelClasses(model) };
}

/** Whether the shipped MNIST test set is this model's: trained on "mnist" (whatever its classes are called), idx files. */
function isMnist(on: TrainedOn): boolean {
  return on.format === "mnist" && on.name === "mnist";
}

/** How each format's files are asked for. */
const TEST_FILES: Record<DatasetName, { kind: string; pass: string }> = {
  mnist: {
    kind: "idx folder",
    pass: "pass --data DIR with its test files (t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or .gz)",
  },
  cifar10: {
    kind: "CIFAR-10 binary batches",
    pass: "pass --data with its folder of test_batch.bin or its cifar-10-binary.tar.gz",
  },
};

/**
 * The test split of the data `model` was trained on: from `dataPath`, else the shipped MNIST test
 * set, which only a model of MNIST's digits gets; any other model is refused with a usage error
 * that says which data it expects. The test set takes the model's class names.
 */
export function testDataFor(model: Model, metadata: Record<string, string>, dataPath: string | undefined): Dataset {
  const on = trainedOn(model, metadata);
  if (dataPath === undefined && !isMnist(on)) {
    throw new UsageError(
      `this model was trained on ${on.name} (${TEST_FILES[on.format].kind}); ${TEST_FILES[on.format].pass}`,
    );
  }
  if (on.format === "cifar10") {
    // A model of another number of classes is refused by checkShapes, naming both counts.
    return loadCifar10("test", dataPath!, on.classes.length === CIFAR10_CLASSES.length ? { classes: on.classes } : {});
  }
  return loadMnist("test", dataPath, { classes: on.classes, classesWhat: "the model" });
}

/** The options of `train` that choose its data. */
export interface TrainingDataOptions {
  dataset: DatasetName;
  data?: string;
  /** --name: the data set's name. */
  name?: string;
  /** --classes: a file of class names, one per line; or the labels to keep, e.g. "0,1,2" (classSelection). */
  classes?: string;
}

/**
 * The labels a --classes value selects ("0,1,2": digits and commas only), or undefined when it
 * names a file of class names instead (a file called "0" is "./0").
 */
export function classSelection(value: string): number[] | undefined {
  if (!/^\d+(,\d+)*$/.test(value)) return undefined;
  const labels = value.split(",").map(Number);
  if (labels.some((l) => l > 255)) throw new UsageError(`--classes ${value}: labels go from 0 to 255`);
  if (new Set(labels).size !== labels.length) throw new UsageError(`--classes ${value}: a label is given twice`);
  return labels;
}

/** The name `train` gives its data set: --name, else "cifar10" for CIFAR-10, else the --data folder's name, else "mnist". */
function trainingDataName(options: TrainingDataOptions): string {
  if (options.name !== undefined) return options.name;
  if (options.dataset === "cifar10") return "cifar10";
  if (options.data === undefined) return "mnist";
  const name = datasetNameOfFolder(options.data);
  const problem = datasetNameProblem(name);
  if (problem) {
    throw new UsageError(
      `the name of the --data folder ${escapeText(options.data, 64)}, which names the data set, ${problem}; ` +
        "give the data set a name with --name NAME",
    );
  }
  return name;
}

/**
 * The training and test splits `train` uses, named (see trainingDataName) and with the class
 * names of --classes, else those of CIFAR-10's batches.meta.txt, else the digits. The --classes
 * file is read first, and must name exactly the classes the labels use (0 to the largest label).
 */
export function loadTrainingData(options: TrainingDataOptions): { train: Dataset; test: Dataset; selected?: number[] } {
  const selected = options.classes === undefined ? undefined : classSelection(options.classes);
  if (selected) {
    const all = loadTrainingData({ ...options, classes: undefined });
    const missing = selected.find((label) => label >= all.train.classes.length);
    if (missing !== undefined) {
      throw new UsageError(
        `--classes ${options.classes}: the data set has classes 0 to ${all.train.classes.length - 1}, not ${missing}`,
      );
    }
    return { train: selectClasses(all.train, selected), test: selectClasses(all.test, selected), selected };
  }
  const name = trainingDataName(options);
  const file = options.classes;
  const classes = file === undefined ? undefined : loadClassNames(file);
  if (classes && options.dataset === "cifar10" && classes.length !== CIFAR10_CLASSES.length) {
    throw new MnistWasmError(
      "BAD_FILE",
      `${file}: ${classes.length} class names, CIFAR-10 has ${CIFAR10_CLASSES.length}`,
    );
  }
  const load = (split: Split): Dataset =>
    options.dataset === "cifar10"
      ? loadCifar10(split, options.data!, { name, classes })
      : loadMnist(split, options.data, { name, classes, classesWhat: file });
  const train = load("train");
  const test = load("test");
  if (classes) {
    const used = Math.max(maxLabel(train.labels), maxLabel(test.labels)) + 1;
    if (used !== classes.length) {
      throw new MnistWasmError(
        "BAD_FILE",
        `${file}: ${classes.length} class names, but the labels of the data go from 0 to ${used - 1} (${used} classes)`,
      );
    }
  }
  return { train, test };
}

/** --name: a data set's name, 1 to 64 characters that print as themselves, without spaces around. */
export function datasetNameArgument(value: string): string {
  const problem = datasetNameProblem(value);
  if (problem) throw new InvalidArgumentError(`the data set's name ${problem}`);
  return value;
}

const TASK_NAMES: Record<Task, string> = { classifier: "a classifier", autoencoder: "an autoencoder", vae: "a VAE" };

/**
 * Refuses (WRONG_TASK) a model a command cannot use: classify with an autoencoder, generate with
 * anything but a VAE, …; the line names the model file, what it is and what the command needs.
 */
export function refuseWrongTask(model: Model, command: string, tasks: readonly Task[], path: string): void {
  if (tasks.includes(model.task)) return;
  throw new MnistWasmError(
    "WRONG_TASK",
    `${path} is ${TASK_NAMES[model.task]}; ${command} needs ${tasks.map((t) => TASK_NAMES[t]).join(" or ")}`,
  );
}

/**
 * The classes a model file says it was trained on (its "selectedClasses" fact, as train writes
 * it), or undefined when it names none, or none that a data set of `classes` classes has.
 */
export function recordedSelection(fact: string | undefined, classes: number): number[] | undefined {
  if (fact === undefined) return undefined;
  try {
    const labels = classSelection(fact);
    return labels?.every((l) => l < classes) ? labels : undefined;
  } catch {
    return undefined;
  }
}
