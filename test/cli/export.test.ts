// `mnist-wasm export` and .onnx models in every command: the four commands of the ONNX issue,
// run as a user runs them, on the shipped model and a LeNet-like network made by PyTorch.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onnx } from "../../sdk/onnx/proto";
import { expectOneLineError, run } from "../support/cli";

const root = new URL("../../", import.meta.url).pathname;
const LENET = join(root, "test/fixtures/onnx/lenet-pytorch.onnx");
const TEST_IMAGES = join(root, "data/mnist/t10k-images-idx3-ubyte.gz");
const TEST_LABELS = join(root, "data/mnist/t10k-labels-idx1-ubyte.gz");
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "mnist-wasm-export-"));
  ort.env.wasm.numThreads = 1;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mnist-wasm export and .onnx models", () => {
  it("exports the shipped model to ONNX, which predict reads and ONNX Runtime runs", async () => {
    const out = join(dir, "mnist-cnn.onnx");
    const r = run(["export", "--model", join(root, "models/mnist-cnn.safetensors"), "--format", "onnx", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ONNX \(opset 13\): input "pixels" float32 \[batch, 1, 28, 28\]/);
    const session = await ort.InferenceSession.create(readFileSync(out));
    expect(session.inputNames).toEqual(["pixels"]);
    expect(session.outputNames).toEqual(["probabilities"]);
    await session.release();
    const fromOnnx = run(["predict", "42", "--model", out, "--no-color"]);
    const fromSafetensors = run(["predict", "42", "--no-color"]);
    expect(fromOnnx.code).toBe(0);
    // The same image, the same answer and probabilities (to the printed digits).
    expect(fromOnnx.stdout).toBe(fromSafetensors.stdout);
  });

  it("classifies and evaluates with a PyTorch-made LeNet, and fine-tunes it with train --init-from", () => {
    const predictions = join(dir, "p.txt");
    const c = run([
      "classify",
      "--model",
      LENET,
      "--input",
      TEST_IMAGES,
      "--labels",
      TEST_LABELS,
      "--out",
      predictions,
    ]);
    expect(c.code, c.stderr).toBe(0);
    const accuracy = Number(/accuracy: ([\d.]+)%/.exec(c.stderr + c.stdout)![1]);
    expect(accuracy).toBeGreaterThan(97);
    expect(readFileSync(predictions, "utf8").trim().split("\n")).toHaveLength(10_000);
    const e = run(["eval", "--model", LENET]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain(`accuracy: ${accuracy.toFixed(2)}%`);

    const tuned = join(dir, "tuned.safetensors");
    const t = run(["train", "--init-from", LENET, "--epochs", "1", "--limit", "2000", "--out", tuned, "--no-progress"]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr + t.stdout).toContain(
      "conv:6x5p2,relu,maxpool:2,conv:16x5,relu,avgpool:2,flatten,dense:64,relu,dense:10",
    );
    const back = join(dir, "tuned.onnx");
    expect(run(["export", "--model", tuned, "--out", back]).code).toBe(0);
    expect(run(["eval", "--model", back]).code).toBe(0);
  }, 120_000);

  it("exports an int8 model as QDQ, which ONNX Runtime runs and every command reads as that int8 model", async () => {
    const int8 = join(dir, "mnist-cnn.int8.safetensors");
    const q = run([
      "quantize",
      "--model",
      join(root, "models/mnist-cnn.safetensors"),
      "--out",
      int8,
      "--calibration",
      "500",
    ]);
    expect(q.code, q.stderr).toBe(0);
    const out = join(dir, "mnist-cnn.int8.onnx");
    const r = run(["export", "--model", int8, "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /bytes of ONNX \(opset 13\): .*int8 weights and activations as QuantizeLinear\/DequantizeLinear\n$/,
    );
    const bytes = new Uint8Array(readFileSync(out));
    const ops = onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
    expect(ops).toContain("QuantizeLinear");
    expect(ops).toContain("DequantizeLinear");
    expect(bytes.length).toBeLessThan(readFileSync(join(root, "models/mnist-cnn.safetensors")).length / 3.5);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.outputNames).toEqual(["probabilities"]);
    await session.release();
    // Read back, the ONNX file is the int8 model: the same accuracy on the 10,000 test images.
    const fromOnnx = run(["eval", "--model", out]);
    const fromInt8 = run(["eval", "--model", int8]);
    expect(fromOnnx.code, fromOnnx.stderr).toBe(0);
    const accuracy = (s: string) => /accuracy: ([\d.]+%)/.exec(s)![1];
    expect(accuracy(fromOnnx.stdout)).toBe(accuracy(fromInt8.stdout));
    // An int8 model has no float safetensors form: it is made by quantize, from the float model.
    expectOneLineError(
      run(["export", "--model", out, "--format", "safetensors", "--out", join(dir, "x.safetensors")]),
      /^mnist-wasm: .*int8 model is written by quantizeModel/,
    );
  }, 120_000);

  it("converts an ONNX model to a safetensors model file", () => {
    const out = join(dir, "lenet.safetensors");
    const r = run(["export", "--model", LENET, "--format", "safetensors", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(run(["eval", "--model", out]).stdout).toBe(run(["eval", "--model", LENET]).stdout.replace(LENET, out));
  });

  it("refuses what it cannot do with one line", () => {
    expectOneLineError(
      run(["train", "--init-from", LENET, "--epochs", "1"]),
      /^mnist-wasm: --init-from .*: an ONNX model is not saved over; give --out/,
    );
    expectOneLineError(
      run(["train", "--epochs", "1", "--out", join(dir, "m.onnx")]),
      /^mnist-wasm: --out .*m\.onnx: train writes a safetensors model file; mnist-wasm export --format onnx/,
    );
    expectOneLineError(run(["export", "--model", LENET, "--out", LENET]), /would overwrite the --model file/);
    const bad = join(dir, "bad.onnx");
    const bytes = new Uint8Array(readFileSync(LENET));
    // The first Relu's op_type (NodeProto field 4, length 4): "Relu" -> "Relv".
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x22, 4, ...Buffer.from("Relu")]));
    bytes[at + 5] = "v".charCodeAt(0);
    writeFileSync(bad, bytes);
    expectOneLineError(
      run(["eval", "--model", bad]),
      /^mnist-wasm: .*bad\.onnx: operator "Relv" \(node "\/2\/Relu"\): is not supported$/,
    );
    writeFileSync(bad, bytes.subarray(0, 5000));
    expectOneLineError(run(["predict", "1", "--model", bad]), /^mnist-wasm: .*bad\.onnx: not an ONNX model \(/);
    // A file beyond the model size limit is refused before it is read (a sparse file: no disk used).
    const huge = join(dir, "huge.onnx");
    writeFileSync(huge, bytes.subarray(0, 16));
    truncateSync(huge, 300 * 2 ** 20);
    expectOneLineError(
      run(["eval", "--model", huge]),
      /huge\.onnx: 314,572,800 bytes is more than the 256 MiB limit for a model file$/,
    );
  });
});
