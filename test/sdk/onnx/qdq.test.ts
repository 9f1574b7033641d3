// An int8 model in ONNX as QDQ (QuantizeLinear / DequantizeLinear, sdk/onnx/qdq.ts): the
// LeNet-like MNIST CNN (the `cnn` preset, trained here for one epoch) quantized, exported, run by ONNX Runtime (onnxruntime-web's wasm backend, in Node) as
// a quantized model (QLinearConv, QGemm) with our int8 model's answers on 2,000 test images; the
// file's int8 contents and size; the graph read back into an int8 model that predicts the same
// floats; the shipped batch-normalized CNN, its batch norms folded into its convolutions, run
// by ONNX Runtime with QLinearConv; and the QDQ graphs the reader refuses (each made by changing
// an exported one).
import fs from "node:fs";
import * as ort from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ARCH_PRESETS,
  deserializeModel,
  exportOnnx,
  fit,
  importOnnx,
  loadMnist,
  type MnistWasmError,
  Model,
  type ModelSpec,
  ONNX_INPUT,
  ONNX_OUTPUT,
  Optimizer,
  parseArch,
  quantizeModel,
  Runtime,
  takeFirst,
  withClassifier,
} from "../../../sdk/node";
import {
  FLOAT,
  floatTensor,
  INT8,
  INT32,
  type ModelProto,
  type NodeProto,
  onnx,
  type TensorProto,
  UINT8,
} from "../../../sdk/onnx/proto";
import { unfoldedInt8File } from "../../support/int8-unfolded";
import { onnxRefusal } from "../../support/onnx-refusal";

const CALIBRATION = 1000;
const COMPARED = 2000;

let rt: Runtime;
let float: Model;
let int8: Model;
let floatBytes: Uint8Array;
let bytes: Uint8Array;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  ort.env.wasm.numThreads = 1;
  // The LeNet-like CNN: convolutions followed by ReLU and pooling, which ONNX Runtime fuses into
  // QLinearConv (a batch norm between a convolution and its ReLU would keep the convolution float).
  float = new Model(rt, { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) }, { seed: 1 });
  const mnist = loadMnist("train");
  await fit(float, takeFirst(mnist, 6000), {
    epochs: 1,
    batchSize: 100,
    optimizer: new Optimizer(rt, { name: "momentum", lr: 0.05 }),
    seed: 1,
  });
  const train = mnist.images.subarray(0, CALIBRATION * 784);
  int8 = deserializeModel(rt, quantizeModel(float, train, CALIBRATION)).model;
  floatBytes = exportOnnx(float, { dataset: "mnist" });
  bytes = exportOnnx(int8, { dataset: "mnist" });
}, 60_000);
afterAll(() => rt.dispose());

const decode = (b: Uint8Array): ModelProto => onnx.ModelProto.decode(b);

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/**
 * ONNX Runtime's output for `count` MNIST images run through the graph `model`, and the names of
 * the kernels that ran its nodes (from ORT's profile).
 */
async function runProfiled(
  model: Uint8Array,
  images: Uint8Array,
  count: number,
): Promise<{ out: Float32Array; kernels: Set<string> }> {
  const session = await ort.InferenceSession.create(model, { enableProfiling: true });
  const x = Float32Array.from(images, (v) => v / 255);
  const result = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [count, 1, 28, 28]) });
  // The profile names the kernel that ran each node; in Node, ORT prints it with fs.writeSync(1, …).
  const printed: string[] = [];
  const writeSync = fs.writeSync;
  const spy = vi.spyOn(fs, "writeSync").mockImplementation(((fd: number, data: unknown, ...rest: unknown[]) => {
    if (fd !== 1 || typeof data !== "string") return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    printed.push(data);
    return data.length;
  }) as typeof fs.writeSync);
  session.endProfiling();
  spy.mockRestore();
  await session.release();
  const kernels = new Set([...printed.join("\n").matchAll(/"op_name" : "(\w+)"/g)].map((m) => m[1]));
  return { out: result[ONNX_OUTPUT].data as Float32Array, kernels };
}

