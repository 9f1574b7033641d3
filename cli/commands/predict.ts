import {
  checkShapes,
  DEFAULT_MODEL_PATH,
  loadModelFile,
  MnistWasmError,
  preprocessDigit,
  readPngRgba,
  Runtime,
  sampleSize,
  type Model,
} from "../../sdk/node";
import { modelClasses, testDataFor } from "../dataset";
import { UsageError } from "../errors";
import { drawImage, percent, probabilityBars, sideBySide, terminalText } from "../render";

export interface PredictOptions {
  model?: string;
  data?: string;
  color?: boolean;
  image?: string;
  /** --winograd: Winograd convolutions where they pay. */
  winograd?: boolean;
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
  const { model, metadata } = await loadModelFile(rt, options.model ?? DEFAULT_MODEL_PATH, {
    winograd: options.winograd === true,
  });
  const test = testDataFor(model, metadata, options.data);
  checkShapes(model, test);
  const index = parseIndex(indexArg ?? (await askIndex(test.count)), test.count);
  const size = sampleSize(test);
  const pixels = test.images.subarray(index * size, (index + 1) * size);
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  if (model.task !== "classifier") {
    const heading = `${terminalText(test.name.toUpperCase())} test image ${index} (label ${terminalText(test.classes[test.labels[index]])})`;
    process.stdout.write(showReconstruction(model, pixels, test.shape, heading, color));
    return;
  }
  const probs = model.predict(pixels);
  let predicted = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[predicted]) predicted = i;
  const label = test.labels[index];
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
  const { model } = await loadModelFile(rt, options.model ?? DEFAULT_MODEL_PATH, {
    winograd: options.winograd === true,
  });
  const input = model.spec.input;
  if (input.length !== DIGIT_SHAPE.length || input.some((d, i) => d !== DIGIT_SHAPE[i])) {
    throw new MnistWasmError(
      "BAD_SHAPE",
      `the model expects input [${input}] but --image gives a digit of [${DIGIT_SHAPE}] (an MNIST model is needed)`,
    );
  }
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const detected = `detected: ${inverted ? "dark digit on light background" : "light digit on dark background"}`;
  if (model.task !== "classifier") {
    const heading = `image: ${path} (${image.width}x${image.height}, ${detected})`;
    process.stdout.write(showReconstruction(model, pixels, DIGIT_SHAPE, heading, color));
    return;
  }
  const classes = modelClasses(model);
  const probs = model.predict(pixels);
  let predicted = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[predicted]) predicted = i;
  const out = [
    `image: ${path} (${image.width}x${image.height}, ${detected})`,
    drawImage(pixels, DIGIT_SHAPE, color),
    `predicted:  ${terminalText(classes[predicted])}  (${percent(probs[predicted])})`,
    probabilityBars(probs, classes, predicted),
  ];
  process.stdout.write(out.join("\n") + "\n");
}

/**
 * An autoencoder's or VAE's view of one image: the image beside its reconstruction, its code and
 * its reconstruction loss (a VAE's mean code is decoded).
 */
function showReconstruction(
  model: Model,
  pixels: Uint8Array | Float32Array,
  shape: readonly number[],
  heading: string,
  color: boolean,
): string {
  const reconstruction = model.reconstruct(pixels);
  const code = model.encode(pixels);
  const original = pixels instanceof Float32Array ? pixels : Float32Array.from(pixels, (v) => v / 255);
  const bytes = Uint8Array.from(reconstruction, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  const loss = reconstructionLoss(model.loss.kind, original, reconstruction);
  const unit = model.loss.kind === "bce" ? "nats (binary cross-entropy)" : "(½ squared error)";
  const [left, right] = [drawImage(toBytes(original), shape, color), drawImage(bytes, shape, color)];
  return (
    [
      heading,
      `${"image".padEnd(shape[2] * (color ? 1 : 2) + 4)}reconstruction`,
      sideBySide(left, right, shape[2] * (color ? 1 : 2) + 4),
      `code: [${Array.from(code, (v) => v.toFixed(3)).join(", ")}]`,
      `reconstruction loss: ${loss.toFixed(2)} ${unit}`,
    ].join("\n") + "\n"
  );
}

const toBytes = (pixels: Float32Array): Uint8Array => Uint8Array.from(pixels, (v) => Math.round(v * 255));

/** The loss of one reconstruction, as training measures it (sdk/layers/pixel-loss.ts). */
function reconstructionLoss(kind: string, target: Float32Array, output: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < target.length; i++) {
    const [t, y] = [target[i], Math.min(Math.max(output[i], 1e-7), 1 - 1e-7)];
    sum += kind === "bce" ? -(t * Math.log(y) + (1 - t) * Math.log(1 - y)) : 0.5 * (output[i] - t) ** 2;
  }
  return sum;
}
