// Peer comparison: mnist-wasm against TensorFlow.js 4.22 and ONNX Runtime 1.31 in the same process,
// on the same data. mnist-wasm runs twice: on one thread, and on every core (Runtime.create({ threads }),
// a worker pool sharing the wasm memory). The peers:
//   tfjs-wasm        @tensorflow/tfjs-backend-wasm, its SIMD build (tfjs-backend-wasm-simd.wasm, loaded
//                    from the npm package: nothing is downloaded); its threaded build does not start in
//                    Node, so XNNPACK runs on one thread
//   tfjs-cpu         @tensorflow/tfjs-backend-cpu, plain JavaScript
//   ort-web          onnxruntime-web's wasm backend (SIMD), one thread, in this process
//   ort-web-threads  the same on every core: in Chromium (bench/ort-browser.mjs), as onnxruntime-web
//                    runs one thread in Node whatever numThreads says
//   ort-node         onnxruntime-node, native CPU code, every core (intraOpNumThreads)
//   ort-node-1       the same on one thread
// ONNX Runtime runs the inference rows only, on the net exported by mnist-wasm (exportOnnx: the same
// weights, the softmax in the graph); the GEMM and training rows are not what it is for. The int8
// rows run the same net quantized (quantizeModel, calibrated on 1,000 training images): mnist-wasm's
// int8 kernels, and ONNX Runtime on its QDQ export (int8 weights and activations, which ONNX Runtime
// fuses into QLinearConv and QGemm); TensorFlow.js has no int8 inference.
// The peer packages are devDependencies of bench/ only (bench/package.json, bench/package-lock.json):
// tfjs-core, tfjs-backend-wasm, tfjs-backend-cpu, tfjs-layers for its gradient registrations,
// onnxruntime-web and onnxruntime-node (whose package carries its native binary: its install script
// only fetches GPU builds, so it is installed with scripts ignored).
//
// Setup: npm run build && (cd bench && npm ci --ignore-scripts)
// Run:   node bench/peers.mjs            (from the repo root; arguments pick workloads by id, e.g.
//        node bench/peers.mjs gemm mlp-train)
// Output: a markdown table on stdout and bench/results/peers.json.
//
// Timing: every case is called once first (warm-up, and the check that the library can run it at
// all: a missing kernel is reported in the table instead of a number). Cases whose warm-up call
// took under SLOW_CALL_SECONDS are then timed with benny (benchmark.js: repeated samples, mean
// and margin of error), one benny suite per case. benny is impractical for the slow ones
// (tfjs-cpu's CNN training step takes minutes, its large GEMMs seconds): benchmark.js wants at
// least 5 samples of several calls each, so those get a plain loop of a few timed calls instead,
// LOOP_TARGET_SECONDS of work at most (a single timed call after the warm-up for the slowest).
//
// What each library does per call:
//   GEMM        mnist-wasm: rt.gemm on buffers in its wasm memory. tfjs: tf.matMul on tensors
//               already on the backend, dataSync() of the result, dispose.
//   training    one SGD step on one MNIST batch of 100 already on the device (mnist-wasm:
//               fit() over a 100-image DeviceData; tfjs: optimizer.minimize of a hand-written net
//               on tensors made once), loss read back.
//   inference   Float32 pixels in [0, 1] in, class probabilities out (mnist-wasm: model.predict;
//               tfjs: tf.tensor of the pixels, forward, softmax, dataSync; ONNX Runtime: an
//               ort.Tensor of the pixels, session.run, the output's data).
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import b from "benny";
import { formatPeerCell, formatRatio, ORT_COLUMNS, ORT_HEADERS } from "./report.mjs";

const SLOW_CALL_SECONDS = 1;
const LOOP_TARGET_SECONDS = 10;
const LOOP_MAX_CALLS = 10;
const LIBRARIES = [
  "mnist-wasm",
  "mnist-wasm-threads",
  "tfjs-wasm",
  "tfjs-cpu",
  "ort-web",
  "ort-web-threads",
  "ort-node",
  "ort-node-1",
];
const TFJS_VERSION = "4.22.0";
const ORT_VERSION = "1.31.1";

const here = dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// The tfjs packages (bench/node_modules): without them, say so and stop.