/** The images whose argmax differs, and the largest difference of probabilities. */
function compare(a: Float32Array, b: Float32Array, classes = 10): { differs: number[]; maxDiff: number } {
  const differs: number[] = [];
  let maxDiff = 0;
  for (let i = 0; i < a.length / classes; i++) {
    const x = a.subarray(i * classes, (i + 1) * classes);
    const y = b.subarray(i * classes, (i + 1) * classes);
    if (argmax(x) !== argmax(y)) differs.push(i);
    for (let k = 0; k < classes; k++) maxDiff = Math.max(maxDiff, Math.abs(x[k] - y[k]));
  }
  return { differs, maxDiff };
}

describe("an int8 model exported as QDQ", () => {
  it("holds int8 weights, QuantizeLinear and DequantizeLinear, in about a quarter of the float export's bytes", () => {
    const graph = decode(bytes).graph!;
    const ops = graph.node!.map((n) => n.opType);
    // Four quantized inputs (conv1, conv2, dense1, dense2) and the hoisted ones after conv1, conv2
    // and dense1.
    expect(ops.filter((o) => o === "QuantizeLinear")).toHaveLength(7);
    // The four layers' weights, four int32 biases, seven activations.
    expect(ops.filter((o) => o === "DequantizeLinear")).toHaveLength(15);
    const byName = new Map(graph.initializer!.map((t) => [t.name!, t]));
    for (const layer of [0, 3, 6, 8]) {
      const w = byName.get(`${layer}.weight_int8`)!;
      expect(w.dataType).toBe(INT8);
      expect(w.rawData!.length).toBe(w.dims!.reduce((a, b) => a * b, 1));
      expect(byName.get(`${layer}.weight_scale`)!.dims).toEqual([w.dims![layer < 6 ? 0 : 1]]);
    }
    // Every layer runs in int8, the first convolution too (see attachInt8): its input is quantized.
    for (const layer of [0, 3, 6, 8]) expect(byName.get(`${layer}.bias_int32`)!.dataType).toBe(INT32);
    for (const layer of [0, 3]) expect(byName.get(`${layer}.input_zero_point`)!.dataType).toBe(INT8);
    // No float weights beside the int8 ones.
    const floats = graph.initializer!.filter((t) => t.dataType === FLOAT).reduce((n, t) => n + t.rawData!.length, 0);
    expect(floats).toBeLessThan(2000);
    console.log(`mnist-cnn ONNX: float ${floatBytes.length} bytes, int8 QDQ ${bytes.length} bytes`);
    expect(floatBytes.length / bytes.length).toBeGreaterThan(3.5);
    expect(floatBytes.length / bytes.length).toBeLessThan(4.2);
  });

  it("runs in ONNX Runtime as QLinearConv and QGemm, with our int8 model's answers on 2,000 MNIST test images", async () => {
    const images = loadMnist("test").images.subarray(0, COMPARED * 784);
    const { out, kernels } = await runProfiled(bytes, images, COMPARED);
    expect([...kernels]).toEqual(expect.arrayContaining(["QLinearConv", "QGemm"]));
    expect(kernels.has("Gemm")).toBe(false);
    const { differs, maxDiff } = compare(int8.predict(images), out);
    console.log(
      `int8 mnist-cnn in ONNX Runtime (${[...kernels].filter((k) => k.startsWith("Q")).join(", ")}): ` +
        `${COMPARED} images, ${differs.length} argmax differences, max |Δp| ${maxDiff.toExponential(2)}`,
    );
    expect(differs).toEqual([]);
    // An activation can round to the other integer: the kernels multiply by 1/scale where ONNX
    // divides by the scale (1 value in millions). One step of one input moves a probability by
    // about 1e-4; a wrong scale or zero point moves them by far more.
    expect(maxDiff).toBeLessThan(2e-3);
  }, 120_000);

  it("reads back into an int8 model that predicts our int8 model's floats", () => {
    const { model, metadata } = importOnnx(rt, bytes);
    expect(metadata.dataset).toBe("mnist");
    expect(model.quantized).toBe(true);
    const images = loadMnist("test").images.subarray(0, COMPARED * 784);
    expect(compare(int8.predict(images), model.predict(images)).maxDiff).toBe(0);
    // The same graph again: each weight, scale and zero point as it was.
    const again = decode(exportOnnx(model, { dataset: "mnist" })).graph!.initializer!;
    const before = new Map(decode(bytes).graph!.initializer!.map((t) => [t.name, t.rawData]));
    for (const t of again) if (before.has(t.name)) expect(t.rawData, t.name).toEqual(before.get(t.name));
    model.dispose();
  });

  it("the shipped CNN's batch norms, folded into its convolutions, leave QLinearConv to ONNX Runtime", async () => {
    const shipped = deserializeModel(
      rt,
      new Uint8Array(fs.readFileSync(new URL("../../../models/mnist-cnn.safetensors", import.meta.url))),
    ).model;
    const train = loadMnist("train").images.subarray(0, CALIBRATION * 784);
    const quantized = deserializeModel(rt, quantizeModel(shipped, train, CALIBRATION)).model;
    shipped.dispose();
    const b = exportOnnx(quantized, { dataset: "mnist" });
    const ops = decode(b).graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain("BatchNormalization");
    const images = loadMnist("test").images.subarray(0, 1000 * 784);
    const { out, kernels } = await runProfiled(b, images, 1000);
    expect(kernels.has("QLinearConv")).toBe(true);
    expect(kernels.has("BatchNormalization")).toBe(false);
    const { differs, maxDiff } = compare(quantized.predict(images), out);
    expect(differs).toEqual([]);
    expect(maxDiff).toBeLessThan(2e-3);
    quantized.dispose();
  }, 120_000);

  it("an int8 file that keeps its batch norms exports them as BatchNormalization, agrees with ONNX Runtime and reads back the same", async () => {
    const shipped = deserializeModel(
      rt,
      new Uint8Array(fs.readFileSync(new URL("../../../models/mnist-cnn.safetensors", import.meta.url))),
    ).model;
    const train = loadMnist("train").images.subarray(0, CALIBRATION * 784);
    const unfolded = deserializeModel(rt, unfoldedInt8File(shipped, quantizeModel(shipped, train, CALIBRATION))).model;
    shipped.dispose();
    expect(unfolded.spec.layers.filter((l) => l.type === "batchnorm")).toHaveLength(3);
    const b = exportOnnx(unfolded, { dataset: "mnist" });
    const ops = decode(b).graph!.node!.map((n) => n.opType);
    expect(ops.filter((op) => op === "BatchNormalization")).toHaveLength(3);
    const images = loadMnist("test").images.subarray(0, 1000 * 784);
    const { out } = await runProfiled(b, images, 1000);
    const ours = unfolded.predict(images);
    const { differs, maxDiff } = compare(ours, out);
    expect(differs).toEqual([]);
    expect(maxDiff).toBeLessThan(2e-3);
    const back = importOnnx(rt, b).model;
    // The same layers (the graph's Flatten read back as a layer of its own).
    const types = (m: Model) => m.spec.layers.map((l) => l.type).filter((t) => t !== "flatten");
    expect(types(back)).toEqual(types(unfolded));
    expect(compare(back.predict(images), ours).maxDiff).toBe(0);
    back.dispose();
    unfolded.dispose();
  }, 120_000);
});

