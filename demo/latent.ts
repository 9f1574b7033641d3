// "Latent space": a VAE with a 2-D code (models/mnist-vae.safetensors, `npm run train:vae`)
// encodes the first test images, each a dot at its code coloured by its digit; the decoder draws
// the digit of the code under the pointer as it moves over the plot, and a button decodes codes
// drawn from the prior (the standard normal), as `mnist-wasm generate` does. Another autoencoder
// or VAE of 2-D codes can take the panel over (a model file, a model trained in this tab).
import { deserializeModel, MNIST_CLASSES, priorSamples, type Dataset, type Model } from "../sdk/index";
import type { LatentPanel } from "./latent-panel";
import { LatentPlot, type LatentBox } from "./latent-plot";
import { describeModel } from "./model-file";
import type { PageHooks } from "./page-hooks";
import { drawGrid, fitGrid, greyMaps, paintImage } from "./tiles";

const MODEL_URL = "mnist-vae.safetensors";
/** Test images plotted: enough to show every digit's region, few enough to encode at once. */
export const LATENT_POINTS = 2000;
/** Samples a click on the button draws. */
const SAMPLES = 16;
/** One arrow key press moves the code by this fraction of the plot. */
const KEY_STEP = 0.02;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

export function mountLatent(hooks: PageHooks): LatentPanel {
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`demo: #${id} is missing from the page`);
    return el as T;
  };
  const panel = $("latent");
  const scatter = $<HTMLCanvasElement>("latent-scatter");
  const marker = $("latent-marker");
  const decoded = $<HTMLCanvasElement>("latent-decoded");
  const codeText = $("latent-code");
  const sampleButton = $<HTMLButtonElement>("latent-sample");
  const samplesCanvas = $<HTMLCanvasElement>("latent-samples");
  const modelEl = $("latent-model");
  const status = $("latent-status");
  const plot = new LatentPlot(scatter);

  type Described = { model: Model; label: { text: string; title: string } };
  let shipped: Described | null = null;
  let current: Described | null = null;
  let points: Dataset | null = null;
  /** The code decoded last, and the one the next frame decodes. */
  let code: [number, number] = [0, 0];
  let queued = false;
  let sampleSeed = 1;
  const listeners: (() => void)[] = [];

  function decodeNow(): void {
    if (!current) return;
    const pixels = current.model.decode(Float32Array.from(code), 1);
    paintImage(decoded, greyMaps(pixels, 1, 28, 28, 0, 1));
    codeText.textContent = `(${code[0].toFixed(2)}, ${code[1].toFixed(2)})`;
    const [x, y] = plot.pixelOf(code[0], code[1]);
    marker.style.transform = `translate(${x}px, ${y}px)`;
    marker.hidden = false;
  }

  /** Decodes `next` on the next frame: at most one decode a frame, however fast the pointer moves. */
  function decodeAt(next: [number, number]): void {
    code = next;
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      decodeNow();
    });
  }

  function drawSamples(): void {
    if (current?.model.task !== "vae") return;
    const images = current.model.decode(priorSamples(SAMPLES, 2, sampleSeed++), SAMPLES);
    const width = samplesCanvas.parentElement?.clientWidth || 200;
    drawGrid(
      samplesCanvas,
      greyMaps(images, SAMPLES, 28, 28, 0, 1),
      fitGrid(SAMPLES, width, { maxCols: 4, maxTile: 48, gap: 2 }),
    );
    samplesCanvas.dataset.seed = String(sampleSeed - 1);
  }

  /** Encodes the plotted test images with the current model and redraws everything. */
  function show(): void {
    if (!current || !points) return;
    const { model } = current;
    plot.set({
      codes: model.encode(points.images, points.count),
      latent: model.latentSize,
      labels: points.labels,
      classes: model.spec.classes ?? MNIST_CLASSES,
    });
    modelEl.textContent = current.label.text;
    modelEl.title = current.label.title;
    const vae = model.task === "vae";
    sampleButton.disabled = !vae;
    sampleButton.title = vae ? "" : "A plain autoencoder has no prior to draw codes from: point at the plot instead";
    samplesCanvas.hidden = !vae;
    status.textContent = `Codes of the first ${points.count.toLocaleString("en")} test images. Move the pointer over the plot (or focus it and use the arrow keys) to decode the code under it.`;
    const { x0, x1, y0, y1 } = plot.bounds;
    // Start where the prior's mass is for a VAE, in the middle of the codes for an autoencoder.
    decodeAt(vae ? [0, 0] : [(x0 + x1) / 2, (y0 + y1) / 2]);
    if (vae) drawSamples();
    else samplesCanvas.getContext("2d")?.clearRect(0, 0, samplesCanvas.width, samplesCanvas.height);
  }

  async function start(): Promise<void> {
    const test = await hooks.testSet();
    const bytes = await fetchBytes(MODEL_URL);
    const loaded = deserializeModel(hooks.model().rt, bytes, MODEL_URL);
    shipped = { model: loaded.model, label: describeModel("2-D VAE", loaded.model, loaded.metadata, "MNIST") };
    current ??= shipped;
    const count = Math.min(LATENT_POINTS, test.count);
    points = { ...test, images: test.images.subarray(0, count * 784), labels: test.labels.subarray(0, count), count };
    show();
    panel.dataset.ready = "true";
  }

  const pointerCode = (e: PointerEvent): [number, number] | undefined => {
    const r = scatter.getBoundingClientRect();
    return plot.codeAt(e.clientX - r.left, e.clientY - r.top);
  };
  scatter.addEventListener("pointermove", (e) => {
    const at = pointerCode(e);
    if (at) decodeAt(at);
  });
  scatter.addEventListener("pointerdown", (e) => {
    const at = pointerCode(e);
    if (!at) return;
    scatter.setPointerCapture(e.pointerId); // a finger dragging over the plot keeps decoding
    decodeAt(at);
  });
  scatter.addEventListener("keydown", (e) => {
    const { x0, x1, y0, y1 } = plot.bounds;
    const [dx, dy] = [(x1 - x0) * KEY_STEP, (y1 - y0) * KEY_STEP];
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-dx, 0],
      ArrowRight: [dx, 0],
      ArrowUp: [0, dy],
      ArrowDown: [0, -dy],
    };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
    decodeAt([clamp(code[0] + move[0], x0, x1), clamp(code[1] + move[1], y0, y1)]);
  });
  // The marker follows the plot when the canvas changes size.
  new ResizeObserver(() => {
    if (current && points) decodeAt(code);
  }).observe(scatter);
  sampleButton.addEventListener("click", drawSamples);

  start().catch((e: unknown) => {
    status.textContent = `Could not load the VAE: ${e instanceof Error ? e.message : String(e)}`;
    status.classList.add("error");
  });

  window.mnistLatent = {
    code: () => [code[0], code[1]],
    bounds: () => plot.bounds,
  };

  return {
    useModel(model, label) {
      current = model ? { model, label: label ?? { text: "your model", title: "" } } : shipped;
      show();
      for (const listener of listeners) listener();
    },
    shows: (model) => current?.model === model,
    onChange: (listener) => listeners.push(listener),
  };
}

declare global {
  interface Window {
    /** What the tests read of the latent-space panel: the code decoded last and the plot's axes. */
    mnistLatent: { code: () => [number, number]; bounds: () => LatentBox };
  }
}
