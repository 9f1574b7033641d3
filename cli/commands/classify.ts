// `mnist-wasm classify`: the course's contest mode. Classifies every image of a file and writes
// one predicted class index per line, atomically (or to standard output with --out -); with
// --labels, also the accuracy.
import { SingleBar } from "cli-progress";
import {
  DEFAULT_MODEL_PATH,
  inferenceBatch,
  loadImagesFile,
  loadLabelsFile,
  loadModelFile,
  MnistWasmError,
  PIXEL_SCALE,
  Runtime,
  writeFileAtomic,
  type ImagesFile,
  type Model,
} from "../../sdk/node";
import { refuseWrongTask, trainedOn } from "../dataset";
import { UsageError } from "../errors";
import { checkOutputFiles, writesTo, writeStdout } from "../output";
import { percent } from "../render";

export interface ClassifyOptions {
  /** Threads running the kernels. */
  threads?: number;
  /** --winograd: Winograd convolutions where they pay. */
  winograd?: boolean;
  input: string;
  out: string;
  model?: string;
  labels?: string;
  batchSize: number;
  /** False with --no-progress. */
  progress?: boolean;
}

/** `--out -`: the predictions go to standard output. */
const STDOUT = "-";

/** Inputs at least this large get a progress bar (when standard error is a terminal). */
const PROGRESS_MIN_IMAGES = 2000;

export async function classifyCommand(options: ClassifyOptions): Promise<void> {
  const toStdout = options.out === STDOUT;
  if (!toStdout) {
    checkOutputFiles([["--out", options.out]]);
    const inputs = [
      ["--input", options.input],
      ["--labels", options.labels],
      ["--model", options.model ?? DEFAULT_MODEL_PATH],
    ] as const;
    for (const [flag, path] of inputs) {
      if (path !== undefined && writesTo(options.out, path))
        throw new UsageError(`--out ${options.out} would overwrite the ${flag} file`);
    }
  }
  const rt = await Runtime.create({ threads: options.threads });
  const { model, metadata } = await loadModelFile(rt, options.model ?? DEFAULT_MODEL_PATH, {
    winograd: options.winograd === true,
  });
  refuseWrongTask(model, "classify", ["classifier"], options.model ?? DEFAULT_MODEL_PATH);
  const on = trainedOn(model, metadata);
  // Every input is read and checked before anything is classified or written.
  const input = loadImagesFile(options.input, { inputShape: model.spec.input });
  let labels: Uint8Array | undefined;
  if (options.labels !== undefined) {
    labels = loadLabelsFile(options.labels).labels;
    if (labels.length !== input.count) {
      throw new MnistWasmError(
        "BAD_FILE",
        `${options.labels}: ${labels.length} labels for ${input.count} images in ${options.input}`,
      );
    }
    let max = 0;
    for (const l of labels) if (l > max) max = l;
    if (max >= model.classCount) {
      throw new MnistWasmError(
        "BAD_FILE",
        `${options.labels}: label ${max} is out of range for the model's ${model.classCount} classes ` +
          `(of ${on.name})`,
      );
    }
  }

  const showBar = (options.progress ?? true) && process.stderr.isTTY === true && input.count >= PROGRESS_MIN_IMAGES;
  const bar = new SingleBar({
    format: "classifying [{bar}] {percentage}% | {value}/{total} images | eta {eta_formatted}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  const started = performance.now();
  let predictions: Int32Array;
  try {
    if (showBar) bar.start(input.count, 0);
    predictions = classifyImages(model, input, options.batchSize, showBar ? (done) => bar.update(done) : undefined);
  } finally {
    if (showBar) bar.stop();
  }
  const seconds = (performance.now() - started) / 1000;

  let text = "";
  for (let i = 0; i < predictions.length; i++) text += `${predictions[i]}\n`;
  const bytes = new TextEncoder().encode(text);
  if (toStdout) await writeStdout(bytes);
  else await writeFileAtomic(options.out, bytes);

  // With the predictions on standard output, the report goes to standard error.
  const report = toStdout ? process.stderr : process.stdout;
  const n = input.count.toLocaleString("en");
  report.write(
    `classified ${n} image${input.count === 1 ? "" : "s"} of [${input.shape}] from ${options.input} ` +
      `(${input.description}; ${input.layout}; values ${describeRange(input)}) in ${seconds.toFixed(2)} s ` +
      `(${Math.round(input.count / Math.max(seconds, 1e-9)).toLocaleString("en")} images/s); predictions ${toStdout ? "on standard output" : `in ${options.out}`}\n`,
  );
  if (labels) {
    let correct = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] === predictions[i]) correct++;
    report.write(
      `accuracy: ${percent(correct / labels.length)} (${correct.toLocaleString("en")}/${n}) against ${options.labels} ` +
        `(the model was trained on ${on.name}: ${on.classes.length} classes)\n`,
    );
  }
}

function describeRange(input: ImagesFile): string {
  const clamped = input.clamped ? `, ${input.clamped.toLocaleString("en")} values outside clamped` : "";
  switch (input.range) {
    case "uint8":
      return "uint8 0-255";
    case "0-1":
      return `float 0-1 (scaled to 0-255${clamped})`;
    case "0-255":
      return `float 0-255 (rounded${clamped})`;
  }
}

/** The arg-max class of every image, `batchSize` images per forward pass. */
function classifyImages(
  model: Model,
  input: ImagesFile,
  batchSize: number,
  onProgress?: (done: number) => void,
): Int32Array {
  const { rt, inputSize, classCount } = model;
  const batch = Math.min(inferenceBatch(model.spec, batchSize), input.count);
  model.allocate(batch, false);
  const staging = rt.alloc(batch * inputSize);
  const predictionsPtr = rt.alloc(batch * 4);
  const predictions = new Int32Array(input.count);
  try {
    for (let start = 0; start < input.count; start += batch) {
      const n = Math.min(batch, input.count - start);
      rt.u8(staging, n * inputSize).set(input.images.subarray(start * inputSize, (start + n) * inputSize));
      rt.kernels.scaleU8(staging, model.inputPtr, n * inputSize, PIXEL_SCALE);
      const logits = model.forward(model.inputPtr, n, false);
      model.loss.forward(logits, 0, n, false); // softmax, so that ties break as in evaluate()
      rt.kernels.argmaxRows(model.loss.probsPtr, n, classCount, predictionsPtr);
      predictions.set(rt.i32(predictionsPtr, n), start);
      onProgress?.(start + n);
    }
  } finally {
    rt.free(staging);
    rt.free(predictionsPtr);
  }
  return predictions;
}