let tf;
let tfWasm;
try {
  tf = await import("@tensorflow/tfjs-core");
  // tfjs-core registers no gradients by itself; importing tfjs-layers registers all of them (as
  // @tensorflow/tfjs does). Layers itself is not used: the nets below are written with core ops.
  await import("@tensorflow/tfjs-layers");
  tfWasm = await import("@tensorflow/tfjs-backend-wasm");
  await import("@tensorflow/tfjs-backend-cpu");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
  console.log(
    "bench/peers.mjs: TensorFlow.js is not installed (run: cd bench && npm ci --ignore-scripts); skipping the peer comparison.",
  );
  process.exit(0);
}

// ONNX Runtime (bench/node_modules): without it, its columns say so.
const ortMissing = "not installed (cd bench && npm ci --ignore-scripts)";
const importOrt = async (name) => {
  try {
    return await import(name);
  } catch (e) {
    if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
    return undefined;
  }
};
const ortWeb = await importOrt("onnxruntime-web");
const ortNode = await importOrt("onnxruntime-node");

// mnist-wasm: the built SDK, public API only.
const {
  ARCH_PRESETS,
  defaultThreads,
  DeviceData,
  deserializeModel,
  exportOnnx,
  ONNX_INPUT,
  ONNX_OUTPUT,
  fit,
  loadMnist,
  Model,
  Optimizer,
  parseArch,
  quantizeModel,
  Runtime,
  takeFirst,
  withClassifier,
} = await import("../dist/node.js");
/** mnist-wasm's second column: every core (a worker pool sharing the wasm memory). */
const THREADS = defaultThreads();

// ---------------------------------------------------------------------------------------------
// Data and shared definitions

const BATCH = 100;
const INFERENCE_BATCH = 1000;
const CALIBRATION = 1000;
const MLP_ARCH = "dense:100,sigmoid"; // + dense:10 from withClassifier: the course's 784-100-10 net
const MLP_LR = 0.1;
const CNN_LR = 0.05;

const train = loadMnist("train");
const test = loadMnist("test");
const trainBatch = takeFirst(train, BATCH);
const toFloat = (bytes) => Float32Array.from(bytes, (v) => v / 255);
const trainPixels = toFloat(trainBatch.images); // [100, 784] in [0, 1]
const trainLabels = Int32Array.from(trainBatch.labels);
const inferencePixels = toFloat(test.images.subarray(0, INFERENCE_BATCH * 784));

const mnistWasmSpec = (arch) => ({ input: [1, 28, 28], layers: withClassifier(parseArch(arch), 10) });

function fillRandom(array) {
  for (let i = 0; i < array.length; i++) array[i] = Math.random() * 2 - 1;
  return array;
}

// ---------------------------------------------------------------------------------------------
// Workload 1: GEMM, C[m,n] = A[m,k]·B[k,n]

function gemmMnistWasm(rt, m, k, n, transA, transB) {
  const a = rt.alloc(m * k * 4);
  const bb = rt.alloc(k * n * 4);
  const c = rt.alloc(m * n * 4);
  fillRandom(rt.f32(a, m * k)); // views made after every alloc: growing the memory detaches them
  fillRandom(rt.f32(bb, k * n));
  return {
    run: () => rt.gemm(a, bb, c, m, k, n, transA, transB, 0),
    dispose: () => [a, bb, c].forEach((p) => rt.free(p)),
  };
}

function gemmTfjs(m, k, n, transA, transB) {
  const a = tf.randomUniform(transA ? [k, m] : [m, k], -1, 1);
  const bb = tf.randomUniform(transB ? [n, k] : [k, n], -1, 1);
  return {
    run: () => {
      const c = tf.matMul(a, bb, transA, transB);
      c.dataSync();
      c.dispose();
    },
    dispose: () => tf.dispose([a, bb]),
  };
}

// ---------------------------------------------------------------------------------------------
// The two nets in tfjs, written by hand (what tfjs-layers would build: fused matMul/conv2d with
// bias, NHWC images). Weights: He/Glorot-scaled normal, zero biases.

