// The in-browser demo: draw a digit, watch the shipped CNN classify it as you draw.
// Bundled by scripts/build-demo.mjs (esbuild) into demo/dist/ with the model file beside it.
import {
  datasetFromIdx,
  deserializeModel,
  gunzipIfNeeded,
  MNIST_CLASSES,
  MnistWasmError,
  preprocessDigit,
  Runtime,
  type Dataset,
  type Model,
} from "../sdk/index";
import { PAGE_THREADS } from "./page-threads";
import { mountPanels, type Panels } from "./panels";
import { mountTraining } from "./train";

const MODEL_URL = "mnist-cnn.safetensors";
// The MNIST test set, copied beside the page by scripts/build-demo.mjs; fetched once the model is in.
const TEST_IMAGES_URL = "data/t10k-images-idx3-ubyte.gz";
const TEST_LABELS_URL = "data/t10k-labels-idx1-ubyte.gz";
const STROKE = 20; // px on the 280x280 pad: close to MNIST's stroke after scaling to 20x20

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: #${id} is missing from the page`);
  return el as T;
};

const pad = $<HTMLCanvasElement>("pad");
const seen = $<HTMLCanvasElement>("seen");
const clearButton = $<HTMLButtonElement>("clear");
const predicted = $<HTMLElement>("predicted");
const confidence = $<HTMLElement>("confidence");
const barsList = $<HTMLOListElement>("bars");
const statusEl = $<HTMLElement>("status");
const chips = $<HTMLElement>("chips");
const hint = $<HTMLElement>("hint");

const padCtx = pad.getContext("2d", { willReadFrequently: true })!;
const seenCtx = seen.getContext("2d")!;

type Bar = { li: HTMLLIElement; fill: HTMLElement; pct: HTMLElement };

