// The command line, run as a user runs it: `node dist/cli.js …` (npm test builds dist first).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommanderError } from "commander";
import { describe, expect, it, vi } from "vitest";
import { buildSpec, MAX_ARCH_FILE_BYTES, type ArchOptions } from "../../cli/arch";
import { UsageError } from "../../cli/errors";
import { buildProgram, packageVersion } from "../../cli/program";
import { MNIST_CLASSES, type Dataset } from "../../sdk/node";
import { CIFAR_DIR, cifarAvailable } from "../support/cifar";
import { CLI, expectOneLineError, run } from "../support/cli";

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

  it("reads the index from standard input when none is given, prompting only at a terminal", () => {
    const r = run(["predict", "--no-color"], "42\n");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(""); // piped: no prompt
    expect(r.stdout).toMatch(/true label: 4\n/);
    // At a terminal (script(1) gives the command a pseudo-terminal) the course's prompt comes first.
    const tty = spawnSync(
      "script",
      ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} predict --no-color`, "/dev/null"],
      { input: "42\n", encoding: "utf8", timeout: 60_000 },
    );
    if (tty.error) return; // no script(1) here: the piped case above still ran
    expect(tty.stdout).toMatch(/Index of a test image \(0-9999\): [\s\S]*true label: 4/);
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
  it.runIf(cifarAvailable("test/cli/cli.test.ts", "training and predicting on CIFAR-10"))(
    "trains a small CNN on CIFAR-10, then predicts a colour image with its class name",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
      const out = join(dir, "cifar.safetensors");
      const r = run([
        "train",
        "--dataset",
        "cifar10",
        "--data",
        CIFAR_DIR,
        "--arch",
        "conv:8x3p1,relu,maxpool:2,dense:10",
        "--optimizer",
        "momentum",
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--augment",
        "4",
        "--warmup",
        "0.5",
        "--label-smoothing",
        "0.1",
        "--out",
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("conv:8x3p1,relu,maxpool:2,dense:10");
      expect(r.stdout).toMatch(/on 1,000 cifar10 images/);
      expect(r.stdout).toContain(
        "warm-up 0.5 epochs, augmented (shifts of 4 pixels, flips), label smoothing 0.1, seed 1",
      );
      // Test-time flips: the whole test set, each image also mirrored.
      const e = run(["eval", "--model", out, "--data", CIFAR_DIR, "--tta"]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toContain("test set, 10000 images, each also mirrored (--tta)");
      const plain = run(["eval", "--model", out, "--data", CIFAR_DIR]);
      expect(e.stdout).toMatch(/accuracy: [\d.]+% \(\d+\/10000\)/);
      const loss = (text: string): string => /loss: +([\d.]+)/.exec(text)![1];
      expect(loss(e.stdout)).not.toBe(loss(plain.stdout));
      const p = run(["predict", "3", "--model", out, "--data", CIFAR_DIR, "--color"]);
      expect(p.code, p.stderr).toBe(0);
      expect(p.stdout).toMatch(/CIFAR10 test image 3/);
      expect(p.stdout).toMatch(/true label: (airplane|automobile|bird|cat|deer|dog|frog|horse|ship|truck)\n/);
      expect(p.stdout).toMatch(/\x1b\[38;2;\d+;\d+;\d+m\x1b\[48;2;/);
      // A CIFAR-10 model needs CIFAR-10 data: without --data, one line says so.
      expectOneLineError(
        run(["predict", "3", "--model", out]),
        /this model was trained on cifar10 \(CIFAR-10 binary batches\); pass --data/,
      );
    },
  );

  it("builds the cnn preset and JSON architecture files, and refuses bad architectures with one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const archFile = join(dir, "arch.json");
    writeFileSync(
      archFile,
      JSON.stringify([{ type: "conv2d", filters: 4, size: 5, stride: 2 }, { type: "relu" }, { type: "flatten" }]),
    );
    const r = run([
      "train",
      "--arch",
      archFile,
      "--limit",
      "500",
      "--epochs",
      "1",
      "--optimizer",
      "adam",
      "--out",
      join(dir, "a.safetensors"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("conv:4x5s2,relu,flatten,dense:10");
    // Whatever is wrong with --arch is a usage mistake: exit 2.
    for (const [arch, message] of [
      ["conv:32,relu", /cannot read "conv:32"/],
      ["conv:8x29", /does not fit its input \[1,28,28\]/],
      [join(dir, "missing.json"), /no such file/],
    ] as const) {
      const bad = run(["train", "--arch", arch, "--limit", "100"]);
      expectOneLineError(bad, message);
      expect(bad.code).toBe(2);
    }
    expectOneLineError(
      run(["train", "--arch", "cnn", "--dropout", "0.5", "--limit", "100"]),
      /--dropout and --batchnorm shape the mlp preset/,
    );
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

  it("--preset best-mnist is the shipped model's recipe: batch norm, a warm-up, label smoothing, shifts", () => {
    const out = join(mkdtempSync(join(tmpdir(), "mnist-wasm-cli-")), "best.safetensors");
    const r = run([
      "train",
      "--preset",
      "best-mnist",
      "--epochs",
      "1",
      "--limit",
      "2000",
      "--threads",
      "1",
      "--no-progress",
      "--out",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "training conv:32x3,batchnorm,relu,maxpool:2,conv:64x3,batchnorm,relu,conv:64x3,batchnorm,relu,maxpool:2,dense:128,relu,dense:10 (188,554 parameters) " +
        "on 2,000 mnist images: momentum lr 0.05, alpha 0.9, weight decay 0.0005, batch 100, cosine schedule, warm-up 1 epoch, " +
        "augmented (shifts of 2 pixels), label smoothing 0.1, seed 1",
    );
    // One epoch of 20 batches, all of them the warm-up: well past chance (10%).
    expect(Number(/test ([\d.]+)%/.exec(r.stdout)![1])).toBeGreaterThan(60);
  });

  it.runIf(cifarAvailable("test/cli/cli.test.ts", "the best-cifar10 preset"))(
    "--preset best-cifar10 trains the CIFAR-10 recipe: its data set, network and settings",
    () => {
      const out = join(mkdtempSync(join(tmpdir(), "mnist-wasm-cli-")), "best.safetensors");
      const r = run([
        "train",
        "--preset",
        "best-cifar10",
        "--data",
        CIFAR_DIR,
        "--epochs",
        "1",
        "--limit",
        "300",
        "--no-progress",
        "--out",
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        "training conv:32x3p1,batchnorm,relu,conv:32x3p1,batchnorm,relu,maxpool:2,conv:64x3p1,batchnorm,relu,conv:64x3p1,batchnorm,relu,maxpool:2," +
          "conv:128x3p1,batchnorm,relu,conv:128x3p1,batchnorm,relu,maxpool:2,avgpool:4,dense:10 (289,194 parameters) on 300 cifar10 images: " +
          "momentum lr 0.1, alpha 0.9, weight decay 0.0005, batch 100, cosine schedule, warm-up 2 epochs, " +
          "augmented (shifts of 4 pixels, flips), label smoothing 0.1, seed 1",
      );
    },
  );

  it("--preset speedrun sets the run up; flags given on the command line win; --threads runs the pool", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-cli-"));
    const out = join(dir, "speedrun.safetensors");
    const r = run([
      "train",
      "--preset",
      "speedrun",
      "--epochs",
      "1",
      "--limit",
      "2000",
      "--threads",
      "2",
      "--no-progress",
      "--out",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "training conv:12x5,maxpool:2,batchnorm,relu,conv:24x5,maxpool:2,batchnorm,relu,dense:128,relu,dense:10",
    );
    expect(r.stdout).toContain(
      "momentum lr 0.2, alpha 0.9, batch 50, cosine schedule, warm-up 0.2 epochs, label smoothing 0.1",
    );
    expect(r.stdout).toMatch(/epoch 1\/1 /);
    expect(r.stdout).toMatch(/; [\d.]+ s since start\n/);
    expect(Number(/test ([\d.]+)%/.exec(r.stdout)![1])).toBeGreaterThan(60);
    const mine = run([
      "train",
      "--preset",
      "speedrun",
      "--epochs",
      "1",
      "--limit",
      "500",
      "--batch-size",
      "20",
      "--lr",
      "0.02",
      "--threads",
      "1",
      "--out",
      out,
    ]);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toContain("momentum lr 0.02, alpha 0.9, batch 20, cosine schedule");
    for (const [args, message] of [
      [["--preset", "fastest"], /argument 'fastest' is invalid. Allowed choices are speedrun/],
      [["--threads", "0"], /--threads <n>.*expected an integer from 1 to 64/],
    ] as const) {
      const bad = run(["train", ...args]);
      expect(bad.code).toBe(2);
      expectOneLineError(bad, message);
    }
  });

  it("refuses bad flag values with a usage message", () => {
    const r = run(["train", "--lr", "abc"]);
    expect(r.code).toBe(2);
    expectOneLineError(
      r,
      /^mnist-wasm: option '--lr <rate>' argument 'abc' is invalid. expected a positive number \(see mnist-wasm train --help\)$/,
    );
  });

  it("has --help on every command and --version, on standard output with exit 0", () => {
    for (const command of ["predict", "train", "eval", "classify", "experiment"]) {
      const r = run([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: mnist-wasm ${command}`);
      expect(r.stderr).toBe("");
    }
    const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
    for (const flag of ["--version", "-V"]) {
      const r = run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
      expect(r.stderr).toBe("");
    }
  });
});

