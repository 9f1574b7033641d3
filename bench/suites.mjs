// The mnist-wasm benchmark suites, platform-neutral: the same workloads and the same timing loop
// run in Node (bench/mlp.mjs, bench/cnn.mjs, bench/browser.mjs) and in a page
// (bench/browser/main.mjs), so Node and browser figures can be compared row by row. Nothing is
// imported here: the caller passes the SDK module (dist/node.js in Node, dist/index.js bundled
// into the page) and the MNIST data sets, and gets rows { id, suite, name, value, best, unit,
// better } back.

/** The suites, in the order they run. */
export const SUITES = ["mlp", "cnn", "gemm"];

export const GEMM_SHAPES = [
  [100, 784, 100],
  [100, 100, 10],
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
];

/**
 * How long to measure. `full` is for figures; `quick` only checks that every row can be produced
 * (a few seconds in all, numbers meaningless): tiny timing budgets and a 1,000-image "epoch".
 */
export const SIZES = {
  full: { seconds: 1, warmupSeconds: 0.25, minSamples: 5, epochImages: Infinity, occasionalCalls: 100 },
  quick: { seconds: 0.01, warmupSeconds: 0, minSamples: 1, epochImages: 1000, occasionalCalls: 3 },
};

const BATCH = 100;
const INFERENCE_BATCH = 1000;
const now = () => performance.now() / 1000;

/**
 * Times `fn` (sync, or returning a promise that is awaited): warm-up calls first (the engines
 * tier wasm and JavaScript up to optimised code while it runs), then samples of `calls` calls
 * each until `seconds` of samples and at least `minSamples` of them. A sample is timed as a whole
 * because browsers coarsen performance.now() (to 5 µs when cross-origin isolated, 100 µs
 * otherwise), which is longer than one small call: `calls` grows until one sample takes a
 * twentieth of the budget. It is calibrated on timed runs of `calls` calls, never on the first
 * call alone (which pays for compiling and first-touch), and a sample that comes out shorter
 * than half the target (the calibrating run was slowed by the machine's load) is a
 * mis-calibration, not a measurement: `calls` grows and the sample is taken again. So every
 * sample spans many clock ticks, and no figure can come out as zero.
 * Returns seconds per call: the mean over all samples and the best sample's.
 * `clock()` (seconds) is for tests; it defaults to performance.now().
 */
export async function measure(fn, { seconds = 1, warmupSeconds = 0.25, minSamples = 5, clock = now } = {}) {
  const firstStarted = clock();
  const first = fn();
  const isAsync = typeof first?.then === "function";
  if (isAsync) await first;
  let warmed = clock() - firstStarted;
  const run = isAsync
    ? async (n) => {
        const started = clock();
        for (let i = 0; i < n; i++) await fn();
        return clock() - started;
      }
    : (n) => {
        const started = clock();
        for (let i = 0; i < n; i++) fn();
        return clock() - started;
      };
  const sampleSeconds = seconds / 20;
  /** `calls` scaled so that a run of them takes about 1.2 samples, given that `calls` took `t`. */
  const grown = (calls, t) => Math.ceil(calls * Math.min(10, (1.2 * sampleSeconds) / Math.max(t, 1e-6)));
  let calls = 1;
  let t;
  do {
    t = await run(calls);
    warmed += t;
    if (t < sampleSeconds) calls = grown(calls, t);
  } while (t < sampleSeconds || warmed < warmupSeconds);
  let total = 0;
  let totalCalls = 0;
  let best = Infinity;
  let samples = 0;
  while (total < seconds || samples < minSamples) {
    const sample = await run(calls);
    if (sample < sampleSeconds / 2) {
      calls = grown(calls, sample);
      continue;
    }
    samples++;
    total += sample;
    totalCalls += calls;
    best = Math.min(best, sample / calls);
  }
  return { mean: total / totalCalls, best, calls: totalCalls };
}

/** A throughput row: `perCall` units of work (images, GFLOP) per call. */
function rateRow(id, suite, name, unit, perCall, timing) {
  return {
    id,
    suite,
    name,
    value: perCall / timing.mean,
    best: perCall / timing.best,
    unit,
    better: "higher",
    calls: timing.calls,
  };
}

/** A time row, in `unit` (s, ms or µs). */
function timeRow(id, suite, name, unit, timing) {
  const scale = { s: 1, ms: 1e3, µs: 1e6 }[unit];
  return {
    id,
    suite,
    name,
    value: timing.mean * scale,
    best: timing.best * scale,
    unit,
    better: "lower",
    calls: timing.calls,
  };
}

