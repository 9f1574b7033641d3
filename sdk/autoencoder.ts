// Autoencoders and VAEs as model specs: an encoder down to a code of `latent` values, a decoder
// back up to the input's size. The halves are presets sized for the input ("dense", "conv") or
// layer lists of the caller's own, completed with the code and output layers they leave out.
import { checkInteger, checkOptions, describeValue } from "./args";
import { parseArch } from "./arch";
import { fail } from "./errors";
import { sizeOf } from "./layers/layer";
import { Random } from "./random";
import { validateSpec, type LayerSpec, type ModelSpec } from "./spec";

/** The preset halves: fully connected, or convolutions (two stride-2 steps each way). */
export type AutoencoderPreset = "dense" | "conv";

export interface AutoencoderOptions {
  /** Shape of one input image, [channels, height, width]. */
  input: number[];
  /** Values of the code (the latent space's dimensions). */
  latent: number;
  /** A VAE (a sampling layer ends the encoder) instead of a plain autoencoder. */
  variational?: boolean;
  /**
   * The encoder: a preset, an architecture string ("dense:512,relu") or layers. The code layer
   * is added when the encoder does not end with one: dense:latent, or for a VAE
   * dense:2·latent (means and log-variances) and sampling. Default "dense".
   */
  encoder?: AutoencoderPreset | string | LayerSpec[];
  /**
   * The decoder, likewise; dense:(input size) is added when it does not end with a layer that
   * has weights. Default: the encoder's preset, or "dense".
   */
  decoder?: AutoencoderPreset | string | LayerSpec[];
  /** "bce" (binary cross-entropy on a sigmoid, the default) or "mse". */
  loss?: "bce" | "mse";
  /** The training data's class names (they colour the codes). */
  classes?: string[];
}

/** Most dimensions of a code: far more than an image model of this size uses. */
export const MAX_LATENT = 4096;

/** Units of the preset dense halves' hidden layer. */
const DENSE_HIDDEN = 512;

/** The preset halves for an input of shape [channels, height, width]. */
export function autoencoderPreset(
  preset: AutoencoderPreset,
  input: readonly number[],
): { encoder: string; decoder: string } {
  const size = sizeOf(input);
  if (preset === "dense") {
    return { encoder: `dense:${DENSE_HIDDEN},relu`, decoder: `dense:${DENSE_HIDDEN},relu,dense:${size}` };
  }
  const [channels, height, width] = input;
  if (input.length !== 3 || height % 4 !== 0 || width % 4 !== 0) {
    fail(
      "BAD_SHAPE",
      `the conv autoencoder halves take images whose sides divide by 4 (two stride-2 steps), got input [${input}]`,
    );
  }
  const [h, w] = [height / 4, width / 4];
  return {
    // 4x4 kernels at stride 2 with padding 1 halve a side exactly, and convT:…x4s2p1 doubles it.
    encoder: "conv:32x4s2p1,relu,conv:64x4s2p1,relu",
    decoder: `dense:${64 * h * w},relu,reshape:64x${h}x${w},convT:32x4s2p1,relu,convT:${channels}x4s2p1`,
  };
}

const WEIGHTED = new Set(["dense", "conv2d", "convT"]);

