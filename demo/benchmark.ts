// "Benchmark": how fast the digit model runs in this tab (inference on 1,000 test images in one
// batch, one image at a time, and a few training steps of a fresh copy of the architecture), and
// which WebAssembly features this engine gives the kernels: SIMD, relaxed SIMD, and whether
// threads could run here (shared wasm memory, and a cross-origin isolated page).
import { fit, Model, Optimizer, takeFirst, type Runtime } from "../sdk/index";
import type { PageHooks } from "./page-hooks";

/** A module with one shared memory: valid only where the engine has wasm threads. */
const SHARED_MEMORY_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x03, 0x01, 0x01,
]);

export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
  /** The engine has shared wasm memory and atomics (the threads proposal). */
  sharedMemory: boolean;
  /** The page may create SharedArrayBuffers: served with COOP/COEP headers. */
  crossOriginIsolated: boolean;
}

export function wasmFeatures(rt: Runtime): WasmFeatures {
  return {
    simd: true, // the kernels do not compile without it, and they are running
    relaxedSimd: rt.features.relaxedSimd,
    sharedMemory: WebAssembly.validate(SHARED_MEMORY_MODULE),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}

const INFERENCE_IMAGES = 1000;
const LATENCY_RUNS = 50;
const TRAIN_IMAGES = 1000;
const TRAIN_BATCH = 100;
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

export function mountBenchmark(hooks: PageHooks): void {
  const button = document.getElementById("bench-run") as HTMLButtonElement;
  const status = document.getElementById("bench-status")!;
  const results = document.getElementById("bench-results")!;
  const featureList = document.getElementById("bench-features")!;

  const rt = hooks.model().rt;
  const features = wasmFeatures(rt);
  const threads = rt.threads > 1;
  const items: [string, boolean, string][] = [
    ["WebAssembly SIMD", features.simd, "128-bit vectors in every kernel"],
    [
      "relaxed SIMD",
      features.relaxedSimd,
      features.relaxedSimd
        ? "fused multiply-add in the matrix kernels"
        : "this engine lacks it: plain multiply and add",
    ],
    [
      "threads",
      threads,
      threads
        ? `${rt.threads} threads: a pool of workers sharing the wasm memory`
        : !features.crossOriginIsolated
          ? "need COOP/COEP headers: this page is not cross-origin isolated"
          : !features.sharedMemory
            ? "this engine has no shared wasm memory"
            : rt.features.threadsNote || "one core",
    ],
  ];
  featureList.replaceChildren(
    ...items.map(([name, on, detail]) => {
      const li = document.createElement("li");
      li.dataset.feature = name;
      li.dataset.on = String(on);
      li.innerHTML = `<span class="mark" aria-hidden="true"></span><span class="name"></span><span class="detail"></span>`;
      li.children[0].textContent = on ? "✓" : "✗";
      li.children[1].textContent = name;
      li.children[2].textContent = detail;
      return li;
    }),
  );

  const rows = new Map<string, HTMLElement>();
  for (const [metric, label] of [
    ["inference", `inference, a batch of ${INFERENCE_IMAGES.toLocaleString("en")}`],
    ["latency", "inference, one image"],
    ["training", `training, batches of ${TRAIN_BATCH}`],
  ]) {
    const row = document.createElement("div");
    row.className = "metric";
    row.innerHTML = `<dt></dt><dd data-metric="${metric}">–</dd>`;
    row.children[0].textContent = label;
    results.append(row);
    rows.set(metric, row.children[1] as HTMLElement);
  }
  const show = (metric: string, value: number, text: string): void => {
    const el = rows.get(metric)!;
    el.textContent = text;
    el.dataset.value = String(value);
  };

  async function run(): Promise<void> {
    button.disabled = true;
    status.classList.remove("error");
    for (const el of rows.values()) {
      el.textContent = "…";
      delete el.dataset.value;
    }
    try {
      status.textContent = "Loading the test set…";
      const data = await hooks.testSet();
      const model = hooks.model();
      const size = model.inputSize;
      const images = data.images.subarray(0, INFERENCE_IMAGES * size);

      status.textContent = "Inference…";
      await nextTurn();
      model.predict(images.subarray(0, 100 * size), 100); // warm-up: buffers allocated, code hot
      let best = Infinity;
      for (let r = 0; r < 2; r++) {
        const t = performance.now();
        model.predict(images, INFERENCE_IMAGES);
        best = Math.min(best, performance.now() - t);
      }
      const perSecond = (INFERENCE_IMAGES / best) * 1000;
      show("inference", perSecond, `${Math.round(perSecond).toLocaleString("en")} images/s`);
      await nextTurn();

      const t = performance.now();
      for (let r = 0; r < LATENCY_RUNS; r++) model.predict(images.subarray(r * size, (r + 1) * size), 1);
      const ms = (performance.now() - t) / LATENCY_RUNS;
      show("latency", ms, `${ms.toFixed(2)} ms`);

      // A fresh copy of the architecture, so the model on the page is never changed.
      status.textContent = `Training ${TRAIN_IMAGES / TRAIN_BATCH} steps…`;
      await nextTurn();
      const fresh = new Model(model.rt, model.spec, { seed: 1 });
      const optimizer = new Optimizer(model.rt, { name: "momentum", lr: 0.05 });
      try {
        const { history } = await fit(fresh, takeFirst(data, TRAIN_IMAGES), {
          epochs: 1,
          batchSize: TRAIN_BATCH,
          optimizer,
          seed: 1,
        });
        const trainPerSecond = TRAIN_IMAGES / history[0].seconds;
        show("training", trainPerSecond, `${Math.round(trainPerSecond).toLocaleString("en")} images/s`);
      } finally {
        optimizer.dispose();
        fresh.dispose();
      }
      // What ran: the kernels of the model's runtime, on as many threads as its pool has.
      const ran = model.rt;
      status.textContent = `${ran.features.relaxedSimd ? "relaxed SIMD" : "SIMD"} kernels, ${ran.threads > 1 ? `${ran.threads} threads` : "one thread"}`;
    } catch (e) {
      status.textContent = `Benchmark failed: ${e instanceof Error ? e.message : String(e)}`;
      status.classList.add("error");
      for (const el of rows.values()) if (el.textContent === "…") el.textContent = "–";
    } finally {
      button.disabled = false;
      button.textContent = "Run again";
    }
  }

  button.addEventListener("click", () => void run());
}
