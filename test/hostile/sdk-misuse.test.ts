// The SDK used as a careless or hostile caller would: every object that owns wasm memory used after
// dispose() (and disposed twice), and every public entry given every kind of wrong value. Each
// must be one MnistWasmError line (BAD_STATE after dispose, BAD_ARGUMENT or BAD_SHAPE for values)
// and must leave every other model in the runtime exactly as it was.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  datasetFromCifarBatches,
  decodeSafetensors,
  deserializeModel,
  encodeNpy,
  encodeSafetensors,
  gunzipIfNeeded,
  isGzip,
  parseIdx,
  parseNpy,
  preprocessDigit,
  readTar,
  setWorkerSpawner,
  datasetFromIdx,
  initStd,
  initWeights,
  chartSvg,
  historyChart,
  toPixels,
  labelsFromNpy,
  arrangeImages,
  ModelWorker,
  sampleSize,
  DeviceData,
  evaluate,
  fit,
  layerActivations,
  mlpSpec,
  MnistWasmError,
  Model,
  Optimizer,
  outputSide,
  Random,
  Runtime,
  serializeModel,
  SGD,
  takeFirst,
  Tensor,
  loadCifar10,
  loadDataset,
  loadMnist,
  planModel,
  type Dataset,
  type ModelSpec,
} from "../../sdk/node";
import { expectError } from "../support/errors";

const SPEC: ModelSpec = mlpSpec({ input: [1, 8, 8], hidden: [16], classes: 4 });
const CNN: ModelSpec = {
  input: [1, 8, 8],
  layers: [
    { type: "conv2d", filters: 4, size: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    { type: "batchnorm" },
    { type: "flatten" },
    { type: "dropout", rate: 0.2 },
    { type: "dense", units: 4 },
  ],
};
const PIXELS = 64;

/** `count` random images of 8x8 bytes with labels 0-3. */
function dataset(count: number, seed: number): Dataset {
  const rng = new Random(seed);
  return {
    name: `random-${seed}`,
    shape: [1, 8, 8],
    count,
    classes: ["a", "b", "c", "d"],
    images: Uint8Array.from({ length: count * PIXELS }, () => rng.int(256)),
    labels: Uint8Array.from({ length: count }, () => rng.int(4)),
  };
}

const DATA = dataset(200, 1);
const PROBE = DATA.images.subarray(0, 50 * PIXELS);

const show = (v: unknown): string =>
  typeof v === "string" ? JSON.stringify(v) : ArrayBuffer.isView(v) ? v.constructor.name : String(v).slice(0, 16);

/** Whether two float arrays hold the same bits. */
const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Expects `run` to throw or reject with MnistWasmError `code`, one line, matching `pattern`. */
async function expectRefused(run: () => unknown, code: string, pattern: RegExp, label: string): Promise<void> {
  const error = await rejection((async () => run())());
  expect(error, `${label}: an MnistWasmError`).toBeInstanceOf(MnistWasmError);
  const e = error as MnistWasmError;
  expect(e.code, `${label}: ${e.message}`).toBe(code);
  expect(e.message, label).toMatch(pattern);
  expect(e.message, label).not.toContain("\n");
}

describe("use after dispose cannot reach another model's memory", () => {
  let rt: Runtime;
  let a: Model;
  let reference: Float32Array;
  beforeAll(async () => {
    rt = await Runtime.create();
    a = new Model(rt, CNN, { seed: 1 });
    await fit(a, DATA, { epochs: 2, batchSize: 20, optimizer: new SGD(rt, 0.1), seed: 1 });
    reference = a.predict(PROBE);
  });
  afterAll(() => rt.dispose());

  it.each([SPEC, CNN])(
    "a model disposed twice, then used, throws BAD_STATE and no other model's probabilities change (spec %#)",
    async (spec) => {
      const b = new Model(rt, spec, { seed: 2 });
      b.predict(PROBE);
      await fit(b, DATA, { epochs: 1, batchSize: 25, optimizer: new SGD(rt, 0.1) });
      b.dispose();
      // c takes the memory b gave back; a second dispose of b must not give it back again.
      const c = new Model(rt, spec, { seed: 3 });
      const cBefore = c.predict(PROBE);
      const used = rt.usedBytes;
      b.dispose();
      expect(rt.usedBytes, "a second dispose frees nothing").toBe(used);
      // d would land on c's weights if b's second dispose had freed them.
      const d = new Model(rt, spec, { seed: 4 });
      d.predict(PROBE);
      await expectRefused(() => b.predict(PROBE), "BAD_STATE", /model was disposed/, "predict");
      await expectRefused(
        () => fit(b, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt, 0.5) }),
        "BAD_STATE",
        /model was disposed/,
        "fit",
      );
      await expectRefused(() => evaluate(b, DATA), "BAD_STATE", /model was disposed/, "evaluate");
      await expectRefused(
        () => layerActivations(b, PROBE.subarray(0, PIXELS)),
        "BAD_STATE",
        /model was disposed/,
        "layerActivations",
      );
      expect(sameBits(a.predict(PROBE), reference), "model a's probabilities").toBe(true);
      expect(sameBits(c.predict(PROBE), cBefore), "model c's probabilities").toBe(true);
      c.dispose();
      d.dispose();
    },
  );

  it("a model disposed during fit() stops that fit with BAD_STATE, frees what fit held and changes no other model", async () => {
    const b = new Model(rt, SPEC, { seed: 5 });
    const used = rt.usedBytes;
    let batches = 0;
    const running = fit(b, dataset(2000, 7), {
      epochs: 50,
      batchSize: 10,
      optimizer: new SGD(rt, 0.1),
      onBatchEnd: () => {
        if (++batches === 3) b.dispose();
      },
    });
    await expectRefused(() => running, "BAD_STATE", /model was disposed/, "fit after dispose");
    expect(sameBits(a.predict(PROBE), reference)).toBe(true);
    expect(rt.usedBytes, "fit's own buffers and b's freed").toBeLessThan(used);
  });
});