describe("QDQ graphs written otherwise", () => {
  it("a Gemm's int8 weight stored [units, in] (transB 1, scales along axis 0) reads as the same int8 model", () => {
    const b = edited(({ nodes, tensor }) => {
      const w = tensor("8.weight_int8");
      const [inputs, units] = w.dims!;
      const raw = w.rawData!;
      const transposed = new Uint8Array(raw.length);
      for (let i = 0; i < inputs; i++) for (let u = 0; u < units; u++) transposed[u * inputs + i] = raw[i * units + u];
      w.rawData = transposed;
      w.dims = [units, inputs];
      nodes.find((n) => n.name === "8.dense.DequantizeLinear.weight")!.attribute![0].i = 0;
      nodes.find((n) => n.name === "8.dense.Gemm.2")!.attribute!.push({ name: "transB", type: 2, i: 1 });
    });
    const model = importOnnx(rt, b).model;
    const images = loadMnist("test").images.subarray(0, 200 * 784);
    expect(compare(int8.predict(images), model.predict(images)).maxDiff).toBe(0);
    model.dispose();
  });

  it("a convolution's weight with one scale for all its outputs: ONNX Runtime's answers", async () => {
    const b = edited(({ tensor }) => {
      const scales = new Float32Array(tensor("3.weight_scale").rawData!.slice().buffer);
      const one = Math.max(...scales);
      setFloats(tensor("3.weight_scale"), [one]);
      tensor("3.weight_scale").dims = [];
      Object.assign(tensor("3.weight_zero_point"), { dims: [], rawData: Uint8Array.of(0) });
      const inputScale = new Float32Array(tensor("3.input_scale").rawData!.slice().buffer)[0];
      setFloats(
        tensor("3.bias_scale"),
        Array.from({ length: 64 }, () => inputScale * one),
      );
    });
    const model = importOnnx(rt, b).model;
    expect(model.quantized).toBe(true);
    const images = loadMnist("test").images.subarray(0, 500 * 784);
    const session = await ort.InferenceSession.create(b);
    const x = Float32Array.from(images, (v) => v / 255);
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [500, 1, 28, 28]) });
    await session.release();
    const { differs, maxDiff } = compare(model.predict(images), out[ONNX_OUTPUT].data as Float32Array);
    expect(differs).toEqual([]);
    // An activation can round to the other integer: the kernels multiply by 1/scale where ONNX
    // divides by the scale (1 value in millions). One step of one input moves a probability by
    // about 1e-4; a wrong scale or zero point moves them by far more.
    expect(maxDiff).toBeLessThan(2e-3);
    model.dispose();
  });
});

