// What the "Train in your browser" panel offers: three classifiers, an autoencoder and a VAE
// with a 2-D code, the six optimisers with a learning rate that works for each, and the
// `mnist-wasm train` command that makes the same run.
import {
  ARCH_PRESETS,
  autoencoderSpec,
  hasLearningRate,
  MNIST_CLASSES,
  mlpSpec,
  OPTIMIZER_DEFAULTS,
  OPTIMIZER_LABELS,
  OPTIMIZERS,
  parseArch,
  validateSpec,
  withClassifier,
  type ModelSpec,
  type OptimizerName,
} from "../sdk/index";

export interface Network {
  id: string;
  label: string;
  /** The spec, built as the CLI's --arch builds it, so a seed gives the CLI's initial weights. */
  spec: ModelSpec;
  /** What it learns: to classify digits, or to reconstruct them through a code. */
  task: "classifier" | "autoencoder" | "vae";
  /** The CLI's flags for this network. */
  cliArch: string;
  /** Whether its hidden layers are ReLU: plain and momentum SGD then need smaller steps. */
  relu: boolean;
  /** A quick first run: epochs and training images the panel switches to with this network. */
  epochs: number;
  images: number;
}

const INPUT = [1, 28, 28];
const withClasses = (layers: ModelSpec["layers"]): ModelSpec =>
  validateSpec({ input: INPUT, layers: withClassifier(layers, MNIST_CLASSES.length), classes: MNIST_CLASSES });

/** A LeNet-5-sized CNN: 5x5 filters, 8 then 16 of them; about ten times faster than `cnn` to train. */
const SMALL_CNN = "conv:8x5,relu,maxpool:2,conv:16x5,relu,maxpool:2";

export const NETWORKS: Network[] = [
  {
    id: "mlp",
    label: "MLP 784-100-10, sigmoid (the course's)",
    spec: validateSpec({ ...mlpSpec({ input: INPUT, hidden: [100], classes: 10 }), classes: MNIST_CLASSES }),
    task: "classifier",
    cliArch: "--arch mlp",
    relu: false,
    epochs: 3,
    images: 60000,
  },
  {
    id: "small-cnn",
    label: "Small CNN, 2 conv layers of 5x5",
    spec: withClasses(parseArch(SMALL_CNN)),
    task: "classifier",
    cliArch: `--arch ${SMALL_CNN}`,
    relu: true,
    epochs: 1,
    images: 30000,
  },
  {
    id: "cnn",
    label: "LeNet-like CNN (the shipped model's)",
    spec: withClasses(parseArch(ARCH_PRESETS.cnn)),
    task: "classifier",
    cliArch: "--arch cnn",
    relu: true,
    epochs: 1,
    images: 10000,
  },
  {
    id: "autoencoder",
    label: "Autoencoder, 2-D code (784-512-2-512-784)",
    // The CLI's `--task autoencoder --latent 2`: its dense preset halves.
    spec: autoencoderSpec({ input: INPUT, latent: 2, classes: MNIST_CLASSES }),
    task: "autoencoder",
    cliArch: "--task autoencoder --latent 2",
    relu: true,
    epochs: 3,
    images: 30000,
  },
  {
    id: "vae",
    label: "VAE, 2-D code (784-512-2×2-512-784, sampled)",
    // The CLI's `--task vae --latent 2`: the dense halves, a mean and a log-variance per code value.
    spec: autoencoderSpec({ input: INPUT, latent: 2, variational: true, classes: MNIST_CLASSES }),
    task: "vae",
    cliArch: "--task vae --latent 2",
    relu: true,
    epochs: 3,
    images: 30000,
  },
];

/** Whether a network reconstructs its input (an autoencoder or VAE) rather than classifying it. */
export const generative = (network: Network): boolean => network.task !== "classifier";

/** The optimiser the panel switches to with a network of another task: the course's SGD for classifiers, Adam for autoencoders. */
export const taskOptimizer = (network: Network): OptimizerName => (generative(network) ? "adam" : "sgd");

/**
 * The learning rate an autoencoder's summed pixel loss trains well with, by rule (Adam's is the
 * SDK's default for autoencoders, trainingDefaults). Measured with the CLI, 1 epoch on 10,000
 * images of the 2-D autoencoder (test reconstruction loss in nats an image; 545 untrained):
 * Adam 0.001 181; RMSProp 0.001 181 (0.0001: 200); AdaGrad 0.01 181 (0.05 diverges); SGD 0.001
 * 206 (0.0001: 488); momentum 0.0001 204 (0.00001: 524); AdaDelta, which has no rate, 189. The
 * 2-D VAE learns with the same rates (test ELBO after that epoch: AdaGrad -193, RMSProp -194,
 * momentum -213, SGD -215).
 */
const AUTOENCODER_RATES: Record<Exclude<OptimizerName, "adadelta">, number> = {
  adam: 0.001,
  rmsprop: 0.001,
  adagrad: 0.01,
  sgd: 0.001,
  momentum: 0.0001,
};

/**
 * The learning rate the panel proposes: for an autoencoder AUTOENCODER_RATES; for a classifier
 * the SDK's default (OPTIMIZER_DEFAULTS) where it learns
 * well in one or two epochs, otherwise a rate measured on these networks (1 epoch on 10,000
 * images, test accuracy in brackets): AdaGrad's default 0.001 barely moves in a short run, 0.05
 * does (88% on the MLP, 92% on the small CNN); RMSProp's 0.01 is too large, 0.001 works
 * (85%, 90%); on the ReLU CNNs, SGD at 1.0 (and 0.5) diverges where 0.1 learns (90%), and
 * momentum SGD wants 0.05 (94%).
 */
export function defaultLearningRate(network: Network, optimizer: OptimizerName): number {
  if (generative(network))
    return optimizer === "adadelta" ? OPTIMIZER_DEFAULTS.adadelta.lr : AUTOENCODER_RATES[optimizer];
  if (optimizer === "adagrad") return 0.05;
  if (optimizer === "rmsprop") return 0.001;
  if (network.relu && optimizer === "sgd") return 0.1;
  if (network.relu && optimizer === "momentum") return 0.05;
  return OPTIMIZER_DEFAULTS[optimizer].lr;
}

export { OPTIMIZER_LABELS, OPTIMIZERS };

/**
 * The command line that trains the same network the same way (seed 1, batch 100), in pieces: the
 * command, then each option with its value (the page keeps a piece on one line where it fits).
 */
export function cliCommandParts(
  network: Network,
  optimizer: OptimizerName,
  lr: number,
  epochs: number,
  images: number,
): string[] {
  return [
    "mnist-wasm train",
    network.cliArch,
    `--optimizer ${optimizer}`,
    ...(hasLearningRate(optimizer) ? [`--lr ${lr}`] : []),
    `--epochs ${epochs}`,
    ...(images < 60000 ? [`--limit ${images}`] : []),
  ];
}

/** The command line that trains the same network the same way, as one string. */
export const cliCommand = (...args: Parameters<typeof cliCommandParts>): string => cliCommandParts(...args).join(" ");
