// What the ONNX reader refuses, and how: one BAD_FILE error naming the operator and its node
// (or what else is wrong), nothing left allocated in wasm memory.
import { beforeAll, describe, expect, it } from "vitest";
import { autoencoderSpec, exportOnnx, importOnnx, Model, type ModelSpec, parseArch, Runtime } from "../../../sdk/node";
import { type ModelProto, type NodeProto, onnx } from "../../../sdk/onnx/proto";
import { onnxRefusal } from "../../support/onnx-refusal";

let rt: Runtime;
let valid: Uint8Array;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  const spec: ModelSpec = {
    input: [1, 8, 8],
    layers: [
      { type: "conv2d", filters: 2, size: 3 },
      { type: "relu" },
      { type: "maxpool", size: 2 },
      { type: "flatten" },
      { type: "dense", units: 3 },
    ],
  };
  const model = new Model(rt, spec, { seed: 1 });
  valid = exportOnnx(model);
  model.dispose();
});

/** The valid model's proto, changed by `edit`, encoded again. */
function edited(edit: (m: ModelProto, nodes: NodeProto[]) => void): Uint8Array {
  const m = onnx.ModelProto.decode(valid) as ModelProto;
  edit(m, m.graph!.node!);
  return onnx.ModelProto.encode(m).finish();
}

const refusal = (bytes: Uint8Array): string => onnxRefusal(rt, bytes);

const node = (nodes: NodeProto[], op: string): NodeProto => nodes.find((n) => n.opType === op)!;

