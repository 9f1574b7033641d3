// parseArch (sdk/arch.ts) against what a caller may hand it: values that are not strings, and
// strings of every malformed shape. The well-formed grammar is tested with the CNNs (cifar.test.ts).
import { describe, expect, it } from "vitest";
import { ARCH_PRESETS, formatArch, parseArch, validateSpec } from "../../sdk/node";
import { expectError } from "../support/errors";

const PROTOTYPE_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];

describe("parseArch", () => {
  it("refuses anything but a string with BAD_ARGUMENT naming the argument", () => {
    for (const value of [
      123,
      0,
      NaN,
      null,
      undefined,
      true,
      {},
      [],
      ["conv:8x3"],
      Symbol("x"),
      10n,
      () => "relu",
      new String("relu"),
    ]) {
      expectError(
        () => parseArch(value as unknown as string),
        "BAD_ARGUMENT",
        "parseArch(text): text must be a string",
      );
    }
  });

  it("refuses every malformed layer with BAD_ARGUMENT quoting it, escaped and bounded", () => {
    const bad = [
      "conv:",
      "conv",
      "conv:0x3",
      "conv:3x0",
      "conv:3",
      "conv:3x3s0",
      "conv:1e3x3",
      "conv:-1x3",
      "conv:3x3p-1",
      "conv:3x3p1s1",
      "conv:9007199254740993x3",
      "conv:3x99999999999999999999",
      "conv:3x3s9007199254740992",
      "conv:3x3p9007199254740992",
      "dense",
      "dense:",
      "dense:-1",
      "dense:0",
      "dense:1e9",
      "dense:1.5",
      "dense:0x10",
      "dense:+5",
      "dense:5 5",
      "dense:１０",
      "dense:9007199254740992",
      "dense:99999999999999999999",
      "maxpool:x",
      "maxpool:",
      "maxpool:0",
      "maxpool:2s0",
      "avgpool:2s",
      "avgpool:99999999999999999999",
      "dropout",
      "dropout:",
      "dropout:1",
      "dropout:-0.1",
      "dropout:NaN",
      "dropout:0x1",
      "dropout:Infinity",
      "dropout:1e0",
      "dropout:.",
      "relu:1",
      "relu:",
      "flatten:x",
      "batchnorm:1",
      "dense:10:2",
      "convT",
      "convT:",
      "convT:0x4",
      "convT:8x0",
      "convT:8",
      "convT:8x4s0",
      "convT:8x4p-1",
      "convT:8x4p1s2",
      "convT:8x4s2p1x",
      "convt:8x4",
      "upsample",
      "upsample:",
      "upsample:0",
      "upsample:17",
      "upsample:1.5",
      "upsample:2x2",
      "upsample:-2",
      "reshape",
      "reshape:",
      "reshape:0",
      "reshape:32x0x7",
      "reshape:32x7x",
      "reshape:x7",
      "reshape:1x2x3x4",
      "reshape:32x7.5",
      "reshape:9007199254740993",
      "sampling:2",
      "sampling:",
      "Sampling",
      "CONV:3x3",
      "unknown",
      "mlp",
      "cnn",
      "",
      ...PROTOTYPE_NAMES,
      ...PROTOTYPE_NAMES.map((n) => `${n}:3`),
    ];
    for (const part of bad.filter((p) => p !== "")) {
      expectError(
        () => parseArch(`conv:8x3,relu,${part},dense:10`),
        "BAD_ARGUMENT",
        `cannot read ${JSON.stringify(part)}`,
      );
    }
    const long = "y".repeat(100_000);
    expectError(() => parseArch(long), "BAD_ARGUMENT", `cannot read "${"y".repeat(60)}…"`);
    expectError(
      () => parseArch(`relu,${"relu,".repeat(50_000)}${long}`),
      "BAD_ARGUMENT",
      /^architecture: cannot read "y{60}…" \(expected/,
    );
    expectError(() => parseArch("conv:8x3,\u001b[2J\u009b1m"), "BAD_ARGUMENT", '"\\u001b[2J\\u009b1m"');
    for (const text of ["", " ", ",,", " , \t,"])
      expectError(() => parseArch(text), "BAD_ARGUMENT", "architecture: empty");
  });

  it("reads the largest exact integers and decimal dropout rates", () => {
    expect(parseArch("dense:9007199254740991")).toStrictEqual([{ type: "dense", units: 9007199254740991 }]);
    expect(parseArch("conv:1x1s1p0,dropout:5e-1,dropout:.25,dropout:0")).toStrictEqual([
      { type: "conv2d", filters: 1, size: 1, stride: 1, padding: 0 },
      { type: "dropout", rate: 0.5 },
      { type: "dropout", rate: 0.25 },
      { type: "dropout", rate: 0 },
    ]);
  });

  it("reads and writes the generative layers: convT, upsample, reshape, sampling", () => {
    const text =
      "dense:1568,relu,reshape:32x7x7,convT:32x4s2p1,relu,upsample:2,convT:1x3p1,sampling,reshape:784,convT:4x2";
    const layers = parseArch(text);
    expect(layers).toStrictEqual([
      { type: "dense", units: 1568 },
      { type: "relu" },
      { type: "reshape", shape: [32, 7, 7] },
      { type: "convT", filters: 32, size: 4, stride: 2, padding: 1 },
      { type: "relu" },
      { type: "upsample", scale: 2 },
      { type: "convT", filters: 1, size: 3, padding: 1 },
      { type: "sampling" },
      { type: "reshape", shape: [784] },
      { type: "convT", filters: 4, size: 2 },
    ]);
    expect(formatArch(layers)).toBe(text);
    // What formatArch writes, parseArch reads back; every spec it writes validates.
    expect(parseArch(formatArch(layers))).toStrictEqual(layers);
    expect(validateSpec({ input: [2], layers: [...layers, { type: "dense", units: 2 }] }).layers).toStrictEqual([
      ...layers,
      { type: "dense", units: 2 },
    ]);
    expect(formatArch(parseArch("convT:8x3s1p0,upsample:1,upsample:16,reshape:1x28x28"))).toBe(
      "convT:8x3,upsample:1,upsample:16,reshape:1x28x28",
    );
  });

  it("ARCH_PRESETS holds the presets and nothing a typed name could reach through a prototype", () => {
    expect(Object.keys(ARCH_PRESETS).sort()).toEqual(["cnn", "cnn-cifar", "cnn-cifar-bn", "cnn-mnist-bn"]);
    for (const name of PROTOTYPE_NAMES) expect(ARCH_PRESETS[name], name).toBeUndefined();
    expect(Object.isFrozen(ARCH_PRESETS)).toBe(true);
  });
});
