// Reading and writing files, probed through the built CLI as a hostile user would: every reader
// given devices, FIFOs without a writer, links to devices, folders, gzip bombs, huge PNG
// headers, oversized and truncated files; every writer given devices, links, FIFOs and bad
// locations; and Ctrl-C during train. Each refusal is one line, the documented exit code, within
// the memory and time bounds, and changes no file but the named output.
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  linkSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deserializeModel, FILE_LIMITS, loadMnist, Runtime } from "../../sdk/node";
import { CLI } from "../support/cli";
import { gzipBomb, idxBytes, notRegularFiles, pngImage, pngOfSize, type NotAFile, type PngLayout } from "./files-kit";
import { expectRefusal, probeCli, type Probe } from "./probe";

const MODEL = new URL("../../models/mnist-cnn.safetensors", import.meta.url).pathname;
const MNIST_LABELS = new URL("../../data/mnist/t10k-labels-idx1-ubyte.gz", import.meta.url).pathname;

let dir: string;
let allKinds: NotAFile[];
let kinds: NotAFile[];
/** A valid input of 50 MNIST test images and its labels. */
let images: string;
let labels: string;
/** A folder of MNIST idx files, small. */
let mini: string;
/** Measured refusals by class, for the report printed at the end. */
const measured = new Map<string, { rss: number; seconds: number; count: number }>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mnist-wasm-hostile-files-"));
  // Every kind reaches every SDK reader in test/data.test.ts; through the CLI, these do.
  const probed = ["/dev/zero", "/dev/null", "a FIFO without a writer", "a symlink to /dev/zero", "a folder"];
  allKinds = await notRegularFiles(dir);
  kinds = allKinds.filter((k) => probed.includes(k.name));
  const test = loadMnist("test");
  images = join(dir, "small-idx3-ubyte");
  writeFileSync(images, idxBytes([50, 28, 28], test.images.subarray(0, 50 * 784)));
  labels = join(dir, "small-labels.txt");
  writeFileSync(labels, [...test.labels.subarray(0, 50)].join("\n") + "\n");
  // A small MNIST folder (1,000 training and 100 test images), so that runs of train start fast.
  mini = join(dir, "mini-mnist");
  mkdirSync(mini);
  const files: [string, number[], Uint8Array][] = [
    ["train-images-idx3-ubyte", [1000, 28, 28], test.images.subarray(0, 1000 * 784)],
    ["train-labels-idx1-ubyte", [1000], test.labels.subarray(0, 1000)],
    ["t10k-images-idx3-ubyte", [100, 28, 28], test.images.subarray(1000 * 784, 1100 * 784)],
    ["t10k-labels-idx1-ubyte", [100], test.labels.subarray(1000, 1100)],
  ];
  for (const [name, dims, data] of files) writeFileSync(join(mini, name), idxBytes(dims, data));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  const rows = [...measured].map(
    ([what, m]) => `| ${what} | ${m.count} | ${m.rss.toFixed(0)} MiB | ${m.seconds.toFixed(2)} s |`,
  );
  console.log(
    ["| refusal class | probes | worst peak RSS | worst time |", "| --- | --- | --- | --- |", ...rows].join("\n"),
  );
});

/** Kind, size, time and link text of every entry below `root`: what "no file changed" compares. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(root, { recursive: true }).map(String)) {
    const path = join(root, name);
    const st = lstatSync(path);
    const link = st.isSymbolicLink() ? readlinkSync(path) : "";
    out.set(name, `${st.mode} ${st.size} ${st.mtimeMs} ${link}`);
  }
  return out;
}

/**
 * Runs the CLI, expecting a refusal matching `pattern` with `code`; checks that no file in the
 * probe folder changed and that `out` (the named output) was not written, and records the cost.
 */
