// Builds the in-browser demo into demo/dist/: demo/main.ts bundled by esbuild (the SDK's wasm is
// embedded as base64, so no loader config), the page, its style sheet, the shipped model and the
// gzipped MNIST test set (data/mnist/t10k-*, from `npm run build`) for the "browse" panel, the
// 2-D VAE of the latent-space panel (models/mnist-vae.safetensors, `npm run train:vae`), and the
// CIFAR-10 samples and model of the CIFAR-10 panel.
// The training panel adds its Web Worker (demo/train-worker.ts, a second bundle) and the gzipped
// MNIST training set (scripts/pack-mnist-train.mjs).
// `npm run build:demo`; `npm run demo` also serves it (scripts/serve-demo.mjs).
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { packMnistTrain } from "./pack-mnist-train.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEMO_DIST = join(root, "demo", "dist");
/** The MNIST test set files copied to demo/dist/data/ (fetched by the page as data/<file>). */
export const TEST_SET_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

/** Builds demo/dist/ and returns its path. */
export async function buildDemo({ outDir = DEMO_DIST, quiet = false } = {}) {
  const started = performance.now();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // The page (demo/main.ts) and the training panel's Web Worker (demo/train-worker.ts): two
  // bundles, main.js and train-worker.js, side by side.
  await build({
    entryPoints: [join(root, "demo", "main.ts"), join(root, "demo", "train-worker.ts")],
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    logLevel: quiet ? "silent" : "warning",
  });
  copyFileSync(join(root, "demo", "index.html"), join(outDir, "index.html"));
  copyFileSync(join(root, "demo", "train.css"), join(outDir, "train.css"));
  copyFileSync(join(root, "demo", "style.css"), join(outDir, "style.css"));
  copyFileSync(join(root, "demo", "panels.css"), join(outDir, "panels.css"));
  copyFileSync(join(root, "demo", "cifar10-samples.bin"), join(outDir, "cifar10-samples.bin"));
  copyFileSync(join(root, "models", "cifar10-cnn.int8.safetensors"), join(outDir, "cifar10-cnn.int8.safetensors"));
  copyFileSync(join(root, "models", "mnist-cnn.safetensors"), join(outDir, "mnist-cnn.safetensors"));
  copyFileSync(join(root, "models", "mnist-vae.safetensors"), join(outDir, "mnist-vae.safetensors"));
  mkdirSync(join(outDir, "data"), { recursive: true });
  for (const f of TEST_SET_FILES) {
    const from = join(root, "data", "mnist", f);
    if (!existsSync(from))
      throw new Error(`build-demo: ${from} is missing (run \`npm run build\`, which fetches MNIST)`);
    copyFileSync(from, join(outDir, "data", f));
  }
  // The training set for the training panel (gzipped once into build/demo-data/).
  for (const from of packMnistTrain()) copyFileSync(from, join(outDir, "data", basename(from)));
  if (!quiet) {
    const kib = (f) => (statSync(join(outDir, f)).size / 1024).toFixed(0);
    console.log(
      `demo built in ${((performance.now() - started) / 1000).toFixed(1)} s: ${outDir} (main.js ${kib("main.js")} KiB, model ${kib("mnist-cnn.safetensors")} KiB, VAE ${kib("mnist-vae.safetensors")} KiB)`,
    );
  }
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await buildDemo();
}