/** One bar per class in `list`. */
function makeBars(list: HTMLOListElement): Bar[] {
  const out: Bar[] = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.dataset.class = String(d);
    li.innerHTML = `<span class="digit">${MNIST_CLASSES[d]}</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
    list.append(li);
    out.push({ li, fill: li.querySelector(".fill")!, pct: li.querySelector(".pct")! });
  }
  return out;
}

/** Fills `bars` from `probs` (null: empty) and returns the top class, -1 when empty. */
function fillBars(bars: Bar[], probs: Float32Array | null): number {
  let best = -1;
  if (probs) for (let d = 0; d < 10; d++) if (best < 0 || probs[d] > probs[best]) best = d;
  for (let d = 0; d < 10; d++) {
    const p = probs ? probs[d] : 0;
    bars[d].fill.style.width = `${(p * 100).toFixed(1)}%`;
    bars[d].pct.textContent = probs ? `${(p * 100).toFixed(1)}%` : "–";
    bars[d].li.dataset.p = probs ? String(p) : "";
    bars[d].li.classList.toggle("top", d === best);
  }
  return best;
}

/** Draws 28x28 grey pixels onto a 28x28 canvas. */
function paint(ctx: CanvasRenderingContext2D, pixels: Uint8Array): void {
  const view = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    view.data[4 * i] = view.data[4 * i + 1] = view.data[4 * i + 2] = pixels[i];
    view.data[4 * i + 3] = 255;
  }
  ctx.putImageData(view, 0, 0);
}

const bars = makeBars(barsList);

let model: Model | undefined;
let lastProbs: Float32Array | null = null;
// The shipped model and its status line, for going back to it after another one (useModel).
let shipped: { model: Model; status: string } | undefined;
// The panels below (demo/panels.ts): they follow the drawing and the model.
let panels: Panels | undefined;
// The training panel (demo/train.ts): its "use it" switch follows the model in use.
let training: { modelChanged(): void } | undefined;

function clearPad(): void {
  padCtx.fillStyle = "#000";
  padCtx.fillRect(0, 0, pad.width, pad.height);
  seenCtx.fillStyle = "#000";
  seenCtx.fillRect(0, 0, seen.width, seen.height);
  lastProbs = null;
  showProbs(null);
  panels?.drawn(null);
}

function showProbs(probs: Float32Array | null): void {
  const best = fillBars(bars, probs);
  predicted.textContent = best >= 0 ? String(best) : ""; // empty: nothing shows (style.css keeps its height)
  predicted.dataset.class = best >= 0 ? String(best) : "";
  confidence.textContent = best >= 0 && probs ? `${(probs[best] * 100).toFixed(1)}% sure` : "\u00a0";
}

/** Preprocesses the pad as MNIST digits were made and classifies it; null when nothing is drawn. */
function classify(): Float32Array | null {
  if (!model) return null;
  const image = padCtx.getImageData(0, 0, pad.width, pad.height);
  let pixels: Uint8Array;
  try {
    pixels = preprocessDigit(image.data, image.width, image.height).pixels;
  } catch (e) {
    if (e instanceof MnistWasmError && e.code === "BAD_ARGUMENT") {
      clearPad(); // nothing drawn yet
      return null;
    }
    throw e;
  }
  paint(seenCtx, pixels);
  const probs = model.predict(pixels, 1);
  lastProbs = probs;
  showProbs(probs);
  panels?.drawn(pixels);
  return probs;
}

// Classification at most once per frame while drawing.
let frameQueued = false;
function scheduleClassify(): void {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    classify();
  });
}

// Drawing with pointer events: mouse, pen and touch alike.
let last: { x: number; y: number } | null = null;
const at = (e: PointerEvent): { x: number; y: number } => {
  const r = pad.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
};
function strokeTo(p: { x: number; y: number }): void {
  const from = last ?? p;
  padCtx.strokeStyle = "#fff";
  padCtx.lineWidth = STROKE;
  padCtx.lineCap = "round";
  padCtx.lineJoin = "round";
  padCtx.beginPath();
  padCtx.moveTo(from.x, from.y);
  padCtx.lineTo(p.x, p.y);
  padCtx.stroke();
  last = p;
}
pad.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  last = null;
  strokeTo(at(e));
  hint.textContent = "Keep going, or Clear to start over";
  scheduleClassify();
});
pad.addEventListener("pointermove", (e) => {
  if (!last) return;
  for (const ev of e.getCoalescedEvents?.() ?? [e]) strokeTo(at(ev));
  scheduleClassify();
});
const endStroke = (): void => {
  if (!last) return;
  last = null;
  scheduleClassify();
};
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
clearButton.addEventListener("click", () => {
  clearPad();
  hint.textContent = "Draw with mouse, pen or finger";
});
window.addEventListener("keydown", (e) => {
  const t = e.target as HTMLElement | null;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return; // typing an index
  if (e.key === "Escape" || e.key === "Backspace") clearPad();
});

// ---- Browse the MNIST test set (like `mnist-wasm predict 42`) ----

const testIndex = $<HTMLInputElement>("test-index");
const testPrev = $<HTMLButtonElement>("test-prev");
const testNext = $<HTMLButtonElement>("test-next");
const testRandom = $<HTMLButtonElement>("test-random");
const testStatus = $<HTMLElement>("test-status");
const testImage = $<HTMLCanvasElement>("test-image");
const testLabel = $<HTMLElement>("test-label");
const testPredicted = $<HTMLElement>("test-predicted");
const testConfidence = $<HTMLElement>("test-confidence");
const testVerdict = $<HTMLElement>("test-verdict");
const testBars = makeBars($<HTMLOListElement>("test-bars"));
const testCtx = testImage.getContext("2d")!;
testCtx.fillStyle = "#000";
testCtx.fillRect(0, 0, 28, 28);

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return gunzipIfNeeded(new Uint8Array(await r.arrayBuffer()), url, 64 * 2 ** 20);
}

let testSet: Promise<Dataset> | undefined;
/** The test set, fetched and parsed on first use (once). */
function loadTestSet(): Promise<Dataset> {
  testSet ??= (async () => {
    testStatus.textContent = "Loading test set…";
    const [images, labels] = await Promise.all([fetchBytes(TEST_IMAGES_URL), fetchBytes(TEST_LABELS_URL)]);
    const data = datasetFromIdx(images, labels, {
      name: "mnist-test",
      imagesWhat: TEST_IMAGES_URL,
      labelsWhat: TEST_LABELS_URL,
    });
    if (data.shape[1] !== 28 || data.shape[2] !== 28) throw new Error(`${TEST_IMAGES_URL}: expected 28x28 images`);
    testIndex.max = String(data.count - 1);
    testStatus.textContent = `${data.count.toLocaleString("en")} images`;
    return data;
  })().catch((e: unknown) => {
    testStatus.textContent = `Could not load the test set: ${e instanceof Error ? e.message : String(e)}`;
    testStatus.classList.add("error");
    throw e;
  });
  return testSet;
}

let testShown = -1;
/** Shows test image `index` (clamped to the set) with its label and the model's prediction. */
async function showTest(
  index: number,
): Promise<{ index: number; label: number; predicted: number; probability: number }> {
  await ready;
  const data = await loadTestSet();
  const i = Math.min(data.count - 1, Math.max(0, Math.trunc(Number.isFinite(index) ? index : 0)));
  const pixels = data.images.subarray(i * 784, (i + 1) * 784);
  const probs = Float32Array.from(model!.predict(pixels, 1));
  const label = data.labels[i];
  const best = fillBars(testBars, probs);
  paint(testCtx, pixels);
  testShown = i;
  if (testIndex.valueAsNumber !== i) testIndex.value = String(i);
  testLabel.textContent = MNIST_CLASSES[label];
  testLabel.dataset.class = String(label);
  testPredicted.textContent = MNIST_CLASSES[best];
  testPredicted.dataset.class = String(best);
  testConfidence.textContent = `${(probs[best] * 100).toFixed(1)}% sure`;
  const right = best === label;
  testVerdict.textContent = right ? "✓ correct" : "✗ wrong";
  testVerdict.dataset.verdict = right ? "correct" : "wrong";
  return { index: i, label, predicted: best, probability: probs[best] };
}

const showAndReport = (index: number): void => {
  showTest(index).catch(() => {}); // failures are shown in #test-status
};
const count = (): number => Number(testIndex.max) + 1;
const current = (): number => Math.max(testShown, 0);
testPrev.addEventListener("click", () => showAndReport((current() - 1 + count()) % count()));
testNext.addEventListener("click", () => showAndReport((current() + 1) % count()));
testRandom.addEventListener("click", () => showAndReport(Math.floor(Math.random() * count())));
testIndex.addEventListener("change", () => {
  if (Number.isFinite(testIndex.valueAsNumber)) showAndReport(testIndex.valueAsNumber);
});
testIndex.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && Number.isFinite(testIndex.valueAsNumber)) showAndReport(testIndex.valueAsNumber);
});

function chip(text: string, on: boolean, title: string): void {
  const el = document.createElement("span");
  el.className = `chip ${on ? "on" : "off"}`;
  el.textContent = text;
  el.title = title;
  chips.append(el);
}

async function start(): Promise<void> {
  clearPad();
  const [rt, bytes] = await Promise.all([
    Runtime.create({ threads: PAGE_THREADS }),
    fetch(MODEL_URL).then(async (r) => {
      if (!r.ok) throw new Error(`${MODEL_URL}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    }),
  ]);
  const loaded = deserializeModel(rt, bytes, MODEL_URL);
  model = loaded.model;
  const acc = Number(loaded.metadata.testAccuracy);
  statusEl.textContent = `LeNet-style CNN${Number.isFinite(acc) ? ` · ${(acc * 100).toFixed(2)}% on MNIST's test set` : ""} · ${(bytes.length / 1024).toFixed(0)} KiB`;
  chip("wasm SIMD", true, "128-bit WebAssembly SIMD kernels");
  chip(
    rt.features.relaxedSimd ? "relaxed SIMD (FMA)" : "no relaxed SIMD",
    rt.features.relaxedSimd,
    "fused multiply-add through relaxed SIMD",
  );
  chip(
    globalThis.crossOriginIsolated ? "cross-origin isolated" : "not isolated",
    globalThis.crossOriginIsolated === true,
    "COOP/COEP headers: needed for threads",
  );
  chip(
    rt.threads > 1 ? `${rt.threads} threads` : "one thread",
    rt.threads > 1,
    rt.threads > 1
      ? "kernels split across a pool of workers sharing the wasm memory"
      : rt.features.threadsNote || "one thread asked for",
  );
  shipped = { model, status: statusEl.textContent ?? "" };
  panels = mountPanels({ model: () => model!, useModel, testSet: loadTestSet, showTest });
  training = mountTraining({ model: () => model!, useModel, testSet: loadTestSet, latent: panels.latent });
  document.body.dataset.ready = "true";
  if (lastProbs === null) classify();
}

