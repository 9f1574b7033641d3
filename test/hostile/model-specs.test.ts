// Hostile model files, generated at run time: tiny specs that plan huge work, numbers in the
// metadata out of range, class names that would reach the terminal raw, and training runs that
// blow up without a NaN. Each is put to the commands that read or write model files, which must
// refuse it with one line, within the memory and time bounds, and leave files they do not own alone.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  encodeSafetensors,
  MAX_CLASS_NAME,
  MODEL_FORMAT,
  NUMERIC_FACTS,
  OPTIMIZERS,
  PLAN_LIMITS,
  type NamedTensor,
} from "../../sdk/node";
import { badNumberTexts } from "../support/numbers";
import { expectRefusal, probeCli, type Probe } from "./probe";

const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-hostile-specs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Layer = Record<string, unknown> & { type: string };
interface Spec {
  input: number[];
  layers: Layer[];
  classes?: string[];
}

/** Tensors beyond this many values are left out of a file: the plan must refuse such a spec before it looks for them. */
const MAX_WRITTEN_VALUES = 1 << 20;

/**
 * The tensors `spec` needs, worked out here without the SDK's plan (a test must not trust the code
 * it tests): zero weights, unit variances. Left out when they would be large.
 */
function tensorsFor(spec: Spec): Map<string, NamedTensor> {
  const shapes: [string, number[]][] = [];
  let shape = [...spec.input];
  const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  spec.layers.forEach((l, i) => {
    const n = l as Record<string, number> & { type: string };
    switch (l.type) {
      case "dense":
        shapes.push([`${i}.weight`, [size(shape), n.units]], [`${i}.bias`, [n.units]]);
        shape = [n.units];
        break;
      case "conv2d": {
        const [C, H, W] = shape;
        const side = (x: number): number => Math.floor((x + 2 * (n.padding ?? 0) - n.size) / (n.stride ?? 1)) + 1;
        shapes.push([`${i}.weight`, [n.filters, C, n.size, n.size]], [`${i}.bias`, [n.filters]]);
        shape = [n.filters, side(H), side(W)];
        break;
      }
      case "maxpool":
      case "avgpool": {
        const side = (x: number): number => Math.floor((x - n.size) / (n.stride ?? n.size)) + 1;
        shape = [shape[0], side(shape[1]), side(shape[2])];
        break;
      }
      case "flatten":
        shape = [size(shape)];
        break;
      default: // relu, sigmoid: shape unchanged
    }
  });
  const tensors = new Map<string, NamedTensor>();
  if (shapes.reduce((n, [, s]) => n + size(s), 0) > MAX_WRITTEN_VALUES) return tensors;
  for (const [name, s] of shapes) tensors.set(name, { shape: s, data: new Float32Array(size(s)) });
  return tensors;
}

let files = 0;
/** Writes a model file of `spec` with `metadata` (besides format and spec) and returns its path. */
function modelFile(spec: Spec, metadata: Record<string, string> = {}): string {
  const path = join(dir, `m${files++}.safetensors`);
  writeFileSync(
    path,
    encodeSafetensors(tensorsFor(spec), { format: MODEL_FORMAT, spec: JSON.stringify(spec), ...metadata }),
  );
  return path;
}

const MNIST = [1, 28, 28];
const classifier: Layer[] = [{ type: "flatten" }, { type: "dense", units: 10 }];

/** The commands that load a model file, each as a user would run it on `model`. */
const COMMANDS: Record<string, (model: string) => string[]> = {
  eval: (model) => ["eval", "--model", model],
  predict: (model) => ["predict", "0", "--model", model],
  classify: (model) => ["classify", "--model", model, "--input", mnistImages(), "--out", join(dir, "predictions.txt")],
  "train --init-from": (model) => [
    "train",
    "--init-from",
    model,
    "--epochs",
    "1",
    "--limit",
    "100",
    "--no-progress",
    "--out",
    join(dir, "never-written.safetensors"),
  ],
};

