// The command line, run as a user runs it: `node dist/cli.js …` (npm test builds dist first).
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CIFAR_DIR, cifarAvailable } from "./support/cifar";
import { expectOneLineError, run } from "./support/cli";



describe("mnist-wasm predict", () => {
  it("classifies test image 42 with the shipped model: true label 4, drawn, with probabilities", () => {
    const r = run(["predict", "42", "--no-color"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/true label: 4\n/);
    expect(r.stdout).toMatch(/predicted: {2}4 /);
    expect(r.stdout).toMatch(/@@/); // the digit's strokes
    for (let d = 0; d <= 9; d++) expect(r.stdout).toMatch(new RegExp(`^ +${d} +\\d+\\.\\d\\d%`, "m"));
  });

  it("draws with 24-bit colour half-blocks when asked", () => {
    const r = run(["predict", "0", "--color"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\x1b[38;2;");
    expect(r.stdout).toContain("▀");
    expect(r.stdout).toMatch(/true label: 7\n/);
  });

  it("asks for the index on standard input when none is given", () => {
    const r = run(["predict", "--no-color"], "42\n");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Index of a test image (0-9999)");
    expect(r.stdout).toMatch(/true label: 4\n/);
  });

  it.each([
    ["10000", /out of range/],
    ["-1", /whole number from 0 to 9999/],
    ["abc", /whole number from 0 to 9999/],
  ])("refuses index %s with one line", (index, pattern) => {
    expectOneLineError(run(["predict", index]), pattern);
  });

  it("refuses an empty standard input and a missing model file", () => {
    expectOneLineError(run(["predict"], ""), /no index given/);
    expectOneLineError(run(["predict", "1", "--model", "/nonexistent.safetensors"]), /cannot read/);
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    writeFileSync(join(dir, "junk"), "this is not a model");
    expectOneLineError(run(["predict", "1", "--model", join(dir, "junk")]), /not a safetensors file/);
  });
});

describe("CIFAR-10 and architectures from the command line", () => {
  it.runIf(cifarAvailable("test/cli.test.ts", "training and predicting on CIFAR-10"))("trains a small CNN on CIFAR-10, then predicts a colour image with its class name", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const out = join(dir, "cifar.safetensors");
    const r = run(["train", "--dataset", "cifar10", "--data", CIFAR_DIR, "--arch", "conv:8x3p1,relu,maxpool:2,dense:10",
      "--optimizer", "momentum", "--limit", "1000", "--epochs", "1", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("conv:8x3p1,relu,maxpool:2,dense:10");
    expect(r.stdout).toMatch(/on 1,000 cifar10 images/);
    const p = run(["predict", "3", "--model", out, "--data", CIFAR_DIR, "--color"]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/CIFAR10 test image 3/);
    expect(p.stdout).toMatch(/true label: (airplane|automobile|bird|cat|deer|dog|frog|horse|ship|truck)\n/);
    expect(p.stdout).toMatch(/\x1b\[38;2;\d+;\d+;\d+m\x1b\[48;2;/);
    // A CIFAR-10 model needs CIFAR-10 data: without --data, one line says so.
    expectOneLineError(run(["predict", "3", "--model", out]), /CIFAR-10 needs --data/);
  });

  it("builds the cnn preset and JSON architecture files, and refuses bad architectures with one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const archFile = join(dir, "arch.json");
    writeFileSync(archFile, JSON.stringify([{ type: "conv2d", filters: 4, size: 5, stride: 2 }, { type: "relu" }, { type: "flatten" }]));
    const r = run(["train", "--arch", archFile, "--limit", "500", "--epochs", "1", "--optimizer", "adam", "--out", join(dir, "a.safetensors")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("conv:4x5s2,relu,flatten,dense:10");
    expectOneLineError(run(["train", "--arch", "conv:32,relu", "--limit", "100"]), /cannot read "conv:32"/);
    expectOneLineError(run(["train", "--arch", "conv:8x29", "--limit", "100"]), /does not fit its input \[1,28,28\]/);
    expectOneLineError(run(["train", "--arch", join(dir, "missing.json"), "--limit", "100"]), /no such file/);
    expectOneLineError(run(["train", "--arch", "cnn", "--dropout", "0.5", "--limit", "100"]), /--dropout and --batchnorm shape the mlp preset/);
  });
});

describe("mnist-wasm eval", () => {
  it("reports the shipped CNN's test accuracy (at least 99.3%) and a confusion matrix", () => {
    const r = run(["eval"]);
    expect(r.code, r.stderr).toBe(0);
    const accuracy = Number(/accuracy: ([\d.]+)%/.exec(r.stdout)![1]);
    expect(accuracy).toBeGreaterThanOrEqual(99.3);
    expect(r.stdout).toMatch(/confusion matrix/);
    const rows = r.stdout.split("\n").filter((l) => /^\d\s/.test(l));
    expect(rows).toHaveLength(10);
    const total = rows.flatMap((l) => l.trim().split(/\s+/).slice(1).map(Number)).reduce((a, b) => a + b, 0);
    expect(total).toBe(10000);
  });
});

describe("mnist-wasm train", () => {
  it("trains, saves, evaluates, and resumes from the saved file", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const out = join(dir, "small.safetensors");
    const r = run(["train", "--limit", "5000", "--epochs", "2", "--lr", "0.5", "--hidden", "32", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/epoch 1\/2 {2}loss [\d.]+ {2}train [\d.]+% {2}test [\d.]+%/);
    const losses = [...r.stdout.matchAll(/loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses[1]).toBeLessThan(losses[0]);
    expect(existsSync(out)).toBe(true);
    const evaluated = run(["eval", "--model", out]);
    expect(Number(/accuracy: ([\d.]+)%/.exec(evaluated.stdout)![1])).toBeGreaterThan(80);
    const resumed = run(["train", "--limit", "5000", "--epochs", "1", "--lr", "0.5", "--init-from", out, "--out", out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/epoch 3\/3 /);
  });

  it("--preset speedrun sets the run up; flags given on the command line win; --threads runs the pool", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const out = join(dir, "speedrun.safetensors");
    const r = run(["train", "--preset", "speedrun", "--epochs", "1", "--limit", "2000", "--threads", "2", "--no-progress", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("training conv:12x5,relu,maxpool:2,conv:24x5,relu,maxpool:2,dense:64,relu,dense:10");
    expect(r.stdout).toContain("momentum lr 0.05, alpha 0.9, batch 50, cosine schedule");
    expect(r.stdout).toMatch(/epoch 1\/1 /);
    expect(r.stdout).toMatch(/; [\d.]+ s since start\n/);
    expect(Number(/test ([\d.]+)%/.exec(r.stdout)![1])).toBeGreaterThan(60);
    const mine = run(["train", "--preset", "speedrun", "--epochs", "1", "--limit", "500", "--batch-size", "20", "--lr", "0.02", "--threads", "1", "--out", out]);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toContain("momentum lr 0.02, alpha 0.9, batch 20, cosine schedule");
    for (const [args, message] of [
      [["--preset", "fastest"], /argument 'fastest' is invalid. Allowed choices are speedrun/],
      [["--threads", "0"], /--threads <n>.*expected a positive integer/],
    ] as const) {
      const bad = run(["train", ...args]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(message);
      expect(bad.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("refuses bad flag values with a usage message", () => {
    const r = run(["train", "--lr", "abc"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--lr <rate>.*expected a positive number/);
  });

  it("has --help on every command", () => {
    for (const command of ["predict", "train", "eval"]) {
      const r = run([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: mnist-wasm ${command}`);
    }
  });
});