/** A tf.variable holding `initial` (which is then disposed: the variable keeps its own reference). */
function param(initial) {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

function tfjsMlp() {
  const w1 = param(tf.randomNormal([784, 100], 0, Math.sqrt(1 / 784)));
  const b1 = param(tf.zeros([100]));
  const w2 = param(tf.randomNormal([100, 10], 0, Math.sqrt(1 / 100)));
  const b2 = param(tf.zeros([10]));
  return {
    inputShape: [784],
    vars: [w1, b1, w2, b2],
    forward: (x) => {
      // fused matMul cannot differentiate a fused sigmoid: the sigmoid is a separate op
      const h = tf.sigmoid(tf.fused.matMul({ a: x, b: w1, bias: b1 }));
      return tf.fused.matMul({ a: h, b: w2, bias: b2 });
    },
  };
}

// conv3x3x32-relu-maxpool2-conv3x3x64-relu-maxpool2-dense128-relu-dense10, no padding:
// 28x28 -> 26x26x32 -> 13x13x32 -> 11x11x64 -> 5x5x64 = 1600 -> 128 -> 10
function tfjsCnn() {
  const he = (shape, fanIn) => param(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn)));
  const w1 = he([3, 3, 1, 32], 9);
  const b1 = param(tf.zeros([32]));
  const w2 = he([3, 3, 32, 64], 9 * 32);
  const b2 = param(tf.zeros([64]));
  const w3 = he([1600, 128], 1600);
  const b3 = param(tf.zeros([128]));
  const w4 = he([128, 10], 128);
  const b4 = param(tf.zeros([10]));
  return {
    inputShape: [28, 28, 1],
    vars: [w1, b1, w2, b2, w3, b3, w4, b4],
    forward: (x) => {
      let h = tf.fused.conv2d({ x, filter: w1, strides: 1, pad: "valid", bias: b1, activation: "relu" });
      h = tf.maxPool(h, 2, 2, "valid");
      h = tf.fused.conv2d({ x: h, filter: w2, strides: 1, pad: "valid", bias: b2, activation: "relu" });
      h = tf.maxPool(h, 2, 2, "valid");
      h = tf.reshape(h, [h.shape[0], 1600]);
      h = tf.fused.matMul({ a: h, b: w3, bias: b3, activation: "relu" });
      return tf.fused.matMul({ a: h, b: w4, bias: b4 });
    },
  };
}

const TFJS_NETS = { mlp: tfjsMlp, cnn: tfjsCnn };
const MNIST_WASM_ARCHS = { mlp: MLP_ARCH, cnn: ARCH_PRESETS.cnn };
const LEARNING_RATES = { mlp: MLP_LR, cnn: CNN_LR };

// ---------------------------------------------------------------------------------------------
// Workloads 2 and 3: one training step (softmax cross-entropy, plain SGD, batch 100)

function trainMnistWasm(rt, net) {
  const model = new Model(rt, mnistWasmSpec(MNIST_WASM_ARCHS[net]), { seed: 1 });
  const optimizer = new Optimizer(rt, { name: "sgd", lr: LEARNING_RATES[net] });
  const batch = new DeviceData(rt, trainBatch);
  let last = Promise.resolve();
  return {
    // Each step starts when the last one has settled: a model trains in one fit() at a time, and
    // benny calls a case that returns a promise once more before it awaits anything.
    run: () => {
      last = last.then(() => fit(model, batch, { epochs: 1, batchSize: BATCH, optimizer }));
      return last;
    },
    dispose: () => {
      batch.dispose();
      model.dispose();
    },
  };
}

