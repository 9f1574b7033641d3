// `mnist-wasm generate`: images a VAE draws, decoded from codes sampled from its prior (a
// standard normal, seeded), or with --manifold from a grid over its 2-D latent plane; one PNG.
import { DEFAULT_VAE_PATH, imageGrid, latentGrid, loadModelFile, priorSamples, Runtime, savePng } from "../../sdk/node";
import { refuseWrongTask } from "../dataset";
import { UsageError } from "../errors";
import { checkOutputFiles, writesTo } from "../output";

export interface GenerateOptions {
  threads?: number;
  model?: string;
  count: number;
  seed: number;
  out: string;
  /** --manifold N: an N x N grid over the latent plane instead of samples. */
  manifold?: number;
  columns?: number;
  scale?: number;
}

export async function generateCommand(options: GenerateOptions): Promise<void> {
  const path = options.model ?? DEFAULT_VAE_PATH;
  checkOutputFiles([["--out", options.out]]);
  if (writesTo(options.out, path)) throw new UsageError(`--out ${options.out} would overwrite the --model file`);
  const rt = await Runtime.create({ threads: options.threads });
  const { model } = await loadModelFile(rt, path);
  refuseWrongTask(model, "generate", ["vae"], path);
  const shape = model.spec.input;
  if (shape.length !== 3 || (shape[0] !== 1 && shape[0] !== 3)) {
    throw new UsageError(`${path} makes images of [${shape}], which a PNG cannot show (1 or 3 channels)`);
  }
  const scale = options.scale ?? (shape[1] <= 32 ? 2 : 1);
  let codes: Float32Array;
  let columns: number;
  let what: string;
  if (options.manifold !== undefined) {
    if (model.latentSize !== 2) {
      throw new UsageError(`--manifold draws a 2-D latent plane; ${path} has ${model.latentSize} latent dimensions`);
    }
    codes = latentGrid(options.manifold);
    columns = options.manifold;
    what = `the ${options.manifold}x${options.manifold} manifold of the latent plane`;
  } else {
    codes = priorSamples(options.count, model.latentSize, options.seed);
    columns = options.columns ?? Math.ceil(Math.sqrt(options.count));
    what = `${options.count} sample${options.count === 1 ? "" : "s"} (seed ${options.seed})`;
  }
  const image = imageGrid(model.decode(codes), shape, columns, {
    scale,
    ...(options.manifold !== undefined ? { gap: 0 } : {}),
  });
  await savePng(options.out, image);
  process.stdout.write(`wrote ${what} of ${path} to ${options.out} (${image.width}x${image.height})\n`);
}
