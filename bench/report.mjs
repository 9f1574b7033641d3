// Writes bench/README.md from bench/README.template.md and the results in bench/results/*.json:
// each "<!-- insert: NAME -->" line of the template becomes the table NAME, generated from the
// JSON file that holds its figures, followed by the command, machine, date and load average that
// file records. Every figure on the page comes from a results file, so the page cannot drift from
// the data. Nothing is measured here.
// Run: npm run bench:report   (= node bench/report.mjs [--out FILE]); npm run bench ends with it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatValue } from "./suites.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(here, "results");
export const TEMPLATE = join(here, "README.template.md");
export const README = join(here, "README.md");
/** The results files, by name: bench/results/<name>.json. */
export const RESULT_NAMES = ["mlp", "cnn", "gemm", "peers", "browser"];

// ---------------------------------------------------------------------------------------------
// Formatting, as the benchmarks print their own tables

/** A figure of bench/suites.mjs (mlp, cnn, gemm, browser): formatValue, as their tables print it. */
export const formatFigure = formatValue;

/** A figure of bench/peers.mjs, by the rule its own table prints with. */
export function formatPeerFigure(value, unit) {
  if (unit === "ms") return `${value < 1 ? value.toFixed(3) : value.toFixed(2)} ms`;
  if (unit === "GFLOP/s") return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} GFLOP/s`;
  return `${value < 10 ? value.toFixed(2) : Math.round(value).toLocaleString("en")} images/s`;
}

/** A peer table cell: the figure, the error that kept the library from running, or the loop's call count. */
export function formatPeerCell(result, unit) {
  if (result.error) return `n/a: ${result.error}`;
  const loop = result.method === "loop" ? ` (${result.calls} timed call${result.calls > 1 ? "s" : ""})` : "";
  return formatPeerFigure(result.value, unit) + loop;
}

/** A ratio of two speeds. */
export const formatRatio = (ratio) => (ratio === null || ratio === undefined ? "n/a" : `${ratio.toFixed(2)}×`);

const threadsLabel = (threads) => `${threads} thread${threads > 1 ? "s" : ""}`;
const percent = (fraction) => `${(fraction * 100).toFixed(0)}%`;
/** Lowest to highest of a list of ratios. */
const ratioRange = (ratios) => `${formatRatio(Math.min(...ratios))} to ${formatRatio(Math.max(...ratios))}`;
const tableLine = (cells) => `| ${cells.join(" | ")} |`;
const table = (header, rows) => [tableLine(header), tableLine(header.map(() => "---")), ...rows.map(tableLine)];

/** The line under a table: command, date, Node, machine, load average, and what else the file records. */
function provenance(json, extra = []) {
  const machine = json.machine ?? json;
  const node = typeof json.node === "string" ? json.node : (json.node?.version ?? machine.node);
  const load = (list) => list.map((l) => l.toFixed(2)).join(" ");
  const loadText = machine.loadAverageBefore
    ? `load average ${load(machine.loadAverageBefore)} before, ${load(machine.loadAverage)} after`
    : `load average ${load(machine.loadAverage)} at the end`;
  const date = `${json.date.slice(0, 16).replace("T", " ")} UTC`;
  const cpu = `${machine.cpu} (${machine.cpuCount} CPUs, ${machine.platform})`;
  const parts = [`\`${json.command}\``, date, `Node ${node}`, cpu, loadText, ...extra];
  return `Measured by ${parts.join(", ")}.`;
}

// ---------------------------------------------------------------------------------------------
// One generator per "insert" marker: results -> markdown lines

/** bench/mlp.mjs, bench/cnn.mjs: one column per thread count. */
function suiteTable(json) {
  const [first] = json.runs;
  const header = [first.rows[0].suite, ...json.runs.map((run) => `mnist-wasm, ${threadsLabel(run.threads)}`)];
  const rows = first.rows.map((row) => [
    row.name,
    ...json.runs.map((run) => {
      const r = run.rows.find((other) => other.id === row.id);
      return r ? formatFigure(r.value, r.unit) : "";
    }),
  ]);
  const { timing, features } = first;
  return [
    ...table(header, rows),
    "",
    provenance(json, [
      `relaxed SIMD ${features.relaxedSimd ? "on" : "off"}`,
      `means over ≥ ${timing.seconds} s of samples after a ${timing.warmupSeconds} s warm-up`,
    ]),
  ];
}