// MLP 784-100-10 sigmoid, plain SGD: the course's network, the one bench/mlp.mjs measures.
async function mlpSuite(sdk, data, size, runtimeOptions) {
  const { DeviceData, fit, mlpSpec, Model, Runtime, SGD, takeFirst } = sdk;
  const suite = "MLP 784-100-10 sigmoid";
  const rt = await Runtime.create(runtimeOptions);
  const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10 }), { seed: 1 });
  const optimizer = new SGD(rt, 0.1);
  const oneBatch = new DeviceData(rt, takeFirst(data.train, BATCH));
  const epochData = new DeviceData(rt, takeFirst(data.train, size.epochImages));
  const rows = [];

  const step = await measure(() => fit(model, oneBatch, { epochs: 1, batchSize: BATCH, optimizer }), size);
  rows.push(rateRow("mlp-train", suite, `training, batch ${BATCH}`, "images/s", BATCH, step));
  // One whole epoch, timed once (the figure the course's students compared: 1.4 s in numpy).
  // It runs after the training step's warm-up, so on optimised code in every engine.
  const started = now();
  await fit(model, epochData, { epochs: 1, batchSize: BATCH, optimizer, seed: 1 });
  const epoch = now() - started;
  rows.push(
    timeRow(
      "mlp-epoch",
      suite,
      `one training epoch (${epochData.count.toLocaleString("en")} images, batch ${BATCH}), timed once`,
      "s",
      { mean: epoch, best: epoch, calls: 1 },
    ),
  );
  rows.push(...(await inferenceRows(model, data, "mlp", suite, "µs", size)));

  model.dispose();
  oneBatch.dispose();
  epochData.dispose();
  return { rows, features: rt.features };
}

// The LeNet-like CNN (the `cnn` preset) with momentum SGD, the one bench/cnn.mjs measures.
async function cnnSuite(sdk, data, size, runtimeOptions) {
  const {
    ARCH_PRESETS,
    deserializeModel,
    DeviceData,
    fit,
    Model,
    Optimizer,
    parseArch,
    quantizeModel,
    Runtime,
    takeFirst,
    withClassifier,
  } = sdk;
  const suite = "CNN (LeNet-like)";
  const rt = await Runtime.create(runtimeOptions);
  const spec = { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) };
  const model = new Model(rt, spec, { seed: 1 });
  const optimizer = new Optimizer(rt, { name: "momentum", lr: 0.05 });
  const oneBatch = new DeviceData(rt, takeFirst(data.train, BATCH));
  const rows = [];

  const step = await measure(() => fit(model, oneBatch, { epochs: 1, batchSize: BATCH, optimizer }), size);
  rows.push(rateRow("cnn-train", suite, `training, batch ${BATCH}`, "images/s", BATCH, step));
  // The same step with conv2 trained by Winograd F(2x2, 3x3) (fit's winograd option).
  const winogradStep = await measure(
    () => fit(model, oneBatch, { epochs: 1, batchSize: BATCH, optimizer, winograd: true }),
    size,
  );
  rows.push(rateRow("cnn-winograd-train", suite, `Winograd training, batch ${BATCH}`, "images/s", BATCH, winogradStep));
  rows.push(...(await inferenceRows(model, data, "cnn", suite, "ms", size)));
  // The same weights in int8 (quantizeModel, calibrated on up to 1,000 training images), beside float32.
  const calibration = Math.min(1000, data.train.count);
  const int8Bytes = quantizeModel(model, data.train.images.subarray(0, calibration * 784), calibration);
  const int8 = deserializeModel(rt, int8Bytes).model;
  rows.push(...(await inferenceRows(int8, data, "cnn-int8", suite, "ms", size, "int8 inference")));
  // The same weights through Winograd F(2x2, 3x3) where the layer's rule lets it run (conv2).
  model.winograd = true;
  rows.push(...(await inferenceRows(model, data, "cnn-winograd", suite, "ms", size, "Winograd inference")));
  model.winograd = false;

  int8.dispose();
  model.dispose();
  oneBatch.dispose();
  return { rows, features: rt.features };
}

/**
 * Inference rows of a suite: test images at batch 1000 (images/s); one image, called in a loop
 * and called every 5 ms (latencies in `unit`).
 */
async function inferenceRows(model, data, id, suite, unit, size, label = "inference") {
  const batch = data.test.images.subarray(0, INFERENCE_BATCH * 784);
  const infer = await measure(() => model.predict(batch, INFERENCE_BATCH), size);
  const oneImage = data.test.images.subarray(0, 784);
  const single = await measure(() => model.predict(oneImage, 1), size);
  const occasional = await everyFewMilliseconds(() => model.predict(oneImage, 1), size.occasionalCalls);
  return [
    rateRow(`${id}-infer-1000`, suite, `${label}, batch ${INFERENCE_BATCH}`, "images/s", INFERENCE_BATCH, infer),
    timeRow(`${id}-infer-1`, suite, `${label}, one image`, unit, single),
    timeRow(`${id}-infer-1-idle`, suite, `${label}, one image every 5 ms (median)`, unit, occasional),
  ];
}