function trainTfjs(net) {
  const model = TFJS_NETS[net]();
  const optimizer = tf.train.sgd(LEARNING_RATES[net]);
  const x = tf.tensor(trainPixels, [BATCH, ...model.inputShape]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(trainLabels, "int32"), 10), "float32"));
  return {
    run: () => {
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.forward(x)), true, model.vars);
      loss.dataSync();
      loss.dispose();
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([x, y, ...model.vars]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Workload 4: inference, `count` images of pixels in, probabilities out

function inferMnistWasm(rt, net, count, int8 = false) {
  const model = int8 ? int8Model(rt, net) : new Model(rt, mnistWasmSpec(MNIST_WASM_ARCHS[net]), { seed: 1 });
  const pixels = inferencePixels.subarray(0, count * 784);
  return {
    run: () => model.predict(pixels, count),
    dispose: () => model.dispose(),
  };
}

function inferTfjs(net, count) {
  const model = TFJS_NETS[net]();
  const pixels = inferencePixels.subarray(0, count * 784);
  return {
    run: () => {
      const probs = tf.tidy(() => tf.softmax(model.forward(tf.tensor(pixels, [count, ...model.inputShape]))));
      probs.dataSync();
      probs.dispose();
    },
    dispose: () => tf.dispose(model.vars),
  };
}

/** The net as mnist-wasm builds it (the same seed), quantized to int8 on 1,000 training images. */
function int8Model(rt, net) {
  const model = new Model(rt, mnistWasmSpec(MNIST_WASM_ARCHS[net]), { seed: 1 });
  const bytes = quantizeModel(model, train.images.subarray(0, CALIBRATION * 784), CALIBRATION);
  model.dispose();
  return deserializeModel(rt, bytes).model;
}

/** The net as mnist-wasm builds it (the same seed as inferMnistWasm), exported to ONNX (int8: as QDQ). */
function onnxModel(rt, net, int8 = false) {
  const model = int8 ? int8Model(rt, net) : new Model(rt, mnistWasmSpec(MNIST_WASM_ARCHS[net]), { seed: 1 });
  const bytes = exportOnnx(model);
  model.dispose();
  return bytes;
}

/** ONNX Runtime (`ort`: onnxruntime-web or onnxruntime-node) running the exported net on `count` images. */
async function inferOrt(ort, rt, { net, count, int8 }, options = {}) {
  const session = await ort.InferenceSession.create(onnxModel(rt, net, int8), options);
  const pixels = inferencePixels.subarray(0, count * 784);
  return {
    run: async () => {
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", pixels, [count, 1, 28, 28]) });
      return out[ONNX_OUTPUT].data;
    },
    dispose: () => session.release(),
  };
}

// ---------------------------------------------------------------------------------------------
// The rows of the table. `perCall` is the work of one call: GFLOP for GEMM, images otherwise;
// rate rows report perCall × calls/s, latency rows the milliseconds of one call.

// (M, K, N, transA, transB, what): the square sizes, the MLP's, and the per-image products of the
// LeNet-like net's convolutions (forward W·cols, weight gradient dy·colsᵀ, patch gradient Wᵀ·dy).
const GEMM_SHAPES = [
  [100, 784, 100, false, false, "MLP layer 1, forward"],
  [100, 100, 10, false, false, "MLP layer 2, forward"],
  [784, 100, 100, true, false, "MLP layer 1, weight gradient"],
  [256, 256, 256, false, false],
  [512, 512, 512, false, false],
  [1024, 1024, 1024, false, false],
  [32, 9, 676, false, false, "conv1 forward as a GEMM (the layer runs convDirect)"],
  [64, 288, 121, false, false, "conv2 forward"],
  [64, 121, 288, false, true, "conv2 weight gradient"],
  [288, 64, 121, true, false, "conv2 patch gradient"],
];
const NET_TITLES = { mlp: "MLP 784-100-10 sigmoid", cnn: "CNN (LeNet-like)" };
const NO_INT8 = "no int8 inference in TensorFlow.js";

const ALL_WORKLOADS = [
  ...GEMM_SHAPES.map(([m, k, n, transA, transB, what]) => ({
    id: `gemm-${m}x${k}x${n}${transA ? "-tA" : ""}${transB ? "-tB" : ""}`,
    title: `GEMM (M,K,N) = (${m},${k},${n})${transA ? " Aᵀ" : ""}${transB ? " Bᵀ" : ""}${what ? `: ${what}` : ""}`,
    unit: "GFLOP/s",
    perCall: (2 * m * k * n) / 1e9,
    "mnist-wasm": (rt) => gemmMnistWasm(rt, m, k, n, transA, transB),
    tfjs: () => gemmTfjs(m, k, n, transA, transB),
  })),
  ...["mlp", "cnn"].map((net) => ({
    id: `${net}-train`,
    title: `${NET_TITLES[net]}: training, batch ${BATCH}`,
    unit: "images/s",
    perCall: BATCH,
    "mnist-wasm": (rt) => trainMnistWasm(rt, net),
    tfjs: () => trainTfjs(net),
  })),
  ...["mlp", "cnn"].flatMap((net) => [
    {
      id: `${net}-infer-${INFERENCE_BATCH}`,
      title: `${NET_TITLES[net]}: inference, batch ${INFERENCE_BATCH}`,
      unit: "images/s",
      perCall: INFERENCE_BATCH,
      "mnist-wasm": (rt) => inferMnistWasm(rt, net, INFERENCE_BATCH),
      tfjs: () => inferTfjs(net, INFERENCE_BATCH),
      onnx: { net, count: INFERENCE_BATCH },
    },
    {
      id: `${net}-infer-1`,
      title: `${NET_TITLES[net]}: inference, one image (latency)`,
      unit: "ms",
      perCall: 1,
      "mnist-wasm": (rt) => inferMnistWasm(rt, net, 1),
      tfjs: () => inferTfjs(net, 1),
      onnx: { net, count: 1 },
    },
  ]),
  ...[INFERENCE_BATCH, 1].map((count) => ({
    id: `cnn-int8-infer-${count}`,
    title: `${NET_TITLES.cnn}, int8: inference, ${count === 1 ? "one image (latency)" : `batch ${count}`}`,
    unit: count === 1 ? "ms" : "images/s",
    perCall: count,
    "mnist-wasm": (rt) => inferMnistWasm(rt, "cnn", count, true),
    tfjs: () => {
      throw new Error(NO_INT8);
    },
    onnx: { net: "cnn", count, int8: true },
  })),
];

// `node bench/peers.mjs gemm cnn-infer`: only the workloads whose id contains one of the arguments.
const filters = process.argv.slice(2);
const WORKLOADS = ALL_WORKLOADS.filter((w) => filters.length === 0 || filters.some((f) => w.id.includes(f)));
if (WORKLOADS.length === 0) {
  console.error(`no workload matches ${filters.join(", ")}; ids: ${ALL_WORKLOADS.map((w) => w.id).join(", ")}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Timing

const seconds = () => performance.now() / 1000;
const errorText = (e) => String(e?.message ?? e).split("\n")[0];

/** A few timed calls after the warm-up, for calls too slow for benny. */
async function timeWithLoop(run, warmupSeconds) {
  const calls = Math.max(1, Math.min(LOOP_MAX_CALLS, Math.floor(LOOP_TARGET_SECONDS / warmupSeconds)));
  const times = [];
  for (let i = 0; i < calls; i++) {
    const started = seconds();
    await run();
    times.push(seconds() - started);
  }
  const total = times.reduce((s, t) => s + t, 0);
  return { opsPerSecond: calls / total, method: "loop", calls, seconds: times };
}

/**
 * Builds and measures every workload with one library (`make(workload)` returns its case).
 * Returns { [workload id]: { opsPerSecond, method, ... } | { error } }.
 */
async function measureLibrary(library, make) {
  const results = {};
  const fast = [];
  const cases = [];
  for (const workload of WORKLOADS) {
    let c;
    try {
      c = await make(workload);
      cases.push(c);
      const started = seconds();
      await c.run();
      const warmup = seconds() - started;
      if (warmup < SLOW_CALL_SECONDS) {
        fast.push({ workload, c });
      } else {
        console.log(`${library}: ${workload.title}: ${warmup.toFixed(1)} s per call, timing with a loop`);
        results[workload.id] = await timeWithLoop(c.run, warmup);
      }
    } catch (e) {
      console.log(`${library}: ${workload.title}: ${errorText(e)}`);
      results[workload.id] = { error: errorText(e) };
    }
  }
  // One benny suite per case (benny's summary rounds ops/s to integers: use 1 / mean instead).
  for (const { workload, c } of fast) {
    const summary = await b.suite(`${library}: ${workload.title}`, b.add(workload.title, c.run));
    const r = summary.results[0];
    results[workload.id] = {
      opsPerSecond: 1 / r.details.mean,
      method: "benny",
      marginPercent: r.margin,
      samples: r.samples,
      medianOpsPerSecond: 1 / r.details.median,
    };
    console.log(`  ${(1 / r.details.mean).toPrecision(4)} calls/s ±${r.margin}% (${r.samples} samples)`);
  }
  for (const c of cases) await c.dispose?.();
  return results;
}

async function useTfjsBackend(name) {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs: backend ${name} did not start`);
  await tf.ready();
}

// ---------------------------------------------------------------------------------------------
// Run

const wasmDist = join(dirname(requireHere.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
const wasmBinaries = Object.fromEntries(
  ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"].map((f) => [
    f,
    join(wasmDist, f),
  ]),
);
tfWasm.setWasmPaths(wasmBinaries); // local files, read with fs (no fetch)
tf.env().set("WASM_HAS_SIMD_SUPPORT", true); // -> tfjs-backend-wasm-simd.wasm
tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false); // one thread (the threaded build does not start in Node)
tf.enableProdMode(); // only silences warnings in 4.22 (e.g. tfjs-cpu's "install tfjs-node" banner)

