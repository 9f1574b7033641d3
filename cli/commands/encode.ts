// `mnist-wasm encode`: the codes an autoencoder or VAE gives every image of a file, as CSV (one
// row an image, one column a code dimension; a VAE's code is its mean), atomically or to
// standard output with --out -.
import { loadImagesFile, loadModelFile, Runtime, writeFileAtomic } from "../../sdk/node";
import { refuseWrongTask } from "../dataset";
import { UsageError } from "../errors";
import { checkOutputFiles, writesTo, writeStdout } from "../output";

export interface EncodeOptions {
  threads?: number;
  model: string;
  input: string;
  out: string;
}

export async function encodeCommand(options: EncodeOptions): Promise<void> {
  const toStdout = options.out === "-";
  if (!toStdout) {
    checkOutputFiles([["--out", options.out]]);
    for (const [flag, path] of [
      ["--input", options.input],
      ["--model", options.model],
    ] as const) {
      if (writesTo(options.out, path)) throw new UsageError(`--out ${options.out} would overwrite the ${flag} file`);
    }
  }
  const rt = await Runtime.create({ threads: options.threads });
  const { model } = await loadModelFile(rt, options.model);
  refuseWrongTask(model, "encode", ["autoencoder", "vae"], options.model);
  const input = loadImagesFile(options.input, { inputShape: model.spec.input });
  const started = performance.now();
  const codes = model.encode(input.images);
  const seconds = (performance.now() - started) / 1000;
  const latent = model.latentSize;
  const lines = [Array.from({ length: latent }, (_, i) => `code${i + 1}`).join(",")];
  for (let n = 0; n < input.count; n++) {
    // Nine significant digits: a float32 written so that it reads back to the same float.
    lines.push(Array.from(codes.subarray(n * latent, (n + 1) * latent), (v) => Number(v.toPrecision(9))).join(","));
  }
  const bytes = new TextEncoder().encode(`${lines.join("\n")}\n`);
  if (toStdout) await writeStdout(bytes);
  else await writeFileAtomic(options.out, bytes);
  (toStdout ? process.stderr : process.stdout).write(
    `encoded ${input.count.toLocaleString("en")} image${input.count === 1 ? "" : "s"} of [${input.shape}] from ${options.input} ` +
      `(${input.description}) into ${latent}-D codes in ${seconds.toFixed(2)} s; ${toStdout ? "on standard output" : `in ${options.out}`}\n`,
  );
}
