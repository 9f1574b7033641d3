// --winograd on predict, eval and classify, by running the built CLI: the shipped MNIST CNN gives
// the same answers with Winograd convolutions as without (its conv2 runs them; their floats
// differ in the last bits, far below what changes a class on these images).
import { describe, expect, it } from "vitest";
import { run } from "../support/cli";

const MNIST_IMAGES = new URL("../../data/mnist/t10k-images-idx3-ubyte.gz", import.meta.url).pathname;
const MNIST_LABELS = new URL("../../data/mnist/t10k-labels-idx1-ubyte.gz", import.meta.url).pathname;

describe("--winograd", () => {
  it("eval: the same accuracy and loss, and says how many convolutions ran Winograd", () => {
    const plain = run(["eval"]);
    const wino = run(["eval", "--winograd"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(wino.code, wino.stderr).toBe(0);
    expect(wino.stdout).toMatch(/^winograd: 2 of 3 convolutions by Winograd F\(2x2,3x3\)/m);
    expect(plain.stdout).not.toMatch(/^winograd:/m);
    const line = (out: string, name: string) => out.split("\n").find((l) => l.startsWith(name));
    expect(line(wino.stdout, "accuracy:")).toBe(line(plain.stdout, "accuracy:"));
    expect(line(wino.stdout, "loss:")).toBe(line(plain.stdout, "loss:"));
  });

  it("classify: the same class for every one of the 10,000 test images", () => {
    const args = ["classify", "-i", MNIST_IMAGES, "-o", "-", "--labels", MNIST_LABELS, "--no-progress"];
    const plain = run(args);
    const wino = run([...args, "--winograd", "--threads", "2"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(wino.code, wino.stderr).toBe(0);
    const classes = (out: string) => out.split("\n").filter((l) => /^\d$/.test(l));
    expect(classes(plain.stdout)).toHaveLength(10000);
    expect(classes(wino.stdout)).toEqual(classes(plain.stdout));
  });

  it("predict: the same class and probability as printed", () => {
    const plain = run(["predict", "42", "--no-color"]);
    const wino = run(["predict", "42", "--no-color", "--winograd"]);
    expect(wino.code, wino.stderr).toBe(0);
    const predicted = (out: string) => out.split("\n").find((l) => l.startsWith("predicted:"));
    expect(predicted(wino.stdout)).toBeDefined();
    expect(predicted(wino.stdout)).toBe(predicted(plain.stdout));
  });
});
