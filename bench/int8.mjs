// int8 against float32 CNN inference, one thread, through the SDK's public API, for two MNIST
// CNNs: the LeNet-like `cnn` preset (seed 1, trained here for one epoch on 3,000 training images)
// and the shipped model (models/mnist-cnn.safetensors, the batch-normalized `cnn-mnist-bn`), each
// beside its int8 model (quantizeModel, calibrated on 1,000 training images), on test images at
// batch 1000 and one image at a time. Float and int8 are measured in turn, several rounds
// interleaved, so that a machine whose speed drifts slows both alike; each row gives the best
// round's figure and the ratio.
// Run: npm run build && node bench/int8.mjs [--rounds N] [--plain] [--cpu]
//   --plain: the plain SIMD build even where relaxed SIMD runs;
//   --cpu: time by this process's CPU time (user + system) instead of the wall clock, which other
//   work on a shared machine disturbs far more (one thread: the two agree on a quiet machine).
import { readFileSync } from "node:fs";
import {
  ARCH_PRESETS,
  deserializeModel,
  fit,
  loadMnist,
  Model,
  Optimizer,
  parseArch,
  quantizeModel,
  Runtime,
  takeFirst,
  withClassifier,
} from "../dist/node.js";
import { measure } from "./suites.mjs";

const roundsAt = process.argv.indexOf("--rounds");
const ROUNDS = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 3;
const CPU = process.argv.includes("--cpu");
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const timing = CPU ? { clock: cpuSeconds } : {};
const rt = await Runtime.create({ threads: 1, ...(process.argv.includes("--plain") ? { relaxedSimd: false } : {}) });
const train = loadMnist("train");
const test = loadMnist("test");

const lenet = new Model(
  rt,
  { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) },
  { seed: 1 },
);
await fit(lenet, takeFirst(train, 3000), {
  epochs: 1,
  batchSize: 100,
  optimizer: new Optimizer(rt, { name: "momentum", lr: 0.05 }),
  seed: 1,
});
const shipped = deserializeModel(
  rt,
  new Uint8Array(readFileSync(new URL("../models/mnist-cnn.safetensors", import.meta.url))),
).model;
const calibration = train.images.subarray(0, 1000 * 784);
const models = [
  ["LeNet-like CNN (cnn)", lenet],
  ["shipped CNN (cnn-mnist-bn)", shipped],
].map(([name, float]) => ({ name, float, int8: deserializeModel(rt, quantizeModel(float, calibration, 1000)).model }));

const batch = test.images.subarray(0, 1000 * 784);
const one = test.images.subarray(0, 784);
const best = models.map(() => ({
  float: { batch: Infinity, one: Infinity },
  int8: { batch: Infinity, one: Infinity },
}));
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, m] of models.entries()) {
    for (const kind of ["float", "int8"]) {
      const model = m[kind];
      const b = best[i][kind];
      b.batch = Math.min(b.batch, (await measure(() => model.predict(batch, 1000), timing)).best);
      b.one = Math.min(b.one, (await measure(() => model.predict(one, 1), timing)).best);
    }
  }
}
const rate = (s) => Math.round(1000 / s).toLocaleString("en-US");
console.log(
  `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; ${ROUNDS} rounds interleaved, best of each; ${CPU ? "CPU time" : "wall clock"}`,
);
console.log("| model | workload | float32 | int8 | int8 / float32 |");
console.log("| --- | --- | --- | --- | --- |");
for (const [i, { name }] of models.entries()) {
  const { float, int8 } = best[i];
  console.log(
    `| ${name} | batch 1000 (images/s) | ${rate(float.batch)} | ${rate(int8.batch)} | ${(float.batch / int8.batch).toFixed(2)}x |`,
  );
  console.log(
    `| ${name} | one image (ms) | ${(float.one * 1e3).toFixed(3)} | ${(int8.one * 1e3).toFixed(3)} | ${(float.one / int8.one).toFixed(2)}x |`,
  );
}
rt.dispose();
