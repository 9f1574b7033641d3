// `mnist-wasm classify` (the contest mode) and the .npy reader behind it: the reader on .npy
// files built here byte by byte (every dtype, both orders, versions 1-3) and on malformed ones;
// then the command line end to end on the MNIST test set as idx and as .npy, on CIFAR-shaped
// inputs, and on bad inputs (one line on stderr, the --out file left as it was).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, run } from "./support/cli";
import { expectError } from "./support/errors";

const expectBadFile = (fn: () => unknown, pattern: RegExp): void => expectError(fn, "BAD_FILE", pattern);
import {
  arrangeImages,
  encodeNpy,
  loadImagesFile,
  loadLabelsFile,
  type MnistWasmError,
  Model,
  parseIdx,
  parseNpy,
  Random,
  readMaybeGzip,
  Runtime,
  saveModelFile,
  toPixels,
} from "../sdk/node";

const MNIST_IMAGES = new URL("../data/mnist/t10k-images-idx3-ubyte.gz", import.meta.url).pathname;
const MNIST_LABELS = new URL("../data/mnist/t10k-labels-idx1-ubyte.gz", import.meta.url).pathname;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "classify-test-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// --- .npy files built by hand

/** A .npy file: magic, version, little-endian header length, the header text padded, the body. */
function npyFile(header: string, body: Uint8Array, version = 1, pad = true): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  let text = header;
  if (pad) {
    const unpadded = prefix + text.length + 1;
    text += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  }
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(prefix + head.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, head.length, true);
  else view.setUint32(8, head.length, true);
  out.set(head, prefix);
  out.set(body, prefix + head.length);
  return out;
}

const dictOf = (descr: string, shape: string, fortran = false): string =>
  `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${shape}, }`;

/** Little-endian bytes of numbers as float32, float64 or uint8. */
function le(values: number[], type: "u1" | "f4" | "f8"): Uint8Array {
  const size = type === "u1" ? 1 : type === "f4" ? 4 : 8;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (type === "u1") view.setUint8(i, v);
    else if (type === "f4") view.setFloat32(i * 4, v, true);
    else view.setFloat64(i * 8, v, true);
  });
  return out;
}

/** `values` (C order, `shape`) rearranged to Fortran (column-major) order. */
function toFortran(values: number[], shape: number[]): number[] {
  const out = new Array<number>(values.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < values.length; c++) {
    let f = 0;
    let stride = 1;
    for (let j = 0; j < shape.length; j++) {
      f += index[j] * stride;
      stride *= shape[j];
    }
    out[f] = values[c];
    for (let j = shape.length - 1; j >= 0; j--) {
      if (++index[j] < shape[j]) break;
      index[j] = 0;
    }
  }
  return out;
}