/** Every way to use a disposed object, by object. Each entry: [label, call]. */
type Uses = [string, () => unknown][];

/** Each kind of disposable: how to make, use and dispose one, and how its refusals name it. */
async function disposables(
  rt: Runtime,
): Promise<
  { name: string; names: RegExp; make: () => unknown; uses: (o: never) => Uses; dispose: (o: never) => void }[]
> {
  return [
    {
      name: "model",
      make: () => new Model(rt, CNN, { seed: 1 }),
      dispose: (m: Model) => m.dispose(),
      names:
        /model was disposed|a \w+ layer was disposed \(with its model\)|loss layer was disposed|(parameter|gradient of) "\d+\.\w+" \[[\d,]+\] was disposed/,
      uses: (m: Model): Uses => [
        ["predict", () => m.predict(PROBE)],
        ["allocate", () => m.allocate(10)],
        ["forward", () => m.forward(0, 1, false)],
        ["backward", () => m.backward(1)],
        ["inputPtr", () => m.inputPtr],
        ["labelPtr", () => m.labelPtr],
        ["fit", () => fit(m, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt) })],
        ["evaluate", () => evaluate(m, DATA)],
        ["layerActivations", () => layerActivations(m, PROBE.subarray(0, PIXELS))],
        ["serializeModel", () => serializeModel(m)],
        ...m.layers.flatMap(
          (layer, i): Uses => [
            [`layer ${i} allocate`, () => layer.allocate(2, true)],
            [`layer ${i} forward`, () => layer.forward(0, 1, false)],
            [`layer ${i} backward`, () => layer.backward(0, 1, true)],
          ],
        ),
        ["loss forward", () => m.loss.forward(0, 0, 1, false)],
        ["loss allocate", () => m.loss.allocate(1, false)],
        ...m.params.flatMap(
          (p): Uses => [
            [`${p.name} read`, () => p.value.read()],
            [`${p.name} ptr`, () => p.grad.ptr],
          ],
        ),
      ],
    },
    {
      name: "optimizer",
      make: () => new Optimizer(rt, { name: "adam" }),
      dispose: (o: Optimizer) => o.dispose(),
      names: /optimizer was disposed/,
      uses: (o: Optimizer): Uses => {
        const m = new Model(rt, SPEC, { seed: 1 });
        return [
          ["step", () => o.step(m.params)],
          ["exportState", () => o.exportState(m.params)],
          ["importState", () => o.importState(m.params, 1, new Map())],
          ["fit", () => fit(m, DATA, { epochs: 1, batchSize: 10, optimizer: o })],
        ];
      },
    },
    {
      name: "tensor",
      make: () => Tensor.alloc(rt, [3, 4]),
      dispose: (t: Tensor) => t.dispose(),
      names: /tensor \[3,4\] was disposed/,
      uses: (t: Tensor): Uses => [
        ["ptr", () => t.ptr],
        ["view", () => t.view()],
        ["read", () => t.read()],
        ["write", () => t.write(new Float32Array(12))],
        ["fill", () => t.fill(1)],
      ],
    },
    {
      name: "device data",
      make: () => new DeviceData(rt, DATA),
      dispose: (d: DeviceData) => d.dispose(),
      names: /data set "random-1" in wasm memory was disposed|\(DeviceData\) was disposed/,
      uses: (d: DeviceData): Uses => {
        const m = new Model(rt, SPEC, { seed: 1 });
        return [
          ["imagesPtr", () => d.imagesPtr],
          ["labelsPtr", () => d.labelsPtr],
          ["evaluate", () => evaluate(m, d)],
          ["fit", () => fit(m, d, { epochs: 1, batchSize: 10, optimizer: new SGD(rt) })],
          ["fit test", () => fit(m, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt), test: d })],
        ];
      },
    },
  ];
}

