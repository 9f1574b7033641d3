// Writes demo/cifar10-samples.bin, the CIFAR-10 samples of the demo page: the first 100 records
// of the CIFAR-10 test batch, unchanged (label byte + 3x32x32 RGB planes each), so the file is
// itself a CIFAR-10 .bin batch that `mnist-wasm classify --input` and datasetFromCifarBatches
// read. Committed (300 KB); re-run only to regenerate it:
//   node scripts/pack-cifar-samples.mjs [path/to/test_batch.bin[.gz]]
// (default: ../shared/datasets/cifar-10-batches-bin/test_batch.bin.gz beside the repository).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const COUNT = 100;
const RECORD = 1 + 3 * 32 * 32;
const source = resolve(
  process.argv[2] ?? join(root, "..", "shared", "datasets", "cifar-10-batches-bin", "test_batch.bin.gz"),
);
const target = join(root, "demo", "cifar10-samples.bin");

let bytes = readFileSync(source);
if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
if (bytes.length % RECORD !== 0 || bytes.length < COUNT * RECORD) {
  console.error(
    `pack-cifar-samples: ${source} is not a CIFAR-10 batch of at least ${COUNT} records (${bytes.length} bytes)`,
  );
  process.exit(1);
}
const samples = bytes.subarray(0, COUNT * RECORD);
const perClass = new Array(10).fill(0);
for (let i = 0; i < COUNT; i++) perClass[samples[i * RECORD]]++;
writeFileSync(target, samples);
console.log(`wrote ${target}: test images 0-${COUNT - 1}, per class ${perClass.join(" ")}`);
