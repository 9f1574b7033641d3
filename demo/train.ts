// "Train in your browser": a network trained on MNIST in a Web Worker (demo/train-worker.ts, the
// SDK's ModelWorker), so the page keeps drawing while it runs. Live loss and accuracy curves, a
// progress bar with the speed, Stop at any time, the test accuracy, a download of the model file
// as the CLI writes it, and a switch that puts the trained model into the panels above.
import {
  datasetFromIdx,
  deserializeModel,
  gunzipIfNeeded,
  hasLearningRate,
  MnistWasmError,
  ModelWorker,
  planModel,
  planSize,
  type Model,
  type OptimizerName,
  type TrainingRun,
  type TrainProgress,
} from "../sdk/index";
import type { PageHooks } from "./page-hooks";
import { PAGE_THREADS } from "./page-threads";
import { LineChart, type ChartSeries } from "./train-chart";
import {
  cliCommand,
  cliCommandParts,
  defaultLearningRate,
  NETWORKS,
  OPTIMIZER_LABELS,
  OPTIMIZERS,
  type Network,
} from "./train-presets";

/** The page's hooks this panel uses. */
export type TrainHooks = Pick<PageHooks, "model" | "useModel" | "testSet">;

// The MNIST training set, copied beside the page by scripts/build-demo.mjs.
const TRAIN_IMAGES_URL = "data/train-images-idx3-ubyte.gz";
const TRAIN_LABELS_URL = "data/train-labels-idx1-ubyte.gz";
const SEED = 1;
const BATCH = 100;
const IMAGE_CHOICES = [1000, 5000, 10000, 30000, 60000];
const COLORS = { loss: "#6ea8ff", train: "#9b7bff", test: "#57d48a" };

/** What the last run ended with; read by the tests through window.mnistTrain. */
export interface TrainOutcome {
  stopped: boolean;
  epochs: number;
  images: number;
  seconds: number;
  testAccuracy: number;
  testCorrect: number;
  testCount: number;
}

type State = "idle" | "loading" | "training" | "stopping" | "evaluating" | "done" | "stopped" | "error";

const percent = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
const count = (n: number): string => n.toLocaleString("en");
const seconds = (s: number): string =>
  s < 60
    ? `${Math.max(1, Math.round(s))} s`
    : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;

/** Fetches a gzipped file, reporting bytes received, and inflates it. */
async function fetchGzip(url: string, onBytes: (received: number) => void): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok || !r.body) throw new Error(`${url}: HTTP ${r.status}`);
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return gunzipIfNeeded(bytes, url, 64 * 2 ** 20);
}

