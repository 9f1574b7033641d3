import { existsSync } from "node:fs";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import {
  FILE_LIMITS, historyChart, loadModelFile, Model, Optimizer, resolveWriteTarget, Runtime, saveModelFile, takeFirst, fit, formatArch,
  readFileBounded, writeFileAtomic,
  type DatasetName, type EpochRecord, type OptimizerName,
} from "../../sdk/node";
import { buildSpec, type ArchOptions } from "../arch";
import { loadTrainingData } from "../dataset";
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
  optimizer: OptimizerName;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  schedule: "constant" | "cosine";
  augment?: boolean;
  seed: number;
  out: string;
  initFrom?: string;
  data?: string;
  /** --name: the data set's name (default: the --data folder's name, "mnist" or "cifar10"). */
  name?: string;
  /** --classes: a file of the class names, one per line. */
  classes?: string;
  limit?: number;
  progress?: boolean;
  /** False with --no-optimizer-state. */
  optimizerState?: boolean;
}

export async function trainCommand(options: TrainOptions, command: Command): Promise<void> {
  if (options.preset) applyPreset(options.preset, options as unknown as Record<string, unknown>, command);
  // Where the results go is checked before anything is loaded or trained. A device or FIFO as
  // --out takes the model alone: history files go beside a model file only.
  checkOutputFiles([["--out", options.out]]);
  const paths = resolveWriteTarget(options.out).kind === "replace" ? historyPaths(options.out) : undefined;
  if (paths) checkOutputFiles([["history file", paths.json], ["history file", paths.svg]]);
  const rt = await Runtime.create({ threads: options.threads });
  const data = loadTrainingData(options);
  const train = takeFirst(data.train, options.limit ?? Infinity);
  const test = data.test;
  let model: Model;
  let firstEpoch = 1;
  let saved: Awaited<ReturnType<typeof loadModelFile>>["optimizerState"];
  if (options.initFrom) {
    const loaded = await loadModelFile(rt, options.initFrom);
    model = loaded.model;
    saved = loaded.optimizerState;
    firstEpoch = (Number(loaded.metadata.epochs) || 0) + 1;
  } else {
    model = new Model(rt, buildSpec(options, train), { seed: options.seed });
  }
  const optimizer = new Optimizer(rt, {
    name: options.optimizer, lr: options.lr, momentum: options.momentum, weightDecay: options.weightDecay,
  });
  // Resuming with the same update rule continues its state (velocities, averages, Adam's step).
  if (saved && saved.settings.name === optimizer.name) {
    optimizer.importState(model.params, saved.settings.steps, saved.tensors);
    log(`resuming ${optimizer.name} from its saved state (step ${saved.settings.steps})`);
  }
  log(`training ${formatArch(model.spec.layers)} (${model.paramCount.toLocaleString("en")} parameters) on ${train.count.toLocaleString("en")} ` +
    `${train.name} images: ${describeOptimizer(optimizer)}, batch ${options.batchSize}, ` +
    `${options.schedule === "cosine" ? "cosine schedule, " : ""}${options.augment ? "augmented, " : ""}seed ${options.seed}`);

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
  const lastEpoch = firstEpoch + options.epochs - 1;
  try {
    const result = await fit(model, train, {
      epochs: options.epochs,
      batchSize: options.batchSize,
      optimizer,
      seed: options.seed,
      test,
      firstEpoch,
      schedule: options.schedule,
      augment: options.augment ? { flip: options.dataset === "cifar10", shift: 2 } : undefined,
      signal: controller.signal,
      onBatchEnd: showBar
        ? ({ epoch, batch, batches, loss }) => {
          if (batch === 1) bar.start(batches, 0, { epoch: `${epoch}/${lastEpoch}`, loss: loss.toFixed(4) });
          bar.update(batch, { loss: loss.toFixed(4) });
          if (batch === batches) bar.stop();
        }
        : undefined,
      onEpochEnd: (r) => {
        history.push(r);
        log(`epoch ${String(r.epoch).padStart(String(lastEpoch).length)}/${lastEpoch}  loss ${r.loss.toFixed(4)}  ` +
          `train ${percent(r.trainAccuracy)}  test ${percent(r.testAccuracy ?? NaN)}  ${r.seconds.toFixed(2)} s`);
      },
    });
    if (showBar) bar.stop();
    const epochsDone = firstEpoch - 1 + result.history.length;
    // A run stopped inside an epoch saves weights that no test measured: it records no accuracy.
    const last = result.stopped ? undefined : result.history[result.history.length - 1];
    saving = true;
    await saveModelFile(options.out, model, {
      dataset: train.name,
      epochs: String(epochsDone),
      ...(last ? { testAccuracy: last.testAccuracy!.toFixed(4), loss: last.loss.toFixed(6) } : {}),
      trainedWith: `mnist-wasm train ${process.argv.slice(3).join(" ")}`.trim(),
    }, options.optimizerState === false ? undefined : optimizer);
    if (paths) {
      await writeFileAtomic(paths.json, new TextEncoder().encode(JSON.stringify(history, null, 2) + "\n"));
      await writeFileAtomic(paths.svg, new TextEncoder().encode(historyChart([{ name: "train", history }])));
    }
    saving = false;
    if (controller.signal.aborted) process.exitCode = 130;
    if (result.stopped) {
      log(`saved a checkpoint after ${epochsDone} complete epochs and part of the next to ${options.out}; ` +
        `resume with --init-from ${options.out}`);
    } else {
      // performance.now() counts from the process start: the time to accuracy from a cold start.
      log(`saved ${options.out}` + (last ? ` (test accuracy ${percent(last.testAccuracy!)})` : "") +
        (paths ? `; history in ${paths.json}, chart in ${paths.svg}` : "") + `; ${(performance.now() / 1000).toFixed(1)} s since start`);
    }
  } finally {
    if (showBar) bar.stop();
    process.off("SIGINT", onSigint);
    // Interrupted: the process is about to exit 130; a further Ctrl-C meanwhile changes nothing.
    if (controller.signal.aborted) process.on("SIGINT", () => {});
  }
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
    const value = JSON.parse(new TextDecoder().decode(readFileBounded(path, { maxBytes: FILE_LIMITS.textBytes, label: "history file" })));
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

function describeOptimizer(o: Optimizer): string {
  const s = o.settings;
  const parts = [o.name === "adadelta" ? "adadelta" : `${o.name} lr ${s.lr}`];
  if (o.name === "momentum") parts.push(`alpha ${s.momentum}`);
  if (s.weightDecay) parts.push(`weight decay ${s.weightDecay}`);
  return parts.join(", ");
}

function log(line: string): void {
  process.stdout.write(line + "\n");
}

