import { statSync } from "node:fs";
import {
  deserializeModel,
  evaluate,
  loadCifar10,
  loadMnist,
  loadModelFile,
  MnistWasmError,
  quantizeModel,
  Runtime,
  writeFileAtomic,
} from "../../sdk/node";
import { refuseWrongTask, testDataFor, trainedOn } from "../dataset";
import { UsageError } from "../errors";
import { checkOutputFiles, writesTo } from "../output";
import { percent, terminalText } from "../render";

export interface QuantizeOptions {
  model: string;
  out: string;
  /** Training data to calibrate on (MNIST idx folder; CIFAR-10's folder or tar.gz). */
  data?: string;
  /** How many training images calibrate the activation ranges. */
  calibration: number;
  threads?: number;
}

/** Facts of the float file that stay true of its int8 model (not its accuracy, loss or run). */
const KEPT_FACTS = ["dataset", "epochs", "selectedClasses"];

/**
 * mnist-wasm quantize: the int8 model of a float classifier, its activation ranges calibrated on
 * the first --calibration images of the training split of the data it was trained on.
 */
export async function quantizeCommand(options: QuantizeOptions): Promise<void> {
  // Where the file goes is checked before anything is read or computed.
  checkOutputFiles([["--out", options.out]]);
  if (writesTo(options.out, options.model))
    throw new UsageError(`--out ${options.out} would overwrite the --model file`);
  const rt = await Runtime.create({ threads: options.threads });
  const { model, metadata } = await loadModelFile(rt, options.model);
  refuseWrongTask(model, "quantize", ["classifier"], options.model);
  if (model.quantized) throw new UsageError(`--model ${terminalText(options.model)} is already an int8 model`);
  const on = trainedOn(model, metadata);
  if (on.format === "cifar10" && options.data === undefined)
    throw new UsageError(
      "this model was trained on CIFAR-10: pass --data with its folder or cifar-10-binary.tar.gz to calibrate on",
    );
  const train = on.format === "cifar10" ? loadCifar10("train", options.data!) : loadMnist("train", options.data);
  const count = Math.min(options.calibration, train.count);
  const pixels = train.images.subarray(0, count * model.inputSize);
  if (train.shape.reduce((a, b) => a * b, 1) !== model.inputSize)
    throw new UsageError(`the training images are [${train.shape}], the model takes [${model.spec.input}]`);
  const facts: Record<string, string> = { quantizedFrom: options.model.split(/[\\/]/).pop() ?? options.model };
  for (const key of KEPT_FACTS) if (typeof metadata[key] === "string") facts[key] = metadata[key];
  // The int8 model's own test accuracy, recorded in its file (as train records the float model's):
  // quantizing is deterministic, so the file written is the one measured.
  const accuracy = int8TestAccuracy(rt, quantizeModel(model, pixels, count, { facts }), model, metadata, options.data);
  const bytes = quantizeModel(model, pixels, count, {
    facts: accuracy.value === undefined ? facts : { ...facts, testAccuracy: accuracy.value.toFixed(4) },
  });
  await writeFileAtomic(options.out, bytes);
  const before = statSync(options.model).size;
  process.stdout.write(
    [
      `model:       ${terminalText(options.model)} (${before} bytes)`,
      `calibration: ${count} ${terminalText(on.name)} training images`,
      `int8 model:  ${terminalText(options.out)} (${bytes.length} bytes, ${(before / bytes.length).toFixed(1)}x smaller)`,
      `test set:    ${accuracy.value === undefined ? `not measured (${accuracy.why})` : `${percent(accuracy.value)} accuracy of the int8 model`}`,
    ].join("\n") + "\n",
  );
}

/** The int8 model's accuracy on the test split of the float model's data, or why there is none. */
function int8TestAccuracy(
  rt: Runtime,
  bytes: Uint8Array,
  float: Parameters<typeof testDataFor>[0],
  metadata: Record<string, string>,
  data: string | undefined,
): { value?: number; why?: string } {
  let test: ReturnType<typeof testDataFor>;
  try {
    test = testDataFor(float, metadata, data);
  } catch (e) {
    if (e instanceof UsageError || e instanceof MnistWasmError) return { why: e.message };
    throw e;
  }
  const { model } = deserializeModel(rt, bytes);
  try {
    return { value: evaluate(model, test).accuracy };
  } finally {
    model.dispose();
  }
}
