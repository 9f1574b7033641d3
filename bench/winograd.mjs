// Winograd (F(2x2, 3x3) or F(4x4, 3x3), the tile size each layer's rule picks) against the
// default convolution path (im2col + GEMM), inference on one thread through the SDK's public API:
// (a) a CIFAR-10 net of six padded 3x3 convolutions with batch norm (random weights: the speed
// does not depend on them) and (b) the MNIST `cnn` preset,
// at batch 1000 and one image at a time, images/s; the two paths are measured in turn, several
// rounds interleaved, so that a machine whose speed drifts slows both alike; each row gives the
// best round's figure and the ratio. With --layers, one 3x3 stride-1 convolution at a time over
// a grid of channel counts and map sizes (batch 100 and 1): the timings the rule in
// sdk/layers/winograd.ts (winogradPays, winogradTile) are derived from. A shape the rule turns
// down runs the default path both times (its "rule" column says no): its Winograd figures were
// taken with the rule set to always; the figures of the tile size the rule does not pick, with
// winogradTile set to it. With --training, training steps instead: one batch of 100 MNIST training
// images through fit() (forward, backward, update) for the `cnn` preset and the shipped model's
// `cnn-mnist-bn`, and 100 made-up colour images for the CIFAR-10 model's `cnn-cifar-bn` (the
// speed does not depend on the pixels); with --layers too, one layer's forward and backward
// training passes.
// Run: npm run build && node bench/winograd.mjs [--rounds N] [--seconds S] [--layers] [--training] [--plain]
import {
  ARCH_PRESETS,
  DeviceData,
  fit,
  loadMnist,
  Model,
  Optimizer,
  parseArch,
  Runtime,
  takeFirst,
  withClassifier,
} from "../dist/node.js";
import { measure } from "./suites.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const ROUNDS = arg("--rounds", 3);
const SECONDS = arg("--seconds", 0.5);
const rt = await Runtime.create({ threads: 1, ...(process.argv.includes("--plain") ? { relaxedSimd: false } : {}) });

/** Seconds per call of fn, best sample of a short measurement. */
const time = async (fn) => (await measure(fn, { seconds: SECONDS, warmupSeconds: SECONDS / 4 })).best;

/** Best seconds per call of `run` with Winograd off and on, `ROUNDS` rounds interleaved. */
async function interleaved(model, run) {
  const best = { direct: Infinity, winograd: Infinity };
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of ["direct", "winograd"]) {
      model.winograd = path === "winograd";
      best[path] = Math.min(best[path], await time(run));
    }
  }
  model.winograd = false;
  return best;
}

const rate = (n, s) => Math.round(n / s).toLocaleString("en-US");

const training = process.argv.includes("--training");