/** bench/gemm.mjs: builds side by side, their ratios, and the micro-kernel's ceiling. */
function gemmTable(json) {
  const [plain, relaxed, threaded] = json.builds;
  const withBest = (r) => `${formatFigure(r.value, r.unit)} (best ${formatFigure(r.best, r.unit)})`;
  const header = ["GEMM", ...json.builds.map((b) => b.build), "relaxed / plain"];
  if (threaded) header.push(`${threaded.build.replace("relaxed SIMD, ", "")} / 1 thread`);
  const rows = plain.rows.map((row, i) => {
    const cells = [row.name, ...json.builds.map((b) => withBest(b.rows[i]))];
    cells.push(formatRatio(relaxed.rows[i].value / row.value));
    if (threaded) cells.push(formatRatio(threaded.rows[i].value / relaxed.rows[i].value));
    return cells;
  });
  const ceiling = json.microKernelAlone;
  const ceilingRow = ["the 5x8 micro-kernel alone, panels in L1 (the ceiling)"];
  ceilingRow.push(withBest(ceiling.plain), withBest(ceiling.relaxed));
  if (threaded) ceilingRow.push("");
  ceilingRow.push(formatRatio(ceiling.relaxed.value / ceiling.plain.value));
  if (threaded) ceilingRow.push("");
  rows.push(ceilingRow);

  const lines = [
    ...table(header, rows),
    "",
    provenance(json, [`means of ${json.rounds} rounds of ${json.sampleSeconds} s per build and shape`]),
  ];
  if (!ceiling.plain.sameAsLibrary || !ceiling.relaxed.sameAsLibrary) {
    lines.push(
      "",
      "The micro-kernel compiled for the ceiling differs from the one in `build/`: " + "the figures predate a rebuild.",
    );
  }
  return lines;
}

/** bench/gemm.mjs: how much of the micro-kernel alone the whole GEMM keeps, on one thread. */
function gemmCeilingShare(json) {
  const [plain, relaxed] = json.builds;
  const ceiling = json.microKernelAlone;
  const shares = plain.rows
    .map((row, i) => [row, relaxed.rows[i]])
    .filter(([row]) => ["gemm-100x784x100", "gemm-512x512x512"].includes(row.id))
    .map(
      ([p, r]) =>
        `${p.name}: ${percent(p.value / ceiling.plain.value)} plain, ` +
        `${percent(r.value / ceiling.relaxed.value)} relaxed`,
    );
  return shares.length ? [`Share of the micro-kernel alone that the whole GEMM keeps: ${shares.join("; ")}.`] : [];
}

