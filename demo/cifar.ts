// "CIFAR-10 samples": the first 100 CIFAR-10 test images (demo/cifar10-samples.bin, a CIFAR-10
// .bin batch made by scripts/pack-cifar-samples.mjs) classified by the CNN this project's CLI
// trained (models/cifar10-cnn.safetensors, `npm run train:cifar`), in its int8 form
// (models/cifar10-cnn.int8.safetensors, `npm run quantize:cifar`): a quarter of the float file's
// bytes at the same accuracy. Pick a thumbnail to see the photo, its true class, the model's
// answer and every class's probability.
import { CIFAR10_CLASSES, datasetFromCifarBatches, deserializeModel, type Dataset, type Model } from "../sdk/index";
import type { CifarPanel } from "./cifar-panel";
import { describeModel } from "./model-file";
import type { PageHooks } from "./page-hooks";
import { paintImage, planesToMaps } from "./tiles";

const SAMPLES_URL = "cifar10-samples.bin";
const MODEL_URL = "cifar10-cnn.int8.safetensors";

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

export function mountCifar(hooks: PageHooks): CifarPanel {
  const image = document.getElementById("cifar-image") as HTMLCanvasElement;
  const indexEl = document.getElementById("cifar-index")!;
  const labelEl = document.getElementById("cifar-label")!;
  const predictedEl = document.getElementById("cifar-predicted")!;
  const confidenceEl = document.getElementById("cifar-confidence")!;
  const verdictEl = document.getElementById("cifar-verdict")!;
  const barsList = document.getElementById("cifar-bars") as HTMLOListElement;
  const thumbs = document.getElementById("cifar-thumbs")!;
  const status = document.getElementById("cifar-status")!;
  const modelEl = document.getElementById("cifar-model")!;

  let samples: Dataset | null = null;
  type Described = { model: Model; label: { text: string; title: string } };
  let shipped: Described | null = null;
  let current: Described | null = null;
  let probs: Float32Array | null = null;
  let selected = 0;

  const classes = (): string[] => current?.model.spec.classes ?? CIFAR10_CLASSES;

  const bars = CIFAR10_CLASSES.map((_, c) => {
    const li = document.createElement("li");
    li.dataset.class = String(c);
    li.innerHTML = `<span class="digit"></span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
    barsList.append(li);
    return {
      li,
      name: li.querySelector(".digit") as HTMLElement,
      fill: li.querySelector(".fill") as HTMLElement,
      pct: li.querySelector(".pct") as HTMLElement,
    };
  });

  const argmax = (p: Float32Array, at: number, n: number): number => {
    let best = 0;
    for (let c = 1; c < n; c++) if (p[at + c] > p[at + best]) best = c;
    return best;
  };

  function select(i: number): void {
    if (!samples || !probs) return;
    selected = i;
    const n = classes().length;
    const label = samples.labels[i];
    const best = argmax(probs, i * n, n);
    paintImage(image, planesToMaps(samples.images.subarray(i * 3072, (i + 1) * 3072), 1, 3, 32, 32));
    indexEl.textContent = String(i);
    labelEl.textContent = CIFAR10_CLASSES[label];
    labelEl.dataset.class = String(label);
    predictedEl.textContent = classes()[best];
    predictedEl.dataset.class = String(best);
    confidenceEl.textContent = `${(probs[i * n + best] * 100).toFixed(1)}% sure`;
    verdictEl.textContent = best === label ? "✓ correct" : "✗ wrong";
    verdictEl.dataset.verdict = best === label ? "correct" : "wrong";
    bars.forEach((bar, c) => {
      const p = probs![i * n + c];
      bar.name.textContent = classes()[c];
      bar.fill.style.width = `${(p * 100).toFixed(1)}%`;
      bar.pct.textContent = `${(p * 100).toFixed(1)}%`;
      bar.li.dataset.p = String(p);
      bar.li.classList.toggle("top", c === best);
    });
    for (const t of Array.from(thumbs.children))
      t.classList.toggle("selected", (t as HTMLElement).dataset.index === String(i));
  }

  /** Classifies the 100 samples with the current model and redraws the thumbnails' verdicts. */
  function classifyAll(): void {
    if (!samples || !current) return;
    probs = current.model.predict(samples.images, samples.count);
    const n = classes().length;
    let right = 0;
    for (const t of Array.from(thumbs.children)) {
      const el = t as HTMLElement;
      const i = Number(el.dataset.index);
      const best = argmax(probs, i * n, n);
      el.dataset.predicted = String(best);
      el.dataset.verdict = best === samples.labels[i] ? "correct" : "wrong";
      el.title = `test image ${i}: ${CIFAR10_CLASSES[samples.labels[i]]}, read as ${classes()[best]}`;
      if (best === samples.labels[i]) right++;
    }
    modelEl.textContent = current.label.text;
    modelEl.title = current.label.title;
    status.textContent = `${right} of these ${samples.count} right · green: correct, red: wrong`;
    status.dataset.right = String(right);
    select(selected);
  }

  async function start(): Promise<void> {
    // After the MNIST panels' data: the photos are extra and should not slow the digit panels.
    await hooks.testSet().catch(() => {});
    const rt = hooks.model().rt;
    const [sampleBytes, modelBytes] = await Promise.all([fetchBytes(SAMPLES_URL), fetchBytes(MODEL_URL)]);
    samples = datasetFromCifarBatches([{ name: SAMPLES_URL, bytes: sampleBytes }]);
    const loaded = deserializeModel(rt, modelBytes, MODEL_URL);
    shipped = { model: loaded.model, label: describeModel("int8 CNN", loaded.model, loaded.metadata, "CIFAR-10") };
    current ??= shipped;
    for (let i = 0; i < samples.count; i++) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.dataset.index = String(i);
      button.dataset.label = String(samples.labels[i]);
      const canvas = document.createElement("canvas");
      paintImage(canvas, planesToMaps(samples.images.subarray(i * 3072, (i + 1) * 3072), 1, 3, 32, 32));
      button.append(canvas);
      thumbs.append(button);
    }
    classifyAll();
    document.getElementById("cifar-title")!.closest("section")!.dataset.ready = "true";
  }

  thumbs.addEventListener("click", (e) => {
    const t = (e.target as HTMLElement).closest(".thumb") as HTMLElement | null;
    if (t) select(Number(t.dataset.index));
  });

  start().catch((e: unknown) => {
    status.textContent = `Could not load the CIFAR-10 samples: ${e instanceof Error ? e.message : String(e)}`;
    status.classList.add("error");
  });

  return {
    useModel(model, label) {
      if (current && current !== shipped) current.model.dispose();
      current = model ? { model, label: label ?? { text: "your model", title: "" } } : shipped;
      classifyAll();
    },
  };
}
