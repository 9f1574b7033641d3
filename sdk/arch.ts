import { fail } from "./errors";
import type { LayerSpec } from "./spec";

/**
 * The compact architecture string: layers separated by commas, e.g.
 *   conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu,dense:10
 * conv:KxR[sS][pP]  K filters of R x R, stride S (default 1), zero padding P (default 0)
 * maxpool:D[sS]     D x D windows, stride S (default D); avgpool:D[sS] likewise
 * dense:N           N units;  relu, sigmoid, flatten
 * dropout:RATE      drop a fraction RATE in training;  batchnorm
 * convT:KxR[sS][pP] transposed convolution: K filters of R x R, stride S (default 1), cropping P
 *                   (default 0): H x W -> ((H-1)·S - 2P + R) x ((W-1)·S - 2P + R)
 * upsample:S        nearest-neighbour upsampling by S (1 to 16)
 * reshape:CxHxW     the same values in a new shape of 1 to 3 dimensions (reshape:32x7x7, reshape:784)
 * sampling          a VAE's code: input [2d] read as means and log-variances, output [d]
 */
export function parseArch(text: string): LayerSpec[] {
  if (typeof text !== "string") {
    fail(
      "BAD_ARGUMENT",
      `parseArch(text): text must be a string such as "conv:32x3,relu,dense:10", got ${describeValue(text)}`,
    );
  }
  const parts = text
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0) fail("BAD_ARGUMENT", "architecture: empty");
  return parts.map((part) => parseLayer(part));
}

/** A whole number written in decimal digits that a double holds exactly, or NaN. */
function wholeNumber(digits: string | undefined): number {
  if (digits === undefined || !/^\d+$/.test(digits)) return NaN;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : NaN;
}

/** An optional part of a layer (a stride, a padding): undefined when absent. */
function optionalWholeNumber(digits: string | undefined): number | undefined {
  return digits === undefined ? undefined : wholeNumber(digits);
}

/** A layer of the string as an error message shows it: quoted, escaped, at most 60 characters. */
function quoted(part: string): string {
  const shown = part.length > 60 ? `${part.slice(0, 60)}…` : part;
  return JSON.stringify(shown).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object"
    ? "an object"
    : typeof value === "function"
      ? "a function"
      : `${typeof value} ${String(value)}`;
}