/** The spec of an autoencoder (or with `variational`, a VAE); see AutoencoderOptions. */
export function autoencoderSpec(options: AutoencoderOptions): ModelSpec {
  const o = checkOptions<AutoencoderOptions>(options, "autoencoderSpec options", [
    "input",
    "latent",
    "variational",
    "encoder",
    "decoder",
    "loss",
    "classes",
  ]);
  if (!Array.isArray(o.input))
    fail("BAD_ARGUMENT", `autoencoderSpec: input must be a shape such as [1, 28, 28], got ${describeValue(o.input)}`);
  const latent = checkInteger(o.latent, "autoencoderSpec: latent", 1, MAX_LATENT);
  const variational = o.variational === true;
  const presetOf = (half: unknown): AutoencoderPreset | undefined =>
    half === "dense" || half === "conv" ? half : undefined;
  const encoderPreset = presetOf(o.encoder ?? "dense");
  const decoderPreset = presetOf(o.decoder ?? encoderPreset ?? "dense");
  const layersOf = (
    half: unknown,
    preset: AutoencoderPreset | undefined,
    which: "encoder" | "decoder",
  ): LayerSpec[] => {
    if (preset) return parseArch(autoencoderPreset(preset, o.input!)[which]);
    if (typeof half === "string") return parseArch(half);
    if (Array.isArray(half)) return half as LayerSpec[];
    return fail(
      "BAD_ARGUMENT",
      `autoencoderSpec: ${which} must be "dense", "conv", an architecture string or a list of layers, got ${describeValue(half)}`,
    );
  };
  const encoder = layersOf(o.encoder, encoderPreset, "encoder");
  const decoder = layersOf(o.decoder, decoderPreset, "decoder");
  if (encoder.length === 0 || decoder.length === 0)
    fail("BAD_ARGUMENT", "autoencoderSpec: an empty encoder or decoder");
  const lastEncoder = encoder[encoder.length - 1] as { type?: unknown; units?: unknown };
  if (variational) {
    if (lastEncoder.type !== "sampling") encoder.push({ type: "dense", units: 2 * latent }, { type: "sampling" });
    else {
      const means = encoder[encoder.length - 2] as { type?: unknown; units?: unknown } | undefined;
      if (means?.type === "dense" && means.units !== 2 * latent) {
        fail(
          "BAD_ARGUMENT",
          `autoencoderSpec: a VAE of ${latent} latent dimensions samples from dense:${2 * latent} (means and log-variances), got dense:${String(means.units)}`,
        );
      }
    }
  } else if (lastEncoder.type === "sampling") {
    fail("BAD_ARGUMENT", "autoencoderSpec: a sampling layer ends a VAE's encoder; give variational: true (--task vae)");
  } else if (lastEncoder.type !== "dense") encoder.push({ type: "dense", units: latent });
  else if (lastEncoder.units !== latent) {
    fail(
      "BAD_ARGUMENT",
      `autoencoderSpec: the encoder ends with dense:${String(lastEncoder.units)}, but the code has ${latent} values`,
    );
  }
  const lastDecoder = decoder[decoder.length - 1] as { type?: unknown };
  if (!WEIGHTED.has(String(lastDecoder.type))) decoder.push({ type: "dense", units: sizeOf(o.input) });
  return validateSpec({
    input: o.input,
    layers: [...encoder, ...decoder],
    task: variational ? "vae" : "autoencoder",
    encoder: encoder.length,
    ...(o.loss !== undefined ? { loss: o.loss } : {}),
    ...(o.classes !== undefined ? { classes: o.classes } : {}),
  });
}

/**
 * `count` codes of `latent` values drawn from the standard normal, a VAE's prior, seeded:
 * decode() makes them into samples. Float32Array [count, latent].
 */
export function priorSamples(count: number, latent: number, seed = 0): Float32Array {
  checkInteger(count, "priorSamples: count", 1, 1 << 20);
  checkInteger(latent, "priorSamples: latent", 1, MAX_LATENT);
  checkInteger(seed, "priorSamples: seed", 0, 0xffff_ffff);
  const rng = new Random(seed);
  const codes = new Float32Array(count * latent);
  for (let i = 0; i < codes.length; i++) codes[i] = rng.normal();
  return codes;
}

/**
 * Codes on a `side` x `side` grid over the 2-D latent plane, row after row (top row first, the
 * second dimension decreasing down the rows, the first increasing along them), at the standard
 * normal's quantiles of evenly spaced probabilities: where a 2-D VAE's prior puts its mass,
 * as Kingma and Welling drew their manifolds. Float32Array [side², 2].
 */
export function latentGrid(side: number, spread = 0.95): Float32Array {
  checkInteger(side, "latentGrid: side", 2, 256);
  if (typeof spread !== "number" || !(spread > 0 && spread < 1))
    fail("BAD_ARGUMENT", `latentGrid: spread must be in (0, 1), got ${describeValue(spread)}`);
  const low = (1 - spread) / 2;
  const at = (i: number): number => normalQuantile(low + (spread * i) / (side - 1));
  const codes = new Float32Array(side * side * 2);
  for (let row = 0; row < side; row++) {
    for (let col = 0; col < side; col++) {
      codes[2 * (row * side + col)] = at(col);
      codes[2 * (row * side + col) + 1] = at(side - 1 - row);
    }
  }
  return codes;
}

/**
 * The standard normal's quantile function Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation
 * (relative error below 1.2e-9), enough for placing a grid.
 */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = 0.02425;
  if (p < tail) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - tail) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}