const rt = await Runtime.create();
const rtThreads = await Runtime.create({ threads: THREADS });
/** onnxruntime-web's exports leave out its package.json: read it beside its main file's folder. */
const ortVersion = (name) => {
  let dir = dirname(requireHere.resolve(name));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
};
const installed = (name) =>
  JSON.parse(readFileSync(join(dirname(requireHere.resolve(`${name}/package.json`)), "package.json"), "utf8")).version;
const versions = {
  "mnist-wasm": JSON.parse(readFileSync(join(here, "..", "package.json"), "utf8")).version,
  "@tensorflow/tfjs-core": installed("@tensorflow/tfjs-core"),
  "@tensorflow/tfjs-backend-wasm": installed("@tensorflow/tfjs-backend-wasm"),
  "@tensorflow/tfjs-backend-cpu": installed("@tensorflow/tfjs-backend-cpu"),
  "@tensorflow/tfjs-layers": installed("@tensorflow/tfjs-layers"),
  "onnxruntime-web": ortWeb ? ortVersion("onnxruntime-web") : null,
  "onnxruntime-node": ortNode ? ortVersion("onnxruntime-node") : null,
};
for (const [name, version] of Object.entries(versions)) {
  if (name.startsWith("@tensorflow") && version !== TFJS_VERSION)
    console.log(`warning: ${name} is ${version}, not ${TFJS_VERSION}`);
  if (name.startsWith("onnxruntime") && version && version !== ORT_VERSION)
    console.log(`warning: ${name} is ${version}, not ${ORT_VERSION}`);
}
const command = ["node bench/peers.mjs", ...filters].join(" ");
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"}, command: ${command}`);
console.log(
  `mnist-wasm ${versions["mnist-wasm"]} (relaxed SIMD: ${rt.features.relaxedSimd}; second column ${rtThreads.threads} threads); TensorFlow.js ${versions["@tensorflow/tfjs-core"]}, wasm binary ${wasmBinaries["tfjs-backend-wasm-simd.wasm"]}`,
);

