// GEMM with each SIMD build on one thread, plain (multiply, then add) and relaxed (hardware FMA,
// f32x4.relaxed_madd), and the relaxed build on every core: the figures the GEMM's speed targets
// name, through the SDK's public Runtime.gemm on the shapes of bench/suites.mjs. This virtual
// machine's speed drifts by 20-40% over minutes, so the builds take turns shape by shape, for
// half a second each, over several rounds: every cell is the mean of its rounds, and a ratio
// between two columns compares figures taken seconds apart, never minutes. Beside them, the
// ceiling: the 5x8 micro-kernel alone on panels in L1 (bench/micro-kernel.mjs), in each round.
// The best samples and the rounds are kept in bench/results/gemm.json.
// Run: npm run build && node bench/gemm.mjs   (or npm run bench)
import { microKernelGflops } from "./micro-kernel.mjs";
import { machine, nodeSdkAndData, writeResults } from "./node-suites.mjs";
import { formatValue, GEMM_SHAPES, gemmOnRuntime, measure } from "./suites.mjs";

const COMMAND = "node bench/gemm.mjs";
const ROUNDS = 4;
const SAMPLE = { seconds: 0.5, warmupSeconds: 0.1, minSamples: 3 };
const { sdk } = await nodeSdkAndData();
const THREADS = sdk.defaultThreads();
const BUILDS = [
  ["plain SIMD, 1 thread", { relaxedSimd: false }],
  ["relaxed SIMD, 1 thread", {}],
];
if (THREADS > 1) BUILDS.push([`relaxed SIMD, ${THREADS} threads`, { threads: THREADS }]);

const runtimes = await Promise.all(BUILDS.map(([, options]) => sdk.Runtime.create(options)));
const relaxedSimd = runtimes[1].features.relaxedSimd;
if (!relaxedSimd) console.log("(this engine has no relaxed SIMD: the relaxed columns ran the plain build)");

const calls = runtimes.map((rt) => GEMM_SHAPES.map((shape) => gemmOnRuntime(rt, shape).call));

// rounds[b][s]: GFLOP/s of build b on shape s, one { value, best } per round.
const rounds = BUILDS.map(() => GEMM_SHAPES.map(() => []));
const ceilingRuns = [[], []];
for (let round = 0; round < ROUNDS; round++) {
  for (const [s, [m, k, n]] of GEMM_SHAPES.entries()) {
    const gflop = (2 * m * k * n) / 1e9;
    for (const b of BUILDS.keys()) {
      const timing = await measure(calls[b][s], round === 0 ? { ...SAMPLE, warmupSeconds: 0.25 } : SAMPLE);
      rounds[b][s].push({ value: gflop / timing.mean, best: gflop / timing.best });
    }
  }
  for (const [i, relaxed] of [false, relaxedSimd].entries()) ceilingRuns[i].push(await microKernelGflops(relaxed, 0.5));
}
for (const rt of runtimes) rt.dispose();

const average = (list) => ({
  value: list.reduce((sum, r) => sum + r.value, 0) / list.length,
  best: Math.max(...list.map((r) => r.best)),
  unit: "GFLOP/s",
});
/** Per build, per shape: the mean over the rounds and the best sample of any. */
const combined = rounds.map((shapes) =>
  shapes.map((list, s) => {
    const [m, k, n] = GEMM_SHAPES[s];
    return { id: `gemm-${m}x${k}x${n}`, name: `(M,K,N) = (${m},${k},${n})`, ...average(list) };
  }),
);
const ceiling = ceilingRuns.map((list) => ({
  ...average(list),
  sameAsLibrary: list.every((run) => run.sameAsLibrary),
}));

