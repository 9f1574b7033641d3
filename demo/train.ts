// "Train in your browser": a network trained on MNIST in a Web Worker (demo/train-worker.ts, the
// SDK's ModelWorker), so the page keeps drawing while it runs. Live loss and accuracy curves, a
// progress bar with the speed, Stop at any time, the test accuracy, a download of the model file
// as the CLI writes it, and a switch that puts the trained model into the panels above. An
// autoencoder shows its reconstruction loss instead of accuracy, and the codes of the first test
// images redrawn after every epoch; the switch puts it into the latent-space panel.
import {
  datasetFromIdx,
  deserializeModel,
  formatArch,
  gunzipIfNeeded,
  hasLearningRate,
  MnistWasmError,
  ModelWorker,
  planModel,
  planSize,
  type Model,
  type OptimizerName,
  type ReconstructionEvaluation,
  type TrainingRun,
  type TrainProgress,
} from "../sdk/index";
import type { LatentPanel } from "./latent-panel";
import { LatentPlot } from "./latent-plot";
import type { PageHooks } from "./page-hooks";
import { PAGE_THREADS } from "./page-threads";
import { LineChart, type ChartSeries } from "./train-chart";
import {
  cliCommand,
  cliCommandParts,
  defaultLearningRate,
  generative,
  NETWORKS,
  OPTIMIZER_LABELS,
  OPTIMIZERS,
  taskOptimizer,
  type Network,
} from "./train-presets";

/** The page's hooks this panel uses, and the latent-space panel for its autoencoders. */
export type TrainHooks = Pick<PageHooks, "model" | "useModel" | "testSet"> & { latent: LatentPanel };

// The MNIST training set, copied beside the page by scripts/build-demo.mjs.
const TRAIN_IMAGES_URL = "data/train-images-idx3-ubyte.gz";
const TRAIN_LABELS_URL = "data/train-labels-idx1-ubyte.gz";
const SEED = 1;
const BATCH = 100;
const IMAGE_CHOICES = [1000, 5000, 10000, 30000, 60000];
const COLORS = { loss: "#6ea8ff", train: "#9b7bff", test: "#57d48a" };
/** An autoencoder's run sends the codes of this many test images with every epoch (8 KB). */
const CODES = 1000;

/** What the last run ended with; read by the tests through window.mnistTrain. */
export interface TrainOutcome {
  task: Network["task"];
  stopped: boolean;
  epochs: number;
  images: number;
  seconds: number;
  /** A classifier's accuracy on the test set, and how many it got right. */
  testAccuracy?: number;
  testCorrect?: number;
  testCount: number;
  /** An autoencoder's or VAE's losses on the test set, in nats an image. */
  test?: ReconstructionEvaluation;
}

