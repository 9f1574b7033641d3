import { existsSync } from "node:fs";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import {
  DATASETS,
  datasetNameProblem,
  FILE_LIMITS,
  hasLearningRate,
  MAX_EPOCHS,
  historyChart,
  loadModelFile,
  Model,
  type Optimizer,
  resolveWriteTarget,
  Runtime,
  takeFirst,
  formatArch,
  readFileBounded,
  trainingDefaults,
  TrainingSession,
  writeFileAtomic,
  type Dataset,
  type DatasetName,
  type EpochRecord,
  type ModelSpec,
  type OptimizerName,
  type RunOverrides,
  type RunSettings,
  type ScheduleName,
  type Task,
} from "../../sdk/node";

/** Pixels --augment shifts by when given no number. */
const DEFAULT_SHIFT = 2;
import { buildSpec, type ArchOptions } from "../arch";
import { loadTrainingData, recordedSelection } from "../dataset";
import { buildAutoencoder, generativePaths, writeGenerativeReport } from "../generative";
import { UsageError } from "../errors";
import { checkOutputFiles } from "../output";
import { applyPreset } from "../presets";
import { percent } from "../render";

export interface TrainOptions extends ArchOptions {
  /** Threads running the kernels. */
  threads?: number;
  /** A named set of defaults (cli/presets.ts). */
  preset?: string;
  dataset: DatasetName;
  epochs: number;
  batchSize: number;
  /** Unset: chosen from the network (trainingDefaults). */
  optimizer?: OptimizerName;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  /** Unset: chosen from the network (trainingDefaults). */
  schedule?: ScheduleName;
  /** --augment alone: true (shifts of 2 pixels); --augment N: shifts of N pixels. */
  augment?: boolean | number;
  warmup?: number;
  labelSmoothing?: number;
  /** --winograd (true) or --no-winograd (false); unset: off, or a resumed run's setting. */
  winograd?: boolean;
  seed: number;
  out: string;
  initFrom?: string;
  data?: string;
  /** --name: the data set's name (default: the --data folder's name, "mnist" or "cifar10"). */
  name?: string;
  /** --classes: a file of the class names, one per line; or labels to train on, e.g. 0,1,2. */
  classes?: string;
  /** --task: classifier (default), autoencoder or vae. */
  task?: Task;
  /** Autoencoders: the code size, the halves' architectures, test images a class in the codes' plot. */
  latent?: number;
  encoder?: string;
  decoder?: string;
  perClass: number;
  limit?: number;
  progress?: boolean;
  /** False with --no-optimizer-state. */
  optimizerState?: boolean;
}

/** The flag of each run setting, for the overrides a resume prints. */
const FLAGS: Record<string, string> = {
  schedule: "--schedule",
  batchSize: "--batch-size",
  seed: "--seed",
  augment: "--augment",
  warmup: "--warmup",
  labelSmoothing: "--label-smoothing",
  winograd: "--winograd",
  limit: "--limit",
  dataset: "--dataset/--data",
  epochs: "--epochs",
  optimizer: "--optimizer",
  "optimizer.lr": "--lr",
  "optimizer.momentum": "--momentum",
  "optimizer.weightDecay": "--weight-decay",
};

