// Named sets of `train` options. A preset fills in every option the user did not give; options
// on the command line win (`--preset speedrun --epochs 5` trains five epochs).
import type { Command } from "commander";

export interface TrainPreset {
  description: string;
  /** Option values by commander's attribute names (batchSize for --batch-size). */
  options: Record<string, string | number | boolean>;
}

export const TRAIN_PRESETS: Record<string, TrainPreset> = {
  // Time to 99% MNIST test accuracy from a cold start. Two small 5x5 convolutions are the best
  // trade between images per second and accuracy per epoch found here (see README, "speedrun"):
  // the LeNet-like `cnn` needs about two epochs at a third of the speed, and 8/16 filters
  // plateau below 99%. Batch 50 gives more steps per epoch than 100 at nearly the same speed.
  speedrun: {
    description: "99% MNIST test accuracy in about half a minute on two cores",
    options: {
      arch: "conv:12x5,relu,maxpool:2,conv:24x5,relu,maxpool:2,dense:64,relu",
      epochs: 3,
      batchSize: 50,
      optimizer: "momentum",
      lr: 0.05,
      schedule: "cosine",
    },
  },
};

/** Fills `options` from the named preset where the command line did not set a value. */
export function applyPreset(name: string, options: Record<string, unknown>, command: Command): void {
  const preset = TRAIN_PRESETS[name];
  for (const [key, value] of Object.entries(preset.options)) {
    if (command.getOptionValueSource(key) !== "cli") options[key] = value;
  }
}