function refuse(
  what: string,
  args: string[],
  pattern: RegExp,
  { code = 1, out }: { code?: number; out?: string } = {},
): Probe {
  const before = snapshot(dir);
  const p = probeCli(args);
  expectRefusal(p, pattern, code);
  if (out) expect(existsSync(out), `${out} written`).toBe(false);
  expect(snapshot(dir), `files changed by ${args.join(" ")}`).toEqual(before);
  expect(lstatSync("/dev/null").isCharacterDevice()).toBe(true);
  const m = measured.get(what) ?? { rss: 0, seconds: 0, count: 0 };
  measured.set(what, {
    rss: Math.max(m.rss, p.peakRssMiB),
    seconds: Math.max(m.seconds, p.seconds),
    count: m.count + 1,
  });
  return p;
}

describe("every reader refuses what is not a regular file", () => {
  /** Each way the CLI reads a file, given `path` there. */
  const readers: { name: string; folders: boolean; args: (path: string, out: string) => string[] }[] = [
    { name: "eval --model", folders: true, args: (p) => ["eval", "--model", p] },
    { name: "predict --model", folders: true, args: (p) => ["predict", "0", "--model", p] },
    { name: "classify --input", folders: false, args: (p, out) => ["classify", "--input", p, "--out", out] },
    {
      name: "classify --labels",
      folders: true,
      args: (p, out) => ["classify", "--input", images, "--labels", p, "--out", out],
    },
    {
      name: "classify --model",
      folders: true,
      args: (p, out) => ["classify", "--input", images, "--model", p, "--out", out],
    },
    { name: "predict --image", folders: true, args: (p) => ["predict", "--image", p] },
    { name: "generate --model", folders: true, args: (p, out) => ["generate", "--model", p, "--out", out] },
    {
      name: "encode --model",
      folders: true,
      args: (p, out) => ["encode", "--model", p, "--input", images, "--out", out],
    },
    {
      name: "encode --input",
      folders: false,
      args: (p, out) => ["encode", "--model", "models/mnist-vae.safetensors", "--input", p, "--out", out],
    },
    { name: "eval --data (a folder expected)", folders: false, args: (p) => ["eval", "--data", p] },
    {
      name: "train --dataset cifar10 --data",
      folders: false,
      args: (p, out) => ["train", "--dataset", "cifar10", "--data", p, "--out", out],
    },
    {
      name: "train --init-from",
      folders: true,
      args: (p, out) => ["train", "--init-from", p, "--data", mini, "--out", out],
    },
  ];

  for (const reader of readers) {
    it(`${reader.name}: devices, a FIFO, a link to a device${reader.folders ? ", a folder" : ""}`, () => {
      for (const k of kinds) {
        if (k.name === "a folder" && !reader.folders) continue;
        const out = join(dir, "out.txt");
        const pattern = reader.name.startsWith("eval --data")
          ? new RegExp(`${k.kind.source}.*not a folder`)
          : new RegExp(`${k.kind.source}.*not a regular file`);
        refuse("not a regular file", reader.args(k.path, out), pattern, { out });
      }
    });
  }

  it("train --arch FILE.json and a MNIST folder whose idx files are devices or FIFOs", () => {
    for (const k of kinds) {
      const link = join(dir, "arch.json");
      symlinkSync(k.path, link);
      try {
        const out = join(dir, "m.safetensors");
        // An --arch that cannot be read is a usage mistake (exit 2), like any bad flag value.
        refuse("not a regular file", ["train", "--arch", link, "--data", mini, "--out", out], k.kind, { out, code: 2 });
      } finally {
        rmSync(link);
      }
      const data = mkdtempSync(join(dir, "mnist-"));
      symlinkSync(k.path, join(data, "t10k-images-idx3-ubyte"));
      copyFileSync(MNIST_LABELS, join(data, "t10k-labels-idx1-ubyte.gz"));
      refuse("not a regular file", ["eval", "--data", data], new RegExp(`${k.kind.source}.*not a regular file`));
    }
  });
});

