// Where the tests find the real CIFAR-10 files: MNIST_WASM_CIFAR_DIR, else shared/datasets beside
// the repository (the layout CI lays out). Tests that need them skip with a printed reason when
// they are absent, except on CI, where their absence is a failing test.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";

export const CIFAR_DIR =
  process.env.MNIST_WASM_CIFAR_DIR ??
  fileURLToPath(new URL("../../../shared/datasets/cifar-10-batches-bin", import.meta.url));

export const HAVE_CIFAR =
  existsSync(join(CIFAR_DIR, "test_batch.bin.gz")) || existsSync(join(CIFAR_DIR, "test_batch.bin"));

/**
 * Whether `file`'s tests of the real CIFAR-10 files (`what`) can run. Without the files: on CI,
 * registers a failing test under `what`; elsewhere, says the tests are skipped and why.
 */
export function cifarAvailable(file: string, what: string): boolean {
  if (!HAVE_CIFAR && process.env.CI) {
    describe(what, () => {
      it("needs the CIFAR-10 files", () => {
        throw new Error(`no CIFAR-10 files in ${CIFAR_DIR}: CI lays out shared/ beside the repository`);
      });
    });
  } else if (!HAVE_CIFAR) {
    console.warn(
      `${file}: no CIFAR-10 files in ${CIFAR_DIR}, skipping ${what} (set MNIST_WASM_CIFAR_DIR to the folder)`,
    );
  }
  return HAVE_CIFAR;
}