describe("an int8 model whose layer sees negative inputs", () => {
  // A padded convolution (int8, not the float direct path), then batch norm (folded into the
  // convolution by quantizeModel): the dense layer after it sees negative values, so its zero
  // point is above 0 and a Clip at the quantized 0 comes first.
  const spec: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", filters: 4, size: 3, stride: 2, padding: 1 },
      { type: "batchnorm" },
      { type: "maxpool", size: 2 },
      { type: "dense", units: 16 },
      { type: "relu" },
      { type: "dense", units: 10 },
    ],
  };

  it("is exported with a Clip before that QuantizeLinear, agrees with ONNX Runtime and reads back the same", async () => {
    const model = new Model(rt, spec, { seed: 3 });
    const train = loadMnist("train");
    // Batch norm's statistics from a short pass of training, so that its outputs are not its inputs.
    const optimizer = new Optimizer(rt, { name: "adam" });
    const first = {
      ...train,
      count: 2000,
      images: train.images.subarray(0, 2000 * 784),
      labels: train.labels.subarray(0, 2000),
    };
    await fit(model, first, {
      epochs: 1,
      batchSize: 50,
      optimizer,
      seed: 1,
    });
    optimizer.dispose();
    const quantized = deserializeModel(rt, quantizeModel(model, train.images.subarray(0, 500 * 784), 500)).model;
    model.dispose();
    const b = exportOnnx(quantized);
    const nodes = decode(b).graph!.node!;
    expect(nodes.some((n) => n.opType === "BatchNormalization")).toBe(false);
    const clip = nodes.findIndex((n) => n.opType === "Clip");
    expect(clip).toBeGreaterThan(0);
    expect(nodes[clip + 1].opType).toBe("QuantizeLinear");
    const images = loadMnist("test").images.subarray(0, 500 * 784);
    const session = await ort.InferenceSession.create(b);
    const x = Float32Array.from(images, (v) => v / 255);
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [500, 1, 28, 28]) });
    await session.release();
    const ours = quantized.predict(images);
    const { differs, maxDiff } = compare(ours, out[ONNX_OUTPUT].data as Float32Array);
    expect(differs).toEqual([]);
    // An activation can round to the other integer: the kernels multiply by 1/scale where ONNX
    // divides by the scale (1 value in millions). One step of one input moves a probability by
    // about 1e-4; a wrong scale or zero point moves them by far more.
    expect(maxDiff).toBeLessThan(2e-3);
    const back = importOnnx(rt, b).model;
    expect(compare(ours, back.predict(images)).maxDiff).toBe(0);
    back.dispose();
    quantized.dispose();
  }, 60_000);
});