describe("gzip is inflated within a bound", () => {
  it("refuses idx bombs after inflating at most what their header declares", () => {
    const bomb = join(dir, "bomb-idx3-ubyte.gz");
    writeFileSync(bomb, gzipBomb(idxBytes([10000, 28, 28]), 1024)); // 1 MB that inflates to 1 GiB
    const labelBomb = join(dir, "bomb-labels-idx1-ubyte.gz");
    writeFileSync(labelBomb, gzipBomb(idxBytes([50]), 1024));
    const out = join(dir, "out.txt");
    refuse(
      "gzip bomb (idx)",
      ["classify", "--input", bomb, "--out", out],
      /more than the 7,840,016 bytes its header declares/,
      { out },
    );
    refuse(
      "gzip bomb (idx)",
      ["classify", "--input", images, "--labels", labelBomb, "--out", out],
      /more than the 58 bytes its header declares/,
      { out },
    );
    const data = mkdtempSync(join(dir, "mnist-"));
    copyFileSync(bomb, join(data, "t10k-images-idx3-ubyte.gz"));
    copyFileSync(MNIST_LABELS, join(data, "t10k-labels-idx1-ubyte.gz"));
    refuse("gzip bomb (idx)", ["eval", "--data", data], /its header declares/);
    // A header declaring more than the limit: refused before inflating.
    writeFileSync(join(data, "t10k-images-idx3-ubyte.gz"), gzipSync(idxBytes([100000, 100, 100])));
    refuse(
      "gzip bomb (idx)",
      ["eval", "--data", data],
      /its header declares 1,000,000,016 bytes, more than the 192 MiB limit/,
    );
  });

  it("refuses bombs without a declared size (npy, CIFAR-10 batches and tar, a gzipped model) at the data limit", () => {
    const npyBomb = join(dir, "bomb.npy.gz");
    writeFileSync(npyBomb, gzipBomb(Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), 1024));
    const binBomb = join(dir, "bomb.bin.gz");
    writeFileSync(binBomb, gzipBomb(new Uint8Array(0), 1024));
    const cifar = mkdtempSync(join(dir, "cifar-"));
    copyFileSync(binBomb, join(cifar, "test_batch.bin.gz"));
    for (let i = 1; i <= 5; i++) copyFileSync(binBomb, join(cifar, `data_batch_${i}.bin.gz`));
    const limit = /inflates to more than the 192 MiB limit for a data file/;
    const out = join(dir, "out.txt");
    refuse("gzip bomb (no declared size)", ["classify", "--input", npyBomb, "--out", out], limit, { out });
    refuse("gzip bomb (no declared size)", ["classify", "--input", binBomb, "--out", out], limit, { out });
    refuse("gzip bomb (no declared size)", ["train", "--dataset", "cifar10", "--data", binBomb, "--out", out], limit, {
      out,
    });
    refuse(
      "gzip bomb (no declared size)",
      ["train", "--dataset", "cifar10", "--data", cifar, "--out", out],
      /data_batch_1\.bin\.gz: inflates to more than the 192 MiB limit for the CIFAR-10 train files together/,
      { out },
    );
    // A model is never inflated: gzip is not a safetensors header.
    refuse("gzip bomb (no declared size)", ["eval", "--model", binBomb], /not a safetensors file/);
  });
});

