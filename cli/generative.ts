// train --task autoencoder|vae: the model spec its flags describe, and the pictures written
// beside the model: the test set's codes by class, reconstructions, and a VAE's samples and
// 2-D manifold.
import {
  autoencoderSpec,
  imageGrid,
  latentGrid,
  latentScatterSvg,
  MnistWasmError,
  nearestCentroidAccuracy,
  planModel,
  priorSamples,
  savePng,
  selectClasses,
  takeFirst,
  writeFileAtomic,
  type Dataset,
  type Model,
  type ModelSpec,
} from "../sdk/node";
import { UsageError } from "./errors";
import { percent } from "./render";

export interface GenerativeOptions {
  task: "autoencoder" | "vae";
  /** --arch: the preset halves, "mlp" (dense) or "cnn" (convolutions). */
  arch: string;
  latent?: number;
  encoder?: string;
  decoder?: string;
  loss?: string;
}

/** The code size when --latent is not given: the lab's 2-D codes for grey images, more for colour. */
export function defaultLatent(input: readonly number[]): number {
  return input[0] === 1 ? 2 : 64;
}

/** The spec of an autoencoder or VAE from train's flags; what does not fit is a usage mistake. */
export function buildAutoencoder(options: GenerativeOptions, data: Dataset): ModelSpec {
  const preset = options.arch === "mlp" ? "dense" : options.arch === "cnn" ? "conv" : undefined;
  if (!preset) {
    throw new UsageError(
      `--arch ${options.arch}: an autoencoder's halves are the presets mlp or cnn; give your own with --encoder and --decoder`,
    );
  }
  if (options.loss !== undefined && options.loss !== "bce" && options.loss !== "mse") {
    throw new UsageError(`--loss ${options.loss}: an autoencoder or VAE trains on bce or mse`);
  }
  try {
    const spec = autoencoderSpec({
      input: data.shape,
      latent: options.latent ?? defaultLatent(data.shape),
      variational: options.task === "vae",
      encoder: options.encoder ?? preset,
      decoder: options.decoder ?? preset,
      ...(options.loss ? { loss: options.loss as "bce" | "mse" } : {}),
      classes: data.classes,
    });
    planModel(spec);
    return spec;
  } catch (e) {
    if (e instanceof MnistWasmError) throw new UsageError(e.message);
    throw e;
  }
}

/** The files written beside a model NAME.safetensors. */
export function generativePaths(out: string, task: string, latent: number): Record<string, string> {
  const base = out.replace(/\.safetensors$/, "");
  return {
    latent: `${base}.latent.svg`,
    reconstructions: `${base}.reconstructions.png`,
    ...(task === "vae" ? { samples: `${base}.samples.png` } : {}),
    ...(task === "vae" && latent === 2 ? { manifold: `${base}.manifold.png` } : {}),
  };
}

/** Images of the first few test images above their reconstructions, samples, manifold. */
const RECONSTRUCTION_COLUMNS = 10;
const SAMPLE_SIDE = 8;
const MANIFOLD_SIDE = 20;
/** Training images whose codes place the class centroids (more add nothing to a mean). */
const CENTROID_IMAGES = 10_000;

/**
 * Writes the pictures of a trained autoencoder or VAE beside its model file and returns the lines
 * that describe them: the nearest-centroid accuracy of the codes first.
 * `perClass`: test images of each class in the scatter plot; `seed` draws a VAE's samples.
 */
export async function writeGenerativeReport(
  model: Model,
  train: Dataset,
  test: Dataset,
  paths: Record<string, string>,
  options: { perClass: number; seed: number },
): Promise<string[]> {
  const lines: string[] = [];
  const latent = model.latentSize;
  const reference = takeFirst(train, CENTROID_IMAGES);
  const { accuracy, count } = nearestCentroidAccuracy(
    { codes: model.encode(reference.images), latent, labels: reference.labels, classes: train.classes },
    { codes: model.encode(test.images), latent, labels: test.labels, classes: test.classes },
  );
  const present = [...new Set(test.labels)].sort((a, b) => a - b);
  const shown = selectClasses(test, present, options.perClass);
  const centroidLine = `nearest-centroid rule on the ${latent}-D codes: ${percent(accuracy)} of ${count.toLocaleString("en")} test images`;
  const title =
    `${shown.count.toLocaleString("en")} test images${latent > 2 ? " (code dimensions 1 and 2)" : ""}; ` +
    `nearest centroid ${percent(accuracy)} of ${count.toLocaleString("en")}`;
  await writeText(
    paths.latent,
    latentScatterSvg({ codes: model.encode(shown.images), latent, labels: shown.labels, classes: test.classes }, title),
  );
  lines.push(centroidLine, `codes of ${shown.count} test images by class: ${paths.latent}`);

  const size = model.inputSize;
  const columns = Math.min(RECONSTRUCTION_COLUMNS, test.count);
  const originals = Float32Array.from(test.images.subarray(0, columns * size), (v) => v / 255);
  const both = new Float32Array(2 * columns * size);
  both.set(originals);
  both.set(model.reconstruct(originals), columns * size);
  const scale = test.shape[1] <= 32 ? 2 : 1;
  await savePng(paths.reconstructions, imageGrid(both, test.shape, columns, { scale }));
  lines.push(`test images above their reconstructions: ${paths.reconstructions}`);

  if (paths.samples) {
    const codes = priorSamples(SAMPLE_SIDE * SAMPLE_SIDE, latent, options.seed);
    await savePng(paths.samples, imageGrid(model.decode(codes), test.shape, SAMPLE_SIDE, { scale }));
    lines.push(`${SAMPLE_SIDE * SAMPLE_SIDE} samples from the prior: ${paths.samples}`);
  }
  if (paths.manifold) {
    await savePng(
      paths.manifold,
      imageGrid(model.decode(latentGrid(MANIFOLD_SIDE)), test.shape, MANIFOLD_SIDE, { gap: 0 }),
    );
    lines.push(`the decoded latent plane, ${MANIFOLD_SIDE}x${MANIFOLD_SIDE}: ${paths.manifold}`);
  }
  return lines;
}

async function writeText(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text));
}
