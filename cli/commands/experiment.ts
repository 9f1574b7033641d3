import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  hasLearningRate,
  historyChart,
  loadMnist,
  mlpSpec,
  OPTIMIZERS,
  Model,
  Runtime,
  takeFirst,
  TrainingSession,
  writeFileAtomic,
  type EpochRecord,
  type ModelSpec,
  type OptimizerSpec,
} from "../../sdk/node";
import { UsageError } from "../errors";
import { checkOutputFolder } from "../output";
import { percent } from "../render";

/** One configuration of an experiment: a network and how to train it. */
interface Trial {
  name: string;
  spec: ModelSpec;
  optimizer: OptimizerSpec;
  schedule?: "constant" | "cosine";
}

const INPUT = [1, 28, 28];
const mlp = (options: Partial<Parameters<typeof mlpSpec>[0]> = {}): ModelSpec =>
  mlpSpec({ input: INPUT, hidden: [100], classes: 10, ...options });

/**
 * The course's comparisons, each on the same 3-layer network unless the comparison is about
 * the network. Learning rates are the optimizers' defaults (OPTIMIZER_DEFAULTS), except where a
 * comment says otherwise.
 */
export const EXPERIMENTS: Record<string, { title: string; trials: () => Trial[] }> = {
  optimizers: {
    title: "Optimisers on 784-100-10 (ReLU, He init), batch 100, cosine schedule",
    trials: () =>
      OPTIMIZERS.map((name) => ({
        name,
        spec: mlp({ activation: "relu", init: "he" }),
        optimizer: { name, ...OPTIMIZER_TUNING[name] },
        // A rule without a learning rate (AdaDelta) has nothing for a schedule to shape.
        schedule: hasLearningRate(name) ? ("cosine" as const) : undefined,
      })),
  },
  activations: {
    title: "Sigmoid against ReLU, 784-100-10, SGD",
    trials: () => [
      { name: "sigmoid", spec: mlp({ activation: "sigmoid" }), optimizer: { name: "sgd" } },
      // ReLU with He initialisation at a smaller rate: 1.0 overshoots an unbounded activation.
      { name: "relu", spec: mlp({ activation: "relu", init: "he" }), optimizer: { name: "sgd", lr: 0.2 } },
    ],
  },
  regularization: {
    title: "Regularisation on 784-256-10 (ReLU), momentum SGD",
    trials: () => {
      const base = { hidden: [256], activation: "relu" as const, init: "he" as const };
      const optimizer = { name: "momentum" as const, lr: 0.05 };
      return [
        { name: "none", spec: mlp(base), optimizer },
        { name: "dropout 0.3", spec: mlp({ ...base, dropout: 0.3 }), optimizer },
        { name: "batch norm", spec: mlp({ ...base, batchnorm: true }), optimizer },
        { name: "weight decay 1e-4", spec: mlp(base), optimizer: { ...optimizer, weightDecay: 1e-4 } },
      ];
    },
  },
  "hidden-sizes": {
    title: "Hidden layer width, sigmoid, SGD",
    trials: () =>
      [10, 100, 1000].map((units) => ({
        name: `hidden ${units}`,
        spec: mlp({ hidden: [units] }),
        optimizer: { name: "sgd" },
      })),
  },
};

/**
 * Learning rates of the optimisers experiment, each the best of a few measured on this network
 * (10 epochs, seed 1): SGD 0.5 and momentum 0.05 (with the cosine schedule; 0.2 and 0.02 at a
 * constant rate), AdaGrad 0.05 (its default 0.001 barely moves in 10 epochs: 94.4% at 0.01 on
 * the sigmoid net), RMSProp 0.001, Adam 0.0015; AdaDelta has no rate and keeps the course's
 * rho and eps.
 */
const OPTIMIZER_TUNING: Record<string, Partial<OptimizerSpec>> = {
  sgd: { lr: 0.5 },
  momentum: { lr: 0.05 },
  adagrad: { lr: 0.05 },
  rmsprop: { lr: 0.001 },
  adadelta: {},
  adam: { lr: 0.0015 },
};

export interface ExperimentOptions {
  /** Threads running the kernels. */
  threads?: number;
  epochs: number;
  limit?: number;
  seed: number;
  outDir: string;
  data?: string;
}

export async function experimentCommand(name: string, options: ExperimentOptions): Promise<void> {
  const experiment = Object.hasOwn(EXPERIMENTS, name) ? EXPERIMENTS[name] : undefined;
  if (!experiment) throw new UsageError(`unknown experiment "${name}"; one of ${Object.keys(EXPERIMENTS).join(", ")}`);
  const files = ["md", "json", "svg"].map((ext) => `experiment-${name}.${ext}`);
  checkOutputFolder("--out-dir", options.outDir, files);
  const rt = await Runtime.create({ threads: options.threads });
  const train = takeFirst(loadMnist("train", options.data), options.limit ?? Infinity);
  const test = loadMnist("test", options.data);
  process.stdout.write(
    `${experiment.title}: ${options.epochs} epochs on ${train.count.toLocaleString("en")} images, seed ${options.seed}\n`,
  );
  const results: { trial: Trial; history: EpochRecord[]; seconds: number }[] = [];
  for (const trial of experiment.trials()) {
    const session = TrainingSession.start(new Model(rt, trial.spec, { seed: options.seed }), {
      optimizer: trial.optimizer,
      schedule: trial.schedule ?? "constant",
      epochs: options.epochs,
      batchSize: 100,
      seed: options.seed,
    });
    const started = performance.now();
    const { history } = await session.run(train, { test });
    const seconds = (performance.now() - started) / 1000;
    const last = history[history.length - 1];
    process.stdout.write(`  ${trial.name}: test ${percent(last.testAccuracy!)} (${seconds.toFixed(1)} s)\n`);
    results.push({ trial, history, seconds });
    session.dispose({ model: true });
  }
  const table = [
    `| ${name} | settings | final loss | train accuracy | test accuracy | time |`,
    "| --- | --- | --- | --- | --- | --- |",
    ...results.map(({ trial, history, seconds }) => {
      const last = history[history.length - 1];
      const settings = [
        ...Object.entries(trial.optimizer)
          .filter(([k]) => k !== "name")
          .map(([k, v]) => `${k} ${v}`),
        ...(trial.schedule === "cosine" ? ["cosine"] : []),
      ].join(", ");
      return (
        `| ${trial.name} | ${trial.optimizer.name}${settings ? ` (${settings})` : ""} | ${last.loss.toFixed(4)} | ` +
        `${percent(last.trainAccuracy ?? NaN)} | ${percent(last.testAccuracy!)} | ${seconds.toFixed(1)} s |`
      );
    }),
  ].join("\n");
  mkdirSync(options.outDir, { recursive: true });
  const base = join(options.outDir, `experiment-${name}`);
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  await writeFileAtomic(`${base}.md`, encode(`# ${experiment.title}\n\n${table}\n`));
  await writeFileAtomic(
    `${base}.json`,
    encode(
      JSON.stringify(
        results.map(({ trial, history, seconds }) => ({ ...trial, seconds, history })),
        null,
        2,
      ) + "\n",
    ),
  );
  await writeFileAtomic(
    `${base}.svg`,
    encode(historyChart(results.map(({ trial, history }) => ({ name: trial.name, history })))),
  );
  process.stdout.write(`\n${table}\n\nwrote ${base}.md, ${base}.json and ${base}.svg\n`);
}
