// GEMM with each SIMD build on one thread, plain (multiply, then add) and relaxed (hardware FMA,
// f32x4.relaxed_madd), and the relaxed build on every core: the figures issue 5's GEMM targets
// name. The `gemm` suite of bench/suites.mjs runs on a Runtime of each kind in turn, twice over
// (plain, relaxed, threads, plain, relaxed, threads), and each cell is the mean of its two runs:
// this virtual machine's speed drifts over minutes, and alternating keeps the columns, and so
// their ratios, in the same minutes. The best samples are kept in bench/results/gemm.json.
// Run: npm run build && node bench/gemm.mjs   (or npm run bench)
import { microKernelGflops } from "./micro-kernel.mjs";
import { machine, nodeSdkAndData, runNodeSuites, writeResults } from "./node-suites.mjs";
import { formatValue } from "./suites.mjs";

const COMMAND = "node bench/gemm.mjs";
const { sdk } = await nodeSdkAndData();
const THREADS = sdk.defaultThreads();
const BUILDS = [["plain SIMD, 1 thread", { relaxedSimd: false }], ["relaxed SIMD, 1 thread", {}]];
if (THREADS > 1) BUILDS.push([`relaxed SIMD, ${THREADS} threads`, { threads: THREADS }]);

const runs = BUILDS.map(() => []);
// The ceiling: the 5x8 micro-kernel alone on panels in L1 (bench/micro-kernel.mjs), per round,
// for the plain and the relaxed build, timed beside the GEMMs.
const ceilingRuns = [[], []];
for (let round = 0; round < 2; round++) {
  for (const [i, [, options]] of BUILDS.entries()) runs[i].push(await runNodeSuites({ suites: ["gemm"], runtimeOptions: options }));
  for (const [i, relaxed] of [false, runs[1][0].features.relaxedSimd].entries()) ceilingRuns[i].push(await microKernelGflops(relaxed, 2));
}
if (!runs[1][0].features.relaxedSimd) console.log("(this engine has no relaxed SIMD: the relaxed columns ran the plain build)");
const ceiling = ceilingRuns.map((rounds) => ({
  value: rounds.reduce((sum, run) => sum + run.value, 0) / rounds.length,
  best: Math.max(...rounds.map((run) => run.best)),
  unit: "GFLOP/s",
  sameAsLibrary: rounds.every((run) => run.sameAsLibrary),
}));

/** Per row: the mean of the rounds' means and the best of their best samples. */
const combined = runs.map((rounds) => rounds[0].rows.map((row, r) => ({
  ...row,
  value: rounds.reduce((sum, run) => sum + run.rows[r].value, 0) / rounds.length,
  best: Math.max(...rounds.map((run) => run.rows[r].best)),
})));

const threadsColumn = THREADS > 1 ? ` | ${THREADS} threads / 1 thread` : "";
console.log(`\n| GEMM | ${BUILDS.map(([name]) => name).join(" | ")} | relaxed / plain${threadsColumn} |`);
console.log(`| --- | ${BUILDS.map(() => "---").join(" | ")} | --- |${THREADS > 1 ? " --- |" : ""}`);
combined[0].forEach((row, r) => {
  const [plain, relaxed, threaded] = combined.map((rows) => rows[r]);
  const cells = combined.map((rows) => `${formatValue(rows[r].value, row.unit)} (best ${formatValue(rows[r].best, row.unit)})`);
  const ratios = [`${(relaxed.value / plain.value).toFixed(2)}×`];
  if (threaded) ratios.push(`${(threaded.value / relaxed.value).toFixed(2)}×`);
  console.log(`| ${row.name} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`);
});
const ceilingCells = ceiling.map((c) => `${formatValue(c.value, c.unit)} (best ${formatValue(c.best, c.unit)})`);
console.log(`| the 5x8 micro-kernel alone, panels in L1 (the ceiling) | ${ceilingCells.join(" | ")}${THREADS > 1 ? " | |" : ""} ${(ceiling[1].value / ceiling[0].value).toFixed(2)}× |${THREADS > 1 ? " |" : ""}`);
console.log(`\nnode ${process.version}, means of two alternating runs per build, each over >= ${runs[0][0].timing.seconds} s of samples after warm-up, command: ${COMMAND}`);
if (ceiling.some((c) => !c.sameAsLibrary)) console.log("(the micro-kernel compiled for the ceiling differs from the one in build/: rebuild with npm run build)");
const share = (name) => {
  const r = combined[0].findIndex((row) => row.name === name);
  return r < 0 ? "" : `${name}: ${[0, 1].map((b) => `${((combined[b][r].value / ceiling[b].value) * 100).toFixed(0)}%`).join(" plain, ")} relaxed`;
};
console.log(`Share of the micro-kernel alone that the whole GEMM keeps: ${["(M,K,N) = (100,784,100)", "(M,K,N) = (512,512,512)"].map(share).filter(Boolean).join("; ")}.`);

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
  console.log(`\nCore contention (100 GEMMs of 64³ per call, in L1): ${Object.entries(contention).map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`).join(", ")}: ` +
    `each core runs ${((contention["both at once"] / alone - 1) * 100).toFixed(0)}% slower while the other is busy.`);
}

writeResults("gemm", {
  date: new Date().toISOString(),
  command: COMMAND,
  ...machine(),
  builds: BUILDS.map(([name], i) => ({
    build: name,
    features: runs[i][0].features,
    rows: combined[i],
    runs: runs[i].map((run) => run.rows),
  })),
  microKernelAlone: { plain: { ...ceiling[0], runs: ceilingRuns[0] }, relaxed: { ...ceiling[1], runs: ceilingRuns[1] } },
  ...(contention ? { coreContentionMs: contention } : {}),
});