/** A small idx file of `count` (< 256) grey 28 x 28 images for classify. */
function mnistImages(count = 20): string {
  const path = join(dir, `images-${count}.idx`);
  const header = Buffer.from([0, 0, 8, 3, 0, 0, 0, count, 0, 0, 0, 28, 0, 0, 0, 28]);
  writeFileSync(path, Buffer.concat([header, Buffer.alloc(count * 784, 7)]));
  return path;
}

/** Measured cost of every refusal, by class, printed at the end (the closing report quotes it). */
const costs: Record<string, { seconds: number; peakRssMiB: number }> = {};
function record(kind: string, p: Probe): void {
  const c = (costs[kind] ??= { seconds: 0, peakRssMiB: 0 });
  c.seconds = Math.max(c.seconds, p.seconds);
  c.peakRssMiB = Math.max(c.peakRssMiB, p.peakRssMiB);
}
afterAll(() => {
  for (const [kind, c] of Object.entries(costs))
    console.log(`${kind}: at most ${c.seconds.toFixed(2)} s, ${c.peakRssMiB.toFixed(0)} MiB peak RSS`);
});

/** Runs every command on `model`; each must refuse it with one line matching `pattern`. */
function expectEveryCommandRefuses(
  kind: string,
  model: string,
  pattern: RegExp,
  commands = Object.keys(COMMANDS),
): void {
  for (const command of commands) {
    const p = probeCli(COMMANDS[command](model));
    record(kind, p);
    expectRefusal(p, pattern);
    // No raw escape, control or bidi character reaches the terminal.
    expect(p.stderr + p.stdout).not.toMatch(
      /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/,
    );
  }
}