if (training && process.argv.includes("--layers")) {
  console.log(
    `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; one conv layer's training passes (forward + backward with the input gradient), batch 100, ${ROUNDS} rounds interleaved, best of each`,
  );
  console.log("| C | K | input | padding | output | rule | direct ms | Winograd ms | ratio |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  // The cnn's conv2, cnn-mnist-bn's conv2 and conv3, the CIFAR-10 net's layers, and the rule's
  // edges (8 channels in; 4x4 maps, which training takes and inference does not). Shapes the
  // rule turns down would run the default path both times: set winogradPays to always to time them
  // (and winogradTile to the other size to time that).
  const shapes = [
    [32, 64, 13, 0],
    [64, 64, 11, 0],
    [32, 32, 32, 1],
    [32, 64, 16, 1],
    [64, 64, 16, 1],
    [64, 128, 8, 1],
    [128, 128, 8, 1],
    [8, 8, 16, 1],
    [8, 16, 16, 1],
    [16, 16, 8, 1],
    [64, 64, 6, 1],
    [32, 32, 4, 1],
    [64, 64, 4, 1],
    [128, 128, 4, 1],
  ];
  for (const [C, K, side, padding] of shapes) {
    const model = new Model(rt, {
      input: [C, side, side],
      layers: [{ type: "conv2d", filters: K, size: 3, padding }, { type: "flatten" }, { type: "dense", units: 2 }],
    });
    const conv = model.layers[0];
    model.allocate(100, true);
    const x = rt.f32(model.inputPtr, 100 * C * side * side);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000;
    // The output gradient: the conv's own output buffer, any values will do.
    const pass = () => {
      const y = conv.forward(model.inputPtr, 100, true);
      conv.backward(y, 100, true);
    };
    const t = await interleaved(model, pass);
    const out = side + 2 * padding - 2;
    console.log(
      `| ${C} | ${K} | ${side}x${side} | ${padding} | ${out}x${out} | ${model.winogradTrainingLayers ? "yes" : "no"} | ${(t.direct * 1e3).toFixed(2)} | ${(t.winograd * 1e3).toFixed(2)} | ${(t.direct / t.winograd).toFixed(2)}x |`,
    );
    model.dispose();
  }
} else if (training) {
  console.log(
    `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; training steps of batch 100 (fit, momentum SGD), ${ROUNDS} rounds interleaved, best of each`,
  );
  console.log("| network | direct images/s | Winograd images/s | Winograd / direct |");
  console.log("| --- | --- | --- | --- |");
  const mnist = new DeviceData(rt, takeFirst(loadMnist("train"), 100));
  const colour = new DeviceData(rt, {
    name: "made-up colour images",
    shape: [3, 32, 32],
    images: new Uint8Array(100 * 3072).map((_, i) => (i * 2654435761) % 251),
    labels: new Uint8Array(100).map((_, i) => i % 10),
    count: 100,
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  });
  for (const name of ["cnn", "cnn-mnist-bn", "cnn-cifar-bn"]) {
    const batch = name === "cnn-cifar-bn" ? colour : mnist;
    const model = new Model(
      rt,
      { input: batch.data.shape, layers: withClassifier(parseArch(ARCH_PRESETS[name]), 10) },
      { seed: 1 },
    );
    const optimizer = new Optimizer(rt, { name: "momentum", lr: 0.01 });
    const t = await interleaved(model, () => fit(model, batch, { epochs: 1, batchSize: 100, optimizer }));
    console.log(
      `| \`${name}\` (${model.winogradTrainingLayers} Winograd layer${model.winogradTrainingLayers === 1 ? "" : "s"}) | ${rate(100, t.direct)} | ${rate(100, t.winograd)} | ${(t.direct / t.winograd).toFixed(2)}x |`,
    );
    optimizer.dispose();
    model.dispose();
  }
  mnist.dispose();
  colour.dispose();
} else if (process.argv.includes("--layers")) {
  console.log(
    `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; one conv layer, ${ROUNDS} rounds interleaved, best of each`,
  );
  console.log(
    "| C | K | input | padding | output | rule | batch 100: direct ms | Winograd ms | ratio | batch 1: direct µs | Winograd µs | ratio |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const shapes = [
    // The CIFAR-10 net's and the MNIST cnn's eligible layers, then a grid around them.
    [32, 32, 32, 1],
    [32, 64, 16, 1],
    [64, 64, 16, 1],
    [64, 128, 8, 1],
    [128, 128, 8, 1],
    [32, 64, 13, 0],
    [3, 32, 32, 1],
    [4, 16, 16, 1],
    [8, 8, 16, 1],
    [8, 16, 16, 1],
    [16, 16, 16, 1],
    [16, 16, 8, 1],
    [16, 32, 8, 1],
    [32, 32, 8, 1],
    [32, 32, 4, 1],
    [64, 64, 4, 1],
    [128, 128, 4, 1],
    [128, 128, 2, 1],
    [256, 256, 4, 1],
    [6, 32, 32, 1],
    [8, 32, 32, 1],
    [8, 4, 16, 1],
    [32, 32, 6, 1],
    [128, 128, 6, 1],
  ];
  for (const [C, K, side, padding] of shapes) {
    const model = new Model(rt, {
      input: [C, side, side],
      layers: [{ type: "conv2d", filters: K, size: 3, padding }, { type: "flatten" }, { type: "dense", units: 2 }],
    });
    const conv = model.layers[0];
    model.allocate(100, false);
    const big = await interleaved(model, () => conv.forward(model.inputPtr, 100, false));
    const one = await interleaved(model, () => conv.forward(model.inputPtr, 1, false));
    const out = side + 2 * padding - 2;
    console.log(
      `| ${C} | ${K} | ${side}x${side} | ${padding} | ${out}x${out} | ${model.winogradLayers ? "yes" : "no"} | ${(big.direct * 1e3).toFixed(2)} | ${(big.winograd * 1e3).toFixed(2)} | ${(big.direct / big.winograd).toFixed(2)}x | ${(one.direct * 1e6).toFixed(0)} | ${(one.winograd * 1e6).toFixed(0)} | ${(one.direct / one.winograd).toFixed(2)}x |`,
    );
    model.dispose();
  }
} else {
  const nets = [
    {
      name: "CIFAR-10 net (6 conv 3x3 p1 + batch norm)",
      input: [3, 32, 32],
      arch: "conv:32x3p1,batchnorm,relu,conv:32x3p1,batchnorm,relu,maxpool:2,conv:64x3p1,batchnorm,relu,conv:64x3p1,batchnorm,relu,maxpool:2,conv:128x3p1,batchnorm,relu,conv:128x3p1,batchnorm,relu,maxpool:2,avgpool:4,dense:10",
    },
    {
      name: "MNIST cnn preset",
      input: [1, 28, 28],
      arch: "conv:32x3,relu,maxpool:2,conv:64x3,relu,maxpool:2,dense:128,relu,dense:10",
    },
  ];
  console.log(
    `runtime: ${rt.features.relaxedSimd ? "relaxed SIMD" : "plain SIMD"}, 1 thread, Node ${process.versions.node}; ${ROUNDS} rounds interleaved, best of each`,
  );
  console.log("| workload | direct | Winograd | Winograd / direct |");
  console.log("| --- | --- | --- | --- |");
  for (const net of nets) {
    const model = new Model(rt, { input: net.input, layers: parseArch(net.arch) }, { seed: 1 });
    const size = net.input.reduce((a, b) => a * b, 1);
    const pixels = new Float32Array(1000 * size).map((_, i) => ((i * 2654435761) % 1000) / 1000);
    const batch = await interleaved(model, () => model.predict(pixels, 1000));
    const one = await interleaved(model, () => model.predict(pixels.subarray(0, size), 1));
    console.log(
      `| ${net.name}, batch 1000 (images/s) | ${rate(1000, batch.direct)} | ${rate(1000, batch.winograd)} | ${(batch.direct / batch.winograd).toFixed(2)}x |`,
    );
    console.log(
      `| ${net.name}, one image (ms) | ${(one.direct * 1e3).toFixed(3)} | ${(one.winograd * 1e3).toFixed(3)} | ${(one.direct / one.winograd).toFixed(2)}x |`,
    );
    model.dispose();
  }
}
rt.dispose();