describe("every object that owns wasm memory, used after dispose()", () => {
  it("every use of every disposed object is BAD_STATE naming it; a second dispose() is a no-op; nothing else changes", async () => {
    const rt = await Runtime.create();
    const witness = new Model(rt, CNN, { seed: 9 });
    const reference = witness.predict(PROBE);
    for (const kind of await disposables(rt)) {
      const object = kind.make();
      const uses = kind.uses(object as never);
      kind.dispose(object as never);
      const used = rt.usedBytes;
      kind.dispose(object as never);
      expect(rt.usedBytes, `${kind.name}: second dispose`).toBe(used);
      for (const [label, use] of uses) {
        await expectRefused(use, "BAD_STATE", kind.names, `${kind.name} ${label}`);
      }
      expect(rt.usedBytes, `${kind.name}: the refused uses allocate nothing`).toBe(used);
      expect(sameBits(witness.predict(PROBE), reference), `${kind.name}: the witness model`).toBe(true);
    }
    rt.dispose();
  });

  it("after the runtime's dispose(), the runtime and everything made on it refuse every use; disposing them is a no-op", async () => {
    const rt = await Runtime.create();
    const objects = await disposables(rt);
    const made = objects.map((kind) => ({ kind, object: kind.make() }));
    const uses = made.map(({ kind, object }) => ({ kind, object, uses: kind.uses(object as never) }));
    const p = rt.alloc(64);
    rt.dispose();
    rt.dispose();
    const runtimeUses: Uses = [
      ["alloc", () => rt.alloc(16)],
      ["free", () => rt.free(p)],
      ["f32", () => rt.f32(p, 1)],
      ["u8", () => rt.u8(p, 1)],
      ["i32", () => rt.i32(p, 1)],
      ["kernels", () => rt.kernels],
      ["memory", () => rt.memory],
      ["gemm", () => rt.gemm(p, p, p, 1, 1, 1, false, false, 0)],
      ["parallel", () => rt.parallel([[]])],
      ["parallelFor", () => rt.parallelFor(10, 1, () => [])],
      ["gemmWorkspace", () => rt.gemmWorkspace(0)],
      ["gemmCall", () => rt.gemmCall(0, p, p, p, 1, 1, 1, false, false, 0)],
      ["worthSplitting", () => rt.worthSplitting(1e9)],
      ["new Model", () => new Model(rt, SPEC)],
      ["new Optimizer", () => new Optimizer(rt, { name: "sgd" })],
      ["new DeviceData", () => new DeviceData(rt, DATA)],
      ["Tensor.alloc", () => Tensor.alloc(rt, [2])],
    ];
    for (const [label, use] of runtimeUses)
      await expectRefused(use, "BAD_STATE", /runtime was disposed/, `runtime ${label}`);
    for (const { kind, object, uses: list } of uses) {
      // A layer's own methods are the model's business (they are refused once the model is
      // disposed); after the runtime's dispose the ones that only pass an address on touch no memory.
      for (const [label, use] of list.filter(([label]) => !label.startsWith("layer "))) {
        await expectRefused(use, "BAD_STATE", /disposed/, `${kind.name} ${label}`);
      }
      kind.dispose(object as never);
      kind.dispose(object as never);
    }
    expect(rt.disposed).toBe(true);
  });
});

/** Values of every kind that are wrong wherever a specific kind is asked for. */
const WRONG_KINDS: [string, unknown][] = [
  ["undefined", undefined],
  ["null", null],
  ["a string", "12"],
  ["an empty string", ""],
  ["true", true],
  ["an object", { length: 64 }],
  ["an empty array", []],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["-1", -1],
  ["0.5", 0.5],
  ["1e300", 1e300],
  ["a function", () => 1],
  ["a bigint", 10n],
  ["a symbol", Symbol("x")],
];
const wrong = (...except: string[]): [string, unknown][] => WRONG_KINDS.filter(([label]) => !except.includes(label));

