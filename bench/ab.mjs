// Two builds of the SDK, A/B, in one process: the same workloads on each, interleaved round by
// round (the order alternating), so that the machine's drift falls on both alike. For checking
// that a change costs no speed: build the old commit in a worktree, then
//   ROUNDS=7 THREADS=1 node bench/ab.mjs OLD_CHECKOUT/dist dist
// prints the median of each workload on each build and their ratio. AFTER_WINOGRAD=1 runs the
// second build's convolutions by Winograd (Model's `winograd` option).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [beforeDir, afterDir] = process.argv.slice(2).map((dir) => pathToFileURL(resolve(dir)).href);
if (!beforeDir || !afterDir) {
  console.error("usage: node bench/ab.mjs BEFORE_DIST AFTER_DIST");
  process.exit(2);
}
const builds = { before: await import(`${beforeDir}/node.js`), after: await import(`${afterDir}/node.js`) };
const arch = "conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu,dense:10";
async function setup(sdk, winograd) {
  const rt = await sdk.Runtime.create({ threads: Number(process.env.THREADS ?? 1) });
  const train = sdk.takeFirst(sdk.loadMnist("train"), 3000);
  const test = sdk.takeFirst(sdk.loadMnist("test"), 1000);
  const options = winograd ? { winograd: true } : {};
  const mk = (layers, seed = 1) =>
    new sdk.Model(rt, { input: [1, 28, 28], layers: sdk.parseArch(layers) }, { seed, ...options });
  return { sdk, rt, train, test, mk };
}
// AFTER_WINOGRAD=1: the second build's models run Winograd where their convolutions can, in
// training and inference (today's path against the opt-in one).
const envs = {
  before: await setup(builds.before, false),
  after: await setup(builds.after, process.env.AFTER_WINOGRAD === "1"),
};
const now = () => performance.now();
const workloads = {
  "MLP 784-100-10 training (images/s)": async ({ sdk, rt, train, mk }) => {
    const m = mk("dense:100,sigmoid,dense:10");
    const t = now();
    await sdk.fit(m, train, {
      epochs: 2,
      batchSize: 100,
      optimizer: new sdk.Optimizer(rt, { name: "sgd", lr: 1 }),
      seed: 1,
    });
    const r = (2 * train.count) / ((now() - t) / 1000);
    m.dispose();
    return r;
  },
  "MLP 784-100-10 training with Adam (images/s)": async ({ sdk, rt, train, mk }) => {
    const m = mk("dense:100,relu,dense:10");
    const t = now();
    await sdk.fit(m, train, { epochs: 2, batchSize: 100, optimizer: new sdk.Optimizer(rt, { name: "adam" }), seed: 1 });
    const r = (2 * train.count) / ((now() - t) / 1000);
    m.dispose();
    return r;
  },
  // One model per build, trained on in every round (its first round warms it up): the steady
  // state of a training run, without a model's set-up in the figure.
  "CNN training (images/s)": async (env) => {
    const { sdk, rt, train, mk } = env;
    env.cnn ??= {
      model: mk(arch),
      data: new sdk.DeviceData(rt, sdk.takeFirst(train, 2000)),
      optimizer: new sdk.Optimizer(rt, { name: "momentum", lr: 0.05 }),
    };
    const { model, data, optimizer } = env.cnn;
    const t = now();
    await sdk.fit(model, data, { epochs: 1, batchSize: 100, optimizer, seed: 1 });
    return data.count / ((now() - t) / 1000);
  },
  "CNN inference batch 1000 (images/s)": async ({ test, mk }) => {
    const m = mk(arch);
    m.predict(test.images);
    const t = now();
    for (let i = 0; i < 3; i++) m.predict(test.images);
    const r = (3 * test.count) / ((now() - t) / 1000);
    m.dispose();
    return r;
  },
  "CNN one image (images/s)": async ({ test, mk }) => {
    const m = mk(arch);
    const one = test.images.subarray(0, 784);
    for (let i = 0; i < 50; i++) m.predict(one);
    const t = now();
    for (let i = 0; i < 500; i++) m.predict(one);
    const r = 500 / ((now() - t) / 1000);
    m.dispose();
    return r;
  },
  "MLP one image (images/s)": async ({ test, mk }) => {
    const m = mk("dense:100,sigmoid,dense:10");
    const one = test.images.subarray(0, 784);
    for (let i = 0; i < 200; i++) m.predict(one);
    const t = now();
    for (let i = 0; i < 5000; i++) m.predict(one);
    const r = 5000 / ((now() - t) / 1000);
    m.dispose();
    return r;
  },
};
const results = {};
const ROUNDS = Number(process.env.ROUNDS ?? 7);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(workloads)) {
    for (const which of round % 2 ? ["after", "before"] : ["before", "after"]) {
      results[name] ??= { before: [], after: [] };
      results[name][which].push(await run(envs[which]));
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log("| workload | before (median) | after (median) | after / before |");
console.log("| --- | --- | --- | --- |");
for (const [name, r] of Object.entries(results)) {
  const b = median(r.before),
    a = median(r.after);
  console.log(
    `| ${name} | ${Math.round(b).toLocaleString("en")} | ${Math.round(a).toLocaleString("en")} | ${(a / b).toFixed(3)} |`,
  );
}