describe("PNG images are bounded by their header", () => {
  it("refuses images above 25 megapixels before decoding, alone and in a folder", () => {
    for (const [width, height] of [
      [20000, 20000],
      [5001, 5000],
      [100000, 300],
    ]) {
      const png = join(dir, `huge-${width}.png`);
      writeFileSync(png, pngOfSize(width, height));
      refuse(
        "PNG above the pixel budget",
        ["predict", "--image", png],
        /more than the 25,000,000-pixel budget \(25 megapixels\)/,
      );
      const folder = mkdtempSync(join(dir, "pngs-"));
      copyFileSync(png, join(folder, "0.png"));
      const out = join(dir, "out.txt");
      // A model's input shape is known: the image's size is refused as not 28 x 28, also without decoding.
      refuse(
        "PNG above the pixel budget",
        ["classify", "--input", folder, "--out", out],
        /pixel budget|is \d+ x \d+ pixels/,
        { out },
      );
    }
  });

  it("refuses images whose decoding needs more than 180 MB (bit depth and channels counted), and data longer than declared", async () => {
    const over: [PngLayout, RegExp][] = [
      [
        { width: 5000, height: 5000, bitDepth: 16, colourType: 6 },
        /5,000 x 5,000 pixels of 16-bit RGBA needs 700 MB to decode, more than the 180 MB budget/,
      ],
      [{ width: 4000, height: 4000, bitDepth: 16, colourType: 6 }, /16-bit RGBA needs 448 MB/],
      [{ width: 5000, height: 5000, bitDepth: 8, colourType: 2 }, /8-bit RGB needs 250 MB/],
      [
        { width: 4000, height: 4000, bitDepth: 8, colourType: 6, interlaced: true },
        /8-bit RGBA, interlaced, needs 320 MB/,
      ],
    ];
    for (const [layout, pattern] of over) {
      const png = join(dir, "over-budget.png");
      writeFileSync(png, await pngImage(layout));
      refuse("PNG above the decoding budget", ["predict", "--image", png], pattern);
    }
    // Interlaced data that inflates to 1 GiB for a 1000 x 1000 image: refused once past what the header declares.
    const layout: PngLayout = { width: 1000, height: 1000, bitDepth: 8, colourType: 0, interlaced: true };
    for (const interlaced of [true, false]) {
      const png = join(dir, "long-data.png");
      writeFileSync(png, await pngImage({ ...layout, interlaced }, 1024 * 2 ** 20));
      refuse(
        "PNG data longer than declared",
        ["predict", "--image", png],
        /not a valid PNG \(its image data inflates to more than the [\d,]+ bytes its header declares\)/,
      );
    }
  }, 60_000);

  it("decodes every image within the budgets in bounded memory: at the edge, the costliest kinds", async () => {
    const edge: PngLayout[] = [
      { width: 5000, height: 5000, bitDepth: 8, colourType: 0 },
      { width: 4743, height: 4743, bitDepth: 8, colourType: 4 },
      { width: 2535, height: 2535, bitDepth: 16, colourType: 6 },
      { width: 3354, height: 3354, bitDepth: 16, colourType: 0 },
      { width: 3872, height: 3872, bitDepth: 8, colourType: 4, interlaced: true },
    ];
    for (const layout of edge) {
      const png = join(dir, "at-the-edge.png");
      writeFileSync(png, await pngImage(layout));
      const p = probeCli(["predict", "--image", png]);
      // All black: decoded, then found to hold no digit.
      expect(p.stderr, JSON.stringify(layout)).toMatch(/^mnist-wasm: the image \(\d+ x \d+\) has no digit/);
      expect(p.peakRssMiB, JSON.stringify(layout)).toBeLessThan(340);
      const m = measured.get("PNG at the budget's edge, decoded") ?? { rss: 0, seconds: 0, count: 0 };
      measured.set("PNG at the budget's edge, decoded", {
        rss: Math.max(m.rss, p.peakRssMiB),
        seconds: Math.max(m.seconds, p.seconds),
        count: m.count + 1,
      });
    }
  }, 60_000);
});