const threadsColumn = THREADS > 1 ? ` | ${THREADS} threads / 1 thread` : "";
console.log(`\n| GEMM | ${BUILDS.map(([name]) => name).join(" | ")} | relaxed / plain${threadsColumn} |`);
console.log(`| --- | ${BUILDS.map(() => "---").join(" | ")} | --- |${THREADS > 1 ? " --- |" : ""}`);
combined[0].forEach((row, r) => {
  const [plain, relaxed, threaded] = combined.map((rows) => rows[r]);
  const cells = combined.map(
    (rows) => `${formatValue(rows[r].value, row.unit)} (best ${formatValue(rows[r].best, row.unit)})`,
  );
  const ratios = [`${(relaxed.value / plain.value).toFixed(2)}×`];
  if (threaded) ratios.push(`${(threaded.value / relaxed.value).toFixed(2)}×`);
  console.log(`| ${row.name} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`);
});
const ceilingCells = ceiling.map((c) => `${formatValue(c.value, c.unit)} (best ${formatValue(c.best, c.unit)})`);
if (THREADS > 1) ceilingCells.push("");
ceilingCells.push(`${(ceiling[1].value / ceiling[0].value).toFixed(2)}×`);
if (THREADS > 1) ceilingCells.push("");
console.log(`| the 5x8 micro-kernel alone, panels in L1 (the ceiling) | ${ceilingCells.join(" | ")} |`);
console.log(
  `\nnode ${process.version}, means of ${ROUNDS} rounds in which the builds take turns shape by shape, ${SAMPLE.seconds} s of samples each, command: ${COMMAND}`,
);
if (ceiling.some((c) => !c.sameAsLibrary))
  console.log("(the micro-kernel compiled for the ceiling differs from the one in build/: rebuild with npm run build)");
const share = (name) => {
  const r = combined[0].findIndex((row) => row.name === name);
  return r < 0
    ? ""
    : `${name}: ${[0, 1].map((b) => `${((combined[b][r].value / ceiling[b].value) * 100).toFixed(0)}%`).join(" plain, ")} relaxed`;
};
console.log(
  `Share of the micro-kernel alone that the whole GEMM keeps: ${["(M,K,N) = (100,784,100)", "(M,K,N) = (512,512,512)"].map(share).filter(Boolean).join("; ")}.`,
);

/**
 * How much slower a core runs while the other is busy too: 100 GEMMs of 64³ (all in L1) per
 * call on the main thread alone, on a worker alone and on both at once, alternating, medians.
 * On this VM it bounds what two threads can gain on anything, GEMMs included.
 */
async function coreContention() {
  const rt = await sdk.Runtime.create({ threads: 2 });
  const n = 64;
  const lists = [0, 1].map((t) => {
    const [a, b, c] = [0, 1, 2].map(() => rt.alloc(n * n * 4));
    rt.f32(a, n * n).fill(0.5);
    rt.f32(b, n * n).fill(0.25);
    return Array.from({ length: 100 }, () => ["gemm", a, n, b, n, c, n, n, n, n, 0, 0, 0, rt.gemmWorkspace(t)]);
  });
  const cases = { "main thread alone": [lists[0], []], "worker alone": [[], lists[1]], "both at once": lists };
  const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 0; round < 9; round++) {
    for (const [name, calls] of Object.entries(cases)) {
      const start = performance.now();
      let reps = 0;
      while (performance.now() - start < 150) {
        rt.parallel(calls);
        reps++;
      }
      if (round > 0) times[name].push((performance.now() - start) / reps);
    }
  }
  rt.dispose();
  const median = (v) => v.sort((x, y) => x - y)[v.length >> 1];
  return Object.fromEntries(Object.entries(times).map(([name, v]) => [name, median(v)]));
}

const contention = THREADS > 1 ? await coreContention() : undefined;
if (contention) {
  const alone = Math.max(contention["main thread alone"], contention["worker alone"]);
  console.log(
    `\nCore contention (100 GEMMs of 64³ per call, in L1): ${Object.entries(contention)
      .map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`)
      .join(", ")}: ` +
      `each core runs ${((contention["both at once"] / alone - 1) * 100).toFixed(0)}% slower while the other is busy.`,
  );
}

writeResults("gemm", {
  date: new Date().toISOString(),
  command: COMMAND,
  ...machine(),
  rounds: ROUNDS,
  sampleSeconds: SAMPLE.seconds,
  builds: BUILDS.map(([name], b) => ({
    build: name,
    features: runtimes[b].features,
    rows: combined[b],
    rounds: rounds[b].map((list, s) => ({ id: combined[b][s].id, values: list.map((r) => r.value) })),
  })),
  microKernelAlone: {
    plain: { ...ceiling[0], runs: ceilingRuns[0] },
    relaxed: { ...ceiling[1], runs: ceilingRuns[1] },
  },
  ...(contention ? { coreContentionMs: contention } : {}),
});