/** bench/gemm.mjs: the rounds' spread on the biggest shape, and how much two busy cores slow each other. */
function gemmThreads(json) {
  const [plain, relaxed, threaded] = json.builds;
  const lines = [];
  const spread = (build, id) => {
    const values = build.rounds.find((r) => r.id === id)?.values ?? [];
    return `${formatFigure(Math.min(...values), "GFLOP/s")} to ${formatFigure(Math.max(...values), "GFLOP/s")}`;
  };
  const big = plain.rows.find((row) => row.id === "gemm-512x512x512");
  if (big && threaded) {
    lines.push(
      `Round to round, ${big.name} ranged from ${spread(relaxed, big.id)} on one thread (relaxed) and ` +
        `from ${spread(threaded, big.id)} on ${threaded.build.replace("relaxed SIMD, ", "")}.`,
    );
  }
  const contention = json.coreContentionMs;
  if (contention) {
    const alone = Math.max(contention["main thread alone"], contention["worker alone"]);
    const times = Object.entries(contention)
      .map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`)
      .join(", ");
    if (lines.length) lines.push("");
    lines.push(
      `Core contention (100 GEMMs of 64³ per call, all in L1, medians): ${times}: ` +
        `each core runs ${percent(contention["both at once"] / alone - 1)} slower while the other is busy.`,
    );
  }
  return lines;
}

/** The libraries of bench/peers.mjs, one column each. */
export const PEER_COLUMNS = ["mnist-wasm", "mnist-wasm-threads", "tfjs-wasm", "tfjs-cpu"];
/** ONNX Runtime's columns of bench/peers.mjs (after the ratios; in results that have them). */
export const ORT_COLUMNS = ["ort-web", "ort-web-threads", "ort-node", "ort-node-1"];
export const ORT_HEADERS = (threads) => [
  "ONNX Runtime Web (wasm SIMD, 1 thread)",
  `ONNX Runtime Web (${threadsLabel(threads)}, Chromium)`,
  `onnxruntime-node (native, ${threadsLabel(threads)})`,
  "onnxruntime-node (native, 1 thread)",
];

/**
 * bench/peers.mjs: mnist-wasm on one thread and on every core, tfjs-wasm, tfjs-cpu, the speed
 * ratios, and ONNX Runtime's columns when the results have them.
 */
function peersTable(json) {
  const T = json.threads["mnist-wasm-threads"];
  const header = [
    "workload",
    "mnist-wasm, 1 thread",
    `mnist-wasm, ${threadsLabel(T)}`,
    "tfjs-wasm (SIMD, 1 thread)",
    "tfjs-cpu",
    `speed vs tfjs-wasm: 1 thread / ${threadsLabel(T)}`,
    `${threadsLabel(T)} / 1 thread`,
  ];
  // ONNX Runtime's columns that the results have (older results lack the one-thread native one).
  const ortColumns = ORT_COLUMNS.filter((library) => json.threads[library] !== undefined);
  const ortHeaders = ORT_HEADERS(json.threads["ort-web-threads"]).filter((_, i) => ortColumns.includes(ORT_COLUMNS[i]));
  header.push(...ortHeaders);
  const rows = json.rows.map((row) => [
    row.workload,
    ...PEER_COLUMNS.map((library) => formatPeerCell(row[library], row.unit)),
    `${formatRatio(row.speedupVsTfjsWasm)} / ${formatRatio(row.threadsSpeedupVsTfjsWasm)}`,
    formatRatio(row.threadsSpeedupVsOneThread),
    ...ortColumns.map((library) => formatPeerCell(row[library], row.unit)),
  ]);
  const v = json.versions;
  return [
    ...table(header, rows),
    "",
    provenance(json, [
      `mnist-wasm ${v["mnist-wasm"]} (relaxed SIMD ${json.mnistWasmFeatures.relaxedSimd ? "on" : "off"})`,
      `TensorFlow.js ${v["@tensorflow/tfjs-core"]} (${json.tfjsWasmBinary})`,
      ...(ortColumns.length > 0
        ? [`onnxruntime-web ${v["onnxruntime-web"]}, onnxruntime-node ${v["onnxruntime-node"]}`]
        : []),
    ]),
  ];
}

/** bench/browser.mjs: Node and Chromium row by row. */
function browserTable(json) {
  const rows = json.rows.map((r) => [
    r.workload,
    formatFigure(r.node, r.unit),
    formatFigure(r.chromium, r.unit),
    formatRatio(r.ratio),
  ]);
  const { chromium, node } = json;
  const lines = [
    ...table(["workload (one thread)", "Node", "Chromium", "Chromium / Node (speed)"], rows),
    "",
    provenance(json, [
      `Chromium ${chromium.version} (relaxed SIMD ${chromium.features.relaxedSimd ? "on" : "off"}, ` +
        `${chromium.crossOriginIsolated ? "" : "not "}cross-origin isolated)`,
      `relaxed SIMD ${node.features.relaxedSimd ? "on" : "off"} in Node`,
    ]),
    "",
    `Speed ratio: above 1, Chromium is faster (for times, Node's time over Chromium's); from ` +
      `${ratioRange(json.rows.map((r) => r.ratio))} here.`,
  ];
  if (json.quick) lines.push("", "A quick run (--quick): tiny timing budgets, the numbers mean nothing.");
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The speed targets, each checked against the results that measure it

/** The row `id` of a suite's run on `threads` threads (1, or "all": the run on every core). */
function suiteRow(json, threads, id) {
  const run =
    threads === "all"
      ? json.runs.length > 1
        ? json.runs.at(-1)
        : undefined
      : json.runs.find((r) => r.threads === threads);
  const row = run?.rows.find((r) => r.id === id);
  if (!row) throw new Error(`no ${id} row on ${threads === "all" ? "every core" : threadsLabel(threads)}`);
  return row;
}
const gemmRow = (json, build, id) =>
  json.builds[build]?.rows.find((r) => r.id === id) ?? missing(`no ${id} row in build ${build}`);
const peerRow = (json, id) => json.rows.find((r) => r.id === id) ?? missing(`no ${id} row`);
function missing(what) {
  throw new Error(what);
}
const formatShare = (share) => `${Math.round(share * 100)}%`;
const gflops = (row) => formatFigure(row.value, "GFLOP/s").replace(" GFLOP/s", "");

/**
 * Each target: its text, the results files it reads, and check(results) giving { measured, met }
 * where met lists one boolean per part of the target.
 */
export const TARGETS = [
  {
    // Absolute GFLOP/s move with this VM's drift; a share of the micro-kernel timed in the same run does not.
    target: "GEMM (512,512,512), one thread: ≥ 85% of the micro-kernel's own speed in the same run, plain and relaxed",
    files: ["gemm"],
    check({ gemm }) {
      const ceiling = gemm.microKernelAlone;
      const shares = [0, 1].map(
        (b) => gemmRow(gemm, b, "gemm-512x512x512").value / [ceiling.plain, ceiling.relaxed][b].value,
      );
      return {
        measured:
          `plain ${formatShare(shares[0])}, relaxed ${formatShare(shares[1])} of the micro-kernel alone ` +
          `(${gflops(ceiling.plain)} and ${gflops(ceiling.relaxed)} GFLOP/s)`,
        met: shares.map((share) => share >= 0.85),
      };
    },
  },
  {
    target: "GEMM, two threads ≥ 1.7× one thread on (256,256,256), (512,512,512), (1024,1024,1024)",
    files: ["gemm"],
    check({ gemm }) {
      const ratios = ["gemm-256x256x256", "gemm-512x512x512", "gemm-1024x1024x1024"].map(
        (id) => gemmRow(gemm, 2, id).value / gemmRow(gemm, 1, id).value,
      );
      return { measured: ratios.map(formatRatio).join(", "), met: ratios.map((r) => r >= 1.7) };
    },
  },
  {
    target: "every GEMM row ahead of tfjs-wasm on one thread",
    files: ["peers"],
    check({ peers }) {
      const ratios = peers.rows.filter((r) => r.id.startsWith("gemm-")).map((r) => r.speedupVsTfjsWasm);
      return { measured: ratioRange(ratios), met: ratios.map((r) => r > 1) };
    },
  },
  {
    target: "MLP training ≥ 60,000 images/s on one thread, one epoch < 1 s, > 10× tfjs-wasm",
    files: ["mlp", "peers"],
    check({ mlp, peers }) {
      const [train, epoch] = ["mlp-train", "mlp-epoch"].map((id) => suiteRow(mlp, 1, id));
      const ratio = peerRow(peers, "mlp-train").speedupVsTfjsWasm;
      return {
        measured:
          `${formatFigure(train.value, train.unit)}; epoch ${formatFigure(epoch.value, epoch.unit)}; ` +
          `${formatRatio(ratio)} tfjs-wasm`,
        met: [train.value >= 60000, epoch.value < 1, ratio > 10],
      };
    },
  },
  {
    target: "CNN training ≥ 1,000 images/s on one thread, ≥ 1,800 on two",
    files: ["cnn"],
    check({ cnn }) {
      const [one, all] = [suiteRow(cnn, 1, "cnn-train"), suiteRow(cnn, "all", "cnn-train")];
      return {
        measured: `${formatFigure(one.value, one.unit)}; ${formatFigure(all.value, all.unit)}`,
        met: [one.value >= 1000, all.value >= 1800],
      };
    },
  },
  {
    target: "CNN inference ≥ 4,000 images/s at batch 1000 on one thread",
    files: ["cnn"],
    check({ cnn }) {
      const row = suiteRow(cnn, 1, "cnn-infer-1000");
      return { measured: formatFigure(row.value, row.unit), met: [row.value >= 4000] };
    },
  },
  {
    target: "CNN inference, one image < 0.25 ms on one thread",
    files: ["cnn"],
    check({ cnn }) {
      const row = suiteRow(cnn, 1, "cnn-infer-1");
      return { measured: formatFigure(row.value, row.unit), met: [row.value < 0.25] };
    },
  },
  {
    target: "int8 CNN inference ≥ 2× float32 at batch 1000 and ≥ 1.5× on one image, one thread",
    files: ["cnn"],
    check({ cnn }) {
      const batch = suiteRow(cnn, 1, "cnn-int8-infer-1000").value / suiteRow(cnn, 1, "cnn-infer-1000").value;
      const one = suiteRow(cnn, 1, "cnn-infer-1").value / suiteRow(cnn, 1, "cnn-int8-infer-1").value;
      return { measured: `${formatRatio(batch)}; one image ${formatRatio(one)}`, met: [batch >= 2, one >= 1.5] };
    },
  },
  {
    target: "int8 CNN inference within 1.2× of native ONNX Runtime on one thread (batch 1000, one image)",
    files: ["peers"],
    check({ peers }) {
      const batch = peerRow(peers, "cnn-int8-infer-1000");
      const one = peerRow(peers, "cnn-int8-infer-1");
      const ours = (row) => row["mnist-wasm"]?.value ?? missing(`no mnist-wasm figure for ${row.id}`);
      const native = (row) =>
        row["ort-node-1"]?.value ?? missing(`no one-thread onnxruntime-node figure for ${row.id}`);
      // Speed relative to native: > 1 is faster; the target allows native to be up to 1.2× ahead.
      const ratios = [ours(batch) / native(batch), native(one) / ours(one)];
      return {
        measured: `${formatRatio(ratios[0])} of native at batch 1000; ${formatRatio(ratios[1])} on one image`,
        met: ratios.map((r) => r >= 1 / 1.2),
      };
    },
  },
  {
    target: "MLP inference, one image < 15 µs on one thread",
    files: ["mlp"],
    check({ mlp }) {
      const row = suiteRow(mlp, 1, "mlp-infer-1");
      return { measured: formatFigure(row.value, row.unit), met: [row.value < 15] };
    },
  },
  {
    target: "Chromium within 20% of Node on every row",
    files: ["browser"],
    check({ browser }) {
      const ratios = browser.rows.map((r) => r.ratio);
      return { measured: ratioRange(ratios), met: ratios.map((r) => r >= 0.8) };
    },
  },
];

function targetsTable(results) {
  const rows = TARGETS.map(({ target, files, check }) => {
    const source = files.map((f) => `\`${f}.json\``).join(", ");
    const absent = files.filter((f) => !results[f]);
    if (absent.length) return [target, `not measured: no ${absent.map((f) => `${f}.json`).join(", ")}`, source, ""];
    let outcome;
    try {
      outcome = check(results);
    } catch (e) {
      return [target, `not measured: ${e.message}`, source, ""];
    }
    const count = outcome.met.filter(Boolean).length;
    const parts = outcome.met.length;
    const met = count === parts ? "met" : count === 0 ? "not met" : `${count} of ${parts} met`;
    return [target, outcome.measured, source, met];
  });
  return table(["target", "measured", "from", "result"], rows);
}