/** The y axes of the second chart: a classifier's accuracy, an autoencoder's reconstruction loss. */
const ACCURACY_AXIS = {
  yFormat: (y: number) => `${Math.round(y * 100)}%`,
  yMin: undefined,
  yMax: 1,
  legend: "bottom",
} as const;
const LOSS_AXIS = {
  yFormat: (y: number) => String(Number(y.toPrecision(3))),
  yMin: undefined,
  yMax: undefined,
  legend: "top",
} as const;
const nats = (x: number): string => x.toFixed(1);

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
  const trainAccLabel = $("train-acc-label");
  const testAccLabel = $("train-test-label");
  const accCaption = $("train-acc-caption");
  const latentFigure = $("train-latent");
  const latentCaption = $("train-latent-caption");
  const latentPlot = new LatentPlot($<HTMLCanvasElement>("train-latent-chart"));
  const speedValue = $("train-speed");
  const command = $("train-command");
  const lossChart = new LineChart($<HTMLCanvasElement>("train-loss-chart"), {
    yFormat: (y) => String(Number(y.toPrecision(2))),
    yMin: 0,
    legend: "top",
  });
  const accChart = new LineChart($<HTMLCanvasElement>("train-acc-chart"), ACCURACY_AXIS);

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
  /** A classifier's test accuracy, or an autoencoder's test reconstruction loss, by epoch. */
  let testPoints: [number, number][] = [];
  /** An autoencoder's training reconstruction loss, by epoch. */
  let trainPoints: [number, number][] = [];
  /** An autoencoder's test loss (its reconstruction, plus a VAE's KL divergence), by epoch. */
  let testLossPoints: [number, number][] = [];
  /** The task of the run on show (before any run, of the network chosen). */
  let shownTask: Network["task"] = "classifier";
  let outcome: TrainOutcome | undefined;
  /** Set by Stop; a run still loading checks it before training begins. */
  let stopRequested = false;

  const network = (): Network => NETWORKS.find((n) => n.id === networkSelect.value) ?? NETWORKS[0];

  /** Labels the figures and charts for a run of `task`'s, and empties them. */
  function showTask(task: Network["task"]): void {
    shownTask = task;
    const gen = task !== "classifier";
    trainAccLabel.textContent = task === "vae" ? "KL divergence" : gen ? "reconstruction" : "train accuracy";
    testAccLabel.textContent = task === "vae" ? "test ELBO" : gen ? "test reconstruction" : "test accuracy";
    accCaption.textContent = gen ? "Reconstruction loss, nats an image" : "Accuracy";
    accChart.configure(gen ? LOSS_AXIS : ACCURACY_AXIS);
    latentFigure.hidden = !gen;
    latentPlot.clear();
    latentCaption.textContent = `Codes of the first ${count(CODES)} test images, after each epoch`;
    reports = [];
    testPoints = [];
    trainPoints = [];
    testLossPoints = [];
    lossValue.textContent = trainAccValue.textContent = testAccValue.textContent = speedValue.textContent = ""; // unknown yet: train.css shows a muted dash
  }
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
    if (n.task !== shownTask) {
      // Another kind of network: the optimiser that suits it, and figures labelled for it.
      optimizerSelect.value = taskOptimizer(n);
      showTask(n.task);
      drawCharts(n.epochs);
    }
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
    const test: ChartSeries = { name: "test", color: COLORS.test, points: testPoints, dots: true };
    if (shownTask === "classifier") {
      const train: ChartSeries = {
        name: "train",
        color: COLORS.train,
        points: reports.map((r) => [x(r), r.accuracy ?? Number.NaN]),
      };
      lossChart.set([loss], epochs);
      accChart.set([train, test], epochs);
    } else {
      lossChart.set([loss, { name: "test", color: COLORS.test, points: testLossPoints, dots: true }], epochs);
      accChart.set([{ name: "train", color: COLORS.train, points: trainPoints, dots: true }, test], epochs);
    }
  }

  /** Plots an autoencoder's codes of the first test images. */
  async function drawCodes(codes: Float32Array, when: string): Promise<void> {
    const test = await hooks.testSet();
    const n = codes.length / 2;
    latentPlot.set({ codes, latent: 2, labels: test.labels.subarray(0, n), classes: test.classes });
    latentCaption.textContent = `Codes of the first ${count(n)} test images, ${when}`;
  }

  /** Shows an autoencoder's losses on the test set. */
  function showTestLosses(test: ReconstructionEvaluation): void {
    testAccValue.textContent =
      shownTask === "vae" && test.elbo !== undefined ? nats(test.elbo) : nats(test.reconstruction);
  }

  function showProgress(p: TrainProgress, epochs: number): void {
    if (p.kind === "batch") {
      reports.push(p);
      meter.setAttribute("aria-valuenow", String(Math.round(p.fraction * 100)));
      meterFill.style.width = `${(p.fraction * 100).toFixed(2)}%`;
      lossValue.textContent = shownTask === "classifier" ? p.loss.toFixed(3) : nats(p.loss);
      if (p.accuracy !== undefined) trainAccValue.textContent = percent(p.accuracy);
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
    } else if (p.record.reconstruction !== undefined) {
      const r = p.record;
      trainPoints.push([r.epoch, r.reconstruction!]);
      trainAccValue.textContent = nats(shownTask === "vae" ? (r.kl ?? 0) : r.reconstruction!);
      if (r.testReconstruction !== undefined) {
        testPoints.push([r.epoch, r.testReconstruction]);
        testLossPoints.push([r.epoch, r.testLoss!]);
        showTestLosses({
          loss: r.testLoss!,
          reconstruction: r.testReconstruction,
          kl: r.testKl ?? 0,
          elbo: r.testElbo,
        });
      }
      if (p.codes) void drawCodes(p.codes, `after epoch ${r.epoch}`);
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
    showTask(net.task);
    outcome = undefined;
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
          ...(generative(net) ? { codes: CODES } : {}),
        },
        (p) => showProgress(p, epochs),
      );
      const result = await run.done;
      run = undefined;
      if (generative(net)) {
        await finishAutoencoder(mw, net, result, epochs);
        return;
      }
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
      const testCorrect = Math.round(testAccuracy * test.count);
      outcome = {
        task: net.task,
        stopped: result.stopped,
        epochs: result.epochs,
        images: result.images,
        seconds: result.seconds,
        testAccuracy,
        testCorrect,
        testCount: test.count,
      };
      saved = { bytes: await mw.save(), name: `mnist-${net.id}.safetensors` };
      refreshPageModel(
        `your model, trained in this tab · ${net.label.replace(/ \(.*\)$/, "")} · ${percent(testAccuracy, 2)} on MNIST's test set`,
      );
      setState(result.stopped ? "stopped" : "done");
      say(
        `${result.stopped ? "Stopped" : "Done"}: ${count(result.images)} images in ${seconds(result.seconds)}, ` +
          `${percent(testAccuracy, 2)} on the test set (${count(testCorrect)} of ${count(test.count)}).`,
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

  /**
   * The end of an autoencoder's run: its test losses (measured now when it stopped inside an
   * epoch), the model file, and the codes of the model as it ended.
   */
  async function finishAutoencoder(
    mw: ModelWorker,
    net: Network,
    result: Awaited<TrainingRun["done"]>,
    epochs: number,
  ): Promise<void> {
    const last = result.history[result.history.length - 1];
    let test: ReconstructionEvaluation;
    let testCount: number;
    const testSet = await hooks.testSet();
    if (result.stopped || last?.testReconstruction === undefined) {
      setState("evaluating");
      say("Stopped. Evaluating on the 10,000 test images…");
      const { count: measured, ...losses } = await mw.evaluateReconstruction("test");
      test = losses;
      testCount = measured;
      const doneFraction = reports.length ? reports[reports.length - 1].fraction * epochs : 0;
      testPoints.push([doneFraction, test.reconstruction]);
      testLossPoints.push([doneFraction, test.loss]);
      showTestLosses(test);
      drawCharts(epochs);
    } else {
      test = {
        loss: last.testLoss!,
        reconstruction: last.testReconstruction,
        kl: last.testKl ?? 0,
        ...(last.testElbo !== undefined ? { elbo: last.testElbo } : {}),
      };
      testCount = testSet.count;
    }
    outcome = {
      task: net.task,
      stopped: result.stopped,
      epochs: result.epochs,
      images: result.images,
      seconds: result.seconds,
      testCount,
      test,
    };
    const measure =
      net.task === "vae" && test.elbo !== undefined
        ? `test ELBO ${nats(test.elbo)} nats an image (reconstruction ${nats(test.reconstruction)}, KL ${nats(test.kl)})`
        : `test reconstruction loss ${nats(test.reconstruction)} nats an image`;
    saved = { bytes: await mw.save(), name: `mnist-${net.id}.safetensors` };
    refreshPageModel(`your ${net.task === "vae" ? "VAE" : "autoencoder"}, trained in this tab · ${measure}`);
    // Stopped inside an epoch: the codes as the model ended, from its copy in this page.
    if (result.stopped && pageModel) {
      await drawCodes(pageModel.encode(testSet.images.subarray(0, CODES * 784), CODES), "when stopped");
    }
    setState(result.stopped ? "stopped" : "done");
    say(
      `${result.stopped ? "Stopped" : "Done"}: ${count(result.images)} images in ${seconds(result.seconds)}, ${measure}.`,
    );
  }

  /** Puts `model` into the panels it suits: a classifier above, an autoencoder into the latent space. */
  function use(model: Model): void {
    if (model.task === "classifier") hooks.useModel(model, pageLabel);
    else hooks.latent.useModel(model, { text: pageLabel, title: formatArch(model.spec.layers) });
  }

  /** Takes `model` back from the panel showing it, if any: the shipped model returns there. */
  function release(model: Model): void {
    if (hooks.model() === model) hooks.useModel(null);
    if (hooks.latent.shows(model)) hooks.latent.useModel(null);
  }

  /** Loads the saved model into the page's runtime; when the switch is on, it replaces the previous one above. */
  function refreshPageModel(label: string): void {
    if (!saved) return;
    const previous = pageModel;
    pageModel = deserializeModel(hooks.model().rt, saved.bytes, saved.name).model;
    pageLabel = label;
    if (useToggle.checked) use(pageModel);
    if (previous) {
      release(previous);
      previous.dispose();
    }
    modelChanged();
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
    if (useToggle.checked) use(pageModel);
    else release(pageModel);
  });
  // Another panel may have put its own model in place: the switch shows whether ours is on.
  function modelChanged(): void {
    useToggle.checked = pageModel !== undefined && (hooks.model() === pageModel || hooks.latent.shows(pageModel));
  }
  hooks.latent.onChange(modelChanged);

  setState("idle");
  say("Ready. The training set (9.8 MB) is fetched on the first run.");
  showTask(network().task);
  drawCharts(Number(epochsInput.value));

  window.mnistTrain = {
    reports: () => reports.map((r) => ({ ...r })),
    outcome: () => (outcome ? { ...outcome } : undefined),
    state: () => panel.dataset.state ?? "idle",
  };

  return { modelChanged };
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
