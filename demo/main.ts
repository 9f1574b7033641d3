// The in-browser demo: draw a digit, watch the shipped CNN classify it as you draw.
// Bundled by scripts/build-demo.mjs (esbuild) into demo/dist/ with the model file beside it.
import { deserializeModel, MnistWasmError, preprocessDigit, Runtime, type Model } from "../sdk/index";

const MODEL_URL = "mnist-cnn.safetensors";
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

// One bar per class.
const bars: { li: HTMLLIElement; fill: HTMLElement; pct: HTMLElement }[] = [];
for (let d = 0; d < 10; d++) {
  const li = document.createElement("li");
  li.dataset.class = String(d);
  li.innerHTML = `<span class="digit">${d}</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
  barsList.append(li);
  bars.push({ li, fill: li.querySelector(".fill")!, pct: li.querySelector(".pct")! });
}

let model: Model | undefined;
let lastProbs: Float32Array | null = null;

function clearPad(): void {
  padCtx.fillStyle = "#000";
  padCtx.fillRect(0, 0, pad.width, pad.height);
  seenCtx.fillStyle = "#000";
  seenCtx.fillRect(0, 0, seen.width, seen.height);
  lastProbs = null;
  showProbs(null);
}

function showProbs(probs: Float32Array | null): void {
  let best = -1;
  if (probs) for (let d = 0; d < 10; d++) if (best < 0 || probs[d] > probs[best]) best = d;
  for (let d = 0; d < 10; d++) {
    const p = probs ? probs[d] : 0;
    bars[d].fill.style.width = `${(p * 100).toFixed(1)}%`;
    bars[d].pct.textContent = probs ? `${(p * 100).toFixed(1)}%` : "–";
    bars[d].li.dataset.p = probs ? String(p) : "";
    bars[d].li.classList.toggle("top", d === best);
  }
  predicted.textContent = best >= 0 ? String(best) : "–";
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
  const view = seenCtx.createImageData(28, 28);
  for (let i = 0; i < pixels.length; i++) {
    view.data[4 * i] = view.data[4 * i + 1] = view.data[4 * i + 2] = pixels[i];
    view.data[4 * i + 3] = 255;
  }
  seenCtx.putImageData(view, 0, 0);
  const probs = model.predict(pixels, 1);
  lastProbs = probs;
  showProbs(probs);
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
  if (e.key === "Escape" || e.key === "Backspace") clearPad();
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
    Runtime.create(),
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
  chip(rt.features.relaxedSimd ? "relaxed SIMD (FMA)" : "no relaxed SIMD", rt.features.relaxedSimd, "fused multiply-add through relaxed SIMD");
  chip(globalThis.crossOriginIsolated ? "cross-origin isolated" : "not isolated", globalThis.crossOriginIsolated === true, "COOP/COEP headers: needed for threads");
  chip("one thread", false, "wasm threads are not implemented yet");
  document.body.dataset.ready = "true";
  if (lastProbs === null) classify();
}

declare global {
  interface Window {
    mnistDemo: {
      ready: Promise<void>;
      classify: () => Float32Array | null;
      clear: () => void;
      features: () => { relaxedSimd: boolean; crossOriginIsolated: boolean };
    };
  }
}

const ready = start().catch((e: unknown) => {
  statusEl.textContent = `Could not start: ${e instanceof Error ? e.message : String(e)}`;
  statusEl.classList.add("error");
  throw e;
});
window.mnistDemo = {
  ready,
  classify: () => {
    const p = classify();
    return p ? Float32Array.from(p) : null;
  },
  clear: clearPad,
  features: () => ({ relaxedSimd: model?.rt.features.relaxedSimd ?? false, crossOriginIsolated: globalThis.crossOriginIsolated }),
};