function parseLayer(part: string): LayerSpec {
  const bad = (expected: string): never =>
    fail("BAD_ARGUMENT", `architecture: cannot read ${quoted(part)} (expected ${expected})`);
  const [name, arg, ...rest] = part.split(":");
  if (rest.length) bad("one ':' at most");
  switch (name) {
    case "relu":
    case "sigmoid":
    case "flatten":
    case "batchnorm":
    case "sampling":
      if (arg !== undefined) bad(`"${name}" without arguments`);
      return { type: name };
    case "dropout": {
      const rate = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(arg ?? "") ? Number(arg) : NaN;
      if (!(rate >= 0 && rate < 1)) return bad("dropout:RATE with 0 <= RATE < 1, e.g. dropout:0.5");
      return { type: "dropout", rate };
    }
    case "dense": {
      const units = wholeNumber(arg);
      if (!(units > 0)) return bad("dense:UNITS, e.g. dense:128");
      return { type: "dense", units };
    }
    case "conv":
    case "convT": {
      const m = /^(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?$/.exec(arg ?? "");
      const filters = wholeNumber(m?.[1]);
      const size = wholeNumber(m?.[2]);
      const stride = optionalWholeNumber(m?.[3]);
      const padding = optionalWholeNumber(m?.[4]);
      if (
        !(filters > 0) ||
        !(size > 0) ||
        (stride !== undefined && !(stride > 0)) ||
        (padding !== undefined && !(padding >= 0))
      ) {
        return bad(
          name === "conv"
            ? "conv:FILTERSxSIZE[sSTRIDE][pPADDING], e.g. conv:32x3 or conv:64x3s2p1"
            : "convT:FILTERSxSIZE[sSTRIDE][pPADDING], e.g. convT:32x4s2p1",
        );
      }
      return {
        type: name === "conv" ? "conv2d" : "convT",
        filters,
        size,
        ...(stride !== undefined ? { stride } : {}),
        ...(padding !== undefined ? { padding } : {}),
      };
    }
    case "maxpool":
    case "avgpool": {
      const m = /^(\d+)(?:s(\d+))?$/.exec(arg ?? "");
      const size = wholeNumber(m?.[1]);
      const stride = optionalWholeNumber(m?.[2]);
      if (!(size > 0) || (stride !== undefined && !(stride > 0))) return bad(`${name}:SIZE[sSTRIDE], e.g. ${name}:2`);
      return { type: name, size, ...(stride !== undefined ? { stride } : {}) };
    }
    case "upsample": {
      const scale = wholeNumber(arg);
      if (!(scale >= 1 && scale <= 16)) return bad("upsample:SCALE with 1 <= SCALE <= 16, e.g. upsample:2");
      return { type: "upsample", scale };
    }
    case "reshape": {
      const shape = /^\d+(?:x\d+){0,2}$/.test(arg ?? "") ? (arg as string).split("x").map(wholeNumber) : [];
      if (shape.length === 0 || !shape.every((d) => d > 0)) {
        return bad("reshape:CxHxW with 1 to 3 positive sizes, e.g. reshape:32x7x7");
      }
      return { type: "reshape", shape };
    }
    default:
      return bad(
        "conv, convT, maxpool, avgpool, upsample, dense, relu, sigmoid, flatten, reshape, dropout, batchnorm or sampling",
      );
  }
}

/** The compact string of a layer list (the inverse of parseArch). */
export function formatArch(layers: readonly LayerSpec[]): string {
  return layers
    .map((l) => {
      switch (l.type) {
        case "dense":
          return `dense:${l.units}`;
        case "conv2d":
        case "convT":
          return `${l.type === "conv2d" ? "conv" : "convT"}:${l.filters}x${l.size}${l.stride && l.stride !== 1 ? `s${l.stride}` : ""}${l.padding ? `p${l.padding}` : ""}`;
        case "upsample":
          return `upsample:${l.scale}`;
        case "reshape":
          return `reshape:${l.shape.join("x")}`;
        case "maxpool":
        case "avgpool":
          return `${l.type}:${l.size}${l.stride && l.stride !== l.size ? `s${l.stride}` : ""}`;
        case "dropout":
          return `dropout:${l.rate}`;
        default:
          return l.type;
      }
    })
    .join(",");
}

/**
 * Named architectures. The final dense layer is added from the data set's class count.
 * - mlp: the course's 3-layer network (hidden width and activation from the caller).
 * - cnn: the LeNet-like net of the benchmarks, conv3x3x32-relu-maxpool2-conv3x3x64-relu-maxpool2-dense128-relu.
 * - cnn-cifar: three padded conv blocks for 32x32 colour images.
 * - cnn-mnist-bn: three batch-normalized 3x3 convolutions of 32, 64 and 64 filters, max pooling
 *   after the first and the third, and cnn's dense layer (the shipped MNIST model's,
 *   `train --preset best-mnist`). cnn with batch norm after its two convolutions stopped at 99.56%
 *   with the same recipe (20 epochs); the third convolution is what reaches 99.6%.
 * - cnn-cifar-bn: six padded 3x3 convolutions in three pairs of 32, 64 and 128 filters, each
 *   followed by batch normalization, max pooling after each pair, and a global average pool
 *   before the classifier (the shipped CIFAR-10 model's, `train --preset best-cifar10`). The
 *   average pool keeps the classifier's inputs few and small: flattening the 2,048 features of
 *   the last 4x4 maps instead made the first steps' updates of the logits so large that the
 *   loss jumped from 2.3 to 4-11 within 20 batches.
 * Frozen and without a prototype: looking up a name a user typed ("constructor", "__proto__")
 * finds nothing rather than an Object method.
 */
export const ARCH_PRESETS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    cnn: "conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu",
    "cnn-cifar": "conv:32x3p1,relu,maxpool:2,conv:64x3p1,relu,maxpool:2,conv:128x3p1,relu,maxpool:2,dense:256,relu",
    "cnn-mnist-bn":
      "conv:32x3,batchnorm,relu,maxpool:2,conv:64x3,batchnorm,relu,conv:64x3,batchnorm,relu,maxpool:2,dense:128,relu",
    "cnn-cifar-bn":
      "conv:32x3p1,batchnorm,relu,conv:32x3p1,batchnorm,relu,maxpool:2," +
      "conv:64x3p1,batchnorm,relu,conv:64x3p1,batchnorm,relu,maxpool:2," +
      "conv:128x3p1,batchnorm,relu,conv:128x3p1,batchnorm,relu,maxpool:2,avgpool:4",
  }),
);

/** Appends the classifier layer when the architecture does not end with a dense layer. */
export function withClassifier(layers: LayerSpec[], classes: number): LayerSpec[] {
  const last = layers[layers.length - 1];
  return last && last.type === "dense" ? layers : [...layers, { type: "dense", units: classes }];
}