export function mountTraining(hooks: TrainHooks): { modelChanged(): void } {
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`demo: #${id} is missing from the page`);
    return el as T;
  };
  const panel = $("train");
  const networkSelect = $<HTMLSelectElement>("train-network");
  const optimizerSelect = $<HTMLSelectElement>("train-optimizer");
  const lrInput = $<HTMLInputElement>("train-lr");
  const epochsInput = $<HTMLInputElement>("train-epochs");
  const imagesSelect = $<HTMLSelectElement>("train-images");
  const startButton = $<HTMLButtonElement>("train-start");
  const stopButton = $<HTMLButtonElement>("train-stop");
  const downloadButton = $<HTMLButtonElement>("train-download");
  const useToggle = $<HTMLInputElement>("train-use");
  const meter = $("train-meter");
  const meterFill = $("train-meter-fill");
  const status = $("train-status");
  const lossValue = $("train-loss");
  const trainAccValue = $("train-acc");
  const testAccValue = $("train-test");
  const speedValue = $("train-speed");
  const command = $("train-command");
  const lossChart = new LineChart($<HTMLCanvasElement>("train-loss-chart"), {
    yFormat: (y) => String(Number(y.toPrecision(2))),
    yMin: 0,
    legend: "top",
  });
  const accChart = new LineChart($<HTMLCanvasElement>("train-acc-chart"), {
    yFormat: (y) => `${Math.round(y * 100)}%`,
    yMax: 1,
    legend: "bottom",
  });

  for (const n of NETWORKS) networkSelect.add(new Option(`${n.label} · ${count(paramCount(n))} parameters`, n.id));
  for (const o of OPTIMIZERS) optimizerSelect.add(new Option(OPTIMIZER_LABELS[o], o));
  for (const c of IMAGE_CHOICES) imagesSelect.add(new Option(c === 60000 ? "all 60,000" : count(c), String(c)));

  let worker: Promise<ModelWorker> | undefined;
  let dataSent: Promise<void> | undefined;
  let run: TrainingRun | undefined;
  /** The trained model's file, as the last run left it. */
  let saved: { bytes: Uint8Array; name: string } | undefined;
  /** The trained model loaded into the page's runtime, for the panels above. */
  let pageModel: Model | undefined;
  let pageLabel = "";
  let reports: Extract<TrainProgress, { kind: "batch" }>[] = [];
  let testPoints: [number, number][] = [];
  let outcome: TrainOutcome | undefined;
  /** Set by Stop; a run still loading checks it before training begins. */
  let stopRequested = false;

  const network = (): Network => NETWORKS.find((n) => n.id === networkSelect.value) ?? NETWORKS[0];
  const optimizer = (): OptimizerName => optimizerSelect.value as OptimizerName;

  function setState(state: State): void {
    panel.dataset.state = state;
    const busy = state === "loading" || state === "training" || state === "stopping" || state === "evaluating";
    for (const el of [networkSelect, optimizerSelect, epochsInput, imagesSelect, startButton]) el.disabled = busy;
    lrInput.disabled = busy || !hasLearningRate(optimizer());
    stopButton.disabled = !(state === "training" || state === "loading");
    downloadButton.disabled = busy || !saved;
    useToggle.disabled = busy || !pageModel;
    startButton.textContent = saved && !busy ? "Train again" : "Train";
  }

  function say(text: string, kind: "" | "error" = ""): void {
    status.textContent = text;
    status.classList.toggle("error", kind === "error");
  }

  function showCommand(): void {
    const lr = Number(lrInput.value);
    const [program, ...options] = cliCommandParts(
      network(),
      optimizer(),
      lr,
      Number(epochsInput.value) || 1,
      Number(imagesSelect.value),
    );
    const parts = [`npx ${program}`, ...options];
    // One span per piece, spaces between them: the text copies as the command, and it wraps between options.
    command.replaceChildren(
      ...parts.flatMap((part, i) => {
        const span = document.createElement("span");
        span.textContent = part;
        return i === 0 ? [span] : [" ", span];
      }),
    );
  }

  function resetLearningRate(): void {
    const noRate = !hasLearningRate(optimizer());
    lrInput.value = noRate ? "" : String(defaultLearningRate(network(), optimizer()));
    lrInput.placeholder = noRate ? "none" : "";
    lrInput.disabled = noRate;
    showCommand();
  }

  networkSelect.addEventListener("change", () => {
    const n = network();
    epochsInput.value = String(n.epochs);
    imagesSelect.value = String(n.images);
    resetLearningRate();
  });
  optimizerSelect.addEventListener("change", resetLearningRate);
  for (const el of [lrInput, epochsInput, imagesSelect]) el.addEventListener("input", showCommand);
  networkSelect.value = NETWORKS[0].id;
  optimizerSelect.value = "sgd";
  epochsInput.value = String(NETWORKS[0].epochs);
  imagesSelect.value = String(NETWORKS[0].images);
  resetLearningRate();

  /** The form's settings, or a message saying what is wrong with them. */
  function readForm():
    | { network: Network; optimizer: OptimizerName; lr: number; epochs: number; images: number }
    | string {
    const lr = Number(lrInput.value);
    const epochs = Number(epochsInput.value);
    if (hasLearningRate(optimizer()) && !(lr > 0 && Number.isFinite(lr)))
      return "The learning rate must be a positive number, e.g. 0.1.";
    if (!Number.isInteger(epochs) || epochs < 1 || epochs > 100) return "Epochs must be a whole number from 1 to 100.";
    return { network: network(), optimizer: optimizer(), lr, epochs, images: Number(imagesSelect.value) };
  }

  function drawCharts(epochs: number): void {
    const x = (r: (typeof reports)[number]): number => r.epoch - 1 + r.batch / r.batches;
    const loss: ChartSeries = { name: "training loss", color: COLORS.loss, points: reports.map((r) => [x(r), r.loss]) };
    const train: ChartSeries = {
      name: "train",
      color: COLORS.train,
      points: reports.map((r) => [x(r), r.accuracy ?? Number.NaN]),
    };
    const test: ChartSeries = { name: "test", color: COLORS.test, points: testPoints, dots: true };
    lossChart.set([loss], epochs);
    accChart.set([train, test], epochs);
  }

  function showProgress(p: TrainProgress, epochs: number): void {
    if (p.kind === "batch") {
      reports.push(p);
      meter.setAttribute("aria-valuenow", String(Math.round(p.fraction * 100)));
      meterFill.style.width = `${(p.fraction * 100).toFixed(2)}%`;
      lossValue.textContent = p.loss.toFixed(3);
      trainAccValue.textContent = p.accuracy === undefined ? "" : percent(p.accuracy);
      speedValue.textContent = count(Math.round(p.imagesPerSecond));
      const left = p.imagesPerSecond > 0 ? (p.images / p.fraction - p.images) / p.imagesPerSecond : NaN;
      if (panel.dataset.state === "training") {
        say(
          `Epoch ${p.epoch} of ${p.lastEpoch} · batch ${count(p.batch)} of ${count(p.batches)}` +
            (Number.isFinite(left) && left > 0.5 ? ` · about ${seconds(left)} left` : ""),
        );
      }
    } else if (p.kind === "evaluating") {
      if (panel.dataset.state === "training") say(`Epoch ${p.epoch}: evaluating on the 10,000 test images…`);
    } else if (p.record.testAccuracy !== undefined) {
      testPoints.push([p.record.epoch, p.record.testAccuracy]);
      testAccValue.textContent = percent(p.record.testAccuracy, 2);
    }
    drawCharts(epochs);
  }

  /** The worker, started on first use; fails with a message when the page cannot run one. */
  function ensureWorker(): Promise<ModelWorker> {
    worker ??= ModelWorker.create(new Worker(new URL("./train-worker.js", import.meta.url), { type: "module" }), {
      threads: PAGE_THREADS,
    });
    worker.catch(() => (worker = undefined)); // a later click tries again
    return worker;
  }

  /** Sends the training set (transferred: the page keeps no copy) and the test set (copied) once. */
  function ensureData(mw: ModelWorker): Promise<void> {
    dataSent ??= (async () => {
      const sizes = [0, 0];
      const progress =
        (i: number) =>
        (bytes: number): void => {
          sizes[i] = bytes;
          if (panel.dataset.state === "loading")
            say(`Fetching the MNIST training set… ${((sizes[0] + sizes[1]) / 2 ** 20).toFixed(1)} MB`);
        };
      const [images, labels, test] = await Promise.all([
        fetchGzip(TRAIN_IMAGES_URL, progress(0)),
        fetchGzip(TRAIN_LABELS_URL, progress(1)),
        hooks.testSet(),
      ]);
      const train = datasetFromIdx(images, labels, {
        name: "mnist",
        imagesWhat: TRAIN_IMAGES_URL,
        labelsWhat: TRAIN_LABELS_URL,
      });
      await mw.setData("train", train, { transfer: true });
      await mw.setData("test", test);
    })();
    dataSent.catch(() => (dataSent = undefined));
    return dataSent;
  }

  async function start(): Promise<void> {
    const form = readForm();
    if (typeof form === "string") {
      say(form, "error");
      return;
    }
    const { network: net, optimizer: opt, lr, epochs, images } = form;
    reports = [];
    testPoints = [];
    outcome = undefined;
    lossValue.textContent = trainAccValue.textContent = testAccValue.textContent = speedValue.textContent = ""; // unknown yet: train.css shows a muted dash
    meterFill.style.width = "0%";
    drawCharts(epochs);
    stopRequested = false;
    setState("loading");
    say("Starting the worker…");
    try {
      const mw = await ensureWorker();
      await ensureData(mw);
      await mw.build(net.spec, { seed: SEED });
      if (stopRequested) {
        setState(saved ? "done" : "idle");
        say("Stopped before training began.");
        return;
      }
      setState("training");
      say(`Training on ${count(images)} images…`);
      const cli = cliCommand(net, opt, lr, epochs, images);
      run = mw.train(
        {
          data: "train",
          test: "test",
          limit: images,
          epochs,
          batchSize: BATCH,
          seed: SEED,
          optimizer: hasLearningRate(opt) ? { name: opt, lr } : { name: opt },
          progressIntervalMs: 100,
          description: `mnist-wasm demo, in a browser tab (the same run as: ${cli})`,
        },
        (p) => showProgress(p, epochs),
      );
      const result = await run.done;
      run = undefined;
      // A run stopped mid-epoch has no test accuracy for what it learnt since: measure it now.
      let testAccuracy = result.history[result.history.length - 1]?.testAccuracy as number | undefined;
      if (result.stopped || testAccuracy === undefined) {
        setState("evaluating");
        say("Stopped. Evaluating on the 10,000 test images…");
        const ev = await mw.evaluate("test");
        testAccuracy = ev.accuracy;
        const doneFraction = reports.length ? reports[reports.length - 1].fraction * epochs : 0;
        testPoints.push([doneFraction, ev.accuracy]);
        testAccValue.textContent = percent(ev.accuracy, 2);
        drawCharts(epochs);
      }
      const test = await hooks.testSet();
      outcome = {
        stopped: result.stopped,
        epochs: result.epochs,
        images: result.images,
        seconds: result.seconds,
        testAccuracy,
        testCorrect: Math.round(testAccuracy * test.count),
        testCount: test.count,
      };
      saved = { bytes: await mw.save(), name: `mnist-${net.id}.safetensors` };
      refreshPageModel(net, testAccuracy);
      setState(result.stopped ? "stopped" : "done");
      say(
        `${result.stopped ? "Stopped" : "Done"}: ${count(result.images)} images in ${seconds(result.seconds)}, ` +
          `${percent(testAccuracy, 2)} on the test set (${count(outcome.testCorrect)} of ${count(test.count)}).`,
      );
    } catch (e) {
      run = undefined;
      setState("error");
      const message = e instanceof Error ? e.message : String(e);
      // The SDK's divergence message already says what to try ("… try a smaller learning rate").
      say(
        e instanceof MnistWasmError && e.code === "DIVERGED" ? `T${message.slice(1)}.` : `Training failed: ${message}`,
        "error",
      );
    }
  }

  /** Loads the saved model into the page's runtime; when the switch is on, it replaces the previous one above. */
  function refreshPageModel(net: Network, testAccuracy: number): void {
    if (!saved) return;
    const previous = pageModel;
    pageModel = deserializeModel(hooks.model().rt, saved.bytes, saved.name).model;
    pageLabel = `your model, trained in this tab · ${net.label.replace(/ \(.*\)$/, "")} · ${percent(testAccuracy, 2)} on MNIST's test set`;
    if (useToggle.checked) hooks.useModel(pageModel, pageLabel);
    previous?.dispose();
  }

  startButton.addEventListener("click", () => void start());
  stopButton.addEventListener("click", () => {
    stopRequested = true; // still loading: start() sees it before training begins
    setState("stopping");
    say(run ? "Stopping after this batch…" : "Stopping…");
    void run?.stop();
  });
  downloadButton.addEventListener("click", () => {
    if (!saved) return;
    const url = URL.createObjectURL(new Blob([saved.bytes as BlobPart], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = saved.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  useToggle.addEventListener("change", () => {
    if (!pageModel) return;
    hooks.useModel(useToggle.checked ? pageModel : null, pageLabel);
  });

  setState("idle");
  say("Ready. The training set (9.8 MB) is fetched on the first run.");
  drawCharts(Number(epochsInput.value));

  window.mnistTrain = {
    reports: () => reports.map((r) => ({ ...r })),
    outcome: () => (outcome ? { ...outcome } : undefined),
    state: () => panel.dataset.state ?? "idle",
  };

  return {
    // Another panel may have put its own model in place: the switch shows whether ours is on.
    modelChanged: () => {
      useToggle.checked = pageModel !== undefined && hooks.model() === pageModel;
    },
  };
}

/** Learnable values of a network (batch norm's running statistics would not count; these nets have none). */
function paramCount(n: Network): number {
  return planSize(planModel(n.spec));
}

declare global {
  interface Window {
    mnistTrain: {
      reports: () => Extract<TrainProgress, { kind: "batch" }>[];
      outcome: () => TrainOutcome | undefined;
      state: () => string;
    };
  }
}