// The command line's grammar, read in this process with stand-in actions: every value of every
// option is checked as it is read, and every mistake is one UsageError line naming the command's
// --help (main() prints it as "mnist-wasm: …" with exit code 2; test/hostile/cli-usage.test.ts
// runs one of each kind through the built CLI).
describe("the command line's grammar", () => {
  interface Parsed {
    command?: string;
    args?: unknown[];
    error?: unknown;
    out: string;
  }

  async function parse(args: string[]): Promise<Parsed> {
    const parsed: Parsed = { out: "" };
    const stand =
      (command: string) =>
      (...a: unknown[]) => {
        parsed.command = command;
        parsed.args = a;
      };
    const program = buildProgram(
      {
        predict: stand("predict"),
        train: stand("train"),
        eval: stand("eval"),
        classify: stand("classify"),
        experiment: stand("experiment"),
        encode: stand("encode"),
        generate: stand("generate"),
        export: stand("export"),
        quantize: stand("quantize"),
      },
      (text) => (parsed.out += text),
    );
    const stderr = vi.spyOn(process.stderr, "write");
    try {
      await program.parseAsync(args, { from: "user" });
    } catch (e) {
      parsed.error = e;
    } finally {
      expect(stderr, "commander writes nothing on stderr itself").not.toHaveBeenCalled();
      stderr.mockRestore();
    }
    return parsed;
  }

  async function expectUsage(args: string[], pattern: RegExp = /./): Promise<string> {
    const p = await parse(args);
    const what = JSON.stringify(args).slice(0, 300);
    expect(p.error, what).toBeInstanceOf(UsageError);
    expect(p.command, what).toBeUndefined();
    const message = (p.error as Error).message;
    expect(message, what).not.toMatch(/[\r\n]/);
    expect(message, what).not.toMatch(/^error:/);
    expect(message, what).toMatch(/\(see mnist-wasm( [a-z]+)? --help\)$/);
    expect(message, what).toMatch(pattern);
    return message;
  }

  async function expectAccepted(args: string[]): Promise<Record<string, unknown>> {
    const p = await parse(args);
    expect(p.error, `${JSON.stringify(args)}: ${(p.error as Error)?.message}`).toBeUndefined();
    expect(p.command).toBe(args[0]);
    return p.args!.find(
      (a) => typeof a === "object" && a !== null && !Array.isArray(a) && !("commands" in a),
    ) as Record<string, unknown>;
  }

  /** The arguments a command needs before its options can be tried. */
  const BASE: Record<string, string[]> = {
    predict: ["predict"],
    train: ["train"],
    eval: ["eval"],
    classify: ["classify", "-i", "in", "-o", "out"],
    experiment: ["experiment", "optimizers"],
    encode: ["encode", "-m", "m", "-i", "in", "-o", "out"],
    generate: ["generate", "-o", "out"],
    export: ["export", "-o", "out.onnx"],
    quantize: ["quantize", "-m", "m", "-o", "out"],
  };

  const PROTOTYPE_NAMES = [
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "isPrototypeOf",
    "__defineGetter__",
  ];
  const GARBAGE = [
    "",
    " ",
    "abc",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1",
    "0x10",
    "0b1",
    " 5",
    "5 ",
    "\t5",
    "+5",
    "5abc",
    "５",
    "--5",
  ];

  /** Bad and good values of each kind of option value. */
  const KINDS: Record<string, { bad: string[]; good: [string, unknown][] }> = {
    positiveInt: {
      bad: [
        ...GARBAGE,
        "0",
        "00",
        "1.5",
        "2.0",
        "1e3",
        "9007199254740992",
        "9007199254740993",
        "99999999999999999999",
        "1,5",
      ],
      good: [
        ["1", 1],
        ["007", 7],
        ["9007199254740991", 9007199254740991],
      ],
    },
    epochs: {
      bad: [...GARBAGE, "0", "1.5", "1e3", "1000001", "99999999999999999999"],
      good: [
        ["1", 1],
        ["007", 7],
        ["1000000", 1e6],
      ],
    },
    seed: {
      bad: [...GARBAGE, "1.5", "1e3", "4294967296", "99999999999999999999"],
      good: [
        ["0", 0],
        ["4294967295", 4294967295],
      ],
    },
    threads: {
      bad: [...GARBAGE, "0", "65", "1.5", "1e1", "99999999999999999999"],
      good: [
        ["1", 1],
        ["64", 64],
      ],
    },
    positiveNumber: {
      bad: [...GARBAGE, "0", "0.0", "-0", "1e-400", ".", "1e", "1..2", "1,5"],
      good: [
        ["0.05", 0.05],
        ["1e-3", 0.001],
        [".5", 0.5],
        ["2", 2],
        ["1E2", 100],
      ],
    },
    nonNegativeNumber: {
      bad: [...GARBAGE, "-0", "-0.5", ".", "1,5"],
      good: [
        ["0", 0],
        ["5e-4", 5e-4],
      ],
    },
    fraction: {
      bad: [...GARBAGE, "1", "1.0", "1.5", "1e0", "-0.1", "."],
      good: [
        ["0", 0],
        ["0.5", 0.5],
        ["0.999", 0.999],
      ],
    },
    intList: {
      bad: [
        ...GARBAGE.filter((g) => g !== "1,5"),
        "0",
        "1,,2",
        ",",
        "1,",
        ",1",
        "1,0",
        "1.5",
        "1, 2",
        "9007199254740993",
      ],
      good: [
        ["100", [100]],
        ["256,128", [256, 128]],
      ],
    },
    choice: { bad: [...PROTOTYPE_NAMES, "", " ", "x", "NaN"], good: [] },
    arch: {
      bad: [
        "",
        " ",
        ",",
        ",,",
        "conv:",
        "conv",
        "conv:0x3",
        "conv:3x0",
        "conv:3",
        "conv:3x3s0",
        "conv:1e3x3",
        "conv:-1x3",
        "conv:3x3p-1",
        "conv:9007199254740993x3",
        "dense",
        "dense:",
        "dense:-1",
        "dense:0",
        "dense:1e9",
        "dense:1.5",
        "dense:0x10",
        "dense: 10",
        "dense:99999999999999999999",
        "maxpool:x",
        "maxpool:",
        "maxpool:0",
        "avgpool:2s0",
        "dropout",
        "dropout:1",
        "dropout:-0.1",
        "dropout:NaN",
        "dropout:0x1",
        "dropout:Infinity",
        "relu:1",
        "flatten:",
        "dense:10:2",
        "Relu",
        "unknown",
        "mlp:3",
        "cnn,relu",
        ...PROTOTYPE_NAMES,
        ...PROTOTYPE_NAMES.map((n) => `conv:8x3,${n}`),
        ...PROTOTYPE_NAMES.map((n) => `${n}:3`),
        "x".repeat(100_000),
        `${"relu,".repeat(20_000)}bogus`,
        "conv:8x3,\u001b[2J",
        "dense:１０",
      ],
      good: [
        ["mlp", "mlp"],
        ["cnn", "cnn"],
        ["cnn-cifar", "cnn-cifar"],
        ["conv:8x3,relu,maxpool:2", "conv:8x3,relu,maxpool:2"],
        ["layers.json", "layers.json"],
      ],
    },
    path: { bad: [], good: [["some/file", "some/file"]] },
    half: {
      bad: ["", "foo", "dense:0", "conv:3", "dense:1:2", "dropout:1", ","],
      good: [
        ["dense:512,relu", "dense:512,relu"],
        ["conv:32x4s2p1,relu,convT:1x4s2p1", "conv:32x4s2p1,relu,convT:1x4s2p1"],
      ],
    },
    latent: {
      bad: [...GARBAGE, "0", "4097", "1.5"],
      good: [
        ["1", 1],
        ["4096", 4096],
      ],
    },
    count: {
      bad: [...GARBAGE, "0", "4097"],
      good: [
        ["1", 1],
        ["4096", 4096],
      ],
    },
    manifold: {
      bad: [...GARBAGE, "0", "1", "65"],
      good: [
        ["2", 2],
        ["64", 64],
      ],
    },
    columns: {
      bad: [...GARBAGE, "0", "1025"],
      good: [["1024", 1024]],
    },
    scale: {
      bad: [...GARBAGE, "0", "17"],
      good: [["16", 16]],
    },
    // --augment takes its value optionally: a word that starts with "-" is the next option.
    shift: {
      bad: [...GARBAGE.filter((g) => !g.startsWith("-")), "65", "2.5", "1e1"],
      good: [
        ["0", 0],
        ["4", 4],
        ["64", 64],
      ],
    },
    calibration: {
      bad: [...GARBAGE, "0", "60001"],
      good: [
        ["1", 1],
        ["60000", 60000],
      ],
    },
    datasetName: {
      bad: [
        "",
        " ",
        "\t",
        " fashion",
        "fashion ",
        "fa\u001bshion",
        "\u001b[2J",
        "a\nb",
        "a\u000bb",
        "\u0000",
        "\u007f",
        "\u0085",
        "\u202e",
        "a\u200db",
        "\ud800",
        "\ue000",
        "x".repeat(65),
        "é".repeat(65),
        "x".repeat(100_000),
      ],
      good: [
        ["fashion", "fashion"],
        ["Fashion MNIST", "Fashion MNIST"],
        ["fashion-mnist_v2", "fashion-mnist_v2"],
        ["数字", "数字"],
        ["x".repeat(64), "x".repeat(64)],
      ],
    },
  };

  /** Every value-taking option of every command, by kind (a new option must be added here). */
  const OPTIONS: Record<string, Record<string, string>> = {
    predict: { "--image": "path", "--model": "path", "--data": "path" },
    train: {
      "--dataset": "choice",
      "--arch": "arch",
      "--epochs": "epochs",
      "--hidden": "intList",
      "--activation": "choice",
      "--dropout": "fraction",
      "--loss": "choice",
      "--init": "choice",
      "--batch-size": "positiveInt",
      "--schedule": "choice",
      "--optimizer": "choice",
      "--lr": "positiveNumber",
      "--momentum": "fraction",
      "--weight-decay": "nonNegativeNumber",
      "--augment": "shift",
      "--warmup": "nonNegativeNumber",
      "--label-smoothing": "fraction",
      "--seed": "seed",
      "--out": "path",
      "--init-from": "path",
      "--data": "path",
      "--limit": "positiveInt",
      "--preset": "choice",
      "--threads": "threads",
      "--name": "datasetName",
      "--classes": "path",
      "--task": "choice",
      "--latent": "latent",
      "--encoder": "half",
      "--decoder": "half",
      "--per-class": "positiveInt",
    },
    encode: { "--model": "path", "--input": "path", "--out": "path", "--threads": "threads" },
    generate: {
      "--model": "path",
      "--count": "count",
      "--seed": "seed",
      "--columns": "columns",
      "--manifold": "manifold",
      "--scale": "scale",
      "--out": "path",
      "--threads": "threads",
    },
    eval: { "--model": "path", "--data": "path", "--threads": "threads" },
    quantize: {
      "--model": "path",
      "--out": "path",
      "--data": "path",
      "--calibration": "calibration",
      "--threads": "threads",
    },
    classify: {
      "--input": "path",
      "--out": "path",
      "--model": "path",
      "--labels": "path",
      "--batch-size": "positiveInt",
      "--threads": "threads",
    },
    experiment: {
      "--epochs": "epochs",
      "--limit": "positiveInt",
      "--seed": "seed",
      "--out-dir": "path",
      "--data": "path",
      "--threads": "threads",
    },
    export: { "--model": "path", "--format": "choice", "--out": "path" },
  };

  it("the table above names every option that takes a value, of every command", () => {
    const program = buildProgram();
    expect(program.commands.map((c) => c.name()).sort()).toEqual(Object.keys(OPTIONS).sort());
    for (const command of program.commands) {
      const taking = command.options.filter((o) => o.required || o.optional).map((o) => o.long!);
      expect(taking.sort(), command.name()).toEqual(Object.keys(OPTIONS[command.name()]).sort());
      for (const o of command.options.filter(
        (o) => (o.required || o.optional) && OPTIONS[command.name()][o.long!] === "choice",
      )) {
        expect(o.argChoices ?? o.parseArg, `${command.name()} ${o.long}`).toBeTruthy();
      }
    }
  });

  it("refuses every bad value of every option with one line naming the option", async () => {
    let probes = 0;
    for (const [command, options] of Object.entries(OPTIONS)) {
      for (const [flag, kind] of Object.entries(options)) {
        for (const value of KINDS[kind].bad) {
          const message = await expectUsage([...BASE[command], flag, value], new RegExp(flag));
          expect(message).toContain(`see mnist-wasm ${command} --help`);
          probes++;
          // The same value in the --flag=value form.
          if (probes % 3 === 0) await expectUsage([...BASE[command], `${flag}=${value}`], new RegExp(flag));
        }
      }
    }
    expect(probes).toBeGreaterThan(500);
  });

  it("reads every good value as the number or name it writes", async () => {
    for (const [command, options] of Object.entries(OPTIONS)) {
      for (const [flag, kind] of Object.entries(options)) {
        for (const [value, parsed] of KINDS[kind].good) {
          const got = await expectAccepted([...BASE[command], flag, value]);
          const key = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
          expect(got[key], `${command} ${flag} ${value}`).toStrictEqual(parsed);
        }
      }
    }
    expect(
      (await expectAccepted(["train", "--optimizer", "adam", "--init", "he", "--preset", "speedrun"])).optimizer,
    ).toBe("adam");
  });

  it("refuses a value missing at the end, unknown options, unknown commands, extra arguments and missing required ones", async () => {
    for (const [command, options] of Object.entries(OPTIONS)) {
      for (const [flag, kind] of Object.entries(options)) {
        // --augment's value is optional: alone, it asks for the default shift.
        if (kind === "shift") expect((await expectAccepted([...BASE[command], flag])).augment).toBe(true);
        else await expectUsage([...BASE[command], flag], /argument missing/);
      }
      for (const unknown of ["--bogus", "-z", "--x=1", ...PROTOTYPE_NAMES.map((n) => `--${n}`)]) {
        await expectUsage([...BASE[command], unknown], /^unknown option '/);
      }
    }
    expect(await expectUsage(["train", "--epoch", "3"])).toBe(
      "unknown option '--epoch'; did you mean --epochs? (see mnist-wasm train --help)",
    );
    for (const name of [...PROTOTYPE_NAMES, "Train", "trian", "-", "x".repeat(10_000)]) {
      await expectUsage([name], /^unknown command '/);
    }
    for (const args of [[], ["--"], ["help", "bogus"], ["help", "__proto__"]]) {
      await expectUsage(
        args,
        /^expected a command: predict, train, eval, quantize, classify, encode, generate, experiment, export \(see mnist-wasm --help\)$/,
      );
    }
    for (const args of [
      ["predict", "1", "2"],
      ["train", "extra"],
      ["eval", "extra"],
      [...BASE.classify, "extra"],
      ["experiment", "optimizers", "extra"],
    ]) {
      await expectUsage(args, /^too many arguments for '/);
    }
    await expectUsage(["classify", "-o", "out"], /required option '-i, --input <file>' not specified/);
    await expectUsage(["classify", "-i", "in"], /required option '-o, --out <file>' not specified/);
    await expectUsage(["experiment"], /missing required argument 'name'/);
    await expectUsage(["train", "--dataset", "cifar10"], /^--dataset cifar10 needs --data/);
    await expectAccepted(["train", "--dataset", "cifar10", "--data", "somewhere"]);
    for (const name of [...PROTOTYPE_NAMES, "", "Optimizers"]) {
      await expectUsage(
        ["experiment", name],
        /^unknown experiment ".*"; one of optimizers, activations, regularization, hidden-sizes/,
      );
    }
  });

  it("answers --help and --version with exit code 0 and text on standard output", async () => {
    const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
    expect(packageVersion()).toBe(version);
    for (const args of [["--version"], ["-V"]]) {
      const p = await parse(args);
      expect((p.error as CommanderError).exitCode).toBe(0);
      expect(p.out).toBe(`${version}\n`);
    }
    for (const args of [["--help"], ["help"], ["help", "train"], ["train", "--help"], ["classify", "-h"]]) {
      const p = await parse(args);
      expect((p.error as CommanderError).exitCode, args.join(" ")).toBe(0);
      expect(p.out).toMatch(/^Usage: mnist-wasm/);
    }
  });
});

describe("--arch into a model spec (buildSpec)", () => {
  const MNIST = {
    name: "mnist",
    shape: [1, 28, 28],
    classes: MNIST_CLASSES,
    count: 0,
    images: new Uint8Array(),
    labels: new Uint8Array(),
  } as Dataset;
  const options = (arch: string): ArchOptions => ({
    arch,
    hidden: [100],
    activation: "sigmoid",
    loss: "cross-entropy",
  });

  function expectArchUsage(arch: string, pattern: RegExp): void {
    const started = performance.now();
    let caught: unknown;
    try {
      buildSpec(options(arch), MNIST);
    } catch (e) {
      caught = e;
    }
    expect(caught, arch).toBeInstanceOf(UsageError);
    expect((caught as Error).message).not.toMatch(/[\r\n]/);
    expect((caught as Error).message).toMatch(pattern);
    expect(performance.now() - started).toBeLessThan(1000);
  }

  it("takes presets by their own names only", () => {
    expect(buildSpec(options("cnn"), MNIST).layers[0]).toStrictEqual({ type: "conv2d", filters: 32, size: 3 });
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"])
      expectArchUsage(name, /cannot read/);
  });

  it("refuses an architecture that reads but does not fit the images as a usage mistake", () => {
    expectArchUsage("conv:8x29", /does not fit its input \[1,28,28\]/);
    expectArchUsage("maxpool:29", /does not fit/);
  });

  it("reads a JSON file only when it is a small regular file, without blocking on a FIFO", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-arch-"));
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    expect(
      buildSpec(
        options(file("ok.json", JSON.stringify([{ type: "conv2d", filters: 4, size: 5 }, { type: "relu" }]))),
        MNIST,
      ).layers,
    ).toHaveLength(3);
    mkdirSync(join(dir, "folder.json"));
    spawnSync("mkfifo", [join(dir, "fifo.json")]);
    symlinkSync("/dev/zero", join(dir, "zero.json"));
    symlinkSync("/dev/null", join(dir, "null-device.json"));
    const huge = join(dir, "huge.json");
    writeFileSync(huge, "");
    truncateSync(huge, 2 * MAX_ARCH_FILE_BYTES);
    symlinkSync(join(dir, "loop-b.json"), join(dir, "loop-a.json"));
    symlinkSync(join(dir, "loop-a.json"), join(dir, "loop-b.json"));
    for (const [path, pattern] of [
      [join(dir, "missing.json"), /no such file/],
      [join(dir, "folder.json"), /not a regular file/],
      [join(dir, "fifo.json"), /not a regular file/],
      [join(dir, "zero.json"), /not a regular file/],
      [join(dir, "null-device.json"), /not a regular file/],
      [huge, /2,097,152 bytes is more than the 1 MiB limit for a JSON architecture file/],
      [join(dir, "loop-a.json"), /cannot read \(ELOOP/],
      [join(dir, "ok.json", "below.json"), /cannot read \(ENOTDIR/],
      [file("empty.json", ""), /not valid JSON/],
      [file("text.json", "conv:8x3"), /not valid JSON/],
      [file("null.json", "null"), /expected a list of layers/],
      [file("number.json", "3"), /expected a list of layers/],
      [file("object.json", '{"layers": {"0": {"type": "relu"}}}'), /expected a list of layers/],
      [file("proto.json", '{"__proto__": [{"type": "relu"}]}'), /expected a list of layers/],
      [file("proto-layer.json", '[{"type": "__proto__"}]'), /layer 0/],
      [file("constructor-layer.json", '[{"type": "constructor"}]'), /layer 0/],
      [file("not-object.json", "[1, 2]"), /layer 0/],
      [file("bad-units.json", '[{"type": "dense", "units": 1e400}]'), /units/],
    ] as const) {
      expectArchUsage(path, pattern);
    }
  });
});
