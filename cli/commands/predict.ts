import {
  checkShapes,
  DEFAULT_MODEL_PATH,
  loadModelFile,
  MnistWasmError,
  preprocessDigit,
  readPngRgba,
  Runtime,
  sampleSize,
} from "../../sdk/node";
import { modelClasses, testDataFor } from "../dataset";
import { UsageError } from "../errors";
import { drawImage, percent, probabilityBars, terminalText } from "../render";

export interface PredictOptions {
  model?: string;
  data?: string;
  color?: boolean;
  image?: string;
}

/** The longest line read as an index: digits and a little white space. */
const MAX_INDEX_LINE = 256;

/**
 * Reads an index from standard input, as the course's program does: the first line, at most
 * MAX_INDEX_LINE bytes of it (an endless stream such as /dev/zero is refused, not read to the
 * end). The prompt is shown only to a person at a terminal.
 */
async function askIndex(count: number): Promise<string> {
  const interactive = process.stdin.isTTY === true;
  if (interactive) process.stderr.write(`Index of a test image (0-${count - 1}): `);
  const line = await new Promise<string | undefined>((resolve, reject) => {
    let text = "";
    const finish = (value: string | undefined, error?: Error): void => {
      process.stdin.off("data", onData).off("end", onEnd).off("error", onError);
      process.stdin.pause();
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      const newline = text.indexOf("\n");
      if (newline >= 0 && newline <= MAX_INDEX_LINE) finish(text.slice(0, newline));
      else if (text.length > MAX_INDEX_LINE) {
        finish(undefined, new UsageError(`the index on standard input is longer than ${MAX_INDEX_LINE} characters`));
      }
    };
    const onEnd = (): void => finish(text.length > 0 ? text : undefined);
    const onError = (e: Error): void => finish(undefined, new UsageError(`cannot read standard input (${e.message})`));
    process.stdin.on("data", onData).on("end", onEnd).on("error", onError);
  });
  if (line === undefined) {
    if (interactive) process.stderr.write("\n"); // end the prompt's line before the error
    throw new UsageError("no index given on standard input");
  }
  return line.trim();
}

export function parseIndex(text: string, count: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`index must be a whole number from 0 to ${count - 1}, got "${text}"`);
  const index = Number(text);
  if (index >= count)
    throw new UsageError(`index ${index} is out of range: the test set has ${count} images (0-${count - 1})`);
  return index;
}

export async function predictCommand(indexArg: string | undefined, options: PredictOptions): Promise<void> {
  if (options.image !== undefined) return predictImage(indexArg, options.image, options);
  const rt = await Runtime.create();
  const { model, metadata } = await loadModelFile(rt, options.model ?? DEFAULT_MODEL_PATH);
  const test = testDataFor(model, metadata, options.data);
  checkShapes(model, test);
  const index = parseIndex(indexArg ?? (await askIndex(test.count)), test.count);
  const size = sampleSize(test);
  const pixels = test.images.subarray(index * size, (index + 1) * size);
  const probs = model.predict(pixels);
  let predicted = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[predicted]) predicted = i;
  const label = test.labels[index];
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const out = [
    `${terminalText(test.name.toUpperCase())} test image ${index}`,
    drawImage(pixels, test.shape, color),
    `true label: ${terminalText(test.classes[label])}`,
    `predicted:  ${terminalText(test.classes[predicted])}  (${percent(probs[predicted])})  ${predicted === label ? "correct" : "wrong"}`,
    probabilityBars(probs, test.classes, predicted),
  ];
  process.stdout.write(out.join("\n") + "\n");
}

/** The MNIST input every --image is turned into. */
const DIGIT_SHAPE = [1, 28, 28];

/** `predict --image FILE`: one user PNG, preprocessed as MNIST digits were, then classified. */
async function predictImage(indexArg: string | undefined, path: string, options: PredictOptions): Promise<void> {
  if (indexArg !== undefined) throw new UsageError(`--image takes no index (got "${indexArg}")`);
  if (options.data !== undefined) throw new UsageError("--image takes no --data");
  const image = readPngRgba(path);
  const { pixels, inverted } = preprocessDigit(image.rgba, image.width, image.height);
  const rt = await Runtime.create();
  const { model } = await loadModelFile(rt, options.model ?? DEFAULT_MODEL_PATH);
  const input = model.spec.input;
  if (input.length !== DIGIT_SHAPE.length || input.some((d, i) => d !== DIGIT_SHAPE[i])) {
    throw new MnistWasmError(
      "BAD_SHAPE",
      `the model expects input [${input}] but --image gives a digit of [${DIGIT_SHAPE}] (an MNIST model is needed)`,
    );
  }
  const classes = modelClasses(model);
  const probs = model.predict(pixels);
  let predicted = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[predicted]) predicted = i;
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const out = [
    `image: ${path} (${image.width}x${image.height}, detected: ${inverted ? "dark digit on light background" : "light digit on dark background"})`,
    drawImage(pixels, DIGIT_SHAPE, color),
    `predicted:  ${terminalText(classes[predicted])}  (${percent(probs[predicted])})`,
    probabilityBars(probs, classes, predicted),
  ];
  process.stdout.write(out.join("\n") + "\n");
}
