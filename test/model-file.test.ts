import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ARCH_PRESETS, decodeSafetensors, deserializeModel, encodeSafetensors, loadModelFile, MnistWasmError, mlpSpec, Model,
  parseArch, planModel, Random, Runtime, saveModelFile, serializeModel, withClassifier, type ModelSpec,
} from "../sdk/node";

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});

const spec = mlpSpec({ input: [1, 4, 4], hidden: [5], classes: 3, activation: "relu" });

function randomPixels(count: number, size: number, seed: number): Uint8Array {
  const rng = new Random(seed);
  return Uint8Array.from({ length: count * size }, () => rng.int(256));
}

describe("safetensors", () => {
  it("round-trips tensors and metadata, with the data 8-byte aligned", () => {
    const tensors = new Map([
      ["a", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ["b", { shape: [1], data: Float32Array.from([-0.5]) }],
    ]);
    const bytes = encodeSafetensors(tensors, { note: "hi" });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const decoded = decodeSafetensors(bytes, "t");
    expect(decoded.metadata).toEqual({ note: "hi" });
    expect([...decoded.tensors.get("a")!.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(decoded.tensors.get("b")!.shape).toEqual([1]);
  });

  it("refuses truncated files, absurd header lengths and bad offsets", () => {
    const bytes = encodeSafetensors(new Map([["a", { shape: [4], data: new Float32Array(4) }]]), {});
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1), "t")).toThrow(/does not match its data range/);
    expect(() => decodeSafetensors(bytes.subarray(0, 5), "t")).toThrow(MnistWasmError);
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 60n, true);
    expect(() => decodeSafetensors(huge, "t")).toThrow(/header length/);
    expect(() => decodeSafetensors(new TextEncoder().encode("not a model file at all"), "t")).toThrow(MnistWasmError);
  });
});

describe("model file", () => {
  it("a loaded model predicts exactly what the saved one did", () => {
    const model = new Model(rt, spec, { seed: 3 });
    const pixels = randomPixels(6, 16, 1);
    const before = model.predict(pixels);
    const { model: loaded, metadata } = deserializeModel(rt, serializeModel(model, { epochs: "4" }));
    expect(metadata.epochs).toBe("4");
    expect(loaded.spec).toEqual(model.spec);
    expect([...loaded.predict(pixels)]).toEqual([...before]);
    model.dispose();
    loaded.dispose();
  });

  it("names the tensor whose shape does not match the spec", () => {
    const model = new Model(rt, spec, { seed: 3 });
    const { tensors, metadata } = decodeSafetensors(serializeModel(model), "m");
    tensors.set("0.bias", { shape: [4], data: new Float32Array(4) });
    expect(() => deserializeModel(rt, encodeSafetensors(tensors, metadata))).toThrow(/"0.bias" has shape \[4\], the spec needs \[5\]/);
    tensors.delete("0.bias");
    expect(() => deserializeModel(rt, encodeSafetensors(tensors, metadata))).toThrow(/"0.bias" is missing/);
    model.dispose();
  });

  it("refuses a safetensors file that is not an mnist-wasm model", () => {
    const bytes = encodeSafetensors(new Map([["w", { shape: [1], data: new Float32Array(1) }]]), {});
    expect(() => deserializeModel(rt, bytes)).toThrow(/not an mnist-wasm model/);
  });

  it("saves atomically: a failed save leaves the previous file intact", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-"));
    const path = join(dir, "m.safetensors");
    const model = new Model(rt, spec, { seed: 3 });
    await saveModelFile(path, model);
    const saved = readFileSync(path);
    const { model: loaded } = await loadModelFile(rt, path);
    expect([...loaded.predict(randomPixels(1, 16, 2))]).toEqual([...model.predict(randomPixels(1, 16, 2))]);
    // Saving into a folder that does not exist fails without touching anything.
    await expect(saveModelFile(join(dir, "missing", "m.safetensors"), model)).rejects.toThrow(MnistWasmError);
    expect(readFileSync(path).equals(saved)).toBe(true);
    writeFileSync(join(dir, "junk.safetensors"), "junk");
    await expect(loadModelFile(rt, join(dir, "junk.safetensors"))).rejects.toThrow(MnistWasmError);
    model.dispose();
    loaded.dispose();
  });
});

describe("planModel", () => {
  it("predicts exactly the shapes and tensors that building the model allocates", () => {
    const specs: ModelSpec[] = [
      spec,
      mlpSpec({ input: [1, 28, 28], hidden: [30, 20], classes: 10, batchnorm: true, dropout: 0.2 }),
      { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) },
      { input: [3, 32, 32], layers: withClassifier(parseArch(ARCH_PRESETS["cnn-cifar"]), 10) },
      { input: [3, 17, 13], layers: parseArch("conv:5x3s2p1,batchnorm,relu,avgpool:3s2,flatten,dropout:0.1,dense:4") },
    ];
    for (const s of specs) {
      const plans = planModel(s);
      const model = new Model(rt, s);
      expect(plans.map((p) => p.outputShape)).toEqual(model.layers.map((l) => [...l.outputShape]));
      expect(plans.flatMap((p) => p.tensors)).toEqual(
        model.layers.flatMap((l) => [...l.params, ...(l.buffers ?? [])]).map((t) => ({ name: t.name, shape: [...t.value.shape] })));
      model.dispose();
    }
  });
});