export async function trainCommand(options: TrainOptions, command: Command): Promise<void> {
  if (options.preset) applyPreset(options.preset, options as unknown as Record<string, unknown>, command);
  /** Whether the user set an option (on the command line or by --preset), rather than its default. */
  const given = (key: string): boolean => ["cli", "preset", "env"].includes(command.getOptionValueSource(key) ?? "");
  checkTaskOptions(options, (key) => command.getOptionValueSource(key) === "cli");
  // Train writes safetensors: an ONNX model starts a run but is not saved over, nor written as ONNX.
  const isOnnx = (path: string | undefined): boolean => path?.toLowerCase().endsWith(".onnx") === true;
  if (isOnnx(options.initFrom) && !given("out"))
    throw new UsageError(
      `--init-from ${options.initFrom}: an ONNX model is not saved over; give --out FILE.safetensors (see mnist-wasm train --help)`,
    );
  if (isOnnx(options.out))
    throw new UsageError(
      `--out ${options.out}: train writes a safetensors model file; mnist-wasm export --format onnx converts it (see mnist-wasm train --help)`,
    );
  // A resumed run saves over its checkpoint unless told otherwise.
  const out = options.initFrom && !given("out") ? options.initFrom : options.out;
  // Where the results go is checked before anything is loaded or trained. A device or FIFO as
  // --out takes the model alone: history files go beside a model file only.
  checkOutputFiles([["--out", out]]);
  const paths = resolveWriteTarget(out).kind === "replace" ? historyPaths(out) : undefined;
  if (paths)
    checkOutputFiles([
      ["history file", paths.json],
      ["history file", paths.svg],
    ]);
  const task = options.task ?? "classifier";
  const rt = await Runtime.create({ threads: options.threads });

  const overrides = runOverrides(options, given);
  let session: TrainingSession;
  let data: { train: Dataset; test: Dataset; selected?: number[] };
  if (options.initFrom) {
    const loaded = await loadModelFile(rt, options.initFrom);
    const resumed = TrainingSession.fromLoaded(loaded, {
      what: options.initFrom,
      overrides,
      defaults: (spec) => runSettings(options, spec, given),
    });
    session = resumed.session;
    for (const note of resumed.notes) log(note);
    for (const o of resumed.overrides) {
      if (o.name === "winograd") {
        log(
          `override: ${o.value ? "--winograd" : "--no-winograd"} (checkpoint: ${o.checkpoint ? "Winograd" : "the default path"})`,
        );
        continue;
      }
      const now =
        o.name === "epochs" ? `${options.epochs}: the run ends at epoch ${String(o.value)}` : describeSetting(o.value);
      const then = o.name === "epochs" ? `at epoch ${String(o.checkpoint)}` : describeSetting(o.checkpoint);
      log(`override: ${FLAGS[o.name] ?? o.name} ${now} (checkpoint: ${then})`);
    }
    if (!resumed.metadata.run) announceDefaults(session.model.spec, given);
    if (session.finished) {
      throw new UsageError(
        `${options.initFrom} has trained all its ${session.epochsDone} epochs; --epochs N trains N more`,
      );
    }
    const format = (session.settings.dataset?.name ?? "mnist") as DatasetName;
    if (!DATASETS.includes(format)) {
      throw new UsageError(
        `${options.initFrom}: its run read data set ${JSON.stringify(format.slice(0, 40))}, which train does not know ` +
          `(${DATASETS.join(", ")}); give --dataset and --data`,
      );
    }
    // The data set keeps the name the checkpoint recorded (unless --name renames it).
    const recorded = loaded.metadata.dataset;
    const name = options.name ?? (recorded !== undefined && !datasetNameProblem(recorded) ? recorded : undefined);
    // A run on some classes only goes on with them.
    const selected = recordedSelection(loaded.metadata.selectedClasses, 256);
    const classes = options.classes ?? selected?.join(",");
    data = loadTrainingData({ dataset: format, data: session.settings.dataset?.path, name, classes });
  } else {
    data = loadTrainingData(options);
    const sample = takeFirst(data.train, options.limit ?? Infinity);
    const spec =
      task === "classifier"
        ? buildSpec(options, sample)
        : buildAutoencoder(
            {
              ...options,
              task,
              // Colour images get the convolutional halves unless --arch says otherwise, as the lab's CIFAR-10 VAE.
              arch: given("arch") ? options.arch : sample.shape[0] === 1 ? "mlp" : "cnn",
              ...(options.loss ? { loss: options.loss } : {}),
            },
            sample,
          );
    announceDefaults(spec, given);
    session = TrainingSession.start(new Model(rt, spec, { seed: options.seed }), runSettings(options, spec, given));
  }
  const settings = session.settings;
  if (settings.labelSmoothing && (session.model.task !== "classifier" || session.model.loss.kind !== "cross-entropy")) {
    session.dispose({ model: true });
    throw new UsageError("--label-smoothing: label smoothing applies to a classifier's cross-entropy loss");
  }
  if (settings.winograd && session.model.winogradTrainingLayers === 0) {
    session.dispose({ model: true });
    throw new UsageError(
      "--winograd: none of the network's convolutions runs Winograd in training (3x3, stride 1, at least " +
        "8 channels in and 4 filters); train without it",
    );
  }
  if (settings.epochs > MAX_EPOCHS) {
    throw new UsageError(
      `--epochs ${options.epochs}: the run would end at epoch ${settings.epochs}, beyond ${MAX_EPOCHS} in all`,
    );
  }
  const train = takeFirst(data.train, settings.limit ?? Infinity);
  const test = data.test;
  const { model, optimizer } = session;
  // An autoencoder's pictures go beside its model file: checked before training, like the model's.
  const pictures =
    paths && model.task !== "classifier" ? generativePaths(out, model.task, model.latentSize) : undefined;
  if (pictures) checkOutputFiles(Object.values(pictures).map((p) => ["picture file", p] as [string, string]));
  log(
    `training ${formatArch(model.spec.layers)} (${model.paramCount.toLocaleString("en")} parameters) on ${train.count.toLocaleString("en")} ` +
      `${train.name} images: ${describeOptimizer(optimizer)}, batch ${settings.batchSize}, ` +
      `${describeSchedule(settings)}${describeAugment(settings.augment)}` +
      `${settings.labelSmoothing ? `label smoothing ${settings.labelSmoothing}, ` : ""}` +
      `${settings.winograd ? `Winograd convolutions (${describeWinograd(model)}), ` : ""}seed ${settings.seed}`,
  );

  // Ctrl-C stops training after the current batch and saves a checkpoint; the run then exits 130
  // (interrupted), so that `train && next` stops. Ctrl-C again quits at once while training, but
  // waits for the files while they are being written: a save is never cut short.
  const controller = new AbortController();
  let saving = false;
  let toldToWait = false;
  const onSigint = (): void => {
    if (saving) {
      if (!toldToWait) log("\ninterrupted: the files are being written; exiting once they are");
      toldToWait = true;
      controller.abort();
      return;
    }
    if (controller.signal.aborted) process.exit(130);
    log("\ninterrupted: stopping after this batch and saving (Ctrl-C again to quit at once)");
    controller.abort();
  };
  process.on("SIGINT", onSigint);

  // A bar only where a person watches: --no-progress or a redirected stderr turns it off.
  const showBar = options.progress !== false && process.stderr.isTTY === true;
  const bar = new SingleBar({
    format: "epoch {epoch} [{bar}] {percentage}% | batch {value}/{total} | loss {loss} | eta {eta_formatted}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  const history: EpochRecord[] = options.initFrom ? readHistory(historyPaths(options.initFrom).json) : [];
  const lastEpoch = settings.epochs;
  try {
    const result = await session.run(train, {
      test,
      signal: controller.signal,
      onBatchEnd: showBar
        ? ({ epoch, batch, batches, loss }) => {
            if (!bar.isActive) bar.start(batches, batch - 1, { epoch: `${epoch}/${lastEpoch}`, loss: loss.toFixed(4) });
            bar.update(batch, { loss: loss.toFixed(4) });
            if (batch === batches) bar.stop();
          }
        : undefined,
      onEpochEnd: (r) => {
        history.push(r);
        const epoch = `epoch ${String(r.epoch).padStart(String(lastEpoch).length)}/${lastEpoch}`;
        log(
          r.trainAccuracy !== undefined
            ? `${epoch}  loss ${r.loss.toFixed(4)}  train ${percent(r.trainAccuracy)}  test ${percent(r.testAccuracy ?? NaN)}  ${r.seconds.toFixed(2)} s`
            : `${epoch}  ${describeReconstruction(r)}  ${r.seconds.toFixed(2)} s`,
        );
      },
    });
    if (showBar) bar.stop();
    const epochsDone = session.epochsDone;
    saving = true;
    await writeFileAtomic(
      out,
      session.save(
        {
          dataset: train.name,
          trainedWith: `mnist-wasm train ${process.argv.slice(3).join(" ")}`.trim(),
          ...(data.selected ? { selectedClasses: data.selected.join(",") } : {}),
        },
        { optimizerState: options.optimizerState !== false },
      ),
    );
    if (paths) {
      await writeFileAtomic(paths.json, new TextEncoder().encode(JSON.stringify(history, null, 2) + "\n"));
      await writeFileAtomic(paths.svg, new TextEncoder().encode(historyChart([{ name: "train", history }])));
    }
    if (pictures && !result.stopped) {
      for (const line of await writeGenerativeReport(model, train, test, pictures, {
        perClass: options.perClass,
        seed: settings.seed,
      }))
        log(line);
    }
    saving = false;
    if (result.stopped) {
      const threads = given("threads") ? ` --threads ${options.threads}` : "";
      log(
        `saved a checkpoint after ${epochsDone} complete epochs${session.position.batch > 0 ? " and part of the next" : ""} to ${out}; ` +
          `resume with: mnist-wasm train --init-from ${shellWord(out)}${threads}`,
      );
    } else {
      const last = result.history[result.history.length - 1];
      // performance.now() counts from the process start: the time to accuracy from a cold start.
      log(
        `saved ${out}` +
          (last?.testAccuracy !== undefined ? ` (test accuracy ${percent(last.testAccuracy)})` : "") +
          (last?.testReconstruction !== undefined ? ` (test loss ${last.testLoss!.toFixed(2)} an image)` : "") +
          (paths ? `; history in ${paths.json}, chart in ${paths.svg}` : "") +
          `; ${(performance.now() / 1000).toFixed(1)} s since start`,
      );
    }
    // Interrupted and saved: exit 130 now. Waiting for the event loop to drain (the worker pool
    // stopping) would leave a window in which a further Ctrl-C meets Node's default handler.
    if (controller.signal.aborted) process.exit(130);
  } finally {
    if (showBar) bar.stop();
    process.off("SIGINT", onSigint);
  }
}

/**
 * A flag that shapes one task given with another is a usage mistake, not quietly ignored: the
 * mlp's flags with an autoencoder, an autoencoder's with a classifier. A resumed run's task is
 * its checkpoint's, known once it is read.
 */
function checkTaskOptions(opts: TrainOptions, given: (key: string) => boolean): void {
  if (opts.initFrom !== undefined) return;
  const flag = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const task = opts.task ?? "classifier";
  if (task === "classifier") {
    const wrong = ["latent", "encoder", "decoder", "perClass"].find((key) => given(key));
    if (wrong)
      throw new UsageError(
        `${flag(wrong)} shapes an autoencoder or VAE: give --task autoencoder or --task vae (see mnist-wasm train --help)`,
      );
    if (opts.loss === "bce")
      throw new UsageError(
        "--loss bce is an autoencoder's loss: a classifier's is cross-entropy or mse (see mnist-wasm train --help)",
      );
  } else {
    const wrong = ["hidden", "activation", "dropout", "batchnorm", "init"].find((key) => given(key));
    if (wrong)
      throw new UsageError(
        `${flag(wrong)} shapes a classifier's layers: an autoencoder's are --arch mlp|cnn, --encoder and --decoder (see mnist-wasm train --help)`,
      );
    if (opts.loss === "cross-entropy")
      throw new UsageError(
        "--loss cross-entropy is a classifier's loss: an autoencoder's is bce or mse (see mnist-wasm train --help)",
      );
  }
}

/** The data set the options name, as a run records it. */
function datasetOf(options: TrainOptions): { name: DatasetName; path?: string } {
  return { name: options.dataset, ...(options.data !== undefined ? { path: options.data } : {}) };
}

/**
 * The run the options describe; the update rule, its rate and the schedule come from the network
 * (trainingDefaults) where the user set none of them.
 */
function runSettings(options: TrainOptions, spec: ModelSpec, given: (key: string) => boolean): RunSettings {
  const defaults = trainingDefaults(spec);
  const name = given("optimizer") && options.optimizer ? options.optimizer : defaults.optimizer;
  const lr = given("lr") ? options.lr : given("optimizer") ? undefined : defaults.lr;
  const augment = augmentOf(options);
  return {
    optimizer: {
      name,
      ...(lr !== undefined ? { lr } : {}),
      ...(options.momentum !== undefined ? { momentum: options.momentum } : {}),
      ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}),
    },
    schedule: given("schedule") && options.schedule ? options.schedule : defaults.schedule,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    ...(augment ? { augment } : {}),
    ...(options.warmup ? { warmup: options.warmup } : {}),
    ...(options.labelSmoothing ? { labelSmoothing: options.labelSmoothing } : {}),
    ...(options.winograd ? { winograd: true } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    dataset: datasetOf(options),
  };
}

/** The schedule as the run's first line shows it: "cosine schedule, ", "warm-up 1 epoch, " (or ""). */
function describeSchedule(s: RunSettings): string {
  const warmup = s.warmup ? `warm-up ${s.warmup} epoch${s.warmup === 1 ? "" : "s"}, ` : "";
  return `${s.schedule === "cosine" ? "cosine schedule, " : ""}${warmup}`;
}

/** "1 of 2 layers": the convolutions that run Winograd, of all the network's convolutions. */
function describeWinograd(model: Model): string {
  const convs = model.spec.layers.filter((l) => l.type === "conv2d").length;
  return `${model.winogradTrainingLayers} of ${convs} layers`;
}

/** "augmented (shifts of 4 pixels, flips), " or "". */
function describeAugment(a: RunSettings["augment"]): string {
  if (!a) return "";
  const parts = [
    ...(a.shift > 0 ? [`shifts of ${a.shift} pixel${a.shift === 1 ? "" : "s"}`] : []),
    ...(a.flip ? ["flips"] : []),
  ];
  return `augmented (${parts.join(", ")}), `;
}

/** The augmentation --augment asks for: shifts (2 pixels unless given) and, for CIFAR-10, flips. */
function augmentOf(options: TrainOptions): RunSettings["augment"] {
  if (options.augment === undefined || options.augment === false) return undefined;
  const shift = options.augment === true ? DEFAULT_SHIFT : options.augment;
  const flip = options.dataset === "cifar10";
  return shift > 0 || flip ? { flip, shift } : undefined;
}

/** Prints which of the update rule, rate and schedule come from the network's defaults. */
function announceDefaults(spec: ModelSpec, given: (key: string) => boolean): void {
  const d = trainingDefaults(spec);
  const parts: string[] = [];
  if (!given("optimizer")) parts.push(given("lr") ? d.optimizer : `${d.optimizer} lr ${d.lr}`);
  if (!given("schedule")) parts.push(`${d.schedule} schedule`);
  if (parts.length > 0)
    log(`defaults for ${d.network}: ${parts.join(", ")}; set --optimizer, --lr or --schedule to change`);
}

/** The settings given on the command line (or by --preset), as overrides of a checkpoint's run. */
function runOverrides(options: TrainOptions, given: (key: string) => boolean): RunOverrides {
  const optimizer: RunOverrides["optimizer"] = {
    ...(given("optimizer") && options.optimizer ? { name: options.optimizer } : {}),
    ...(given("lr") ? { lr: options.lr } : {}),
    ...(given("momentum") ? { momentum: options.momentum } : {}),
    ...(given("weightDecay") ? { weightDecay: options.weightDecay } : {}),
  };
  return {
    ...(Object.keys(optimizer).length > 0 ? { optimizer } : {}),
    ...(given("schedule") ? { schedule: options.schedule } : {}),
    ...(given("epochs") ? { epochs: options.epochs } : {}),
    ...(given("batchSize") ? { batchSize: options.batchSize } : {}),
    ...(given("seed") ? { seed: options.seed } : {}),
    ...(given("augment") ? { augment: augmentOf(options) } : {}),
    ...(given("warmup") ? { warmup: options.warmup || undefined } : {}),
    ...(given("labelSmoothing") ? { labelSmoothing: options.labelSmoothing || undefined } : {}),
    ...(given("winograd") ? { winograd: options.winograd || undefined } : {}),
    ...(given("limit") ? { limit: options.limit } : {}),
    ...(given("dataset") || given("data") ? { dataset: datasetOf(options) } : {}),
  };
}

/** A setting as the overrides print it. */
function describeSetting(value: unknown): string {
  if (value === undefined) return "none";
  if (typeof value === "object" && value !== null) {
    const o = value as Record<string, unknown>;
    if ("name" in o && typeof o.name === "string") return o.path ? `${o.name} (${String(o.path)})` : o.name;
    return Object.entries(o)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(", ");
  }
  return String(value);
}

/** A path as one word of a shell command. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}

/** model.safetensors -> model.history.json and model.history.svg beside it. */
function historyPaths(modelPath: string): { json: string; svg: string } {
  const stem = modelPath.replace(/\.safetensors$/, "");
  return { json: `${stem}.history.json`, svg: `${stem}.history.svg` };
}

/** The history saved beside a model being resumed, so the curves continue (empty when absent). */
function readHistory(path: string): EpochRecord[] {
  if (!existsSync(path)) return [];
  try {
    const value = JSON.parse(
      new TextDecoder().decode(readFileBounded(path, { maxBytes: FILE_LIMITS.textBytes, label: "history file" })),
    );
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

/** An autoencoder's epoch: its losses an image on the training and test sets, a VAE's KL and ELBO. */
function describeReconstruction(r: EpochRecord): string {
  const kl = (value: number | undefined, total: number): string =>
    value === undefined
      ? total.toFixed(2)
      : `${total.toFixed(2)} (reconstruction ${(total - value).toFixed(2)} + KL ${value.toFixed(2)})`;
  return (
    `loss ${kl(r.kl, r.loss)}` +
    (r.testLoss !== undefined ? `  test ${kl(r.testKl, r.testLoss)}` : "") +
    (r.testElbo !== undefined ? `  ELBO ${r.testElbo.toFixed(2)} nats` : "")
  );
}

function describeOptimizer(o: Optimizer): string {
  const s = o.settings;
  const parts = [hasLearningRate(o.name) ? `${o.name} lr ${s.lr}` : o.name];
  if (o.name === "momentum") parts.push(`alpha ${s.momentum}`);
  if (s.weightDecay) parts.push(`weight decay ${s.weightDecay}`);
  return parts.join(", ");
}

function log(line: string): void {
  process.stdout.write(line + "\n");
}
