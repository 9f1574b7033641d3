// validateSpec (sdk/spec.ts): class names, and layer settings out of range (refused by validateSpec
// and by new Model alike, with nothing left allocated).
import { describe, expect, it } from "vitest";
import { MAX_CLASS_NAME, MnistWasmError, Model, type ModelSpec, validateSpec } from "../../sdk/node";
import { rt, useRuntime } from "../support/buffers";
import { expectError } from "../support/errors";

useRuntime();

const withClasses = (classes: unknown[]): unknown => ({
  input: [4],
  layers: [{ type: "dense", units: classes.length }],
  classes,
});

describe("class names", () => {
  // Every C0 control, DEL, every C1 control; bidi embeddings, overrides, isolates and marks;
  // zero-width and byte-order characters; line and paragraph separators; a lone surrogate of each
  // kind; private use; an unassigned code point.
  const unprintable = [
    ...Array.from({ length: 0x20 }, (_, i) => i),
    0x7f,
    ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
    0x061c,
    0x200b,
    0x200c,
    0x200d,
    0x200e,
    0x200f,
    0x2028,
    0x2029,
    ...Array.from({ length: 5 }, (_, i) => 0x202a + i),
    ...Array.from({ length: 4 }, (_, i) => 0x2066 + i),
    0xfeff,
    0xfff9,
    0xd800,
    0xdfff,
    0xe000,
    0xf0000,
    0x0378,
  ];

  it(`${unprintable.length} unprintable characters, anywhere in a name, are refused naming the class and the character`, () => {
    for (const code of unprintable) {
      const c = String.fromCodePoint(code);
      const hex = code.toString(16).toUpperCase().padStart(4, "0");
      for (const name of [c, `cat${c}`, `${c}dog`, `a${c}b`]) {
        expectError(
          () => validateSpec(withClasses(["zero", "one", name])),
          "BAD_ARGUMENT",
          `model spec: "classes"[2] holds the unprintable character U+${hex}`,
        );
      }
    }
  });

  it("terminal escape sequences are refused", () => {
    for (const name of ["\x1b[2J\x1b[H", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\link", "\u009b2J", "red\x1b[31m"]) {
      expectError(
        () => validateSpec(withClasses([name, "b"])),
        "BAD_ARGUMENT",
        '"classes"[0] holds the unprintable character',
      );
    }
  });

  it(`names are 1 to ${MAX_CLASS_NAME} characters (code points), and strings`, () => {
    for (const unit of ["x", "é", "猫", "🐱"]) {
      expect(validateSpec(withClasses([unit.repeat(MAX_CLASS_NAME), "b"]))).toBeTruthy();
      for (const length of [MAX_CLASS_NAME + 1, 1000, 1_000_000]) {
        expectError(
          () => validateSpec(withClasses([unit.repeat(length), "b"])),
          "BAD_ARGUMENT",
          `"classes"[0] is longer than the limit of ${MAX_CLASS_NAME} characters`,
        );
      }
    }
    expectError(() => validateSpec(withClasses(["a", ""])), "BAD_ARGUMENT", '"classes"[1] is empty');
    for (const value of [1, null, true, ["a"], { a: 1 }]) {
      expectError(() => validateSpec(withClasses(["a", value])), "BAD_ARGUMENT", '"classes"[1] is not a string');
    }
  });

  it("printable names in any script, with spaces, marks and symbols, are kept as they are", () => {
    const names = ["T-shirt/top", "chat noir", "猫", "e\u0301lan", "Ωmega", "🐱", "٣", "n°5 (x)", "a\u00a0b"];
    expect(validateSpec(withClasses(names))).toMatchObject({ classes: names });
  });
});

// ---------------------------------------------------------------------------------------------
// Layer settings out of range

describe("spec validation", () => {
  const refused = (layer: object): ModelSpec =>
    ({ input: [4], layers: [{ type: "dense", units: 3 }, layer, { type: "dense", units: 2 }] }) as ModelSpec;

  it.each([
    ["dropout rate 1", { type: "dropout", rate: 1 }, /rate/],
    ["dropout rate -0.1", { type: "dropout", rate: -0.1 }, /rate/],
    ["dropout rate 1.5", { type: "dropout", rate: 1.5 }, /rate/],
    ["dropout rate NaN", { type: "dropout", rate: NaN }, /rate/],
    ["dropout without a rate", { type: "dropout" }, /rate/],
    ["dropout rate as a string", { type: "dropout", rate: "0.3" }, /rate/],
    ["batchnorm momentum 1", { type: "batchnorm", momentum: 1 }, /momentum/],
    ["batchnorm momentum -0.1", { type: "batchnorm", momentum: -0.1 }, /momentum/],
    ["batchnorm eps 0", { type: "batchnorm", eps: 0 }, /eps/],
    ["convT without filters", { type: "convT", size: 4 }, /convT "filters" must be a positive integer/],
    ["convT size 0", { type: "convT", filters: 2, size: 0 }, /convT "size" must be a positive integer/],
    ["convT stride 0", { type: "convT", filters: 2, size: 4, stride: 0 }, /convT "stride" must be a positive integer/],
    ["convT padding -1", { type: "convT", filters: 2, size: 4, padding: -1 }, /convT "padding" must be a non-negative/],
    ["convT init as a number", { type: "convT", filters: 2, size: 4, init: 1 }, /"init" must be one of/],
    ["upsample scale 0", { type: "upsample", scale: 0 }, /upsample "scale" must be an integer from 1 to 16/],
    ["upsample scale 17", { type: "upsample", scale: 17 }, /upsample "scale" must be an integer from 1 to 16/],
    ["upsample scale 1.5", { type: "upsample", scale: 1.5 }, /upsample "scale"/],
    ["upsample without a scale", { type: "upsample" }, /upsample "scale"/],
    ["reshape without a shape", { type: "reshape" }, /reshape "shape" must be a list of 1 to 3 positive integers/],
    ["reshape to []", { type: "reshape", shape: [] }, /reshape "shape"/],
    ["reshape to 4 dimensions", { type: "reshape", shape: [1, 1, 1, 3] }, /reshape "shape"/],
    ["reshape to [0, 3]", { type: "reshape", shape: [0, 3] }, /reshape "shape"/],
    ["reshape to a string", { type: "reshape", shape: "3" }, /reshape "shape"/],
    ["reshape to [1.5, 2]", { type: "reshape", shape: [1.5, 2] }, /reshape "shape"/],
  ])("%s: BAD_ARGUMENT from validateSpec and from new Model", (_, layer, pattern) => {
    const used = rt.usedBytes;
    for (const attempt of [() => validateSpec(refused(layer)), () => new Model(rt, refused(layer))]) {
      let error: unknown;
      try {
        attempt();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MnistWasmError);
      expect((error as MnistWasmError).code).toBe("BAD_ARGUMENT");
      expect((error as MnistWasmError).message).toMatch(pattern);
      expect((error as MnistWasmError).message).toMatch(/layer 1/);
    }
    expect(rt.usedBytes, "nothing left allocated").toBe(used);
  });

  it.each([
    ["dropout rate 0", { type: "dropout", rate: 0 }],
    ["dropout rate 0.99", { type: "dropout", rate: 0.99 }],
    ["batchnorm momentum 0", { type: "batchnorm", momentum: 0 }],
    ["batchnorm momentum 0.999, eps 1e-3", { type: "batchnorm", momentum: 0.999, eps: 1e-3 }],
  ])("%s is accepted", (_, layer) => {
    const model = new Model(rt, refused(layer));
    expect(model.spec.layers[1]).toEqual(layer);
    model.dispose();
  });

  it.each([
    [
      "convT",
      { input: [2, 3, 3], layer: { type: "convT", filters: 4, size: 4, stride: 2, padding: 1, init: "xavier" } },
    ],
    ["convT without options", { input: [2, 3, 3], layer: { type: "convT", filters: 4, size: 2 } }],
    ["upsample 3", { input: [2, 3, 3], layer: { type: "upsample", scale: 3 } }],
    ["reshape", { input: [18], layer: { type: "reshape", shape: [2, 3, 3] } }],
    ["sampling", { input: [8], layer: { type: "sampling" } }],
  ])("%s is accepted, kept as given, and builds", (_, { input, layer }) => {
    const spec = { input, layers: [layer, { type: "dense", units: 2 }] } as ModelSpec;
    expect(validateSpec(spec).layers[0]).toStrictEqual(layer);
    const model = new Model(rt, spec);
    expect(model.spec.layers[0]).toStrictEqual(layer);
    model.dispose();
  });

  it("drops what a generative layer does not know (unknown keys)", () => {
    const spec = {
      input: [8],
      layers: [
        { type: "sampling", extra: 1 },
        { type: "reshape", shape: [2, 2], other: true },
        { type: "dense", units: 2 },
      ],
    } as unknown as ModelSpec;
    expect(validateSpec(spec).layers.slice(0, 2)).toStrictEqual([
      { type: "sampling" },
      { type: "reshape", shape: [2, 2] },
    ]);
  });
});