describe("files above their size limit, and truncated files", () => {
  it("refuses oversized files before reading them", () => {
    const sparse = (name: string, bytes: number): string => {
      const path = join(dir, name);
      writeFileSync(path, "");
      truncateSync(path, bytes);
      return path;
    };
    const out = join(dir, "out.txt");
    refuse(
      "oversized file",
      ["eval", "--model", sparse("big.safetensors", FILE_LIMITS.modelBytes + 1)],
      /more than the 256 MiB limit for a model file/,
    );
    refuse(
      "oversized file",
      ["classify", "--input", sparse("big-idx3-ubyte", FILE_LIMITS.dataBytes + 1), "--out", out],
      /192 MiB limit for a data file/,
      { out },
    );
    refuse(
      "oversized file",
      ["predict", "--image", sparse("big.png", FILE_LIMITS.pngBytes + 1)],
      /64 MiB limit for a PNG file/,
    );
    refuse("oversized file", ["eval", "--model", sparse("zeros.safetensors", 100 * 2 ** 20)], /not a safetensors file/);
    // The CIFAR-10 batch files of a split share the data limit: 5 of 15,000 records (46 MB) each pass it.
    const cifar = mkdtempSync(join(dir, "cifar-"));
    for (let i = 1; i <= 5; i++) {
      writeFileSync(join(cifar, `data_batch_${i}.bin`), "");
      truncateSync(join(cifar, `data_batch_${i}.bin`), 15000 * 3073);
    }
    writeFileSync(join(cifar, "test_batch.bin"), new Uint8Array(3073));
    refuse(
      "oversized file",
      ["train", "--dataset", "cifar10", "--data", cifar, "--out", out],
      /data_batch_5\.bin: 46,095,000 bytes is more than the [\d,]+ bytes left of the 192 MiB limit for the CIFAR-10 train files together/,
      { out },
    );
  });

  it("refuses truncated model, idx, gzip, npy and PNG files", () => {
    const model = readFileSync(MODEL);
    const cut = (name: string, bytes: Uint8Array): string => (writeFileSync(join(dir, name), bytes), join(dir, name));
    const out = join(dir, "out.txt");
    for (const fraction of [0.001, 0.5, 0.999]) {
      const n = Math.floor(model.length * fraction);
      refuse(
        "truncated file",
        ["eval", "--model", cut(`cut-${n}.safetensors`, model.subarray(0, n))],
        /safetensors|does not match|tensor/,
      );
    }
    const idx = readFileSync(images);
    refuse(
      "truncated file",
      ["classify", "--input", cut("cut-idx3-ubyte", idx.subarray(0, 1000)), "--out", out],
      /the file has 984/,
      { out },
    );
    const gz = gzipSync(idx);
    refuse(
      "truncated file",
      ["classify", "--input", cut("cut-idx3-ubyte.gz", gz.subarray(0, gz.length - 100)), "--out", out],
      /corrupt gzip data|truncated/,
      { out },
    );
    const npy = Uint8Array.from([
      0x93,
      0x4e,
      0x55,
      0x4d,
      0x50,
      0x59,
      1,
      0,
      70,
      0,
      ...new TextEncoder().encode("{'descr'"),
    ]);
    refuse("truncated file", ["classify", "--input", cut("cut.npy", npy), "--out", out], /npy/, { out });
    refuse(
      "truncated file",
      ["predict", "--image", cut("cut.png", pngOfSize(28, 28).subarray(0, 40))],
      /not a valid PNG/,
    );
  });
});