// ---------------------------------------------------------------------------------------------
// The page

/** Marker name -> [results files it needs, generator]. */
const SECTIONS = {
  mlp: [["mlp"], (r) => suiteTable(r.mlp)],
  cnn: [["cnn"], (r) => suiteTable(r.cnn)],
  gemm: [["gemm"], (r) => gemmTable(r.gemm)],
  "gemm-ceiling": [["gemm"], (r) => gemmCeilingShare(r.gemm)],
  "gemm-threads": [["gemm"], (r) => gemmThreads(r.gemm)],
  peers: [["peers"], (r) => peersTable(r.peers)],
  browser: [["browser"], (r) => browserTable(r.browser)],
  targets: [[], (r) => targetsTable(r)],
};

/** The results files in `dir`, by name; a file not there is left out. */
export function readResults(dir = RESULTS_DIR) {
  const results = {};
  for (const name of RESULT_NAMES) {
    const file = join(dir, `${name}.json`);
    if (existsSync(file)) results[name] = JSON.parse(readFileSync(file, "utf8"));
  }
  return results;
}

/** The page: the template with every "<!-- insert: NAME -->" line replaced by its generated lines. */
export function renderReport({ results = readResults(), template = readFileSync(TEMPLATE, "utf8") } = {}) {
  return template.replace(/^<!-- insert: ([a-z-]+) -->$/gm, (_, name) => {
    const section = SECTIONS[name];
    if (!section) {
      const known = Object.keys(SECTIONS).join(", ");
      throw new Error(`bench/report.mjs: the template asks for "${name}", not one of ${known}`);
    }
    const [needs, generate] = section;
    const absent = needs.filter((f) => !results[f]);
    // Each results file is written by the script of its name.
    if (absent.length) {
      return `No results yet: run \`node bench/${absent[0]}.mjs\` (it writes bench/results/${absent[0]}.json).`;
    }
    return generate(results).join("\n");
  });
}

/** Writes the page to `out` (bench/README.md by default) and returns its path. */
export function writeReport({ out = README, resultsDir = RESULTS_DIR } = {}) {
  writeFileSync(out, renderReport({ results: readResults(resultsDir) }));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  if (args.some((a, i) => a !== "--out" && i !== outAt + 1) || (outAt >= 0 && !args[outAt + 1])) {
    console.error("usage: node bench/report.mjs [--out FILE]");
    process.exit(2);
  }
  const out = writeReport(outAt >= 0 ? { out: resolve(args[outAt + 1]) } : {});
  console.log(`wrote ${relative(process.cwd(), out)}`);
}