/** The exported graph changed by `edit`, encoded again. */
function edited(edit: (graph: { nodes: NodeProto[]; tensor: (name: string) => TensorProto }) => void): Uint8Array {
  const m = decode(bytes);
  const graph = m.graph!;
  edit({
    nodes: graph.node!,
    tensor: (name) => graph.initializer!.find((t) => t.name === name)!,
  });
  return onnx.ModelProto.encode(m).finish();
}

const refusal = (bytes: Uint8Array): string => onnxRefusal(rt, bytes);

const setFloats = (t: TensorProto, values: number[]): void => {
  Object.assign(
    t,
    floatTensor(
      t.name!,
      values.length === 1 && (t.dims ?? []).length === 0 ? [] : [values.length],
      Float32Array.from(values),
    ),
  );
};

describe("importOnnx refuses a QDQ graph it cannot map", () => {
  it("a weight scale that is 0, negative or NaN, naming the node", () => {
    for (const bad of [0, -0.01, Number.NaN]) {
      const message = refusal(
        edited(({ tensor }) => {
          const t = tensor("3.weight_scale");
          const values = Array.from({ length: 64 }, () => 0.01);
          values[5] = bad;
          setFloats(t, values);
        }),
      );
      expect(message).toMatch(
        /^m\.onnx: operator "DequantizeLinear" \(node "3\.conv2d\.DequantizeLinear\.weight"\): scale "3\.weight_scale" holds/,
      );
    }
  });

  it("an activation scale that is 0, negative or NaN", () => {
    for (const bad of [0, -1, Number.NaN]) {
      const message = refusal(edited(({ tensor }) => setFloats(tensor("6.input_scale"), [bad])));
      expect(message).toMatch(
        /operator "QuantizeLinear" \(node "3\.conv2d\.QuantizeLinear\.3"\): scale "6\.input_scale" holds/,
      );
    }
  });

  it("an activation zero point out of the kernels' 0..127, or uint8", () => {
    const negative = edited(({ tensor }) => {
      tensor("6.input_zero_point").rawData = Uint8Array.of(0xfd);
    });
    expect(refusal(negative)).toMatch(/"QuantizeLinear" .*zero point -3 is not from 0 to 127/);
    const uint8 = edited(({ tensor }) => {
      tensor("6.input_zero_point").dataType = UINT8;
    });
    expect(refusal(uint8)).toMatch(/"QuantizeLinear" .*zero point "6\.input_zero_point" is not int8/);
    const none = edited(({ nodes }) => {
      for (const n of nodes) if (n.opType === "QuantizeLinear" && n.input![1] === "3.input_scale") n.input!.pop();
    });
    // The first such node: the quantization hoisted to the first convolution's output.
    expect(refusal(none)).toMatch(/"QuantizeLinear" \(node "0\.conv2d\.QuantizeLinear\.3"\): has no zero point/);
  });

  it("a weight's scales along a wrong axis, or per-channel lengths that do not match", () => {
    const axis = (value: number) =>
      edited(({ nodes }) => {
        nodes.find((n) => n.name === "3.conv2d.DequantizeLinear.weight")!.attribute![0].i = value;
      });
    // Axis 1 of [64, 32, 3, 3] has 32 elements, not 64; axis 4 does not exist.
    expect(refusal(axis(1))).toMatch(
      /"3\.conv2d\.DequantizeLinear\.weight"\): has 64 scales for the 32 elements of axis 1/,
    );
    expect(refusal(axis(4))).toMatch(/"3\.conv2d\.DequantizeLinear\.weight"\): axis 4 is out of range/);
    // A dense weight [1600, 128] quantized along its inputs (axis 0) is not per output.
    const dense = edited(({ nodes, tensor }) => {
      nodes.find((n) => n.name === "6.dense.DequantizeLinear.weight")!.attribute![0].i = 0;
      setFloats(
        tensor("6.weight_scale"),
        Array.from({ length: 1600 }, () => 0.01),
      );
      tensor("6.weight_zero_point").rawData = new Uint8Array(1600);
      tensor("6.weight_zero_point").dims = [1600];
    });
    expect(refusal(dense)).toMatch(
      /operator "Gemm" \(node "6\.dense\.Gemm\.3"\): its weight's scales run along axis 0/,
    );
    const shortScales = edited(({ tensor }) =>
      setFloats(
        tensor("8.weight_scale"),
        Array.from({ length: 9 }, () => 0.01),
      ),
    );
    expect(refusal(shortScales)).toMatch(/"8\.dense\.DequantizeLinear\.weight"\): has 9 scales for the 10 elements/);
    const shortZeros = edited(({ tensor }) => {
      tensor("8.weight_zero_point").rawData = new Uint8Array(9);
      tensor("8.weight_zero_point").dims = [9];
    });
    expect(refusal(shortZeros)).toMatch(/"8\.dense\.DequantizeLinear\.weight"\): has 9 zero points for 10 scales/);
  });

  it("a quantization that does not reach a layer as our kernels run it", () => {
    // A DequantizeLinear of another scale than its QuantizeLinear's.
    const mismatched = edited(({ nodes }) => {
      nodes.find((n) => n.name === "6.dense.DequantizeLinear.2")!.input![1] = "3.input_scale";
    });
    expect(refusal(mismatched)).toMatch(
      /"6\.dense\.DequantizeLinear\.2"\): is supported only right after a QuantizeLinear of the same/,
    );
    // An int32 bias in other steps than input scale × weight scale (ONNX Runtime would add it as if it were).
    const biasScale = edited(({ tensor }) => {
      const t = tensor("8.bias_scale");
      const raw = t.rawData!;
      new DataView(raw.buffer, raw.byteOffset).setFloat32(0, 1e-3, true);
    });
    expect(refusal(biasScale)).toMatch(
      /"8\.dense\.Gemm\.2"\): its quantized bias does not have zero points 0 and scales/,
    );
    // A quantized input with a float weight.
    const floatWeight = edited(({ nodes }) => {
      const gemm = nodes.find((n) => n.name === "8.dense.Gemm.2")!;
      gemm.input![1] = "8.weight_int8";
    });
    expect(refusal(floatWeight)).toMatch(
      /"8\.dense\.Gemm\.2"\): .*not float32|its input is quantized but its weight is not/,
    );
    // Weights with a zero point the kernels do not have.
    const zeroPoint = edited(({ tensor }) => {
      tensor("8.weight_zero_point").rawData = Uint8Array.from({ length: 10 }, () => 1);
    });
    expect(refusal(zeroPoint)).toMatch(/"8\.dense\.Gemm\.2"\): its quantized weight is not int8 with zero points 0/);
    // An input that may be negative, quantized without the Clip at its quantized 0.
    const unclipped = edited(({ nodes }) => {
      const relu = nodes.find((n) => n.opType === "Relu" && n.name === "7.relu.Relu")!;
      relu.opType = "Identity";
    });
    expect(refusal(unclipped)).toMatch(/"8\.dense\.Gemm\.2"\): its input is quantized .* without a Clip/);
    // A quantized activation into an operator that does not take one.
    const softmax = edited(({ nodes }) => {
      const last = nodes.find((n) => n.name === "8.dense.Gemm.2")!;
      last.opType = "Sigmoid";
      last.input = [last.input![0]];
      last.attribute = [];
    });
    expect(refusal(softmax)).toMatch(/operator "Sigmoid" .*takes a quantized activation/);
  });

  it("a random byte changed in the int8 weights' scales and zero points: refused or read, never a crash", () => {
    const names = ["3.weight_scale", "6.input_scale", "8.input_zero_point", "6.weight_zero_point", "3.bias_scale"];
    let seed = 7;
    for (let k = 0; k < 60; k++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const name = names[k % names.length];
      const b = edited(({ tensor }) => {
        const raw = tensor(name).rawData!;
        raw[seed % raw.length] = seed >> 8;
      });
      try {
        const m = importOnnx(rt, b, "m.onnx").model;
        expect(m.quantized).toBe(true);
        m.dispose();
      } catch (e) {
        expect((e as MnistWasmError).code, (e as Error).message).toBe("BAD_FILE");
      }
    }
  });
});
