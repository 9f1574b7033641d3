// int8 against float32 CNN inference, one thread, through the SDK's public API: the shipped
// LeNet-like MNIST CNN (models/mnist-cnn.safetensors) and its int8 model (quantizeModel,
// calibrated on 1,000 training images), on test images at batch 1000 and one image at a time.
// The two are measured in turn, several rounds interleaved, so that a machine whose speed drifts
// slows both alike; each row gives the best round's figure and the ratio.
// Run: npm run build && node bench/int8.mjs [--rounds N] [--plain]   (--plain: the plain SIMD build even where relaxed SIMD runs)
import { readFileSync } from "node:fs";
import { deserializeModel, loadMnist, quantizeModel, Runtime } from "../dist/node.js";
import { measure } from "./suites.mjs";

const roundsAt = process.argv.indexOf("--rounds");
const ROUNDS = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 3;
const rt = await Runtime.create({ threads: 1, ...(process.argv.includes("--plain") ? { relaxedSimd: false } : {}) });
const float = deserializeModel(
  rt,
  new Uint8Array(readFileSync(new URL("../models/mnist-cnn.safetensors", import.meta.url))),
).model;
const train = loadMnist("train");
const int8Bytes = quantizeModel(float, train.images.subarray(0, 1000 * 784), 1000);
const int8 = deserializeModel(rt, int8Bytes).model;
const test = loadMnist("test");
const batch = test.images.subarray(0, 1000 * 784);
const one = test.images.subarray(0, 784);
const best = { float: { batch: Infinity, one: Infinity }, int8: { batch: Infinity, one: Infinity } };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, model] of [
    ["float", float],
    ["int8", int8],
  ]) {
    best[name].batch = Math.min(best[name].batch, (await measure(() => model.predict(batch, 1000))).best);
    best[name].one = Math.min(best[name].one, (await measure(() => model.predict(one, 1))).best);
  }
}
const rate = (s) => Math.round(1000 / s).toLocaleString("en-US");
console.log(
  `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; ${ROUNDS} rounds interleaved, best of each`,
);
console.log("| workload | float32 | int8 | int8 / float32 |");
console.log("| --- | --- | --- | --- |");
console.log(
  `| CNN inference, batch 1000 (images/s) | ${rate(best.float.batch)} | ${rate(best.int8.batch)} | ${(best.float.batch / best.int8.batch).toFixed(2)}x |`,
);
console.log(
  `| CNN inference, one image (ms) | ${(best.float.one * 1e3).toFixed(3)} | ${(best.int8.one * 1e3).toFixed(3)} | ${(best.float.one / best.int8.one).toFixed(2)}x |`,
);
rt.dispose();