describe("output locations are checked before any work", () => {
  it("train, classify and experiment refuse a missing folder, a folder, a path below a file and a socket at once", () => {
    const file = join(dir, "plain.txt");
    writeFileSync(file, "x");
    const socket = allKinds.find((k) => k.name === "a socket")!.path;
    const bad: [string, RegExp][] = [
      [join(dir, "missing", "deeper", "m.safetensors"), /the folder .*missing\/deeper does not exist/],
      [join(dir, "folder.gz"), /is a directory/],
      [join(file, "m.safetensors"), /plain\.txt is not a folder/],
      [socket, /is a socket; refusing/],
    ];
    for (const [out, pattern] of bad) {
      // Given work that would take long (all of MNIST, many epochs), each is refused at once.
      const p = refuse(
        "output location",
        ["train", "--epochs", "50", "--out", out],
        new RegExp(`--out .*${pattern.source}`),
      );
      expect(p.stdout).toBe("");
      expect(p.seconds).toBeLessThan(3);
      refuse("output location", ["classify", "--input", images, "--out", out], new RegExp(`--out .*${pattern.source}`));
      refuse("output location", ["generate", "--out", out], new RegExp(`--out .*${pattern.source}`));
      refuse(
        "output location",
        ["encode", "--model", "models/mnist-vae.safetensors", "--input", images, "--out", out],
        new RegExp(`--out .*${pattern.source}`),
      );
    }
    // An autoencoder's pictures beside its model file are outputs too, checked before training.
    const pictures = mkdtempSync(join(dir, "pictures-"));
    for (const name of ["ae.latent.svg", "ae.reconstructions.png"]) {
      mkdirSync(join(pictures, name));
      const p = refuse(
        "output location",
        ["train", "--task", "autoencoder", "--epochs", "50", "--out", join(pictures, "ae.safetensors")],
        new RegExp(`picture file .*${name.replace(/\./g, "\\.")}: is a directory`),
      );
      expect(p.seconds).toBeLessThan(3);
      rmSync(join(pictures, name), { recursive: true });
    }
    mkdirSync(join(pictures, "v.manifold.png"));
    refuse(
      "output location",
      ["train", "--task", "vae", "--epochs", "50", "--out", join(pictures, "v.safetensors")],
      /picture file .*v\.manifold\.png: is a directory/,
    );

    // An output that reaches an input through a symbolic or hard link would replace it: a usage mistake.
    const links = mkdtempSync(join(dir, "links-"));
    symlinkSync(images, join(links, "soft"));
    copyFileSync(labels, join(links, "labels.txt"));
    linkSync(join(links, "labels.txt"), join(links, "hard"));
    refuse(
      "output location",
      ["classify", "--input", images, "--out", join(links, "soft")],
      /would overwrite the --input file/,
      { code: 2 },
    );
    refuse(
      "output location",
      ["encode", "--model", "models/mnist-vae.safetensors", "--input", images, "--out", join(links, "soft")],
      /would overwrite the --input file/,
      { code: 2 },
    );
    refuse(
      "output location",
      ["classify", "--input", images, "--labels", join(links, "labels.txt"), "--out", join(links, "hard")],
      /would overwrite the --labels file/,
      { code: 2 },
    );
    // The history files beside the model are outputs too.
    const runs = mkdtempSync(join(dir, "runs-"));
    mkdirSync(join(runs, "m.history.json"));
    refuse(
      "output location",
      ["train", "--out", join(runs, "m.safetensors")],
      /history file .*m\.history\.json: is a directory/,
    );
    refuse(
      "output location",
      ["experiment", "optimizers", "--out-dir", join(file, "results")],
      /--out-dir .*plain\.txt is not a folder/,
    );
    mkdirSync(join(runs, "experiment-activations.svg"));
    refuse(
      "output location",
      ["experiment", "activations", "--out-dir", runs],
      /experiment-activations\.svg: is a directory/,
    );
  });

  it("every file train and experiment write, as a FIFO without a reader, a folder or a socket, is refused before any training, writing nothing", async () => {
    const makers: [string, (path: string) => Promise<void> | void, RegExp][] = [
      [
        "a FIFO without a reader",
        (path) => void execFileSync("mkfifo", [path]),
        /is a FIFO \(named pipe\) with no reader/,
      ],
      ["a folder", (path) => mkdirSync(path), /is a directory/],
      [
        "a socket",
        async (path) => {
          const server = createServer();
          await new Promise<void>((resolve) => server.listen(path, resolve));
          server.unref();
        },
        /is a socket; refusing/,
      ],
    ];
    const commands: [string, string[], (out: string) => string[]][] = [
      [
        "train",
        ["m.safetensors", "m.history.json", "m.history.svg"],
        (out) => ["train", "--data", mini, "--epochs", "50", "--no-progress", "--out", join(out, "m.safetensors")],
      ],
      [
        "experiment",
        ["experiment-optimizers.md", "experiment-optimizers.json", "experiment-optimizers.svg"],
        (out) => ["experiment", "optimizers", "--data", mini, "--epochs", "50", "--out-dir", out],
      ],
    ];
    for (const [command, outputs, args] of commands) {
      for (const output of outputs) {
        for (const [kind, make, pattern] of makers) {
          const out = mkdtempSync(join(dir, `${command}-outputs-`));
          await make(join(out, output));
          const p = refuse(
            "output location",
            args(out),
            new RegExp(`${output.replace(/\./g, "\\.")}: ${pattern.source}`),
          );
          expect(p.stdout, `${command} ${output} ${kind}`).toBe("");
          expect(p.seconds, `${command} ${output} ${kind}`).toBeLessThan(2);
          expect(readdirSync(out), `${command} ${output} ${kind}`).toEqual([output]);
        }
      }
    }
  });

  it.skipIf(process.getuid?.() === 0)(
    "refuses a folder without write permission (not as root, who may write anywhere)",
    () => {
      const locked = mkdtempSync(join(dir, "locked-"));
      chmodSync(locked, 0o555);
      refuse("output location", ["train", "--out", join(locked, "m.safetensors")], /not writable/);
      chmodSync(locked, 0o755);
    },
  );
});

