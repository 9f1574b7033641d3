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
 * (the loss of the LeNet-like net reaches 1e21 within an epoch): they get momentum SGD at 0.05
 * with a cosine schedule, the recipe of every CNN figure in the README.
 */
export function trainingDefaults(spec: ModelSpec): TrainingDefaults {
  const kinds = new Set(spec.layers.map((l) => l.type));
  if (kinds.has("conv2d") || kinds.has("batchnorm")) {
    const network = kinds.has("conv2d") ? "a network with convolutions" : "a network with batch norm";
    return { optimizer: "momentum", lr: 0.05, schedule: "cosine", network };
  }
  return { optimizer: "sgd", lr: OPTIMIZER_DEFAULTS.sgd.lr, schedule: "constant", network: "a network of dense layers" };
}
