// trainingDefaults: every network trains with no optimizer flags at all. The rule is checked on
// specs of each kind, and each preset (and a written string with batch norm) is trained briefly
// through the CLI with defaults only: its loss must fall well below ln 10, where it starts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ARCH_PRESETS, mlpSpec, parseArch, trainingDefaults, withClassifier, type ModelSpec } from "../../sdk/node";
import { CIFAR_DIR, cifarAvailable } from "../support/cifar";
import { run } from "../support/cli";

const specOf = (arch: string, input = [1, 28, 28]): ModelSpec => ({
  input,
  layers: withClassifier(parseArch(arch), 10),
});

describe("trainingDefaults", () => {
  it("gives networks of dense layers the course's SGD at 1.0, and any network with a convolution or batch norm momentum 0.05 with a cosine schedule", () => {
    const dense = [
      mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10 }),
      mlpSpec({ input: [1, 28, 28], hidden: [256, 128], classes: 10, activation: "relu", init: "he", dropout: 0.2 }),
      specOf("dense:64,relu,dense:32,sigmoid"),
    ];
    for (const spec of dense) {
      expect(trainingDefaults(spec)).toEqual({
        optimizer: "sgd",
        lr: 1,
        schedule: "constant",
        network: "a network of dense layers",
      });
    }
    const convolutional = [
      specOf(ARCH_PRESETS.cnn),
      specOf(ARCH_PRESETS["cnn-cifar"], [3, 32, 32]),
      specOf("conv:4x3,relu,dense:10"),
    ];
    for (const spec of convolutional) {
      expect(trainingDefaults(spec)).toMatchObject({
        optimizer: "momentum",
        lr: 0.05,
        schedule: "cosine",
        network: "a network with convolutions",
      });
    }
    for (const spec of [
      mlpSpec({ input: [1, 28, 28], hidden: [100], classes: 10, batchnorm: true }),
      specOf("dense:64,batchnorm,relu"),
    ]) {
      expect(trainingDefaults(spec)).toMatchObject({
        optimizer: "momentum",
        lr: 0.05,
        schedule: "cosine",
        network: "a network with batch norm",
      });
    }
    for (const spec of [
      specOf("conv:8x5,batchnorm,relu,maxpool:2,dense:32,relu"),
      specOf("conv:4x3,relu,dense:32,batchnorm,relu"),
    ]) {
      expect(trainingDefaults(spec)).toMatchObject({
        optimizer: "momentum",
        lr: 0.02,
        schedule: "cosine",
        network: "a network with convolutions and batch norm",
      });
    }
  });
});

/** The last epoch's mean training loss a CLI run of three epochs printed. */
function lastLoss(stdout: string): number {
  const m = /^epoch +3\/3 +loss ([\d.]+)/m.exec(stdout);
  expect(m, stdout).not.toBeNull();
  return Number(m![1]);
}

const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-defaults-"));

describe("mnist-wasm train --arch X with no other flags", () => {
  const cases: { arch: string; network: string; defaults: string }[] = [
    { arch: "mlp", network: "a network of dense layers", defaults: "sgd lr 1, constant schedule" },
    { arch: "cnn", network: "a network with convolutions", defaults: "momentum lr 0.05, cosine schedule" },
    {
      arch: "conv:16x3,batchnorm,relu,maxpool:2,dense:10",
      network: "a network with convolutions and batch norm",
      defaults: "momentum lr 0.02, cosine schedule",
    },
    {
      arch: "dense:128,batchnorm,relu",
      network: "a network with batch norm",
      defaults: "momentum lr 0.05, cosine schedule",
    },
  ];
  for (const c of cases) {
    it(`${c.arch}: says its defaults on the first line, and three epochs on 2,000 MNIST images take the loss below 1.0`, () => {
      const r = run([
        "train",
        "--arch",
        c.arch,
        "--epochs",
        "3",
        "--limit",
        "2000",
        "--no-progress",
        "--out",
        join(dir, "m.safetensors"),
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split("\n")[0]).toBe(
        `defaults for ${c.network}: ${c.defaults}; set --optimizer, --lr or --schedule to change`,
      );
      expect(lastLoss(r.stdout)).toBeLessThan(1.0);
    }, 300_000);
  }

  it("flags given win over the defaults, and only the rest are announced", () => {
    const r = run([
      "train",
      "--arch",
      "cnn",
      "--optimizer",
      "adam",
      "--epochs",
      "1",
      "--limit",
      "300",
      "--no-progress",
      "--out",
      join(dir, "a.safetensors"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      "defaults for a network with convolutions: cosine schedule; set --optimizer, --lr or --schedule to change",
    );
    expect(r.stdout).toContain("adam lr 0.001, batch 100, cosine schedule");
    const all = run([
      "train",
      "--arch",
      "cnn",
      "--optimizer",
      "sgd",
      "--lr",
      "0.1",
      "--schedule",
      "constant",
      "--epochs",
      "1",
      "--limit",
      "300",
      "--no-progress",
      "--out",
      join(dir, "b.safetensors"),
    ]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).not.toContain("defaults for");
    expect(all.stdout).toContain("sgd lr 0.1, batch 100, seed 1");
  }, 300_000);

  if (cifarAvailable("train-defaults.test.ts", "cnn-cifar with defaults on the real CIFAR-10 files")) {
    it("cnn-cifar: three epochs on 2,000 CIFAR-10 images take the loss well below ln 10", () => {
      const r = run([
        "train",
        "--arch",
        "cnn-cifar",
        "--dataset",
        "cifar10",
        "--data",
        CIFAR_DIR,
        "--epochs",
        "3",
        "--limit",
        "2000",
        "--no-progress",
        "--out",
        join(dir, "c.safetensors"),
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split("\n")[0]).toContain(
        "defaults for a network with convolutions: momentum lr 0.05, cosine schedule",
      );
      expect(lastLoss(r.stdout)).toBeLessThan(CIFAR_LOSS);
    }, 300_000);
  }
});

/** ln 10 = 2.303 is where training starts; measured with the defaults: 1.88 in the third epoch (seed 1). */
const CIFAR_LOSS = 2.0;
