// GEMM on one thread with each SIMD build: plain (multiply, then add) and relaxed (hardware FMA,
// f32x4.relaxed_madd), the two figures issue 5's GEMM targets name. The `gemm` suite of
// bench/suites.mjs runs on a Runtime of each build in turn, twice over (plain, relaxed, plain,
// relaxed), and each cell is the mean of its two runs: this virtual machine's speed drifts over
// minutes, and alternating keeps the two columns in the same minutes. The best sample of the four
// runs is kept in bench/results/gemm.json beside the means.
// Run: npm run build && node bench/gemm.mjs   (or npm run bench)
import { machine, runNodeSuites, writeResults } from "./node-suites.mjs";
import { formatValue } from "./suites.mjs";

const COMMAND = "node bench/gemm.mjs";
const BUILDS = [["plain SIMD", { relaxedSimd: false }], ["relaxed SIMD", {}]];

const runs = BUILDS.map(() => []);
for (let round = 0; round < 2; round++) {
  for (const [i, [, options]] of BUILDS.entries()) runs[i].push(await runNodeSuites({ suites: ["gemm"], runtimeOptions: options }));
}
if (!runs[1][0].features.relaxedSimd) console.log("(this engine has no relaxed SIMD: both columns ran the plain build)");

/** Per row: the mean of the rounds' means and the best of their best samples. */
const combined = runs.map((rounds) => rounds[0].rows.map((row, r) => ({
  ...row,
  value: rounds.reduce((sum, run) => sum + run.rows[r].value, 0) / rounds.length,
  best: Math.max(...rounds.map((run) => run.rows[r].best)),
})));

console.log(`\n| GEMM, one thread | ${BUILDS.map(([name]) => name).join(" | ")} | relaxed / plain |`);
console.log(`| --- | ${BUILDS.map(() => "---").join(" | ")} | --- |`);
combined[0].forEach((row, r) => {
  const [plain, relaxed] = combined.map((rows) => rows[r]);
  console.log(`| ${row.name} | ${combined.map((rows) => `${formatValue(rows[r].value, row.unit)} (best ${formatValue(rows[r].best, row.unit)})`).join(" | ")} | ${(relaxed.value / plain.value).toFixed(2)}× |`);
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