/**
 * Makes `next` the digit model of the page (null: the shipped one again): the drawing and the
 * test image on show are read again, and the panels below follow.
 */
function useModel(next: Model | null, label?: string): void {
  if (!shipped) throw new Error("demo: useModel before the shipped model is in");
  model = next ?? shipped.model;
  statusEl.textContent = next ? (label ?? "your model") : shipped.status;
  panels?.modelChanged();
  training?.modelChanged();
  if (lastProbs !== null) classify();
  if (testShown >= 0) showAndReport(testShown);
}

declare global {
  interface Window {
    mnistDemo: {
      ready: Promise<void>;
      classify: () => Float32Array | null;
      clear: () => void;
      showTest: (index: number) => Promise<{ index: number; label: number; predicted: number; probability: number }>;
      features: () => { relaxedSimd: boolean; crossOriginIsolated: boolean; threads: number };
    };
  }
}

const ready = start().catch((e: unknown) => {
  statusEl.textContent = `Could not start: ${e instanceof Error ? e.message : String(e)}`;
  statusEl.classList.add("error");
  throw e;
});
// The test set comes after the model, so it never delays the drawing pad.
void ready.then(() => (testShown < 0 ? showTest(testIndex.valueAsNumber || 0) : undefined)).catch(() => {});

window.mnistDemo = {
  ready,
  classify: () => {
    const p = classify();
    return p ? Float32Array.from(p) : null;
  },
  clear: clearPad,
  showTest,
  features: () => ({
    relaxedSimd: model?.rt.features.relaxedSimd ?? false,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    threads: model?.rt.threads ?? 1,
  }),
};