describe("tiny specs that plan huge work are refused by the plan, naming the layer", () => {
  // Each spec is a few hundred bytes; what it would ask for is in its name.
  const cases: [string, Spec, RegExp][] = [
    ...[10_000, 100, 1].map((padding): [string, Spec, RegExp] => [
      `a 1x1 convolution with padding ${padding}`,
      { input: MNIST, layers: [{ type: "conv2d", filters: 8, size: 1, padding }, ...classifier] },
      /layer 0 \(conv2d 8 1x1 padding \d+\): padding must be smaller than the window/,
    ]),
    ...[PLAN_LIMITS.layers + 1, 1000, 100_000].map((count): [string, Spec, RegExp] => [
      `${count} ReLU layers`,
      {
        input: [784],
        layers: [...Array.from({ length: count - 1 }, () => ({ type: "relu" })), { type: "dense", units: 10 }],
      },
      new RegExp(`${count} layers is beyond the limit of ${PLAN_LIMITS.layers}`),
    ]),
    [
      `a window of ${PLAN_LIMITS.window + 1}`,
      { input: [1, 512, 512], layers: [{ type: "conv2d", filters: 1, size: PLAN_LIMITS.window + 1 }, ...classifier] },
      /layer 0 \(conv2d 1 129x129\): windows and strides are limited to 128/,
    ],
    [
      "a dense layer of 2^24 units",
      { input: MNIST, layers: [{ type: "flatten" }, { type: "dense", units: 2 ** 24 }, { type: "dense", units: 10 }] },
      /layer 1 \(dense 16777216\): the model reaches \d+ parameters, beyond the limit of 33554432/,
    ],
    [
      "a 3x3 convolution of 64 filters on a 2048x2048 image",
      { input: [1, 2048, 2048], layers: [{ type: "conv2d", filters: 64, size: 3, padding: 1 }, ...classifier] },
      /layer 0 \(conv2d 64 3x3 padding 1\): the model reaches \d+ MiB of activations per image, beyond the limit of 64 MiB/,
    ],
    [
      "a 3x3 convolution of 64 channels on 256x256 (its patches)",
      { input: [64, 256, 256], layers: [{ type: "conv2d", filters: 1, size: 3, padding: 1 }, ...classifier] },
      /layer 0 \(conv2d 1 3x3 padding 1\): the model reaches \d+ MiB of patch matrices per thread, beyond the limit of 64 MiB/,
    ],
    [
      "a 1x1 convolution of 2048 by 2048 channels on 32x32 (its multiply-adds)",
      { input: [2048, 32, 32], layers: [{ type: "conv2d", filters: 2048, size: 1 }, ...classifier] },
      /layer 0 \(conv2d 2048 1x1\): the model reaches \d+ multiply-adds per image, beyond the limit of 2147483648/,
    ],
  ];
  cases.forEach(([name, spec, pattern], i) => {
    // Every command on the best-known examples, one command each (in turn) on the others.
    const commands = i === 0 || i === 4 ? Object.keys(COMMANDS) : [Object.keys(COMMANDS)[i % 4]];
    it(`${name}: ${commands.join(", ")}`, () => {
      expectEveryCommandRefuses("plan limit", modelFile(spec), pattern, commands);
    });
  });

  it("a small model with wide activations: inference in batches that fit, training refused for a batch that does not", () => {
    // 2048 filters on 28 x 28 pooled to one value each: 20,490 parameters, 12 MiB of activations an image for training.
    const wide = {
      input: MNIST,
      layers: [{ type: "conv2d", filters: 2048, size: 3, padding: 1 }, { type: "maxpool", size: 28 }, ...classifier],
    };
    const model = modelFile(wide);
    // 250 images asked for in one batch would take 1.6 GB; in batches that fit the 256 MiB budget, far less.
    const classify = probeCli(
      [
        "classify",
        "--model",
        model,
        "--input",
        mnistImages(250),
        "--batch-size",
        "1000",
        "--out",
        join(dir, "wide.txt"),
      ],
      { timeoutMs: 60_000 },
    );
    expect(classify.code, classify.stderr).toBe(0);
    expect(readFileSync(join(dir, "wide.txt"), "utf8").split("\n")).toHaveLength(251);
    expect(classify.peakRssMiB).toBeLessThan(600);
    const p = probeCli(COMMANDS["train --init-from"](model));
    record("training batch", p);
    expectRefusal(
      p,
      /a training batch of 100 images needs \d+ MiB of activations with this model, beyond the limit of 512 MiB: use a batch of at most \d+$/,
    );
  });

  it("a model at the layer limit, 256 layers of ReLUs, evaluates within the bounds", () => {
    const spec = {
      input: [784],
      layers: [
        ...Array.from({ length: PLAN_LIMITS.layers - 1 }, () => ({ type: "relu" })),
        { type: "dense", units: 10 },
      ],
    };
    const model = modelFile(spec);
    for (const command of ["eval", "classify"]) {
      const p = probeCli(COMMANDS[command](model));
      expect(p.code, p.stderr).toBe(0);
      expect(p.seconds).toBeLessThan(10);
      expect(p.peakRssMiB).toBeLessThan(1024);
    }
  });
});

describe("numbers in a model's metadata are range-checked", () => {
  const good = { input: MNIST, layers: classifier };
  for (const fact of Object.keys(NUMERIC_FACTS)) {
    it(`"${fact}" out of range is refused, naming the field`, () => {
      // Every generated value is refused by deserializeModel (test/model-file.test.ts); here the kinds
      // seen in the wild, and a few more, through the commands.
      const values = badNumberTexts(NUMERIC_FACTS[fact].valid).filter((text) =>
        ["Infinity", "1e308", "9007199254740993", "-3", "2.5", "1.0000001", "NaN", "0x10", " "].includes(text),
      );
      expect(values.length).toBeGreaterThanOrEqual(6);
      values.forEach((value, i) => {
        // The hang was seen with train --init-from; every value goes through it or another command in turn.
        const command = i % 3 === 0 ? "train --init-from" : ["eval", "predict", "classify"][i % 3];
        expectEveryCommandRefuses(
          "metadata number",
          modelFile(good, { [fact]: value }),
          new RegExp(`metadata "${fact}" is .*, not `),
          [command],
        );
      });
    });
  }
});