describe("writing keeps what the target is", () => {
  const countLines = (text: string): number => text.split("\n").filter(Boolean).length;

  it("classify writes to /dev/null, through symlinks, to standard output and to a FIFO's reader", async () => {
    const run = (out: string): Probe => {
      const p = probeCli(["classify", "--input", images, "--out", out]);
      expect(p.code, p.stderr).toBe(0);
      return p;
    };
    run("/dev/null");
    expect(lstatSync("/dev/null").isCharacterDevice()).toBe(true);
    const area = mkdtempSync(join(dir, "write-"));
    writeFileSync(join(area, "real.txt"), "old");
    symlinkSync("real.txt", join(area, "link.txt"));
    symlinkSync("missing.txt", join(area, "dangling.txt"));
    symlinkSync("link.txt", join(area, "chain.txt"));
    for (const [out, lands] of [
      ["link.txt", "real.txt"],
      ["dangling.txt", "missing.txt"],
      ["chain.txt", "real.txt"],
    ]) {
      rmSync(join(area, lands), { force: true });
      run(join(area, out));
      expect(lstatSync(join(area, out)).isSymbolicLink()).toBe(true);
      expect(countLines(readFileSync(join(area, lands), "utf8"))).toBe(50);
    }
    expect(readdirSync(area).sort()).toEqual(["chain.txt", "dangling.txt", "link.txt", "missing.txt", "real.txt"]);
    // --out -: the predictions on standard output, the report on standard error.
    const toStdout = probeCli(["classify", "--input", images, "--labels", labels, "--out", "-"]);
    expect(toStdout.code, toStdout.stderr).toBe(0);
    expect(toStdout.stdout).toMatch(/^(\d\n){50}$/);
    expect(toStdout.stderr).toMatch(/predictions on standard output[\s\S]*accuracy: /);
    // A FIFO: its reader gets every line, and it stays a FIFO.
    const fifo = join(area, "pipe");
    execFileSync("mkfifo", [fifo]);
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
    let read = "";
    reader.stdout.on("data", (d: Buffer) => (read += d.toString()));
    const done = new Promise((resolve) => reader.on("exit", resolve));
    await new Promise((r) => setTimeout(r, 200)); // cat is reading before the CLI writes
    run(fifo);
    await done;
    expect(countLines(read)).toBe(50);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    // Without a reader: one line, not a hang.
    refuse(
      "FIFO without a reader as --out",
      ["classify", "--input", images, "--out", fifo],
      /FIFO \(named pipe\) with no reader/,
    );
  });
});

