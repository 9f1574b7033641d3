import { fail } from "./errors";
import type { LayerSpec } from "./spec";

/**
 * The compact architecture string: layers separated by commas, e.g.
 *   conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu,dense:10
 * conv:KxR[sS][pP]  K filters of R x R, stride S (default 1), zero padding P (default 0)
 * maxpool:D[sS]     D x D windows, stride S (default D); avgpool:D[sS] likewise
 * dense:N           N units;  relu, sigmoid, flatten
 * dropout:RATE      drop a fraction RATE in training;  batchnorm
 */
export function parseArch(text: string): LayerSpec[] {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0) fail("BAD_ARGUMENT", "architecture: empty");
  return parts.map((part) => parseLayer(part));
}

function parseLayer(part: string): LayerSpec {
  const bad = (expected: string): never => fail("BAD_ARGUMENT", `architecture: cannot read "${part}" (expected ${expected})`);
  const [name, arg, ...rest] = part.split(":");
  if (rest.length) bad("one ':' at most");
  switch (name) {
    case "relu":
    case "sigmoid":
    case "flatten":
    case "batchnorm":
      if (arg !== undefined) bad(`"${name}" without arguments`);
      return { type: name };
    case "dropout": {
      const rate = Number(arg);
      if (arg === undefined || arg.trim() === "" || !(rate >= 0 && rate < 1)) return bad("dropout:RATE with 0 <= RATE < 1, e.g. dropout:0.5");
      return { type: "dropout", rate };
    }
    case "dense": {
      const m = /^(\d+)$/.exec(arg ?? "");
      if (!m || Number(m[1]) <= 0) return bad("dense:UNITS, e.g. dense:128");
      return { type: "dense", units: Number(m[1]) };
    }
    case "conv": {
      const m = /^(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?$/.exec(arg ?? "");
      if (!m || Number(m[1]) <= 0 || Number(m[2]) <= 0 || (m[3] !== undefined && Number(m[3]) <= 0)) {
        return bad("conv:FILTERSxSIZE[sSTRIDE][pPADDING], e.g. conv:32x3 or conv:64x3s2p1");
      }
      return {
        type: "conv2d", filters: Number(m[1]), size: Number(m[2]),
        ...(m[3] !== undefined ? { stride: Number(m[3]) } : {}),
        ...(m[4] !== undefined ? { padding: Number(m[4]) } : {}),
      };
    }
    case "maxpool":
    case "avgpool": {
      const m = /^(\d+)(?:s(\d+))?$/.exec(arg ?? "");
      if (!m || Number(m[1]) <= 0 || (m[2] !== undefined && Number(m[2]) <= 0)) return bad(`${name}:SIZE[sSTRIDE], e.g. ${name}:2`);
      return { type: name, size: Number(m[1]), ...(m[2] !== undefined ? { stride: Number(m[2]) } : {}) };
    }
    default:
      return bad("conv, maxpool, avgpool, dense, relu, sigmoid, flatten, dropout or batchnorm");
  }
}

/** The compact string of a layer list (the inverse of parseArch). */
export function formatArch(layers: readonly LayerSpec[]): string {
  return layers.map((l) => {
    switch (l.type) {
      case "dense":
        return `dense:${l.units}`;
      case "conv2d":
        return `conv:${l.filters}x${l.size}${l.stride && l.stride !== 1 ? `s${l.stride}` : ""}${l.padding ? `p${l.padding}` : ""}`;
      case "maxpool":
      case "avgpool":
        return `${l.type}:${l.size}${l.stride && l.stride !== l.size ? `s${l.stride}` : ""}`;
      case "dropout":
        return `dropout:${l.rate}`;
      default:
        return l.type;
    }
  }).join(",");
}

/**
 * Named architectures. The final dense layer is added from the data set's class count.
 * - mlp: the course's 3-layer network (hidden width and activation from the caller).
 * - cnn: the LeNet-like net of the benchmarks, conv3x3x32-relu-maxpool2-conv3x3x64-relu-maxpool2-dense128-relu.
 * - cnn-cifar: three padded conv blocks for 32x32 colour images.
 */
export const ARCH_PRESETS: Record<string, string> = {
  cnn: "conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu",
  "cnn-cifar": "conv:32x3p1,relu,maxpool:2,conv:64x3p1,relu,maxpool:2,conv:128x3p1,relu,maxpool:2,dense:256,relu",
};

/** Appends the classifier layer when the architecture does not end with a dense layer. */
export function withClassifier(layers: LayerSpec[], classes: number): LayerSpec[] {
  const last = layers[layers.length - 1];
  return last && last.type === "dense" ? layers : [...layers, { type: "dense", units: classes }];
}