describe("every public entry given every kind of wrong value", () => {
  let rt: Runtime;
  let model: Model;
  beforeAll(async () => {
    rt = await Runtime.create();
    model = new Model(rt, SPEC, { seed: 1 });
  });
  afterAll(() => rt.dispose());

  it("Runtime.create: each option, and the options themselves", async () => {
    const cases: [string, unknown][] = [
      ...wrong("undefined").map(([label, v]): [string, unknown] => [`options ${label}`, v]),
      ...wrong("undefined").map(([label, v]): [string, unknown] => [`initialMiB ${label}`, { initialMiB: v }]),
      ["initialMiB 1e9", { initialMiB: 1e9 }],
      ["initialMiB 0", { initialMiB: 0 }],
      ["initialMiB 4097", { initialMiB: 4097 }],
      ...wrong("undefined").map(([label, v]): [string, unknown] => [`threads ${label}`, { threads: v }]),
      ["threads 0", { threads: 0 }],
      ["threads 65", { threads: 65 }],
      ...wrong("undefined", "true").map(([label, v]): [string, unknown] => [
        `relaxedSimd ${label}`,
        { relaxedSimd: v },
      ]),
      ["relaxedSimd 'yes'", { relaxedSimd: "yes" }],
      ["an unknown option", { thread: 2 }],
    ];
    for (const [label, options] of cases) {
      const name = /^(\w+) /.exec(label)![1];
      await expectRefused(
        () => Runtime.create(options as never),
        "BAD_ARGUMENT",
        name === "options"
          ? /options|unknown option/
          : label.startsWith("an unknown")
            ? /unknown option "thread"/
            : new RegExp(name),
        `Runtime.create ${label}`,
      );
    }
  });

  it("predict and layerActivations: pixels of every wrong kind, non-finite floats anywhere, wrong lengths, counts", async () => {
    const rng = new Random(5);
    const badPixels: [string, unknown][] = [
      ...wrong("an empty array"),
      ["an Int16Array", new Int16Array(PIXELS)],
      ["a DataView", new DataView(new ArrayBuffer(PIXELS))],
      ["an array holding a string", Array.from({ length: PIXELS }, (_, i) => (i === 7 ? "0.5" : 0.5))],
      ["an array holding null", Array.from({ length: PIXELS }, (_, i) => (i === 9 ? null : 0.5))],
    ];
    // Non-finite values at random places, in every float form.
    for (const bad of [NaN, Infinity, -Infinity]) {
      const at = rng.int(PIXELS * 3);
      const values = Array.from({ length: PIXELS * 3 }, (_, i) => (i === at ? bad : rng.uniform()));
      badPixels.push(
        [`${bad} at ${at} (Float32Array)`, Float32Array.from(values)],
        [`${bad} at ${at} (Float64Array)`, Float64Array.from(values)],
        [`${bad} at ${at} (number[])`, values],
      );
    }
    for (const [label, pixels] of badPixels) {
      await expectRefused(() => model.predict(pixels as never), "BAD_ARGUMENT", /predict: pixels/, `predict ${label}`);
      await expectRefused(
        () => layerActivations(model, pixels as never),
        "BAD_ARGUMENT",
        /layerActivations: pixels/,
        `layerActivations ${label}`,
      );
    }
    for (const length of [0, 1, PIXELS - 1, PIXELS + 1, 2 * PIXELS + 3]) {
      for (const pixels of [new Uint8Array(length), new Float32Array(length), new Array<number>(length).fill(0)]) {
        expectError(() => model.predict(pixels), "BAD_SHAPE", /predict: expected .*64 values/);
      }
    }
    for (const [label, count] of wrong("undefined")) {
      await expectRefused(
        () => model.predict(new Uint8Array(PIXELS * 2), count as never),
        "BAD_ARGUMENT",
        /predict: count/,
        `count ${label}`,
      );
    }
    expectError(() => model.predict(new Uint8Array(PIXELS * 2), 3), "BAD_SHAPE", /expected 3 x 64 values/);
  });

  it("predict finds a NaN or an infinity at every position of a batch, names it, and accepts huge finite floats", async () => {
    // 25 pixels: a batch of 3 is one 64-value row of the wasm check and a tail of 11 checked in JavaScript.
    for (const input of [
      [1, 5, 5],
      [1, 8, 8],
    ]) {
      const m = new Model(rt, { input, layers: [{ type: "flatten" }, { type: "dense", units: 3 }] }, { seed: 1 });
      const size = input[1] * input[2] * 3;
      const pixels = new Float32Array(size).fill(0.5);
      for (let at = 0; at < size; at++) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          pixels[at] = bad;
          expectError(() => m.predict(pixels), "BAD_ARGUMENT", `predict: pixels[${at}] is ${bad}`);
          pixels[at] = 0.5;
        }
      }
      // Finite values whose sums overflow: accepted, as any finite float is.
      const huge = new Float32Array(size).fill(3e38);
      expect(m.predict(huge)).toHaveLength(3 * 3);
      m.dispose();
    }
  });

  it("predict accepts what is unambiguous: an ArrayBuffer and a Uint8ClampedArray as bytes, a Float64Array and a number[] as floats", () => {
    const bytes = DATA.images.slice(0, 3 * PIXELS);
    const floats = Float32Array.from(bytes, (v) => v / 255);
    const fromBytes = model.predict(bytes);
    expect(sameBits(model.predict(bytes.buffer), fromBytes)).toBe(true);
    expect(sameBits(model.predict(new Uint8ClampedArray(bytes)), fromBytes)).toBe(true);
    const fromFloats = model.predict(floats);
    expect(sameBits(model.predict(Array.from(floats)), fromFloats)).toBe(true);
    expect(sameBits(model.predict(Float64Array.from(floats)), fromFloats)).toBe(true);
    expect(
      sameBits(
        layerActivations(model, Array.from(floats.subarray(0, PIXELS))).at(-1)!.values,
        layerActivations(model, floats.subarray(0, PIXELS)).at(-1)!.values,
      ),
    ).toBe(true);
  });

  it("new Model, allocate and fusion: every wrong runtime, options, seed, batch and flag", async () => {
    for (const [label, v] of [...wrong(), ["a model", model], ["a plain object with alloc", { alloc: () => 0 }]] as [
      string,
      unknown,
    ][]) {
      await expectRefused(
        () => new Model(v as never, SPEC),
        "BAD_ARGUMENT",
        /new Model: rt must be a Runtime/,
        `rt ${label}`,
      );
    }
    for (const [label, v] of wrong("undefined")) {
      await expectRefused(
        () => new Model(rt, SPEC, v as never),
        "BAD_ARGUMENT",
        /new Model options/,
        `options ${label}`,
      );
    }
    for (const [label, v] of wrong("undefined", "-1")) {
      await expectRefused(() => new Model(rt, SPEC, { seed: v as never }), "BAD_ARGUMENT", /seed/, `seed ${label}`);
    }
    for (const [label, v] of [...wrong(), ["0", 0]] as [string, unknown][]) {
      await expectRefused(() => model.allocate(v as never), "BAD_ARGUMENT", /batch size/, `allocate ${label}`);
    }
    for (const [label, v] of wrong("true")) {
      await expectRefused(
        () => {
          model.fusion = v as never;
        },
        "BAD_ARGUMENT",
        /fusion/,
        `fusion ${label}`,
      );
    }
  });

  it("new Optimizer, SGD and learningRate: every wrong runtime, spec, name and setting", async () => {
    for (const [label, v] of wrong()) {
      await expectRefused(
        () => new Optimizer(v as never, { name: "sgd" }),
        "BAD_ARGUMENT",
        /rt must be a Runtime/,
        `rt ${label}`,
      );
      await expectRefused(() => new Optimizer(rt, v as never), "BAD_ARGUMENT", /optimizer/, `spec ${label}`);
      await expectRefused(
        () => new Optimizer(rt, { name: v as never }),
        "BAD_ARGUMENT",
        /unknown optimizer/,
        `name ${label}`,
      );
    }
    for (const key of ["lr", "momentum", "rho", "eps", "beta1", "beta2", "weightDecay"]) {
      for (const [label, v] of wrong("undefined", "0.5", "1e300")) {
        await expectRefused(
          () => new Optimizer(rt, { name: "adam", [key]: v }),
          "BAD_ARGUMENT",
          new RegExp(`${key}|learning rate`),
          `${key} ${label}`,
        );
      }
    }
    for (const [label, v] of wrong("undefined", "0.5", "1e300")) {
      await expectRefused(() => new SGD(rt, v as never), "BAD_ARGUMENT", /lr|learning rate/, `SGD lr ${label}`);
      await expectRefused(
        () => {
          new SGD(rt).learningRate = v as never;
        },
        "BAD_ARGUMENT",
        /learning rate/,
        `learningRate ${label}`,
      );
    }
    await expectRefused(
      () => new Optimizer(rt, { name: "sgd", learningRate: 0.1 } as never),
      "BAD_ARGUMENT",
      /unknown option "learningRate"/,
      "unknown key",
    );
    const other = await Runtime.create();
    await expectRefused(
      () => new Optimizer(other, { name: "sgd" }).step(model.params),
      "BAD_ARGUMENT",
      /another runtime/,
      "step across runtimes",
    );
    other.dispose();
  });

  it("datasets: every wrong field of a Dataset, for DeviceData, evaluate, fit and takeFirst; datasetFromIdx's bytes", async () => {
    // [field, wrong value, code]: a wrong kind is BAD_ARGUMENT, a length that does not add up BAD_SHAPE.
    const fields: [keyof Dataset, unknown, string][] = [
      ["images", null, "BAD_ARGUMENT"],
      ["images", Array.from(DATA.images), "BAD_ARGUMENT"],
      ["images", new Float32Array(DATA.images), "BAD_ARGUMENT"],
      ["images", DATA.images.subarray(1), "BAD_SHAPE"],
      ["labels", "abc", "BAD_ARGUMENT"],
      ["labels", DATA.labels.subarray(1), "BAD_SHAPE"],
      ["labels", Uint8Array.from(DATA.labels, () => 4), "BAD_ARGUMENT"],
      ["shape", [1, 8], "BAD_ARGUMENT"],
      ["shape", [1, 8, 0], "BAD_ARGUMENT"],
      ["shape", [1, 8, 8.5], "BAD_ARGUMENT"],
      ["shape", "1,8,8", "BAD_ARGUMENT"],
      ["count", -1, "BAD_ARGUMENT"],
      ["count", 201, "BAD_SHAPE"],
      ["count", NaN, "BAD_ARGUMENT"],
      ["count", "200", "BAD_ARGUMENT"],
      ["classes", [], "BAD_ARGUMENT"],
      ["classes", "abcd", "BAD_ARGUMENT"],
      ["classes", [1, 2, 3, 4], "BAD_ARGUMENT"],
      ["classes", Array.from({ length: 300 }, String), "BAD_ARGUMENT"],
    ];
    const cases: [string, unknown, string][] = [
      ...wrong().map(([label, v]): [string, unknown, string] => [label, v, "BAD_ARGUMENT"]),
      ...fields.map(([field, v, code]): [string, unknown, string] => [
        `${field} = ${show(v)}`,
        { ...DATA, [field]: v },
        code,
      ]),
    ];
    for (const [label, data, code] of cases) {
      const used = rt.usedBytes;
      await expectRefused(() => new DeviceData(rt, data as never), code, /new DeviceData: data/, `DeviceData ${label}`);
      await expectRefused(() => evaluate(model, data as never), code, /evaluate: data/, `evaluate ${label}`);
      await expectRefused(
        () => fit(model, data as never, { epochs: 1, batchSize: 10, optimizer: new SGD(rt) }),
        code,
        /fit: train/,
        `fit ${label}`,
      );
      if (data !== undefined) {
        await expectRefused(
          () => fit(model, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt), test: data as never }),
          code,
          /fit: test/,
          `fit test ${label}`,
        );
      }
      expect(rt.usedBytes, `${label}: nothing allocated`).toBe(used);
    }
    for (const [label, v] of wrong("1e300", "Infinity")) {
      await expectRefused(() => takeFirst(DATA, v as never), "BAD_ARGUMENT", /takeFirst: count/, `takeFirst ${label}`);
    }
    for (const [label, v] of [
      ...wrong(),
      ["an array of bytes", [0, 0, 8, 3]],
      ["a Float32Array", new Float32Array(16)],
    ] as [string, unknown][]) {
      await expectRefused(
        () => datasetFromIdx(v as never, new Uint8Array(8)),
        "BAD_ARGUMENT",
        /imageBytes/,
        `datasetFromIdx ${label}`,
      );
    }
    await expectRefused(
      () => evaluate(model, { ...DATA, count: 0, images: new Uint8Array(0), labels: new Uint8Array(0) }),
      "BAD_ARGUMENT",
      /empty/,
      "empty data",
    );
  });

  it("evaluate and fit: every wrong model, batch size, option and optimizer", async () => {
    for (const [label, v] of wrong()) {
      await expectRefused(
        () => evaluate(v as never, DATA),
        "BAD_ARGUMENT",
        /evaluate: model must be a Model/,
        `evaluate model ${label}`,
      );
      await expectRefused(
        () => fit(v as never, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt) }),
        "BAD_ARGUMENT",
        /fit: model must be a Model/,
        `fit model ${label}`,
      );
    }
    for (const [label, v] of [...wrong("undefined"), ["0", 0]] as [string, unknown][]) {
      await expectRefused(
        () => evaluate(model, DATA, v as never),
        "BAD_ARGUMENT",
        // The third argument is a batch size or evaluate's options: an object is read as options.
        /evaluate: batchSize|evaluate options/,
        `evaluate batchSize ${label}`,
      );
    }
    const base = { epochs: 1, batchSize: 10, optimizer: new SGD(rt) };
    const options: [string, unknown, RegExp][] = [
      ...wrong("an object").map(([label, v]): [string, unknown, RegExp] => [
        `options ${label}`,
        v,
        /fit: options|fit options/,
      ]),
      ...wrong().map(([label, v]): [string, unknown, RegExp] => [
        `epochs ${label}`,
        { ...base, epochs: v },
        /fit: epochs/,
      ]),
      ...[...wrong(), ["0", 0] as [string, unknown]].map(([label, v]): [string, unknown, RegExp] => [
        `batchSize ${label}`,
        { ...base, batchSize: v },
        /fit: batchSize/,
      ]),
      ...wrong().map(([label, v]): [string, unknown, RegExp] => [
        `optimizer ${label}`,
        { ...base, optimizer: v },
        /fit: optimizer/,
      ]),
      ...wrong("undefined", "-1").map(([label, v]): [string, unknown, RegExp] => [
        `seed ${label}`,
        { ...base, seed: v },
        /fit: seed/,
      ]),
      ...wrong("undefined").map(([label, v]): [string, unknown, RegExp] => [
        `firstEpoch ${label}`,
        { ...base, firstEpoch: v },
        /fit: firstEpoch/,
      ]),
      ...wrong("undefined").map(([label, v]): [string, unknown, RegExp] => [
        `schedule ${label}`,
        { ...base, schedule: v },
        /fit: schedule/,
      ]),
      ...wrong("undefined").map(([label, v]): [string, unknown, RegExp] => [
        `augment ${label}`,
        { ...base, augment: v },
        /fit: augment/,
      ]),
      ...[...wrong(), ["65", 65] as [string, unknown]].map(([label, v]): [string, unknown, RegExp] => [
        `augment.shift ${label}`,
        { ...base, augment: { flip: false, shift: v } },
        /fit: augment.shift/,
      ]),
      ...wrong("undefined", "true").map(([label, v]): [string, unknown, RegExp] => [
        `winograd ${label}`,
        { ...base, winograd: v },
        /fit: winograd must be true or false/,
      ]),
      [
        "winograd on a network without convolutions",
        { ...base, winograd: true },
        /fit: winograd: none of the model's convolutions/,
      ],
      ...wrong("undefined", "a function").map(([label, v]): [string, unknown, RegExp] => [
        `onBatchEnd ${label}`,
        { ...base, onBatchEnd: v },
        /fit: onBatchEnd/,
      ]),
      ...wrong("undefined").map(([label, v]): [string, unknown, RegExp] => [
        `signal ${label}`,
        { ...base, signal: v },
        /fit: signal/,
      ]),
    ];
    const before = model.predict(PROBE);
    for (const [label, value, pattern] of options) {
      await expectRefused(() => fit(model, DATA, value as never), "BAD_ARGUMENT", pattern, `fit ${label}`);
    }
    const other = await Runtime.create();
    await expectRefused(
      () => fit(model, DATA, { ...base, optimizer: new SGD(other) }),
      "BAD_ARGUMENT",
      /another runtime/,
      "optimizer of another runtime",
    );
    await expectRefused(
      () => fit(model, new DeviceData(other, DATA), base),
      "BAD_ARGUMENT",
      /another runtime/,
      "data of another runtime",
    );
    other.dispose();
    expect(sameBits(model.predict(PROBE), before), "no refused fit changed a weight").toBe(true);
  });

  it("a refused fit leaves the model's convolution path as it was", async () => {
    const cnn = new Model(rt, {
      input: [1, 8, 8],
      layers: [
        { type: "conv2d", filters: 8, size: 3 },
        { type: "relu" },
        { type: "conv2d", filters: 8, size: 3 },
        { type: "relu" },
        { type: "dense", units: 4 },
      ],
    });
    expect(cnn.winogradTrainingLayers).toBe(1);
    const data = DATA;
    for (const resumeAt of [
      { batch: -1, lossSum: 0, correct: 0 },
      { batch: 0, lossSum: Number.NaN, correct: 0 },
    ]) {
      await expectRefused(
        () => fit(cnn, data, { epochs: 1, batchSize: 10, optimizer: new SGD(rt), winograd: true, resumeAt }),
        "BAD_ARGUMENT",
        /resumeAt/,
        "fit resumeAt",
      );
      expect(cnn.winograd, "the refused run's winograd option").toBe(false);
    }
    cnn.dispose();
  });

  it("the byte readers: every wrong kind of bytes is BAD_ARGUMENT naming the reader; an ArrayBuffer reads as its bytes", async () => {
    const idx = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
    const npy = encodeNpy(new Float32Array([1, 2, 3]), [3]);
    const tar = new Uint8Array(1024); // two zero blocks: an empty archive
    const gz = new Uint8Array(gzipSync(Buffer.from("abc")));
    const safetensors = encodeSafetensors(new Map([["t", { shape: [2], data: new Float32Array([1, 2]) }]]), { a: "b" });
    const modelFile = serializeModel(model);
    const readers: [string, (bytes: never) => unknown, Uint8Array][] = [
      ["parseIdx", (b) => parseIdx(b, 1, "labels"), idx],
      ["parseNpy", (b) => parseNpy(b, "x.npy"), npy],
      ["readTar", (b) => readTar(b, "x.tar"), tar],
      ["gunzipIfNeeded", (b) => gunzipIfNeeded(b, "x.gz"), gz],
      ["decodeSafetensors", (b) => decodeSafetensors(b, "x"), safetensors],
      ["deserializeModel", (b) => deserializeModel(rt, b).model.predict(PROBE), modelFile],
    ];
    for (const [name, read, valid] of readers) {
      for (const [label, v] of [
        ...wrong(),
        ["an array of numbers", Array.from(valid)],
        ["a Float32Array", new Float32Array(valid)],
      ] as [string, unknown][]) {
        await expectRefused(
          () => read(v as never),
          "BAD_ARGUMENT",
          new RegExp(`${name}: bytes must be a Uint8Array or an ArrayBuffer`),
          `${name} ${label}`,
        );
      }
      const buffer = valid.buffer.slice(valid.byteOffset, valid.byteOffset + valid.byteLength);
      expect(await read(buffer as never), `${name}: an ArrayBuffer`).toEqual(await read(valid as never));
    }
    expect(isGzip(null as never)).toBe(false);
    const entries: [string, () => unknown][] = [
      ["new Random", () => new Random(undefined as never)],
      ["initStd", () => initStd(undefined as never, 1, 1)],
      ["initWeights", () => initWeights(undefined as never, "he", 1, 1, new Random(1))],
      ["chartSvg", () => chartSvg(undefined as never)],
      ["historyChart", () => historyChart(undefined as never)],
      ["toPixels", () => toPixels(undefined as never, "x")],
      ["labelsFromNpy", () => labelsFromNpy(undefined as never, "x")],
      ["arrangeImages", () => arrangeImages(undefined as never, new Uint8Array(1), undefined, "x")],
      ["encodeNpy", () => encodeNpy(undefined as never, [1])],
      ["ModelWorker.create", () => ModelWorker.create(undefined as never)],
      ["sampleSize", () => sampleSize(undefined as never)],
    ];
    for (const [name, call] of entries) await expectRefused(call, "BAD_ARGUMENT", new RegExp(name), name);
    for (const [label, v] of wrong("-1")) {
      await expectRefused(() => new Random(v as never), "BAD_ARGUMENT", /new Random: seed/, `new Random ${label}`);
    }
    for (const [label, v] of wrong("undefined", "a function")) {
      await expectRefused(
        () => setWorkerSpawner(v as never),
        "BAD_ARGUMENT",
        /setWorkerSpawner/,
        `setWorkerSpawner ${label}`,
      );
    }
    for (const [label, v] of wrong()) {
      await expectRefused(
        () => encodeSafetensors(v as never, {}),
        "BAD_ARGUMENT",
        /encodeSafetensors: tensors/,
        `encodeSafetensors ${label}`,
      );
      await expectRefused(
        () => serializeModel(v as never),
        "BAD_ARGUMENT",
        /serializeModel: model must be a Model/,
        `serializeModel ${label}`,
      );
      await expectRefused(
        () => preprocessDigit(v as never, 28, 28),
        "BAD_ARGUMENT",
        /preprocessDigit: rgba/,
        `preprocessDigit ${label}`,
      );
      if (label !== "an empty array")
        await expectRefused(
          () => datasetFromCifarBatches(v as never),
          "BAD_ARGUMENT",
          /datasetFromCifarBatches: files/,
          `datasetFromCifarBatches ${label}`,
        );
      await expectRefused(
        () => datasetFromCifarBatches([{ name: "b", bytes: v as never }]),
        "BAD_ARGUMENT",
        /datasetFromCifarBatches: files/,
        `cifar bytes ${label}`,
      );
      if (label !== "undefined")
        await expectRefused(() => mlpSpec(v as never), "BAD_ARGUMENT", /mlpSpec/, `mlpSpec ${label}`);
      if (label !== "an empty array")
        await expectRefused(
          () => mlpSpec({ input: [1, 8, 8], hidden: v as never, classes: 4 }),
          "BAD_ARGUMENT",
          /mlpSpec: options.hidden/,
          `mlpSpec hidden ${label}`,
        );
    }
  });

  it("outputSide: every argument of every wrong kind", async () => {
    expect(outputSide(28, 5, 1, 2)).toBe(28);
    for (let arg = 0; arg < 4; arg++) {
      for (const [label, v] of [...wrong(), ...(arg === 1 || arg === 2 ? [["0", 0] as [string, unknown]] : [])]) {
        const args = [28, 5, 1, 2];
        args[arg] = v as number;
        await expectRefused(
          () => outputSide(args[0], args[1], args[2], args[3]),
          "BAD_ARGUMENT",
          /outputSide/,
          `argument ${arg} ${label}`,
        );
      }
    }
  });

  it("low-level: rt.alloc, rt.free, rt.f32, Tensor and its write/fill", async () => {
    for (const [label, v] of wrong("0.5", "1e300")) {
      await expectRefused(() => rt.alloc(v as never), "BAD_ARGUMENT", /cannot allocate/, `alloc ${label}`);
    }
    await expectRefused(() => rt.alloc(1e300), "OUT_OF_MEMORY", /cannot grow/, "alloc 1e300");
    for (const [label, v] of wrong()) {
      await expectRefused(() => rt.free(v as never), "BAD_STATE", /not allocated/, `free ${label}`);
      await expectRefused(() => rt.f32(v as never, 4), "BAD_ARGUMENT", /wasm memory/, `f32 ptr ${label}`);
    }
    for (const [label, v] of [...wrong("an empty array"), ["[2, -1]", [2, -1]], ["[2.5]", [2.5]], ["['2']", ["2"]]] as [
      string,
      unknown,
    ][]) {
      await expectRefused(() => Tensor.alloc(rt, v as never), "BAD_ARGUMENT", /shape/, `Tensor.alloc ${label}`);
    }
    await expectRefused(
      () => rt.f32(rt.memory.buffer.byteLength - 4, 2),
      "BAD_ARGUMENT",
      /wasm memory/,
      "f32 past the end",
    );
    const t = Tensor.alloc(rt, [2, 3]);
    for (const [label, v] of wrong("an empty array", "an object")) {
      await expectRefused(() => t.write(v as never), "BAD_ARGUMENT", /tensor write/, `write ${label}`);
    }
    expectError(() => t.write([1, 2]), "BAD_SHAPE", /cannot write 2 values/);
    for (const [label, v] of wrong("NaN", "Infinity", "-Infinity", "-1", "0.5", "1e300")) {
      await expectRefused(() => t.fill(v as never), "BAD_ARGUMENT", /tensor fill/, `fill ${label}`);
    }
    t.dispose();
  });
});

