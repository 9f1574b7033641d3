// Named sets of `train` options. A preset fills in every option the user did not give; options
// on the command line win (`--preset speedrun --epochs 5` trains five epochs).
import type { Command } from "commander";
import { UsageError } from "./errors";

export interface TrainPreset {
  description: string;
  /** Option values by commander's attribute names (batchSize for --batch-size). */
  options: Record<string, string | number | boolean>;
}

export const TRAIN_PRESETS: Record<string, TrainPreset> = {
  // Time to 99% MNIST test accuracy from a cold start; docs/RESULTS.md "Speedrun" has the runs and
  // the alternatives tried. Batch norm lets one epoch do what three did without it: the rate can
  // rise to 0.2 (a warm-up of a fifth of the epoch, then the cosine) and the first 50,000 images
  // are enough. Each batch norm comes after its max pool, where a quarter of the values are left
  // to normalise: as accurate as before the pool, and nearly free. A dense layer of 128 rather than
  // 64 and a rate of 0.2 rather than 0.1 lift the weakest of three seeds from 99.00% to 99.14%
  // (runs over all 60,000 images).
  speedrun: {
    description: "99% MNIST test accuracy in about 5 seconds on two cores",
    options: {
      arch: "conv:12x5,maxpool:2,batchnorm,relu,conv:24x5,maxpool:2,batchnorm,relu,dense:128,relu",
      epochs: 1,
      batchSize: 50,
      optimizer: "momentum",
      lr: 0.2,
      schedule: "cosine",
      warmup: 0.2,
      labelSmoothing: 0.1,
      limit: 50000,
    },
  },
  // The shipped MNIST model's recipe (`npm run train:default`): three batch-normalized
  // convolutions, shifts of 2 pixels, label smoothing and a warm-up before the cosine.
  "best-mnist": {
    description: "99.6% MNIST test accuracy from a CNN of three batch-normalized convolutions",
    options: {
      arch: "cnn-mnist-bn",
      epochs: 15,
      batchSize: 100,
      optimizer: "momentum",
      lr: 0.05,
      weightDecay: 5e-4,
      schedule: "cosine",
      warmup: 1,
      labelSmoothing: 0.1,
      augment: 2,
    },
  },
  // The shipped CIFAR-10 model's recipe (`npm run train:cifar`): six batch-normalized convolutions,
  // random crops of the image padded by 4 pixels and flips, label smoothing, two epochs of
  // warm-up to a rate of 0.1 and a cosine down to 0; the standard SGD recipe of CIFAR-10 CNNs.
  "best-cifar10": {
    description: "86% CIFAR-10 test accuracy in under two hours on two cores",
    options: {
      dataset: "cifar10",
      arch: "cnn-cifar-bn",
      epochs: 24,
      batchSize: 100,
      optimizer: "momentum",
      lr: 0.1,
      weightDecay: 5e-4,
      schedule: "cosine",
      warmup: 2,
      labelSmoothing: 0.1,
      augment: 4,
    },
  },
};

/**
 * Fills `options` (the command's own option values) from the named preset where the command line
 * did not set a value, marking them as set by "preset": they count as given, like flags.
 */
export function applyPreset(name: string, options: Record<string, unknown>, command: Command): void {
  if (!Object.hasOwn(TRAIN_PRESETS, name)) {
    throw new UsageError(`unknown preset "${name}"; one of ${Object.keys(TRAIN_PRESETS).join(", ")}`);
  }
  const preset = TRAIN_PRESETS[name];
  for (const [key, value] of Object.entries(preset.options)) {
    if (command.getOptionValueSource(key) === "cli") continue;
    command.setOptionValueWithSource(key, value, "preset");
    options[key] = value;
  }
}
