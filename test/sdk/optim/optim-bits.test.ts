// The optimizer's floats, bit for bit, against hashes recorded from the six rules' first
// implementation (test/fixtures/optim-bits.json), so that a restructuring of the rules (records,
// kernels) is proven not to change a single bit of training.
//
// 1. fit: a conv + batch norm + dense model (every parameter a whole number of 4-float vectors:
//    36, 4, 4, 4, 8112, 12) trains 10 steps with each rule, with and without weight decay; the
//    hash of all its weights must match.
// 2. Optimizer.step on tensors of n = 1, 7, 10, 21, 32 floats, 5 steps with random gradients:
//    the weights and state must match those of the first implementation run on the tensor
//    widened to whole vectors (ceil(n / 4) · 4 floats, its first n compared), i.e. every lane
//    follows the vector formula. They also match the first implementation on exactly n floats,
//    except for rmsprop, adadelta and adam when n is not a multiple of 4: its scalar tail rounded
//    (1 - rho) · g · g and v / c2 in another order than its vector loop did.
//
// Regenerate (only from the first implementation): UPDATE_OPTIM_BITS=1 npx vitest run test/sdk/optim/optim-bits.test.ts
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fit,
  loadMnist,
  Model,
  Optimizer,
  OPTIMIZERS,
  Random,
  Runtime,
  takeFirst,
  type Dataset,
  type ModelSpec,
  type OptimizerName,
} from "../../../sdk/node";
import { disposeParams, makeParam } from "../../../sdk/layers/layer";

const FIXTURE = new URL("../../fixtures/optim-bits.json", import.meta.url);
const UPDATE = process.env.UPDATE_OPTIM_BITS === "1";
const recorded: Record<string, string> = UPDATE ? {} : JSON.parse(readFileSync(FIXTURE, "utf8"));
const computed: Record<string, string> = {};

const hash = (arrays: Float32Array[]): string => {
  const h = createHash("sha256");
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest("hex").slice(0, 16);
};

/** Compares with the recorded hash, or records it when regenerating. */
function check(key: string, value: string): void {
  computed[key] = value;
  if (!UPDATE) expect(value, key).toBe(recorded[key]);
}

const DECAYS = [0, 0.01];

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});
afterAll(() => {
  if (UPDATE) writeFileSync(FIXTURE, `${JSON.stringify(computed, null, 2)}\n`);
});

describe("fit: a conv + batch norm + dense model, 10 steps, bit-identical weights", () => {
  const spec: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", filters: 4, size: 3 },
      { type: "batchnorm" },
      { type: "relu" },
      { type: "maxpool", size: 2 },
      { type: "flatten" },
      { type: "dense", units: 12 },
    ],
  };
  let train: Dataset;
  beforeAll(() => {
    // Twelve classes, of which MNIST's labels use the first ten: the output bias is 3 whole vectors.
    train = { ...takeFirst(loadMnist("train"), 200), classes: Array.from({ length: 12 }, (_, i) => String(i)) };
  });

  const cases = OPTIMIZERS.flatMap((name) => DECAYS.map((weightDecay) => [name, weightDecay] as const));
  it.each(cases)("%s, weight decay %s", async (name, weightDecay) => {
    const model = new Model(rt, spec, { seed: 3 });
    const optimizer = new Optimizer(rt, { name, weightDecay });
    try {
      expect(model.params.map((p) => p.value.length)).toEqual([36, 4, 4, 4, 8112, 12]);
      await fit(model, train, { epochs: 1, batchSize: 20, optimizer, seed: 5 });
      check(`fit ${name} decay ${weightDecay}`, hash(model.params.map((p) => p.value.read())));
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  });
});

describe("Optimizer.step on n = 1, 7, 10, 21, 32 floats, 5 steps, bit-identical weights and state", () => {
  const LENGTHS = [1, 7, 10, 21, 32];
  /** Rules whose first implementation rounded its scalar tail exactly as its vector loop. */
  const TAIL_AS_VECTOR: readonly OptimizerName[] = ["sgd", "momentum", "adagrad"];

  /**
   * Weights and state (first n floats of each) after 5 steps on a "weight" tensor of `width` >= n
   * floats: n random values and gradients, the lanes beyond them 0.
   */
  function run(name: OptimizerName, weightDecay: number, n: number, width: number): string {
    const rng = new Random(17 + n);
    const random = (scale: (i: number) => number): Float32Array => {
      const values = new Float32Array(width);
      for (let i = 0; i < n; i++) values[i] = rng.normal() * scale(i);
      return values;
    };
    const p = makeParam(rt, "0.weight", [width], "weight");
    const optimizer = new Optimizer(rt, { name, weightDecay });
    try {
      p.value.write(random(() => 1));
      for (let t = 0; t < 5; t++) {
        p.grad.write(random((i) => (i % 3 === 1 ? 1e-3 : 1)));
        optimizer.step([p]);
      }
      const state = [...optimizer.exportState([p]).tensors.values()].map((t) => t.data.subarray(0, n));
      return hash([p.value.read().subarray(0, n), ...state]);
    } finally {
      optimizer.dispose();
      disposeParams([p]);
    }
  }

  const cases = OPTIMIZERS.flatMap((name) => DECAYS.flatMap((decay) => LENGTHS.map((n) => [name, decay, n] as const)));
  it.each(cases)("%s, weight decay %s, n = %s", (name, weightDecay, n) => {
    const key = `step ${name} decay ${weightDecay} n ${n}`;
    if (UPDATE) {
      check(`${key} exact`, run(name, weightDecay, n, n));
      check(`${key} widened`, run(name, weightDecay, n, Math.ceil(n / 4) * 4));
      return;
    }
    const value = run(name, weightDecay, n, n);
    expect(value, "every lane as the vector formula").toBe(recorded[`${key} widened`]);
    if (n % 4 === 0 || TAIL_AS_VECTOR.includes(name)) {
      expect(value, "the same as the first implementation on n floats").toBe(recorded[`${key} exact`]);
    }
  });
});
