// GEMM with each SIMD build on one thread, plain (multiply, then add) and relaxed (hardware FMA,
// f32x4.relaxed_madd), and the relaxed build on every core: the figures issue 5's GEMM targets
// name. The `gemm` suite of bench/suites.mjs runs on a Runtime of each kind in turn, twice over
// (plain, relaxed, threads, plain, relaxed, threads), and each cell is the mean of its two runs:
// this virtual machine's speed drifts over minutes, and alternating keeps the columns, and so
// their ratios, in the same minutes. The best samples are kept in bench/results/gemm.json.
// Run: npm run build && node bench/gemm.mjs   (or npm run bench)
import { machine, nodeSdkAndData, runNodeSuites, writeResults } from "./node-suites.mjs";
import { formatValue } from "./suites.mjs";

const COMMAND = "node bench/gemm.mjs";
const { sdk } = await nodeSdkAndData();
const THREADS = sdk.defaultThreads();
const BUILDS = [["plain SIMD, 1 thread", { relaxedSimd: false }], ["relaxed SIMD, 1 thread", {}]];
if (THREADS > 1) BUILDS.push([`relaxed SIMD, ${THREADS} threads`, { threads: THREADS }]);

const runs = BUILDS.map(() => []);
for (let round = 0; round < 2; round++) {
  for (const [i, [, options]] of BUILDS.entries()) runs[i].push(await runNodeSuites({ suites: ["gemm"], runtimeOptions: options }));
}
if (!runs[1][0].features.relaxedSimd) console.log("(this engine has no relaxed SIMD: the relaxed columns ran the plain build)");

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
console.log(`\nnode ${process.version}, means of two alternating runs per build, each over >= ${runs[0][0].timing.seconds} s of samples after warm-up, command: ${COMMAND}`);

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
});
