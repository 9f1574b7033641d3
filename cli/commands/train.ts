import { SingleBar } from "cli-progress";
import {
  loadMnist, loadModelFile, mlpSpec, Model, Runtime, saveModelFile, SGD, takeFirst, fit,
  type EpochRecord, type Initializer,
} from "../../sdk/node";

import { percent } from "../render";

export interface TrainOptions {
  epochs: number;
  hidden: number[];
  activation: "sigmoid" | "relu";
  init: Initializer;
  batchSize: number;
  lr: number;
  seed: number;
  out: string;
  initFrom?: string;
  data?: string;
  limit?: number;
  progress?: boolean;
}

export async function trainCommand(options: TrainOptions): Promise<void> {
  const rt = await Runtime.create();
  const train = takeFirst(loadMnist("train", options.data), options.limit ?? Infinity);
  const test = loadMnist("test", options.data);
  let model: Model;
  let firstEpoch = 1;
  if (options.initFrom) {
    const loaded = await loadModelFile(rt, options.initFrom);
    model = loaded.model;
    firstEpoch = (Number(loaded.metadata.epochs) || 0) + 1;
  } else {
    const spec = mlpSpec({
      input: train.shape,
      hidden: options.hidden,
      classes: train.classes.length,
      activation: options.activation,
      init: options.init,
    });
    model = new Model(rt, { ...spec, classes: train.classes }, { seed: options.seed });
  }
  const optimizer = new SGD(rt, options.lr);
  const describe = describeModel(model);
  log(`training ${describe} (${model.paramCount.toLocaleString("en")} parameters) on ${train.count.toLocaleString("en")} ` +
    `${train.name} images: SGD lr ${options.lr}, batch ${options.batchSize}, seed ${options.seed}`);

  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    log("\ninterrupted: stopping after this batch and saving (Ctrl-C again to quit at once)");
    controller.abort();
  };
  process.on("SIGINT", onSigint);

  const showBar = options.progress ?? process.stderr.isTTY === true;
  const bar = new SingleBar({
    format: "epoch {epoch} [{bar}] {percentage}% | batch {value}/{total} | loss {loss} | eta {eta_formatted}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  const history: EpochRecord[] = [];
  const lastEpoch = firstEpoch + options.epochs - 1;
  try {
    const result = await fit(model, train, {
      epochs: options.epochs,
      batchSize: options.batchSize,
      optimizer,
      seed: options.seed,
      test,
      firstEpoch,
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
    const last = history[history.length - 1];
    await saveModelFile(options.out, model, {
      dataset: train.name,
      epochs: String(epochsDone),
      ...(last ? { testAccuracy: last.testAccuracy!.toFixed(4), loss: last.loss.toFixed(6) } : {}),
      trainedWith: `mnist-wasm train ${process.argv.slice(3).join(" ")}`.trim(),
    });
    if (result.stopped) {
      log(`saved a checkpoint after ${epochsDone} complete epochs and part of the next to ${options.out}; ` +
        `resume with --init-from ${options.out}`);
    } else {
      log(`saved ${options.out}` + (last ? ` (test accuracy ${percent(last.testAccuracy!)})` : ""));
    }
  } finally {
    if (showBar) bar.stop();
    process.off("SIGINT", onSigint);
  }
}

/** "784-100(sigmoid)-10" */
function describeModel(model: Model): string {
  const parts = [String(model.inputSize)];
  for (const layer of model.spec.layers) {
    if (layer.type === "dense") parts.push(String(layer.units));
    else parts[parts.length - 1] += `(${layer.type})`;
  }
  return parts.join("-");
}

function log(line: string): void {
  process.stdout.write(line + "\n");
}