describe("class names are printable text of bounded length", () => {
  // Every C0 and C1 control, DEL, the bidi overrides and isolates, zero-width and separator characters.
  const controls = [
    ...Array.from({ length: 0x20 }, (_, i) => i),
    0x7f,
    ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
    0x200b,
    0x200e,
    0x200f,
    0x2028,
    0x2029,
    0x202a,
    0x202b,
    0x202c,
    0x202d,
    0x202e,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0xfeff,
  ].map((c) => String.fromCodePoint(c));
  const hostile = [
    ...controls.map((c) => `cat${c}dog`),
    "\x1b[2J\x1b[H",
    "\x1b]0;pwned\x07",
    "\u009b31m",
    "\ud800",
    "x".repeat(MAX_CLASS_NAME + 1),
    "猫".repeat(10_000),
    "",
  ];
  const withName = (name: string): Spec => ({
    input: MNIST,
    layers: classifier,
    classes: Array.from({ length: 10 }, (_, i) => (i === 7 ? name : String(i))),
  });

  // All of them are refused by validateSpec (test/spec.test.ts); here a fifth of them, and every
  // escape sequence, through the commands.
  const probed = hostile.filter((name, i) => i % 5 === 0 || !name.startsWith("cat"));
  it(`${probed.length} hostile names are each refused on load, naming the field, with nothing raw printed`, () => {
    probed.forEach((name, i) => {
      const command = Object.keys(COMMANDS)[i % 4];
      expectEveryCommandRefuses(
        "class name",
        modelFile(withName(name)),
        /model spec: "classes"\[7\] (holds the unprintable character U\+|is longer than the limit of 64|is empty)/,
        [command],
      );
    });
  });

  it("printable names in any script load and print as they are", () => {
    const p = probeCli(["eval", "--model", modelFile(withName(`chat noir, 猫, é, ${"x".repeat(40)}`))]);
    expect(p.code, p.stderr).toBe(0);
  });
});

describe("a run that blows up without NaN fails and leaves --out as it was", () => {
  /** Trains with `flags` at rates 1e30 and 1e5: each run fails as diverged, writing nothing. */
  function expectDiverged(name: string, flags: string[]): void {
    for (const lr of ["1e30", "1e5"]) {
      const out = join(dir, `good-${name}-${lr}.safetensors`);
      const before = Buffer.from(`a good model file, before ${name}`);
      writeFileSync(out, before);
      const p = probeCli([
        "train",
        ...flags,
        "--lr",
        lr,
        "--epochs",
        "2",
        "--limit",
        "300",
        "--no-progress",
        "--out",
        out,
      ]);
      record("divergence", p);
      expect(p.code, p.stderr).toBe(1);
      expect(p.stderr).toMatch(
        /^mnist-wasm: training diverged in epoch 1(, batch \d+)?: .*try a smaller learning rate\n$/,
      );
      expect(readFileSync(out).equals(before)).toBe(true);
      // An autoencoder's pictures beside --out are not written either.
      expect(existsSync(out.replace(/safetensors$/, "latent.svg"))).toBe(false);
    }
  }

  // With MSE the loss stays below 1 however large the weights grow: the mean loss against chance,
  // or the weights, show it. AdaDelta has no learning rate to blow up.
  for (const optimizer of OPTIMIZERS.filter((name) => name !== "adadelta")) {
    for (const loss of ["mse", "cross-entropy"]) {
      it(`train --optimizer ${optimizer} --loss ${loss} at --lr 1e30 and 1e5`, () => {
        expectDiverged(`${optimizer}-${loss}`, [
          "--arch",
          "dense:32,relu,dense:10",
          "--optimizer",
          optimizer,
          "--loss",
          loss,
        ]);
      });
    }
  }

  // An autoencoder's loss is summed over its pixels (hundreds of nats an image): the same bounds
  // must catch it, under both of its losses.
  for (const task of ["autoencoder", "vae"]) {
    for (const loss of ["bce", "mse"]) {
      it(`train --task ${task} --loss ${loss} --optimizer sgd at --lr 1e30 and 1e5`, () => {
        expectDiverged(`${task}-${loss}`, [
          "--task",
          task,
          "--encoder",
          "dense:16,relu",
          "--decoder",
          "dense:16,relu",
          "--loss",
          loss,
          "--optimizer",
          "sgd",
        ]);
      });
    }
  }
});