describe("the .npy reader", () => {
  const values2x3 = [1, 2, 3, 4, 5, 6];
  const values2x2x3 = Array.from({ length: 12 }, (_, i) => i * 10 + 1);

  it.each([
    ["|u1", "u1", Uint8Array],
    ["<f4", "f4", Float32Array],
    ["<f8", "f8", Float64Array],
  ] as const)("reads %s, 2-D and 3-D, C and Fortran order", (descr, type, ArrayType) => {
    for (const [values, shape] of [
      [values2x3, [2, 3]],
      [values2x2x3, [2, 2, 3]],
    ] as const) {
      const tuple = `(${shape.join(", ")})`;
      const c = parseNpy(npyFile(dictOf(descr, tuple), le([...values], type)), "c.npy");
      expect(c.data).toBeInstanceOf(ArrayType);
      expect([...c.data]).toEqual(values);
      expect(c).toMatchObject({ descr, shape, fortranOrder: false, version: "1.0" });
      const f = parseNpy(npyFile(dictOf(descr, tuple, true), le(toFortran([...values], [...shape]), type)), "f.npy");
      expect([...f.data]).toEqual(values); // transposed to C order
      expect(f).toMatchObject({ shape, fortranOrder: true });
    }
  });

  it("reads fractional floats exactly, 1-D shapes, and empty arrays", () => {
    const a = parseNpy(npyFile(dictOf("<f8", "(3,)"), le([0.1, -2.5, 1e300], "f8")), "a.npy");
    expect([...a.data]).toEqual([0.1, -2.5, 1e300]);
    const b = parseNpy(npyFile(dictOf("<f4", "(2,)"), le([0.5, 0.25], "f4")), "b.npy");
    expect([...b.data]).toEqual([0.5, 0.25]);
    const e = parseNpy(npyFile(dictOf("|u1", "(0, 28, 28)"), new Uint8Array(0)), "e.npy");
    expect(e.data.length).toBe(0);
  });

  it("reads version 2.0 and 3.0 headers (4-byte length), unpadded headers and double quotes", () => {
    const v2 = parseNpy(npyFile(dictOf("|u1", "(2, 3)"), le(values2x3, "u1"), 2), "v2.npy");
    expect(v2).toMatchObject({ version: "2.0", shape: [2, 3] });
    expect([...v2.data]).toEqual(values2x3);
    const v3 = parseNpy(npyFile(dictOf("<f4", "(2, 3)", true), le(toFortran(values2x3, [2, 3]), "f4"), 3), "v3.npy");
    expect(v3.version).toBe("3.0");
    expect([...v3.data]).toEqual(values2x3);
    const tight = parseNpy(
      npyFile(`{"shape":(6,),"descr":"|u1","fortran_order":False}`, le(values2x3, "u1"), 1, false),
      "t.npy",
    );
    expect([...tight.data]).toEqual(values2x3);
  });

  it("reads integer labels of several widths", () => {
    const i8 = new Uint8Array(3 * 8);
    [7, 0, 9].forEach((v, i) => new DataView(i8.buffer).setBigInt64(i * 8, BigInt(v), true));
    const labels = parseNpy(npyFile(dictOf("<i8", "(3,)"), i8), "l.npy");
    expect(labels.kind).toBe("i");
    expect([...labels.data]).toEqual([7, 0, 9]);
    const i4 = new Uint8Array(new Int32Array([3, 1]).buffer);
    expect([...parseNpy(npyFile(dictOf("<i4", "(2, 1)"), i4), "l.npy").data]).toEqual([3, 1]);
  });

  it("round-trips encodeNpy", () => {
    const data = new Float32Array([0, 0.5, 1, 0.25, 0.75, 0.125]);
    const back = parseNpy(encodeNpy(data, [2, 3]), "x.npy");
    expect(back).toMatchObject({ descr: "<f4", shape: [2, 3], fortranOrder: false });
    expect([...back.data]).toEqual([...data]);
    expect(encodeNpy(new Uint8Array(5), [5]).length % 64).toBe(5); // header padded to 64 bytes
  });

  const good = npyFile(dictOf("<f4", "(2, 3)"), le(values2x3, "f4"));
  it.each<[string, () => Uint8Array, RegExp]>([
    ["bad magic", () => new TextEncoder().encode("PK\x03\x04 not numpy at all"), /not a \.npy file/],
    ["a file of the magic alone", () => good.subarray(0, 6), /truncated \.npy header/],
    ["a file cut inside the length field", () => good.subarray(0, 9), /truncated \.npy header/],
    [
      "a header length beyond the file",
      () => good.subarray(0, 40),
      /header length \d+ runs past the end of the file \(40 bytes\)/,
    ],
    [
      "a header length beyond the limit",
      () => {
        const f = npyFile(dictOf("<f4", "(2, 3)"), le(values2x3, "f4"), 2);
        new DataView(f.buffer).setUint32(8, 1 << 30, true);
        return f;
      },
      /beyond the limit of 10000 bytes/,
    ],
    [
      "version 4.0",
      () => {
        const f = good.slice();
        f[6] = 4;
        return f;
      },
      /unsupported \.npy format version 4\.0/,
    ],
    [
      "an unknown dtype (complex)",
      () => npyFile(dictOf("<c8", "(2, 3)"), new Uint8Array(48)),
      /dtype "<c8" is not supported/,
    ],
    ["a string dtype", () => npyFile(dictOf("<U3", "(2,)"), new Uint8Array(24)), /dtype "<U3" is not supported/],
    ["big-endian floats", () => npyFile(dictOf(">f4", "(2, 3)"), new Uint8Array(24)), /big-endian/],
    ["big-endian float64", () => npyFile(dictOf(">f8", "(2, 3)"), new Uint8Array(48)), /big-endian/],
    ["an object array", () => npyFile(dictOf("|O", "(2,)"), new Uint8Array(16)), /object arrays/],
    [
      "a structured dtype",
      () => npyFile(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }`, new Uint8Array(8)),
      /structured/,
    ],
    [
      "a declared shape larger than the data",
      () => npyFile(dictOf("<f4", "(3, 3)"), le(values2x3, "f4")),
      /declares shape \(3, 3\) of <f4 = 36 bytes of data, the file has 24/,
    ],
    [
      "data beyond the declared shape",
      () => npyFile(dictOf("<f4", "(1, 3)"), le(values2x3, "f4")),
      /= 12 bytes of data, the file has 24/,
    ],
    [
      "a huge declared shape",
      () => npyFile(dictOf("|u1", "(100000000000, 100000000000)"), new Uint8Array(4)),
      /declares shape/,
    ],
    ["a header that is a list", () => npyFile("[1, 2, 3]", new Uint8Array(0)), /not a valid dict literal/],
    ["a header that is a string", () => npyFile("'descr'", new Uint8Array(0)), /not a valid dict literal/],
    [
      "a header with code in it",
      () =>
        npyFile("{'descr': __import__('os').system('ls'), 'fortran_order': False, 'shape': (2,)}", new Uint8Array(2)),
      /not a valid dict literal/,
    ],
    [
      "a header with text after the dict",
      () => npyFile(`${dictOf("|u1", "(2,)")} + 1`, new Uint8Array(2)),
      /text after the dict/,
    ],
    [
      "an unterminated header",
      () => npyFile("{'descr': '|u1', 'shape': (2,", new Uint8Array(2)),
      /not a valid dict literal/,
    ],
    ["a missing key", () => npyFile("{'descr': '|u1', 'shape': (2,), }", new Uint8Array(2)), /exactly the keys/],
    [
      "an extra key",
      () => npyFile("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), 'x': 1}", new Uint8Array(2)),
      /exactly the keys/,
    ],
    ...["__proto__", "constructor", "toString", "hasOwnProperty"].map((key): [string, () => Uint8Array, RegExp] => [
      `an extra key named like a prototype property (${key})`,
      () => npyFile(`{'descr': '|u1', 'fortran_order': False, 'shape': (2,), '${key}': 1}`, new Uint8Array(2)),
      /exactly the keys/,
    ]),
    [
      "a duplicate key",
      () => npyFile("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (2,)}", new Uint8Array(2)),
      /duplicate key/,
    ],
    ["a shape that is not a tuple", () => npyFile(dictOf("|u1", "(2)"), new Uint8Array(2)), /'shape' must be a tuple/],
    ["a negative dimension", () => npyFile(dictOf("|u1", "(-2,)"), new Uint8Array(2)), /not a valid dict literal/],
    [
      "a fortran_order that is not a bool",
      () => npyFile("{'descr': '|u1', 'fortran_order': 0, 'shape': (2,)}", new Uint8Array(2)),
      /'fortran_order' must be True or False/,
    ],
    [
      "a 64-bit integer beyond 2^53",
      () => {
        const body = new Uint8Array(8);
        new DataView(body.buffer).setBigInt64(0, 2n ** 60n, true);
        return npyFile(dictOf("<i8", "(1,)"), body);
      },
      /too large/,
    ],
  ])("refuses %s with BAD_FILE", (_name, make, pattern) => {
    expectBadFile(() => parseNpy(make(), "bad.npy"), pattern);
  });
});

describe("from arrays to model input", () => {
  it("takes uint8 as is, floats with max <= 1 as 0-1, other floats as 0-255, rounding and clamping", () => {
    const u = toPixels(parseNpy(npyFile(dictOf("|u1", "(3,)"), le([0, 7, 255], "u1")), "u.npy"), "u.npy");
    expect(u).toMatchObject({ range: "uint8", clamped: 0 });
    expect([...u.pixels]).toEqual([0, 7, 255]);
    const unit = toPixels(parseNpy(npyFile(dictOf("<f4", "(4,)"), le([0, 0.5, 1, 0.2], "f4")), "f.npy"), "f.npy");
    expect(unit).toMatchObject({ range: "0-1", clamped: 0 });
    expect([...unit.pixels]).toEqual([0, 128, 255, 51]);
    const wide = toPixels(
      parseNpy(npyFile(dictOf("<f8", "(5,)"), le([0, 12.4, 254.6, 300, -3], "f8")), "g.npy"),
      "g.npy",
    );
    expect(wide).toMatchObject({ range: "0-255", clamped: 2 });
    expect([...wide.pixels]).toEqual([0, 12, 255, 255, 0]);
    // every byte value survives the trip through float32 0-1
    const all = new Float32Array(256).map((_, i) => i / 255);
    expect([...toPixels(parseNpy(encodeNpy(all, [256]), "a.npy"), "a.npy").pixels]).toEqual([...Array(256).keys()]);
  });

  it("refuses integer images wider than a byte and non-finite floats", () => {
    const i4 = parseNpy(npyFile(dictOf("<i4", "(2,)"), new Uint8Array(8)), "i.npy");
    expectBadFile(() => toPixels(i4, "i.npy"), /dtype <i4 are not supported \(expected \|u1, <f4 or <f8\)/);
    const nan = parseNpy(npyFile(dictOf("<f4", "(2,)"), le([0.5, NaN], "f4")), "n.npy");
    expectBadFile(() => toPixels(nan, "n.npy"), /value 1 is NaN/);
  });

  it("lays out N x H x W, N x D, N x C x H x W and N x H x W x C for the model's input", () => {
    const px = Uint8Array.from({ length: 2 * 12 }, (_, i) => i);
    expect(arrangeImages([2, 3, 4], px, [1, 3, 4], "x")).toMatchObject({
      count: 2,
      shape: [1, 3, 4],
      layout: "N x H x W",
    });
    expect(arrangeImages([2, 12], px, [1, 3, 4], "x")).toMatchObject({ shape: [1, 3, 4], layout: "N x D" });
    expect(arrangeImages([2, 3, 4], px, [12], "x")).toMatchObject({ shape: [12], layout: "N x H x W (flattened)" });
    expect(arrangeImages([2, 3, 2, 2], px, [3, 2, 2], "x")).toMatchObject({
      shape: [3, 2, 2],
      layout: "N x C x H x W",
    });
    const hwc = arrangeImages([2, 2, 2, 3], px, [3, 2, 2], "x");
    expect(hwc.shape).toEqual([3, 2, 2]);
    expect(hwc.layout).toMatch(/N x H x W x C/);
    // sample 0 is pixels (r,g,b) = (0,1,2), (3,4,5), (6,7,8), (9,10,11): planes r, g, b
    expect([...hwc.images.subarray(0, 12)]).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(hwc.images[12]).toBe(12);
    // without a model: a last axis of 3 after two larger ones is channels-last
    expect(arrangeImages([1, 32, 32, 3], new Uint8Array(3072), undefined, "x").shape).toEqual([3, 32, 32]);
    expect(arrangeImages([1, 3, 32, 32], new Uint8Array(3072), undefined, "x").shape).toEqual([3, 32, 32]);
  });

  it("refuses images the model cannot take with BAD_SHAPE naming both shapes", () => {
    let caught: unknown;
    try {
      arrangeImages([2, 3, 32, 32], new Uint8Array(2 * 3072), [1, 28, 28], "c.npy");
    } catch (e) {
      caught = e;
    }
    expect((caught as MnistWasmError).code).toBe("BAD_SHAPE");
    expect((caught as Error).message).toBe("the model expects input [1,28,28] but the data has images of [3,32,32]");
    expect(() => arrangeImages([5], new Uint8Array(5), [1, 28, 28], "v.npy")).toThrow(/not images/);
  });
});

describe("loadImagesFile and loadLabelsFile", () => {
  it("detects idx, .npy (also gzipped) and text labels", () => {
    const small = join(tmp, "small.npy.gz");
    writeFileSync(small, gzipSync(encodeNpy(new Float32Array(2 * 784).fill(0.5), [2, 28, 28])));
    const f = loadImagesFile(small, { inputShape: [1, 28, 28] });
    expect(f).toMatchObject({ format: "npy", count: 2, range: "0-1", shape: [1, 28, 28] });
    expect(f.images[0]).toBe(128);
    const idx = loadImagesFile(MNIST_IMAGES);
    expect(idx).toMatchObject({ format: "idx", count: 10000, shape: [1, 28, 28], range: "uint8" });
    const text = join(tmp, "labels.txt");
    writeFileSync(text, "7\r\n2\n 1 \n\n");
    expect(loadLabelsFile(text)).toEqual({ labels: Uint8Array.from([7, 2, 1]), format: "text" });
    writeFileSync(text, "7\n2\nseven\n");
    expectBadFile(() => loadLabelsFile(text), /line 3 is "seven", not a class index/);
    const floatLabels = join(tmp, "labels.npy");
    writeFileSync(floatLabels, encodeNpy(new Float32Array([1, 2]), [2]));
    expectBadFile(() => loadLabelsFile(floatLabels), /labels must be integers/);
  });
});

// --- The command line

describe("mnist-wasm classify", () => {
  let idxPredictions = "";

  it("classifies the MNIST test set (idx .gz) into 10,000 lines, at least 99% right", () => {
    const out = join(tmp, "idx.txt");
    const r = run(["classify", "--input", MNIST_IMAGES, "--out", out, "--labels", MNIST_LABELS]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^classified 10,000 images of \[1,28,28\] from .*\(idx ubyte 10000 x 28 x 28; N x H x W; values uint8 0-255\) in [\d.]+ s/,
    );
    const accuracy = Number(/accuracy: ([\d.]+)% \(([\d,]+)\/10,000\)/.exec(r.stdout)![1]);
    expect(accuracy).toBeGreaterThanOrEqual(99);
    idxPredictions = readFileSync(out, "utf8");
    const lines = idxPredictions.split("\n");
    expect(lines.pop()).toBe(""); // a final newline
    expect(lines).toHaveLength(10000);
    expect(lines.every((l) => /^\d$/.test(l))).toBe(true);
    expect(lines.slice(0, 3)).toEqual(["7", "2", "1"]); // the first test digits
    const labels = parseIdx(readMaybeGzip(MNIST_LABELS), 1, "labels").data;
    const correct = lines.filter((l, i) => Number(l) === labels[i]).length;
    expect(correct / 100).toBeCloseTo(accuracy, 2);
  });

  it("gives the same predictions for the images saved as .npy uint8 and float32 0-1", () => {
    expect(idxPredictions).not.toBe("");
    const pixels = parseIdx(readMaybeGzip(MNIST_IMAGES), 3, "images").data;
    const u1 = join(tmp, "mnist-u1.npy");
    writeFileSync(u1, encodeNpy(pixels, [10000, 28, 28]));
    const f4 = join(tmp, "mnist-f4.npy");
    writeFileSync(
      f4,
      encodeNpy(
        Float32Array.from(pixels, (p) => p / 255),
        [10000, 784],
      ),
    );
    const labelsText = join(tmp, "labels.txt");
    writeFileSync(labelsText, [...parseIdx(readMaybeGzip(MNIST_LABELS), 1, "labels").data].join("\n") + "\n");

    const a = run([
      "classify",
      "--input",
      u1,
      "--out",
      join(tmp, "u1.txt"),
      "--labels",
      labelsText,
      "--batch-size",
      "250",
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/npy \|u1 \(10000, 28, 28\), C order; N x H x W; values uint8 0-255/);
    expect(a.stdout).toMatch(/accuracy: 99\.\d\d%/);
    expect(readFileSync(join(tmp, "u1.txt"), "utf8")).toBe(idxPredictions);

    const b = run(["classify", "--input", f4, "--out", join(tmp, "f4.txt")]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/npy <f4 \(10000, 784\), C order; N x D; values float 0-1 \(scaled to 0-255\)/);
    expect(readFileSync(join(tmp, "f4.txt"), "utf8")).toBe(idxPredictions);
  });

  it("classifies a folder of PNGs in name order (grey and RGB), and refuses PNGs of another size", () => {
    expect(idxPredictions).not.toBe("");
    const pixels = parseIdx(readMaybeGzip(MNIST_IMAGES), 3, "images").data;
    const dir = join(tmp, "pngs");
    mkdirSync(dir);
    for (let n = 0; n < 12; n++) {
      const png = new PNG({ width: 28, height: 28 });
      for (let p = 0; p < 784; p++) {
        const v = pixels[n * 784 + p];
        png.data.set([v, v, v, 255], 4 * p);
      }
      // digit n+1 in "n+1.png": 10.png must come after 9.png
      writeFileSync(join(dir, `${n + 1}.png`), PNG.sync.write(png, { colorType: n % 2 ? 0 : 2 }));
    }
    writeFileSync(join(dir, "notes.txt"), "not an image");
    const out = join(tmp, "png.txt");
    const r = run(["classify", "--input", dir, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /classified 12 images of \[1,28,28\] .*folder of 12 PNG files in name order, 6 grey, 6 colour turned to grey/,
    );
    expect(readFileSync(out, "utf8")).toBe(idxPredictions.split("\n").slice(0, 12).join("\n") + "\n");

    writeFileSync(join(dir, "13.png"), PNG.sync.write(new PNG({ width: 32, height: 32 })));
    expectOneLineError(
      run(["classify", "--input", dir, "--out", out]),
      /the model expects input \[1,28,28\] but .*13\.png is 32 x 32 pixels \(images are not resized\)/,
    );
    writeFileSync(join(dir, "13.png"), "garbage");
    expectOneLineError(run(["classify", "--input", dir, "--out", out]), /13\.png: not a PNG file/);
    rmSync(join(dir, "13.png"));
    writeFileSync(join(dir, "13.png"), PNG.sync.write(new PNG({ width: 28, height: 28 })).subarray(0, 40));
    expectOneLineError(run(["classify", "--input", dir, "--out", out]), /13\.png: not a valid PNG/);
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    expectOneLineError(run(["classify", "--input", empty, "--out", out]), /is a folder without \.png files/);
  });

  it("refuses a CIFAR-shaped .npy with the MNIST model, naming both shapes, and leaves --out intact", () => {
    const out = join(tmp, "keep.txt");
    writeFileSync(out, "precious\n");
    const cifar = join(tmp, "cifar.npy");
    writeFileSync(cifar, encodeNpy(new Uint8Array(4 * 3072), [4, 3, 32, 32]));
    expectOneLineError(
      run(["classify", "--input", cifar, "--out", out]),
      /^mnist-wasm: the model expects input \[1,28,28\] but the data has images of \[3,32,32\]$/,
    );
    const bad = join(tmp, "bad.npy");
    writeFileSync(bad, npyFile(dictOf("<f4", "(10, 28, 28)"), new Uint8Array(100)));
    expectOneLineError(
      run(["classify", "--input", bad, "--out", out]),
      /bad\.npy: .npy header declares shape \(10, 28, 28\)/,
    );
    expectOneLineError(run(["classify", "--input", join(tmp, "missing.npy"), "--out", out]), /cannot read \(ENOENT/);
    writeFileSync(join(tmp, "junk.dat"), "hello");
    expectOneLineError(
      run(["classify", "--input", join(tmp, "junk.dat"), "--out", out]),
      /not an idx images file, a \.npy array or a CIFAR-10 \.bin batch/,
    );
    // labels that do not fit the images: nothing is written either
    expectOneLineError(
      run(["classify", "--input", cifar, "--out", out, "--model", join(tmp, "none.safetensors")]),
      /cannot read/,
    );
    const few = join(tmp, "few.txt");
    writeFileSync(few, "1\n2\n");
    expectOneLineError(
      run(["classify", "--input", MNIST_IMAGES, "--out", out, "--labels", few]),
      /2 labels for 10000 images/,
    );
    expectOneLineError(
      run(["classify", "--input", MNIST_IMAGES, "--out", MNIST_IMAGES]),
      /would overwrite the --input file/,
    );
    expect(readFileSync(out, "utf8")).toBe("precious\n");
    expect(existsSync(join(tmp, "missing.npy"))).toBe(false);
  });

  it("classifies CIFAR-10 batches and CIFAR-shaped .npy (channels first or last) alike with a CIFAR model", async () => {
    // A small CIFAR-10 network with random weights and 300 random records: the point is that
    // every format reaches the network as the same pixels.
    const rt = await Runtime.create();
    const model = new Model(
      rt,
      {
        input: [3, 32, 32],
        layers: [
          { type: "conv2d", filters: 4, size: 3, stride: 2 },
          { type: "relu" },
          { type: "flatten" },
          { type: "dense", units: 10 },
        ],
      },
      { seed: 3 },
    );
    const modelPath = join(tmp, "cifar.safetensors");
    await saveModelFile(modelPath, model, { dataset: "cifar10" });
    const count = 300;
    const rng = new Random(5);
    const records = new Uint8Array(count * 3073);
    const chw = new Uint8Array(count * 3072);
    for (let n = 0; n < count; n++) {
      records[n * 3073] = rng.int(10);
      for (let i = 0; i < 3072; i++) {
        const v = rng.int(256);
        records[n * 3073 + 1 + i] = v;
        chw[n * 3072 + i] = v;
      }
    }
    const hwc = new Float32Array(count * 3072);
    for (let n = 0; n < count; n++) {
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < 1024; p++) hwc[n * 3072 + p * 3 + c] = chw[n * 3072 + c * 1024 + p];
    }
    const bin = join(tmp, "batch.bin.gz");
    writeFileSync(bin, gzipSync(records));
    writeFileSync(join(tmp, "chw.npy"), encodeNpy(chw, [count, 3, 32, 32]));
    writeFileSync(join(tmp, "hwc.npy"), encodeNpy(hwc, [count, 32, 32, 3]));
    const expected =
      [...model.predict(chw)]
        .reduce<number[]>((acc, _, i, p) => {
          if (i % 10 === 0) acc.push(p.slice(i, i + 10).reduce((best, v, k, row) => (v > row[best] ? k : best), 0));
          return acc;
        }, [])
        .join("\n") + "\n";

    const r = run(["classify", "--input", bin, "--out", join(tmp, "bin.txt"), "--model", modelPath, "--labels", bin]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/classified 300 images of \[3,32,32\] .*CIFAR-10 binary batch, 300 records/);
    expect(r.stdout).toMatch(/accuracy: [\d.]+% \(\d+\/300\)/);
    expect(readFileSync(join(tmp, "bin.txt"), "utf8")).toBe(expected);
    for (const name of ["chw", "hwc"]) {
      const p = run([
        "classify",
        "--input",
        join(tmp, `${name}.npy`),
        "--out",
        join(tmp, `${name}.txt`),
        "--model",
        modelPath,
      ]);
      expect(p.code, p.stderr).toBe(0);
      expect(readFileSync(join(tmp, `${name}.txt`), "utf8")).toBe(expected);
    }
    expect(run(["classify", "-i", join(tmp, "hwc.npy"), "-o", join(tmp, "x.txt"), "-m", modelPath]).stdout).toMatch(
      /N x H x W x C \(transposed to channels first\); values float 0-255/,
    );
    // MNIST images with the CIFAR model: refused the other way round
    expectOneLineError(
      run(["classify", "--input", MNIST_IMAGES, "--out", join(tmp, "y.txt"), "--model", modelPath]),
      /the model expects input \[3,32,32\] but the data has images of \[1,28,28\]/,
    );
    model.dispose();
  });
});