describe("Ctrl-C during train", () => {
  /** Starts a small training run and sends SIGINT `delays` ms after its first epoch line, one per delay. */
  function interrupt(
    out: string,
    delays: number[],
    extra: string[] = [],
  ): Promise<{ code: number | null; stdout: string }> {
    return new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [CLI, "train", "--data", mini, "--epochs", "1000", "--no-progress", "--out", out, ...extra],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let sent = false;
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (!sent && /epoch +1\/1000/.test(stdout)) {
          sent = true;
          for (const delay of delays) setTimeout(() => child.kill("SIGINT"), delay);
        }
      });
      child.on("exit", (code) => resolve({ code, stdout }));
    });
  }

  it("exits 130 after saving its checkpoint, which records no accuracy it did not measure", async () => {
    const runs = mkdtempSync(join(tmpdir(), "mnist-wasm-sigint-"));
    const out = join(runs, "m.safetensors");
    const { code, stdout } = await interrupt(out, [0], ["--hidden", "16"]);
    expect(code, stdout).toBe(130);
    expect(stdout).toMatch(/saved a checkpoint after \d+ complete epochs/);
    const rt = await Runtime.create({ threads: 1 });
    const { metadata } = deserializeModel(rt, readFileSync(out), out);
    expect(Number(metadata.epochs)).toBeGreaterThanOrEqual(1);
    expect(metadata.testAccuracy).toBeUndefined();
    expect(readdirSync(runs).sort()).toEqual(["m.history.json", "m.history.svg", "m.safetensors"]);
    const history = JSON.parse(readFileSync(join(runs, "m.history.json"), "utf8")) as unknown[];
    expect(history.length).toBe(Number(metadata.epochs));
    rmSync(runs, { recursive: true });
  });

  it("a second Ctrl-C during the save waits for it: the whole model arrives, then exit 130", async () => {
    // The model goes to a FIFO whose reader holds off reading: the save blocks until it reads.
    const runs = mkdtempSync(join(tmpdir(), "mnist-wasm-sigint-fifo-"));
    const fifo = join(runs, "model.pipe");
    execFileSync("mkfifo", [fifo]);
    // The reader is there before train starts (a FIFO without one is refused before any work):
    // a non-blocking open makes it a reader at once; the blocking one returns when train opens
    // the FIFO for writing, in its check of the outputs.
    const readerScript = `
      const fs = require("node:fs");
      fs.openSync(process.argv[1], fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      process.stderr.write("open\\n");
      const fd = fs.openSync(process.argv[1], "r");
      process.on("SIGUSR1", () => {
        const stream = fs.createReadStream("", { fd });
        stream.pipe(process.stdout);
        stream.on("end", () => process.exit(0));
      });
      setInterval(() => {}, 1000);
    `;
    const reader = spawn(process.execPath, ["-e", readerScript, fifo], { stdio: ["ignore", "pipe", "pipe"] });
    await new Promise((resolve) => reader.stderr.once("data", resolve));
    const got: Buffer[] = [];
    reader.stdout.on("data", (d: Buffer) => got.push(d));
    const readerDone = new Promise((resolve) => reader.stdout.on("end", resolve));
    const child = spawn(
      process.execPath,
      [CLI, "train", "--data", mini, "--epochs", "1000", "--no-progress", "--hidden", "1000", "--out", fifo],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let step = 0;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (step === 0 && /epoch +1\/1000/.test(stdout)) {
        step = 1;
        child.kill("SIGINT");
      } else if (step === 1 && /interrupted: stopping/.test(stdout)) {
        step = 2;
        // Training stops within a fraction of a second; the save then waits on the reader.
        setTimeout(() => child.kill("SIGINT"), 1000);
      } else if (step === 2 && /interrupted: the files are being written; exiting once they are/.test(stdout)) {
        step = 3;
        reader.kill("SIGUSR1");
      }
    });
    const code = await new Promise((resolve) => child.on("exit", resolve));
    await readerDone;
    reader.kill();
    expect(code, stdout).toBe(130);
    expect(step, stdout).toBe(3);
    const rt = await Runtime.create({ threads: 1 });
    const bytes = Buffer.concat(got);
    const { model, metadata } = deserializeModel(rt, bytes, "the FIFO's bytes");
    expect(model.paramCount).toBe(784 * 1000 + 1000 + 1000 * 10 + 10);
    expect(metadata.testAccuracy).toBeUndefined();
    expect(readdirSync(runs)).toEqual(["model.pipe"]);
    rmSync(runs, { recursive: true });
  });

  it("a second Ctrl-C at any moment never leaves a partial or temporary file", async () => {
    const rt = await Runtime.create({ threads: 1 });
    // A 12 MB model, so that saves take long enough for the second signal to land in some.
    for (const gap of [0, 30, 60, 90, 200, 300]) {
      const runs = mkdtempSync(join(tmpdir(), "mnist-wasm-sigint2-"));
      const out = join(runs, "m.safetensors");
      const { code, stdout } = await interrupt(out, [0, gap], ["--hidden", "4000"]);
      expect(code, stdout).toBe(130);
      const left = readdirSync(runs);
      expect(
        left.filter((n) => n.endsWith(".tmp")),
        stdout,
      ).toEqual([]);
      if (left.includes("m.safetensors")) {
        const { model } = deserializeModel(rt, readFileSync(out), out);
        expect(model.paramCount).toBe(784 * 4000 + 4000 + 4000 * 10 + 10);
        model.dispose();
      }
      rmSync(runs, { recursive: true });
    }
  });
});