const results = {};
results["mnist-wasm"] = await measureLibrary("mnist-wasm", (w) => w["mnist-wasm"](rt));
results["mnist-wasm-threads"] = await measureLibrary(`mnist-wasm, ${rtThreads.threads} threads`, (w) =>
  w["mnist-wasm"](rtThreads),
);
for (const backend of ["wasm", "cpu"]) {
  await useTfjsBackend(backend);
  const before = tf.memory().numTensors;
  results[`tfjs-${backend}`] = await measureLibrary(`tfjs-${backend}`, (w) => w.tfjs());
  const leaked = tf.memory().numTensors - before;
  // A gradient that fails half-way leaves its tape's saved tensors behind (tfjs 4.22 frees them on success only).
  const failed = Object.values(results[`tfjs-${backend}`]).some((r) => r.error);
  if (leaked !== 0)
    console.log(`tfjs-${backend}: ${leaked} tensors left undisposed${failed ? " (by the failed case)" : ""}`);
}

/** ONNX Runtime's case of a workload: the inference rows only. */
const NOT_FOR_ORT = "n/a for ONNX Runtime (inference graphs only)";
const ortCase = (ort, options) => (w) => {
  if (!ort) throw new Error(ortMissing);
  if (!w.onnx) throw new Error(NOT_FOR_ORT);
  return inferOrt(ort, rt, w.onnx, options);
};
if (ortWeb) ortWeb.env.wasm.numThreads = 1;
results["ort-web"] = await measureLibrary("ort-web", ortCase(ortWeb));
results["ort-node"] = await measureLibrary(
  `ort-node, ${THREADS} threads`,
  ortCase(ortNode, { intraOpNumThreads: THREADS }),
);
results["ort-node-1"] = await measureLibrary("ort-node, 1 thread", ortCase(ortNode, { intraOpNumThreads: 1 }));
results["ort-web-threads"] = await measureOrtWebThreads();