describe("importOnnx refuses", () => {
  it("an unsupported operator, naming it and its node", () => {
    const bytes = edited((_, nodes) => {
      node(nodes, "Relu").opType = "LeakyRelu";
    });
    expect(refusal(bytes)).toBe('m.onnx: operator "LeakyRelu" (node "1.relu.Relu"): is not supported');
  });

  it("an operator of another domain", () => {
    const bytes = edited((_, nodes) => {
      node(nodes, "Relu").domain = "com.microsoft";
    });
    expect(refusal(bytes)).toMatch(
      /operator "Relu" \(node "1.relu.Relu"\): is not supported \(domain "com.microsoft"\)/,
    );
  });

  it("a graph that is not a chain (a residual Add of two activations)", () => {
    const bytes = edited((_, nodes) => {
      const relu = node(nodes, "Relu");
      nodes.splice(nodes.indexOf(relu) + 1, 0, {
        name: "skip",
        opType: "Add",
        input: [relu.output![0], nodes[0].output![0]],
        output: ["sum"],
      });
      node(nodes, "MaxPool").input = ["sum"];
    });
    expect(refusal(bytes)).toMatch(
      /operator "Add" \(node "skip"\): input ".*" is not a constant \(an initializer\): the graph is not a chain/,
    );
  });

  it("a node that does not take the output of the one before", () => {
    const bytes = edited((_, nodes) => {
      node(nodes, "MaxPool").input = ["pixels"];
    });
    expect(refusal(bytes)).toMatch(
      /operator "MaxPool" \(node "2.maxpool.MaxPool"\): takes "pixels", not the output of the node before/,
    );
  });

  it("external data", () => {
    const bytes = edited((m) => {
      m.graph!.initializer![0].dataLocation = 1;
      m.graph!.initializer![0].externalData = [{ key: "location", value: "weights.bin" }];
    });
    expect(refusal(bytes)).toMatch(
      /operator "Conv" \(node "0.conv2d.Conv"\): tensor "0.weight" has external data, which is not supported/,
    );
  });

  it("weights of the wrong shape or size", () => {
    const wrongDims = edited((m) => {
      m.graph!.initializer!.find((t) => t.name === "4.weight")!.dims = [16, 4];
    });
    expect(refusal(wrongDims)).toMatch(
      /operator "Gemm" \(node "4.dense.Gemm"\): tensor "4.weight" \[16,4\] has 216 bytes of data, not 256/,
    );
    const wrongShape = edited((m) => {
      m.graph!.initializer!.find((t) => t.name === "0.weight")!.dims = [2, 1, 9, 1];
    });
    expect(refusal(wrongShape)).toMatch(
      /operator "Conv" \(node "0.conv2d.Conv"\): kernel_shape \[3,3\]|weight of shape \[2,1,9,1\]/,
    );
  });

  it("attributes it does not read, or values it does not support", () => {
    const grouped = edited((_, nodes) => {
      node(nodes, "Conv").attribute!.push({ name: "group", type: 2, i: 2 });
    });
    expect(refusal(grouped)).toBe(
      'm.onnx: operator "Conv" (node "0.conv2d.Conv"): group 2 is not supported (grouped convolution)',
    );
    const unknown = edited((_, nodes) => {
      node(nodes, "Relu").attribute = [{ name: "alpha", type: 1, f: 0.1 }];
    });
    expect(refusal(unknown)).toBe('m.onnx: operator "Relu" (node "1.relu.Relu"): attribute "alpha" is not supported');
    const padded = edited((_, nodes) => {
      node(nodes, "MaxPool").attribute!.push({ name: "pads", type: 7, ints: [1, 1, 1, 1] });
    });
    expect(refusal(padded)).toMatch(/operator "MaxPool" .*: padding is not supported for pooling/);
  });

  it("a Softmax that does not end the graph, and a graph output that is not the chain's end", () => {
    const afterSoftmax = edited((m, nodes) => {
      nodes.push({ name: "late", opType: "Relu", input: ["probabilities"], output: ["late"] });
      m.graph!.output![0].name = "late";
    });
    expect(refusal(afterSoftmax)).toBe(
      'm.onnx: operator "Relu" (node "late"): follows the Softmax, which must end the graph',
    );
    const output = edited((m) => {
      m.graph!.output![0].name = "4.dense.Gemm";
    });
    expect(refusal(output)).toMatch(/the graph's output "4.dense.Gemm" is not the end of its chain "probabilities"/);
  });

  it("bytes that are not an ONNX model, a graph without nodes, an unsupported opset, two inputs", () => {
    expect(refusal(valid.subarray(0, valid.length >> 1))).toMatch(/^m.onnx: not an ONNX model \(/);
    expect(refusal(new TextEncoder().encode("\x08hello world"))).toMatch(/^m.onnx: not an ONNX model/);
    expect(refusal(edited((m) => void (m.graph!.node = [])))).toBe("m.onnx: not an ONNX model (no graph)");
    expect(refusal(edited((m) => void (m.opsetImport = [{ domain: "", version: 99 }])))).toMatch(
      /ONNX opset 99 is not supported \(opsets 11 to 23\)/,
    );
    const twoInputs = edited((m) => {
      m.graph!.input!.push({ ...m.graph!.input![0], name: "extra" });
    });
    expect(refusal(twoInputs)).toBe("m.onnx: the graph has 2 inputs; one (the images) is supported");
  });

  it("an input that is not float32 images with fixed sizes", () => {
    const int8 = edited((m) => {
      m.graph!.input![0].type!.tensorType!.elemType = 3;
    });
    expect(refusal(int8)).toMatch(/input "pixels" is not float32/);
    const dynamic = edited((m) => {
      m.graph!.input![0].type!.tensorType!.shape!.dim![2] = { dimParam: "height" };
    });
    expect(refusal(dynamic)).toMatch(/input "pixels" has dimensions that are not fixed sizes after the batch/);
  });

  it("class names in its metadata that a model cannot have", () => {
    const bytes = edited((m) => {
      m.metadataProps = [{ key: "classes", value: '["a","b"]' }];
    });
    expect(refusal(bytes)).toMatch(/"classes" must be 3 names/);
  });

  it("a Slice that is not a sampling layer's means, an upsampling that is not nearest", () => {
    const vae = new Model(rt, autoencoderSpec({ input: [1, 8, 8], latent: 2, variational: true }), { seed: 1 });
    const sliced = onnx.ModelProto.decode(exportOnnx(vae)) as ModelProto;
    vae.dispose();
    const ends = sliced.graph!.initializer!.find((t) => t.name!.endsWith(".ends"))!;
    ends.int64Data = [1];
    expect(refusal(onnx.ModelProto.encode(sliced).finish())).toMatch(
      /operator "Slice" \(node ".*"\): only the first half of a flat sample \(a sampling layer's means\) is supported/,
    );
    const ae = new Model(
      rt,
      autoencoderSpec({ input: [1, 8, 8], latent: 2, decoder: parseArch("dense:16,reshape:1x4x4,upsample:2") }),
      {
        seed: 1,
      },
    );
    const linear = onnx.ModelProto.decode(exportOnnx(ae)) as ModelProto;
    ae.dispose();
    const resize = linear.graph!.node!.find((n) => n.opType === "Resize")!;
    resize.attribute!.find((a) => a.name === "mode")!.s = new TextEncoder().encode("linear");
    expect(refusal(onnx.ModelProto.encode(linear).finish())).toMatch(
      /operator "Resize" .*: mode linear is not supported \(nearest only\)/,
    );
  });

  it("imports the unedited model (the edits above are what it refuses)", () => {
    const { model } = importOnnx(
      rt,
      edited(() => {}),
      "m.onnx",
    );
    expect(model.spec.layers.map((l) => l.type)).toEqual(["conv2d", "relu", "maxpool", "flatten", "dense"]);
    model.dispose();
  });
});

describe("operators PyTorch writes for the same layers", () => {
  it("MatMul + Add (a Linear without Gemm), Reshape to [batch, -1], Identity, Dropout and a Pad of nothing", () => {
    const w = new Float32Array(64 * 3).map((_, i) => Math.sin(i));
    const raw = (data: Float32Array): Uint8Array => new Uint8Array(data.buffer.slice(0));
    const m: ModelProto = {
      irVersion: 7,
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        node: [
          {
            opType: "Constant",
            output: ["shape"],
            attribute: [{ name: "value", type: 4, t: { dims: [2], dataType: 7, int64Data: [-1, 64] } }],
          },
          { name: "pad", opType: "Pad", input: ["x", "zeros"], output: ["a"] },
          { name: "reshape", opType: "Reshape", input: ["a", "shape"], output: ["b"] },
          { name: "id", opType: "Identity", input: ["b"], output: ["c"] },
          { name: "drop", opType: "Dropout", input: ["c"], output: ["d", "mask"] },
          { name: "mm", opType: "MatMul", input: ["d", "w"], output: ["e"] },
          { name: "bias", opType: "Add", input: ["e", "b"], output: ["y"] },
        ],
        initializer: [
          { name: "zeros", dims: [8], dataType: 7, int64Data: [0, 0, 0, 0, 0, 0, 0, 0] },
          { name: "w", dims: [64, 3], dataType: 1, rawData: raw(w) },
          { name: "b", dims: [3], dataType: 1, floatData: [1, 2, 3] },
        ],
        input: [
          {
            name: "x",
            type: {
              tensorType: {
                elemType: 1,
                shape: { dim: [{ dimParam: "N" }, { dimValue: 1 }, { dimValue: 8 }, { dimValue: 8 }] },
              },
            },
          },
        ],
        output: [{ name: "y" }],
      },
    };
    const { model } = importOnnx(rt, onnx.ModelProto.encode(m).finish(), "linear.onnx");
    expect(model.spec.layers).toEqual([{ type: "flatten" }, { type: "dense", units: 3 }]);
    const x = new Float32Array(64).map((_, i) => (i % 7) / 7);
    const logits = [0, 1, 2].map((u) => [1, 2, 3][u] + x.reduce((s, v, i) => s + v * w[i * 3 + u], 0));
    const max = Math.max(...logits);
    const sum = logits.reduce((s, l) => s + Math.exp(l - max), 0);
    const probs = model.predict(x);
    logits.forEach((l, u) => expect(probs[u]).toBeCloseTo(Math.exp(l - max) / sum, 5));
    model.dispose();
  });
});
