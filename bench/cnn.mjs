// CNN training and inference throughput, one thread, through the SDK's public API:
// the LeNet-like net conv3x3x32-relu-maxpool2-conv3x3x64-relu-maxpool2-dense128-relu-dense10.
// Run: npm run build && node bench/cnn.mjs   (or npm run bench)
import b from "benny";
import { ARCH_PRESETS, DeviceData, fit, loadMnist, Model, Optimizer, parseArch, Runtime, takeFirst, withClassifier } from "../dist/node.js";

const rt = await Runtime.create();
const train = loadMnist("train");
const test = loadMnist("test");
const spec = { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) };
const model = new Model(rt, spec, { seed: 1 });
const optimizer = new Optimizer(rt, { name: "momentum", lr: 0.05 });
const oneBatch = new DeviceData(rt, takeFirst(train, 100));
const inferenceBatch = test.images.subarray(0, 1000 * 784);
const oneImage = test.images.subarray(0, 784);

const summary = await b.suite(
  `CNN ${ARCH_PRESETS.cnn},dense:10 (relaxed SIMD: ${rt.features.relaxedSimd}), one thread`,
  b.add("train step, batch 100", async () => {
    await fit(model, oneBatch, { epochs: 1, batchSize: 100, optimizer });
  }),
  b.add("inference, batch 1000", () => {
    model.predict(inferenceBatch, 1000);
  }),
  b.add("inference, one image", () => {
    model.predict(oneImage, 1);
  }),
  b.cycle(),
  b.complete(),
  b.save({ file: "cnn", folder: "bench/results", format: "json" }),
);

// benny rounds ops/s to whole numbers; the mean time per call keeps the precision.
const ops = Object.fromEntries(summary.results.map((r) => [r.name, 1 / r.details.mean]));
console.log("\n| CNN (LeNet-like), one thread | mnist-wasm |\n| --- | --- |");
console.log(`| training, batch 100 | ${Math.round(ops["train step, batch 100"] * 100).toLocaleString("en")} images/s |`);
console.log(`| inference, batch 1000 | ${Math.round(ops["inference, batch 1000"] * 1000).toLocaleString("en")} images/s |`);
console.log(`| inference, one image | ${(1000 / ops["inference, one image"]).toFixed(2)} ms |`);
console.log(`\nnode ${process.version}, command: node bench/cnn.mjs`);
