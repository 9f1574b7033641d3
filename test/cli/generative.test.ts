// train --task autoencoder and the commands that use an autoencoder (eval, predict, encode),
// run as a user runs them; the refusals of the wrong task and of flags of another task.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CIFAR_DIR, cifarAvailable } from "../support/cifar";
import { expectOneLineError, run } from "../support/cli";

const MNIST_IMAGES = new URL("../../data/mnist/t10k-images-idx3-ubyte.gz", import.meta.url).pathname;

let dir: string;
let model: string;
let trained: ReturnType<typeof run>;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "mnist-wasm-ae-"));
  model = join(dir, "ae.safetensors");
  // The lab's picture, quickly: digits 0, 1 and 2, 100 test images of each in the plot.
  trained = run([
    "train",
    "--task",
    "autoencoder",
    "--latent",
    "2",
    "--encoder",
    "dense:64,relu",
    "--decoder",
    "dense:64,relu",
    "--epochs",
    "1",
    "--limit",
    "4000",
    "--classes",
    "0,1,2",
    "--per-class",
    "100",
    "--no-progress",
    "--out",
    model,
  ]);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("train --task autoencoder", () => {
  it("trains, reports the loss an image, and writes the model, its history and its pictures", () => {
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/defaults for an autoencoder or VAE: adam lr 0\.001/);
    expect(trained.stdout).toMatch(/training dense:64,relu,dense:2,dense:64,relu,dense:784 .* on 4,000 mnist images/);
    expect(trained.stdout).toMatch(/epoch 1\/1 {2}loss \d+\.\d\d {2}test \d+\.\d\d/);
    const centroid = /nearest-centroid rule on the 2-D codes: (\d+\.\d+)% of 3,147 test images/.exec(trained.stdout);
    expect(centroid, trained.stdout).not.toBeNull();
    expect(Number(centroid![1])).toBeGreaterThan(60); // one short epoch; the README's full run is the figure
    for (const suffix of ["safetensors", "history.json", "history.svg", "latent.svg", "reconstructions.png"]) {
      expect(statSync(join(dir, `ae.${suffix}`)).size, suffix).toBeGreaterThan(0);
    }
    const svg = readFileSync(join(dir, "ae.latent.svg"), "utf8");
    expect(svg.match(/r="2.5"/g)).toHaveLength(300); // 100 test images of each class
    expect(svg.match(/r="5"/g)).toHaveLength(3); // the legend: 0, 1, 2
    const png = PNG.sync.read(readFileSync(join(dir, "ae.reconstructions.png")));
    expect([png.width, png.height]).toEqual([10 * 58 + 2, 2 * 58 + 2]); // 10 images above 10, 28x28 at scale 2
    const history = JSON.parse(readFileSync(join(dir, "ae.history.json"), "utf8"));
    expect(history[0]).toMatchObject({
      epoch: 1,
      reconstruction: expect.any(Number),
      testReconstruction: expect.any(Number),
    });
  });

  it("eval reports the reconstruction loss on the classes it was trained on", () => {
    const r = run(["eval", "--model", model]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/an autoencoder, 2-D code/);
    expect(r.stdout).toMatch(/classes 0, 1, 2\), 3147 images/);
    expect(r.stdout).toMatch(/reconstruction: \d+\.\d\d nats an image/);
  });

  it("predict draws the image beside its reconstruction, with its code", () => {
    const r = run(["predict", "3", "--model", model, "--no-color"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MNIST test image 3 \(label 0\)/);
    expect(r.stdout).toMatch(/image +reconstruction/);
    expect(r.stdout).toMatch(/code: \[-?\d+\.\d{3}, -?\d+\.\d{3}\]/);
    expect(r.stdout).toMatch(/reconstruction loss: \d+\.\d\d nats/);
  });

  it("encode writes one row of codes an image", () => {
    const out = join(dir, "codes.csv");
    const r = run(["encode", "--model", model, "--input", MNIST_IMAGES, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines[0]).toBe("code1,code2");
    expect(lines).toHaveLength(10_001);
    expect(lines[1]).toMatch(/^-?\d+(\.\d+)?(e-?\d+)?,-?\d+(\.\d+)?(e-?\d+)?$/);
  });

  it("resumes with the classes it was trained on", () => {
    const r = run(["train", "--init-from", model, "--epochs", "1", "--no-progress"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on 4,000 mnist images/);
    expect(r.stdout).toMatch(/epoch 2\/2/);
    expect(r.stdout).toMatch(/of 3,147 test images/);
  }, 60_000);
});

describe("the wrong task and the wrong flags", () => {
  it.each([
    [["classify", "--input", MNIST_IMAGES, "--out", "-"], /is an autoencoder; classify needs a classifier/],
    [["generate", "--out", "x.png"], /is an autoencoder; generate needs a VAE/],
  ])("%s with an autoencoder is refused (exit 1)", (args, pattern) => {
    const r = run([...args, "--model", model]);
    expectOneLineError(r, pattern);
    expect(r.code).toBe(1);
  });

  it("encode with a classifier is refused (exit 1)", () => {
    const r = run(["encode", "--model", "models/mnist-cnn.safetensors", "--input", MNIST_IMAGES, "--out", "-"]);
    expectOneLineError(r, /is a classifier; encode needs an autoencoder or a VAE/);
    expect(r.code).toBe(1);
  });

  it.each([
    [["--latent", "2"], /--latent shapes an autoencoder or VAE/],
    [["--per-class", "5"], /--per-class shapes an autoencoder/],
    [["--loss", "bce"], /--loss bce is an autoencoder's loss/],
    [["--task", "autoencoder", "--hidden", "10"], /--hidden shapes a classifier's layers/],
    [["--task", "vae", "--loss", "cross-entropy"], /a classifier's loss/],
    [
      ["--task", "autoencoder", "--arch", "conv:8x3"],
      /--arch conv:8x3: an autoencoder's halves are the presets mlp or cnn/,
    ],
    [["--task", "autoencoder", "--latent", "0"], /--latent/],
    [["--task", "gan"], /--task/],
    [["--classes", "0,0"], /a label is given twice/],
    [["--classes", "0,12"], /classes 0 to 9, not 12/],
  ])("train %s is a usage mistake (exit 2)", (args, pattern) => {
    const r = run(["train", ...args, "--epochs", "1", "--limit", "100", "--out", join(dir, "never.safetensors")]);
    expectOneLineError(r, pattern);
    expect(r.code).toBe(2);
  });
});

describe("generate, and the shipped VAE", () => {
  const png = (path: string) => PNG.sync.read(readFileSync(path));

  it("draws seeded samples from the prior: the same seed, the same picture", () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => join(dir, `${n}.png`));
    for (const [out, seed] of [
      [a, "3"],
      [b, "3"],
      [c, "4"],
    ]) {
      const r = run(["generate", "--count", "16", "--seed", seed, "--out", out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/wrote 16 samples \(seed \d\) of .*mnist-vae\.safetensors/);
    }
    expect([png(a).width, png(a).height]).toEqual([4 * 58 + 2, 4 * 58 + 2]);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readFileSync(a).equals(readFileSync(c))).toBe(false);
  });

  it("draws the decoded latent plane with --manifold", () => {
    const out = join(dir, "manifold.png");
    const r = run(["generate", "--manifold", "5", "--scale", "1", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect([png(out).width, png(out).height]).toEqual([5 * 28, 5 * 28]);
  });

  it("eval and predict report the shipped VAE's ELBO and code", () => {
    const e = run(["eval", "--model", "models/mnist-vae.safetensors"]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/a VAE, 2-D code/);
    const elbo = /ELBO: +(-\d+\.\d\d) nats an image/.exec(e.stdout);
    expect(Number(elbo?.[1])).toBeGreaterThan(-160);
    const p = run(["predict", "0", "--model", "models/mnist-vae.safetensors", "--no-color"]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/code: \[/);
  });

  it("refuses an autoencoder (exit 1) and a missing --out (exit 2)", () => {
    let r = run(["generate", "--manifold", "4", "--model", model, "--out", join(dir, "m.png")]);
    expectOneLineError(r, /generate needs a VAE/);
    r = run(["generate"]);
    expectOneLineError(r, /--out/);
    expect(r.code).toBe(2);
  });
});

describe("a VAE of CIFAR-10 photos", () => {
  it.runIf(cifarAvailable("test/cli/generative.test.ts", "a VAE of CIFAR-10 photos"))(
    "takes the convolutional halves by default, and draws colour samples",
    () => {
      const out = join(dir, "cifar-vae.safetensors");
      const r = run(
        ["train", "--task", "vae", "--dataset", "cifar10", "--data", CIFAR_DIR, "--epochs", "1"].concat([
          "--limit",
          "500",
          "--per-class",
          "5",
          "--no-progress",
          "--out",
          out,
        ]),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /training conv:32x4s2p1,relu,conv:64x4s2p1,relu,dense:128,sampling,dense:4096,relu,reshape:64x8x8,convT:32x4s2p1,relu,convT:3x4s2p1 /,
      );
      expect(r.stdout).toMatch(/codes of 50 test images by class/);
      const samples = PNG.sync.read(readFileSync(join(dir, "cifar-vae.samples.png")));
      expect([samples.width, samples.height]).toEqual([8 * 66 + 2, 8 * 66 + 2]); // 32x32 at scale 2
      // Colour: some pixel of the samples is not grey.
      let colour = false;
      for (let i = 0; i < samples.data.length && !colour; i += 4) colour = samples.data[i] !== samples.data[i + 1];
      expect(colour).toBe(true);
      expect(existsSync(join(dir, "cifar-vae.manifold.png"))).toBe(false); // 64-D codes: no plane to draw
    },
    120_000,
  );
});
