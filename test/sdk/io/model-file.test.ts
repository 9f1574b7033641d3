import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ARCH_PRESETS,
  decodeSafetensors,
  deserializeModel,
  encodeSafetensors,
  loadModelFile,
  MnistWasmError,
  mlpSpec,
  Model,
  MAX_ABS_VALUE,
  NUMERIC_FACTS,
  Optimizer,
  parseArch,
  planModel,
  Random,
  Runtime,
  saveModelFile,
  serializeModel,
  withClassifier,
  type ModelSpec,
} from "../../../sdk/node";
import { MAX_HEADER_BYTES, MAX_TENSORS } from "../../../sdk/io/safetensors";
import { expectError } from "../../support/errors";
import { badJsonValues, badNumberTexts } from "../../support/numbers";

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
    expect(() => deserializeModel(rt, encodeSafetensors(tensors, metadata))).toThrow(
      /"0.bias" has shape \[4\], the spec needs \[5\]/,
    );
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
        model.layers
          .flatMap((l) => [...l.params, ...(l.buffers ?? [])])
          .map((t) => ({ name: t.name, shape: [...t.value.shape] })),
      );
      model.dispose();
    }
  });
});

describe("numbers a model file states", () => {
  const withMetadata = (extra: Record<string, string>): Uint8Array => {
    const model = new Model(rt, spec, { seed: 3 });
    const { tensors, metadata } = decodeSafetensors(serializeModel(model), "m");
    model.dispose();
    return encodeSafetensors(tensors, { ...metadata, ...extra });
  };

  for (const [fact, rule] of Object.entries(NUMERIC_FACTS)) {
    it(`"${fact}": every value outside ${rule.range} is refused on read (BAD_FILE) and on write (BAD_ARGUMENT), naming it`, () => {
      const values = badNumberTexts(rule.valid);
      expect(values.length).toBeGreaterThan(15);
      const model = new Model(rt, spec, { seed: 3 });
      for (const value of values) {
        expectError(
          () => deserializeModel(rt, withMetadata({ [fact]: value }), "m.safetensors"),
          "BAD_FILE",
          `m.safetensors: metadata "${fact}" is `,
          `, not ${rule.range}`,
        );
        expectError(() => serializeModel(model, { [fact]: value }), "BAD_ARGUMENT", `metadata "${fact}" is `);
      }
      model.dispose();
    });
  }

  it("the values the trainer writes load", () => {
    for (const facts of [
      { epochs: "0" },
      { epochs: "1000000" },
      { testAccuracy: "0.9931", loss: "0.012345" } as Record<string, string>,
      { testAccuracy: "1", loss: "0" },
      { loss: "999.500000" },
    ]) {
      const { model, metadata } = deserializeModel(rt, withMetadata(facts));
      expect(metadata).toMatchObject(facts);
      model.dispose();
    }
  });

  it("an optimizer record with a number out of range is dropped on read (the model loads), and never written", () => {
    const model = new Model(rt, spec, { seed: 3 });
    const optimizer = new Optimizer(rt, { name: "adam" });
    optimizer.steps = 12;
    const { tensors, metadata } = decodeSafetensors(serializeModel(model, {}, optimizer), "m");
    expect(deserializeModel(rt, encodeSafetensors(tensors, metadata)).optimizerState?.settings.steps).toBe(12);
    const settings = JSON.parse(metadata.optimizer) as Record<string, unknown>;
    const rules: Record<string, (x: number) => boolean> = {
      steps: (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 31,
      lr: (x) => x > 0,
      eps: (x) => x >= 0,
      weightDecay: (x) => x >= 0,
      momentum: (x) => x >= 0 && x < 1,
      rho: (x) => x >= 0 && x < 1,
      beta1: (x) => x >= 0 && x < 1,
      beta2: (x) => x >= 0 && x < 1,
    };
    let cases = 0;
    for (const [key, valid] of Object.entries(rules)) {
      // JSON has no Infinity or NaN: 1e999 reads as Infinity.
      const texts = [...badJsonValues(valid).map((v) => JSON.stringify(v)), "1e999", "-1e999"];
      for (const text of texts) {
        const record = JSON.stringify(settings).replace(new RegExp(`"${key}":[^,}]+`), `"${key}":${text}`);
        expect(record).toContain(`"${key}":${text}`);
        const loaded = deserializeModel(rt, encodeSafetensors(tensors, { ...metadata, optimizer: record }));
        expect(loaded.optimizerState, `${key}: ${text}`).toBeUndefined();
        loaded.model.dispose();
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(50);
    for (const steps of [-1, 2.5, 2 ** 31 + 1, NaN]) {
      optimizer.steps = steps;
      expectError(
        () => serializeModel(model, {}, optimizer),
        "BAD_STATE",
        "cannot save the optimizer state",
        '"steps"',
      );
    }
    model.dispose();
  });
});

describe("the writer writes only what the reader reads", () => {
  it("weights beyond the plausible range, not finite, or a negative variance: DIVERGED, nothing returned", () => {
    const bn = mlpSpec({ input: [1, 4, 4], hidden: [5], classes: 3, batchnorm: true });
    for (const bad of [MAX_ABS_VALUE * 1.5, -MAX_ABS_VALUE * 10, 1e31, Infinity, -Infinity, NaN]) {
      for (const name of ["0.weight", "0.bias", "1.gamma", "3.weight"]) {
        const model = new Model(rt, bn, { seed: 1 });
        const p = model.params.find((q) => q.name === name)!;
        p.value.view()[p.value.length - 1] = bad;
        expectError(() => serializeModel(model), "DIVERGED", `tensor "${name}" holds`);
        // What the writer refuses the reader refuses too.
        const { tensors, metadata } = decodeSafetensors(serializeModel(new Model(rt, bn, { seed: 1 })), "m");
        tensors.get(name)!.data[0] = bad;
        expectError(
          () => deserializeModel(rt, encodeSafetensors(tensors, metadata)),
          "BAD_FILE",
          `tensor "${name}" holds`,
        );
        model.dispose();
      }
    }
    const model = new Model(rt, bn, { seed: 1 });
    model.buffers.find((b) => b.name.endsWith("running_var"))!.value.view()[0] = -1;
    expectError(() => serializeModel(model), "DIVERGED", "negative variance");
    model.dispose();
  });

  it("an optimizer state that is not finite: DIVERGED", async () => {
    const model = new Model(rt, spec, { seed: 3 });
    const optimizer = new Optimizer(rt, { name: "adam" });
    optimizer.step(model.params); // makes the state
    const { tensors } = optimizer.exportState(model.params);
    tensors.get("optim.0.weight.1")!.data[3] = Infinity;
    optimizer.importState(model.params, 1, tensors);
    expectError(() => serializeModel(model, {}, optimizer), "DIVERGED", 'tensor "optim.0.weight.1" holds Infinity');
    model.dispose();
  });
});

describe("safetensors headers are bounded before they are parsed", () => {
  it(`a header beyond ${MAX_HEADER_BYTES} bytes or ${MAX_TENSORS} tensors is refused, and never written`, () => {
    const header = (json: string): Uint8Array => {
      const text = new TextEncoder().encode(json);
      const out = new Uint8Array(8 + text.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      return out;
    };
    const big = `{"__metadata__":{"x":"${"a".repeat(MAX_HEADER_BYTES)}"}}`;
    expectError(() => decodeSafetensors(header(big), "t"), "BAD_FILE", `or the limit of ${MAX_HEADER_BYTES}`);
    for (const count of [MAX_TENSORS + 1, 50_000]) {
      const entries = Array.from(
        { length: count },
        (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
      );
      expectError(
        () => decodeSafetensors(header(`{${entries.join(",")}}`), "t"),
        "BAD_FILE",
        `beyond the limit of ${MAX_TENSORS} tensors`,
      );
    }
    const at = Array.from(
      { length: MAX_TENSORS },
      (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
    );
    expect(decodeSafetensors(header(`{${at.join(",")}}`), "t").tensors.size).toBe(MAX_TENSORS);
    expectError(
      () => encodeSafetensors(new Map(), { x: "a".repeat(MAX_HEADER_BYTES) }),
      "BAD_ARGUMENT",
      "beyond the limits",
    );
    const many = new Map(
      Array.from({ length: MAX_TENSORS + 1 }, (_, i) => [`t${i}`, { shape: [0], data: new Float32Array(0) }]),
    );
    expectError(() => encodeSafetensors(many, {}), "BAD_ARGUMENT", "beyond the limits");
  });

  it("names from a file reach an error message escaped, on one line", () => {
    const model = new Model(rt, spec, { seed: 3 });
    const { tensors, metadata } = decodeSafetensors(serializeModel(model), "m");
    model.dispose();
    for (const c of ["\x1b", "\n", "\r", "\u009b", "\u202e", "\x00"]) {
      const name = `evil${c}[2Jname`;
      const extra = new Map([...tensors, [name, { shape: [1], data: new Float32Array(1) }]]);
      expectError(
        () => deserializeModel(rt, encodeSafetensors(extra, metadata)),
        "BAD_FILE",
        'unexpected tensor "evil\\u{',
      );
      expectError(
        () => deserializeModel(rt, encodeSafetensors(tensors, { ...metadata, format: name })),
        "BAD_FILE",
        '(format "evil\\u{',
      );
    }
  });
});