/** onnxruntime-web on every core, in Chromium (bench/ort-browser.mjs): its threads do not run in Node. */
async function measureOrtWebThreads() {
  const out = {};
  const inference = WORKLOADS.filter((w) => w.onnx);
  for (const w of WORKLOADS) if (!w.onnx) out[w.id] = { error: NOT_FOR_ORT };
  if (inference.length === 0) return out;
  if (!ortWeb) {
    for (const w of inference) out[w.id] = { error: ortMissing };
    return out;
  }
  try {
    const { measureOrtWebInChromium } = await import("./ort-browser.mjs");
    const cases = inference.map((w) => {
      const pixels = inferencePixels.subarray(0, w.onnx.count * 784);
      return {
        id: w.id,
        model: onnxModel(rt, w.onnx.net, w.onnx.int8),
        pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength),
        count: w.onnx.count,
        shape: [1, 28, 28],
        input: ONNX_INPUT,
        output: ONNX_OUTPUT,
      };
    });
    const page = await measureOrtWebInChromium(cases, { threads: THREADS });
    console.log(`ort-web in Chromium: ${page.threads} threads, cross-origin isolated: ${page.crossOriginIsolated}`);
    Object.assign(out, page.results);
  } catch (e) {
    console.log(`ort-web in Chromium: ${errorText(e)}`);
    for (const w of inference) out[w.id] = { error: `Chromium: ${errorText(e)}` };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

/** The row's figure from calls per second: a rate (GFLOP/s, images/s) or a latency (ms). */
const figure = (workload, opsPerSecond) =>
  workload.unit === "ms" ? 1000 / opsPerSecond : opsPerSecond * workload.perCall;

const rows = WORKLOADS.map((workload) => {
  const row = { id: workload.id, workload: workload.title, unit: workload.unit };
  for (const library of LIBRARIES) {
    const r = results[library][workload.id];
    row[library] = r.error ? { error: r.error } : { value: figure(workload, r.opsPerSecond), ...r };
  }
  // The speed ratio: > 1 means mnist-wasm is faster (for latency rows: their ms / our ms).
  const speedup = (ours, theirs) => (ours && theirs ? (workload.unit === "ms" ? theirs / ours : ours / theirs) : null);
  row.speedupVsTfjsWasm = speedup(row["mnist-wasm"].value, row["tfjs-wasm"].value);
  row.threadsSpeedupVsTfjsWasm = speedup(row["mnist-wasm-threads"].value, row["tfjs-wasm"].value);
  row.threadsSpeedupVsOneThread = speedup(row["mnist-wasm-threads"].value, row["mnist-wasm"].value);
  return row;
});

// The table's cells are written as bench/report.mjs writes them into bench/README.md.
const cell = (workload, r) => formatPeerCell(r, workload.unit);
const ratio = formatRatio;
const T = rtThreads.threads;
console.log(
  `\n| workload | mnist-wasm, 1 thread | mnist-wasm, ${T} threads | tfjs-wasm (SIMD, 1 thread) | tfjs-cpu | speed vs tfjs-wasm: 1 thread / ${T} threads | ${T} threads / 1 thread | ${ORT_HEADERS(T).join(" | ")} |`,
);
console.log(`|${" --- |".repeat(7 + ORT_COLUMNS.length)}`);
rows.forEach((row, i) => {
  const w = WORKLOADS[i];
  console.log(
    `| ${row.workload} | ${cell(w, row["mnist-wasm"])} | ${cell(w, row["mnist-wasm-threads"])} | ${cell(w, row["tfjs-wasm"])} | ${cell(w, row["tfjs-cpu"])} | ` +
      `${ratio(row.speedupVsTfjsWasm)} / ${ratio(row.threadsSpeedupVsTfjsWasm)} | ${ratio(row.threadsSpeedupVsOneThread)} | ` +
      `${ORT_COLUMNS.map((library) => cell(w, row[library])).join(" | ")} |`,
  );
});
console.log(`\nnode ${process.version}, command: ${command}`);

// A run of some workloads only does not overwrite the full results.
if (filters.length > 0) {
  console.log("(some workloads only: bench/results/peers.json not written)");
} else {
  const resultsDir = join(here, "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, "peers.json"),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        command,
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpu: os.cpus()[0]?.model,
        cpuCount: os.cpus().length,
        loadAverage: os.loadavg(),
        versions,
        mnistWasmFeatures: rt.features,
        tfjsWasmBinary: "tfjs-backend-wasm-simd.wasm",
        threads: {
          "mnist-wasm": 1,
          "mnist-wasm-threads": rtThreads.threads,
          tfjs: 1,
          "ort-web": 1,
          "ort-web-threads": THREADS,
          "ort-node": THREADS,
          "ort-node-1": 1,
        },
        timing: { slowCallSeconds: SLOW_CALL_SECONDS, loopTargetSeconds: LOOP_TARGET_SECONDS },
        rows,
      },
      null,
      2,
    ) + "\n",
  );
  console.log("wrote bench/results/peers.json");
}
