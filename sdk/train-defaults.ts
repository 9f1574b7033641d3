import { OPTIMIZER_DEFAULTS, type OptimizerName } from "./optim/optimizer";
import type { ModelSpec } from "./spec";

/** How to train a network when nothing but its architecture is given. */
export interface TrainingDefaults {
  optimizer: OptimizerName;
  lr: number;
  schedule: "constant" | "cosine";
  /** What kind of network these defaults are for, e.g. "a network with convolutions". */
  network: string;
}

/**
 * The update rule, rate and schedule a network trains well with out of the box. Networks of
 * dense layers get the course's plain SGD at rate 1.0 on the batch-mean gradient (97.3% for the
 * sigmoid 784-100-10 MLP, 98.0% with ReLU). Convolutions and batch norm diverge at that rate
 * (the loss of the LeNet-like net reaches 1e21 within an epoch): they get momentum SGD with a
 * cosine schedule at 0.05, the recipe of every CNN figure in the README, or at 0.02 when a
 * network has both: batch-normalized convolution features are many and of unit scale, and at
 * 0.05 the first steps overshoot (one epoch on 10,000 MNIST images: conv:16x3,batchnorm,relu,
 * maxpool:2 reaches 87.2% at 0.05 and 92.3% at 0.02; the cnn preset with batch norm 94.9% and
 * 95.4%; without batch norm the cnn preset reaches 95.2% at 0.05 and 93.4% at 0.02).
 */
export function trainingDefaults(spec: ModelSpec): TrainingDefaults {
  // Autoencoders sum their loss over the pixels of an image (hundreds of nats a digit): SGD's
  // step on that gradient is hundreds of times a classifier's. Adam's steps are scaled by the
  // gradient's own size, and 1e-3 is the rate VAEs are published with.
  if (spec.task === "autoencoder" || spec.task === "vae") {
    return {
      optimizer: "adam",
      lr: 0.001,
      schedule: "constant",
      network: "an autoencoder or VAE",
    };
  }
  const kinds = new Set(spec.layers.map((l) => l.type));
  const conv = kinds.has("conv2d");
  const batchnorm = kinds.has("batchnorm");
  if (conv && batchnorm)
    return {
      optimizer: "momentum",
      lr: 0.02,
      schedule: "cosine",
      network: "a network with convolutions and batch norm",
    };
  if (conv) return { optimizer: "momentum", lr: 0.05, schedule: "cosine", network: "a network with convolutions" };
  if (batchnorm) return { optimizer: "momentum", lr: 0.05, schedule: "cosine", network: "a network with batch norm" };
  return {
    optimizer: "sgd",
    lr: OPTIMIZER_DEFAULTS.sgd.lr,
    schedule: "constant",
    network: "a network of dense layers",
  };
}

/** trainingDefaults() in words, one clause per kind of network: what `train --help` prints. */
export function describeTrainingDefaults(): string {
  const kinds: ModelSpec["layers"][] = [
    [{ type: "dense", units: 10 }],
    [
      { type: "conv2d", filters: 1, size: 1 },
      { type: "dense", units: 10 },
    ],
    [{ type: "batchnorm" }, { type: "dense", units: 10 }],
    [{ type: "conv2d", filters: 1, size: 1 }, { type: "batchnorm" }, { type: "dense", units: 10 }],
  ];
  const specs: ModelSpec[] = [
    ...kinds.map((layers) => ({ input: [1, 1, 1], layers })),
    { input: [1, 1, 1], layers: [{ type: "dense", units: 1 }], task: "autoencoder", encoder: 1 },
  ];
  return specs
    .map((spec) => {
      const d = trainingDefaults(spec);
      return `${d.optimizer} lr ${d.lr} with a ${d.schedule} schedule for ${d.network}`;
    })
    .join("; ");
}
