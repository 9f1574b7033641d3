// The browser benchmark page: loads MNIST beside the page, runs the suites of bench/suites.mjs on
// the built SDK (dist/index.js, the same build Node runs) and renders the rows in a table.
// Bundled by bench/browser.mjs (esbuild; the SDK's wasm is embedded as base64, so no loader).
// Opened by hand it runs every suite at once; bench/browser.mjs opens it with ?driven and calls
// window.mnistBench.run() suite by suite, alternating with the same suite in Node.
import * as sdk from "../../dist/index.js";
import { formatValue, runSuites, SUITES } from "../suites.mjs";

const params = new URLSearchParams(location.search);
const quick = params.has("quick");
const driven = params.has("driven");

const $ = (id) => document.getElementById(id);

function setStatus(text, state = "running") {
  $("status").textContent = text;
  $("status").dataset.state = state;
  document.body.dataset.state = state;
}

/** One idx file beside the page, inflated when gzipped. */
async function fetchIdx(name) {
  const response = await fetch(`data/${name}`);
  if (!response.ok) throw new Error(`data/${name}: HTTP ${response.status}`);
  return sdk.gunzipIfNeeded(new Uint8Array(await response.arrayBuffer()), name);
}

async function loadData() {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
    [
      "train-images-idx3-ubyte",
      "train-labels-idx1-ubyte",
      "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz",
    ].map(fetchIdx),
  );
  return {
    train: sdk.datasetFromIdx(trainImages, trainLabels, { imagesWhat: "train images", labelsWhat: "train labels" }),
    test: sdk.datasetFromIdx(testImages, testLabels, { imagesWhat: "test images", labelsWhat: "test labels" }),
  };
}

/** What this page runs on; relaxed SIMD is what the SDK picked in this engine. */
async function environment() {
  const rt = await sdk.Runtime.create();
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency,
    features: rt.features,
  };
}

function showEnvironment(env) {
  const items = [
    ["browser", env.userAgent],
    [
      "cross-origin isolated",
      env.crossOriginIsolated
        ? "yes (SharedArrayBuffer available, as a thread pool needs)"
        : "no (no SharedArrayBuffer: one thread only; serve with COOP/COEP headers)",
    ],
    ["wasm features", `SIMD, ${env.features.relaxedSimd ? "relaxed SIMD (hardware FMA)" : "no relaxed SIMD"}`],
    ["logical CPUs", String(env.hardwareConcurrency)],
    ["mode", quick ? "quick (check run, numbers meaningless)" : "full"],
  ];
  $("environment").replaceChildren(
    ...items.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }),
  );
}

function appendRows(rows) {
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = row.id;
    for (const [text, numeric] of [
      [`${row.suite}: ${row.name}`, false],
      [formatValue(row.value, row.unit), true],
      [formatValue(row.best, row.unit), true],
    ]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (numeric) td.className = "num";
      tr.append(td);
    }
    $("rows").append(tr);
  }
}

let data;
const ready = (async () => {
  const env = await environment();
  showEnvironment(env);
  data = await loadData();
  setStatus(driven ? "ready, waiting for the runner" : "ready", "ready");
  return env;
})();
ready.catch((e) => setStatus(`failed: ${e?.stack ?? e}`, "error"));

/** Runs `suites` (names from bench/suites.mjs) and returns runSuites()'s result; rows are also shown. */
async function run(suites = SUITES, options = {}) {
  await ready;
  setStatus(`running ${suites.join(", ")}…`);
  try {
    const result = await runSuites(sdk, data, { quick, ...options, suites, onRows: appendRows });
    setStatus("done", "done");
    return result;
  } catch (e) {
    setStatus(`failed: ${e?.stack ?? e}`, "error");
    throw e;
  }
}

window.mnistBench = { ready, run };

if (!driven) ready.then(() => run());