describe("what a second look found", () => {
  it("an ArrayBuffer transferred away, a split or data set of another name, a spec that is none, a seed outside 32 bits", async () => {
    const rt = await Runtime.create();
    const model = new Model(rt, SPEC, { seed: 1 });
    const buffer = new ArrayBuffer(model.inputSize);
    structuredClone(buffer, { transfer: [buffer] });
    expectError(() => model.predict(buffer), "BAD_ARGUMENT", /transferred away \(detached\)/);
    for (const split of ["__proto__", "constructor", "toString", "", undefined, 1]) {
      expectError(() => loadMnist(split as never), "BAD_ARGUMENT", /split must be "train" or "test"/);
      expectError(() => loadCifar10(split as never, "/nonexistent"), "BAD_ARGUMENT", /split must be "train" or "test"/);
      expectError(
        () => loadDataset(String(split) as never, "test"),
        "BAD_ARGUMENT",
        /name must be "mnist" or "cifar10"/,
      );
    }
    for (const spec of [null, undefined, 1, "spec", {}, { layers: [] }, { input: [1] }]) {
      expectError(() => planModel(spec as never), "BAD_ARGUMENT", /planModel: spec must be a model spec/);
    }
    for (const seed of [-1, 2 ** 32, 0.5, NaN]) {
      await expectRefused(
        () => fit(model, DATA, { epochs: 1, batchSize: 10, optimizer: new SGD(rt), seed }),
        "BAD_ARGUMENT",
        /seed/,
        `seed ${seed}`,
      );
    }
    const optimizer = new Optimizer(rt, { name: "sgd" });
    optimizer.dispose();
    expectError(() => (optimizer.learningRate = 0.1), "BAD_STATE", /optimizer was disposed/);
    model.dispose();
    expectError(() => (model.fusion = false), "BAD_STATE", /model was disposed/);
    rt.dispose();
  });
});
