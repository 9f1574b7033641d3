// "Evaluate on the test set": the digit model on the 10,000 MNIST test images the browse panel
// fetched, in slices of a few milliseconds so the page keeps drawing (with a progress bar), then
// the accuracy, the 10x10 confusion matrix (click a cell to see those mistakes) and every
// misclassified image with its true label and the prediction (click one to browse to it).
import { MNIST_CLASSES, type Dataset, type Model } from "../sdk/index";
import type { PageHooks } from "./page-hooks";
import { greyMaps, paintImage } from "./tiles";

/** What one evaluation found. */
export interface TestRun {
  correct: number;
  count: number;
  /** predictions[i]: the predicted class of test image i. */
  predictions: Uint8Array;
  /** confusion[label][predicted] counts. */
  confusion: number[][];
  seconds: number;
}

/** Images per model.predict() call; slices of them run until SLICE_MS has passed, then the page gets a turn. */
const CHUNK = 100;
const SLICE_MS = 30;
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Classifies every image of `data` with `model`, yielding to the page between slices. `onProgress`
 * gets the number done; `cancelled()` is asked between slices (the model may have been replaced).
 */
export async function evaluateInSlices(
  model: Model,
  data: Dataset,
  onProgress: (done: number) => void,
  cancelled: () => boolean,
): Promise<TestRun | null> {
  const size = model.inputSize;
  const classes = model.classCount;
  const predictions = new Uint8Array(data.count);
  const started = performance.now();
  let sliceStart = started;
  for (let start = 0; start < data.count; start += CHUNK) {
    const n = Math.min(CHUNK, data.count - start);
    const probs = model.predict(data.images.subarray(start * size, (start + n) * size), n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
      predictions[start + i] = best;
    }
    if (performance.now() - sliceStart > SLICE_MS) {
      onProgress(start + n);
      await nextTurn();
      if (cancelled()) return null;
      sliceStart = performance.now();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < data.count; i++) {
    confusion[data.labels[i]][predictions[i]]++;
    if (data.labels[i] === predictions[i]) correct++;
  }
  onProgress(data.count);
  return { correct, count: data.count, predictions, confusion, seconds };
}

export function mountEvaluation(hooks: PageHooks): { modelChanged(): void } {
  const button = document.getElementById("eval-run") as HTMLButtonElement;
  const progress = document.getElementById("eval-progress") as HTMLProgressElement;
  const status = document.getElementById("eval-status")!;
  const results = document.getElementById("eval-results")!;
  const accuracy = document.getElementById("eval-accuracy")!;
  const summary = document.getElementById("eval-summary")!;
  const matrix = document.getElementById("eval-matrix") as HTMLTableElement;
  const mistakesTitle = document.getElementById("eval-mistakes-title")!;
  const mistakes = document.getElementById("eval-mistakes")!;

  let generation = 0; // bumped when the model changes: a running evaluation stops, results go
  let last: { run: TestRun; data: Dataset } | null = null;
  let filter: { label: number; predicted: number } | null = null;

  function reset(): void {
    generation++;
    last = null;
    filter = null;
    results.hidden = true;
    progress.hidden = true;
    button.disabled = false;
    button.textContent = "Evaluate on the test set";
    status.textContent = "10,000 handwritten digits the model never trained on";
    status.classList.remove("error");
  }

  async function run(): Promise<void> {
    const mine = ++generation;
    button.disabled = true;
    results.hidden = true;
    status.classList.remove("error");
    status.textContent = "Loading the test set…";
    try {
      const data = await hooks.testSet();
      const model = hooks.model();
      progress.max = data.count;
      progress.value = 0;
      progress.hidden = false;
      const started = performance.now();
      const result = await evaluateInSlices(
        model,
        data,
        (done) => {
          progress.value = done;
          status.textContent = `${done.toLocaleString("en")} of ${data.count.toLocaleString("en")} images · ${((performance.now() - started) / 1000).toFixed(1)} s`;
        },
        () => mine !== generation,
      );
      if (!result || mine !== generation) return;
      last = { run: result, data };
      filter = null;
      show();
      status.textContent = `${result.count.toLocaleString("en")} images in ${result.seconds.toFixed(1)} s (${Math.round(result.count / result.seconds).toLocaleString("en")} images/s)`;
    } catch (e) {
      if (mine !== generation) return;
      status.textContent = `Evaluation failed: ${e instanceof Error ? e.message : String(e)}`;
      status.classList.add("error");
    } finally {
      if (mine === generation) {
        button.disabled = false;
        progress.hidden = true;
        button.textContent = "Evaluate again";
      }
    }
  }

  function show(): void {
    if (!last) return;
    const { run } = last;
    results.hidden = false;
    accuracy.textContent = `${((100 * run.correct) / run.count).toFixed(2)}%`;
    accuracy.dataset.correct = String(run.correct);
    summary.textContent = `${run.correct.toLocaleString("en")} of ${run.count.toLocaleString("en")} right, ${(run.count - run.correct).toLocaleString("en")} wrong`;
    drawMatrix(run);
    drawMistakes();
  }

  function drawMatrix(run: TestRun): void {
    const classes = run.confusion.length;
    let maxOff = 0;
    let maxDiag = 0;
    run.confusion.forEach((row, t) =>
      row.forEach((n, p) => {
        if (t === p) maxDiag = Math.max(maxDiag, n);
        else maxOff = Math.max(maxOff, n);
      }),
    );
    const head = document.createElement("tr");
    head.append(Object.assign(document.createElement("th"), { className: "corner", textContent: "" }));
    for (let p = 0; p < classes; p++)
      head.append(
        Object.assign(document.createElement("th"), { scope: "col", textContent: MNIST_CLASSES[p] ?? String(p) }),
      );
    const body = run.confusion.map((row, t) => {
      const tr = document.createElement("tr");
      tr.append(
        Object.assign(document.createElement("th"), { scope: "row", textContent: MNIST_CLASSES[t] ?? String(t) }),
      );
      row.forEach((n, p) => {
        const td = document.createElement("td");
        td.dataset.label = String(t);
        td.dataset.predicted = String(p);
        td.dataset.count = String(n);
        td.textContent = n ? String(n) : "·";
        if (t === p) {
          td.className = "diag";
          td.style.setProperty("--heat", String(0.25 + (0.75 * n) / Math.max(1, maxDiag)));
          td.title = `${n} images of ${t} read as ${p}: all right`;
        } else if (n > 0) {
          td.className = "off";
          // Log scale: one mistake is visible, the worst pair stands out.
          td.style.setProperty("--heat", String(0.2 + (0.8 * Math.log1p(n)) / Math.log1p(Math.max(1, maxOff))));
          td.title = `${n} image${n === 1 ? "" : "s"} of ${t} read as ${p}: click to see ${n === 1 ? "it" : "them"}`;
          td.tabIndex = 0;
          td.setAttribute("role", "button");
        } else {
          td.className = "zero";
        }
        if (filter && filter.label === t && filter.predicted === p) td.classList.add("selected");
        tr.append(td);
      });
      return tr;
    });
    const caption = Object.assign(document.createElement("caption"), {
      textContent: "rows: true digit · columns: prediction",
    });
    const thead = document.createElement("thead");
    thead.append(head);
    const tbody = document.createElement("tbody");
    tbody.append(...body);
    matrix.replaceChildren(caption, thead, tbody);
  }

  function drawMistakes(): void {
    if (!last) return;
    const { run, data } = last;
    const wrong: number[] = [];
    for (let i = 0; i < run.count; i++) {
      if (run.predictions[i] === data.labels[i]) continue;
      if (filter && (data.labels[i] !== filter.label || run.predictions[i] !== filter.predicted)) continue;
      wrong.push(i);
    }
    const total = run.count - run.correct;
    mistakesTitle.replaceChildren();
    if (filter) {
      mistakesTitle.append(`${wrong.length} of the ${total} mistakes: ${filter.label} read as ${filter.predicted} `);
      const all = Object.assign(document.createElement("button"), {
        type: "button",
        className: "link",
        textContent: "show all",
      });
      all.addEventListener("click", () => setFilter(null));
      mistakesTitle.append(all);
    } else {
      mistakesTitle.append(`All ${total} mistakes · click one to see it in the browser above`);
    }
    const size = hooks.model().inputSize;
    const items = wrong.map((i) => {
      const item = document.createElement("button");
      item.type = "button";
      item.className = "mistake";
      item.dataset.index = String(i);
      item.dataset.label = String(data.labels[i]);
      item.dataset.predicted = String(run.predictions[i]);
      item.title = `test image ${i}: a ${data.labels[i]}, read as ${run.predictions[i]}`;
      const canvas = document.createElement("canvas");
      paintImage(
        canvas,
        greyMaps(data.images.subarray(i * size, (i + 1) * size), 1, data.shape[1], data.shape[2], 0, 255),
      );
      const caption = document.createElement("span");
      caption.innerHTML = `<b></b> → <i></i>`;
      caption.children[0].textContent = String(data.labels[i]);
      caption.children[1].textContent = String(run.predictions[i]);
      item.append(canvas, caption);
      return item;
    });
    mistakes.replaceChildren(...items);
  }
  function setFilter(next: { label: number; predicted: number } | null): void {
    filter = next;
    if (last) drawMatrix(last.run);
    drawMistakes();
  }

  button.addEventListener("click", () => void run());
  const pick = (target: EventTarget | null): void => {
    const td = (target as HTMLElement | null)?.closest?.("td.off") as HTMLElement | null;
    if (!td) return;
    const label = Number(td.dataset.label);
    const predicted = Number(td.dataset.predicted);
    setFilter(filter && filter.label === label && filter.predicted === predicted ? null : { label, predicted });
  };
  matrix.addEventListener("click", (e) => pick(e.target));
  matrix.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pick(e.target);
    }
  });
  mistakes.addEventListener("click", (e) => {
    const item = (e.target as HTMLElement).closest(".mistake") as HTMLElement | null;
    if (!item) return;
    void hooks
      .showTest(Number(item.dataset.index))
      .then(() => {
        document
          .getElementById("browse-title")
          ?.closest("section")
          ?.scrollIntoView({ behavior: "smooth", block: "center" });
      })
      .catch(() => {});
  });
  reset();
  return { modelChanged: reset };
}