/**
 * The clock's step in seconds: the smallest positive difference between successive readings
 * (browsers coarsen performance.now(): 5 µs when cross-origin isolated, 100 µs otherwise); 0 for
 * a clock that did not move in a million readings.
 */
export function clockTick(clock = now) {
  let tick = Infinity;
  let last = clock();
  for (let i = 0, steps = 0; i < 1e6 && steps < 20; i++) {
    const t = clock();
    if (t > last) {
      tick = Math.min(tick, t - last);
      steps++;
    }
    last = t;
  }
  return Number.isFinite(tick) ? tick : 0;
}

/**
 * `count` calls of `fn`, each after 5 ms of idleness, as a page classifying a drawing makes them
 * (caches have cooled, worker threads have gone to sleep): timed one by one, the median reported
 * as the mean (one slow wake-up would swamp a mean of such short calls), the fastest as the best.
 * A call shorter than the clock's step can read 0; such a reading counts as one step, what the
 * clock can tell of it (an upper bound), so no figure is 0. `clock()` (seconds) is for tests.
 */
export async function everyFewMilliseconds(fn, count, { clock = now } = {}) {
  const tick = clockTick(clock);
  const times = [];
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const started = clock();
    fn();
    times.push(Math.max(clock() - started, tick));
  }
  times.sort((a, b) => a - b);
  return { mean: times[count >> 1], best: times[0], calls: count };
}

/**
 * C[m,n] = A[m,k]·B[k,n] through the Runtime's public gemm, on buffers already in wasm memory
 * (as bench/peers.mjs measures it): returns the call and a function that frees the buffers.
 * Values in [-1, 1], deterministic, no denormals. bench/gemm.mjs times the same calls.
 */
export function gemmOnRuntime(rt, [m, k, n]) {
  const [a, b, c] = [m * k, k * n, m * n].map((length) => rt.alloc(length * 4));
  // Views are made after the last alloc: growing the memory detaches earlier ones.
  for (const [ptr, length] of [
    [a, m * k],
    [b, k * n],
  ]) {
    const view = rt.f32(ptr, length);
    for (let i = 0; i < length; i++) view[i] = ((i * 7919) % 2001) / 1000 - 1;
  }
  return {
    call: () => rt.gemm(a, b, c, m, k, n, false, false, 0),
    free: () => [a, b, c].forEach((ptr) => rt.free(ptr)),
  };
}

// The GEMM shapes; the first two are the MLP's forward pass.
async function gemmSuite(sdk, _data, size, runtimeOptions) {
  const rt = await sdk.Runtime.create(runtimeOptions);
  const rows = [];
  for (const [m, k, n] of GEMM_SHAPES) {
    const gemm = gemmOnRuntime(rt, [m, k, n]);
    const timing = await measure(gemm.call, size);
    rows.push(
      rateRow(`gemm-${m}x${k}x${n}`, "GEMM", `(M,K,N) = (${m},${k},${n})`, "GFLOP/s", (2 * m * k * n) / 1e9, timing),
    );
    gemm.free();
  }
  return { rows, features: rt.features };
}

const RUNNERS = { mlp: mlpSuite, cnn: cnnSuite, gemm: gemmSuite };

/**
 * Runs the named suites in order and returns every row plus the wasm features the kernels used.
 * `data` is { train, test }: MNIST Datasets as the SDK's loadMnist or datasetFromIdx make them.
 * `runtimeOptions` go to Runtime.create (e.g. { relaxedSimd: false }).
 * `onRows(rows)` is called after each suite (a page renders them as they come).
 */
export async function runSuites(sdk, data, { suites = SUITES, quick = false, runtimeOptions = {}, onRows } = {}) {
  const size = quick ? SIZES.quick : SIZES.full;
  const rows = [];
  let features;
  for (const name of suites) {
    const runner = RUNNERS[name];
    if (!runner) throw new Error(`unknown benchmark suite "${name}" (suites: ${SUITES.join(", ")})`);
    const result = await runner(sdk, data, size, runtimeOptions);
    rows.push(...result.rows);
    features = result.features;
    onRows?.(result.rows);
  }
  return { rows, features, quick, timing: size };
}

/** A row's value for a table: whole images/s with separators, three significant digits otherwise. */
export function formatValue(value, unit) {
  if (!Number.isFinite(value)) return `${value}`;
  if (unit === "images/s") return `${Math.round(value).toLocaleString("en")} ${unit}`;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value) || 1)));
  return `${value.toFixed(digits)} ${unit}`;
}

/** "Suite: name", the workload column of every table. */
export const workloadName = (row) => `${row.suite}: ${row.name}`;
