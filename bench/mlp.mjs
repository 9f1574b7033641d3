// MLP training and inference throughput, one thread, through the SDK's public API.
// Run: npm run build && node bench/mlp.mjs   (or npm run bench)
import b from "benny";
import { DeviceData, fit, loadMnist, mlpSpec, Model, Runtime, SGD, takeFirst } from "../dist/node.js";

const rt = await Runtime.create();
const train = loadMnist("train");
const test = loadMnist("test");
const device = new DeviceData(rt, train);
const oneBatch = new DeviceData(rt, takeFirst(train, 100));
const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10 }), { seed: 1 });
const optimizer = new SGD(rt, 0.1);
const inferenceBatch = test.images.subarray(0, 1000 * 784);
const oneImage = test.images.subarray(0, 784);

// A full epoch once, timed directly: the figure the course's students compared (1.4 s in numpy).
const started = performance.now();
await fit(model, device, { epochs: 1, batchSize: 100, optimizer, seed: 1 });
const epochSeconds = (performance.now() - started) / 1000;

const summary = await b.suite(
  "MLP 784-100-10 (sigmoid), one thread",
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
  b.save({ file: "mlp", folder: "bench/results", format: "json" }),
);

// benny rounds ops/s to whole numbers; the mean time per call keeps the precision.
const ops = Object.fromEntries(summary.results.map((r) => [r.name, 1 / r.details.mean]));
const rows = [
  ["one training epoch (60,000 images, batch 100), timed once", `${epochSeconds.toFixed(3)} s`],
  ["training, batch 100", `${Math.round(ops["train step, batch 100"] * 100).toLocaleString("en")} images/s`],
  ["inference, batch 1000", `${Math.round(ops["inference, batch 1000"] * 1000).toLocaleString("en")} images/s`],
  ["inference, one image", `${(1e6 / ops["inference, one image"]).toFixed(1)} µs`],
];
console.log("\n| MLP 784-100-10, one thread | mnist-wasm |\n| --- | --- |");
for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
console.log(`\nnode ${process.version}, command: node bench/mlp.mjs`);
