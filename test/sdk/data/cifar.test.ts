// The CIFAR-10 reader (folders of .bin / .bin.gz, the official tar.gz) and the tar reader, on the
// real files in shared/datasets (skipped with a reason where they are absent) and on synthetic
// archives built here with a small ustar writer; then the architecture strings of sdk/arch.ts and the presets.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CIFAR_DIR as REAL_DIR, cifarAvailable } from "../../support/cifar";
import { expectError } from "../../support/errors";
import {
  ARCH_PRESETS,
  CIFAR10_CLASSES,
  CIFAR10_FILES,
  formatArch,
  loadCifar10,
  Model,
  parseArch,
  Random,
  readTar,
  Runtime,
  withClassifier,
  type Dataset,
  type LayerSpec,
} from "../../../sdk/node";

const RECORD = 3073;
const PIXELS = 3072;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "cifar-test-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Synthetic data: records, a ustar writer

interface Records {
  labels: number[];
  pixels: Uint8Array; // count x 3072
  bytes: Uint8Array; // the .bin file
}

function records(rng: Random, count: number): Records {
  const labels = Array.from({ length: count }, () => rng.int(10));
  const pixels = Uint8Array.from({ length: count * PIXELS }, () => rng.int(256));
  const bytes = new Uint8Array(count * RECORD);
  for (let i = 0; i < count; i++) {
    bytes[i * RECORD] = labels[i];
    bytes.set(pixels.subarray(i * PIXELS, (i + 1) * PIXELS), i * RECORD + 1);
  }
  return { labels, pixels, bytes };
}

interface TarItem {
  name: string;
  data?: Uint8Array;
  /** '0' regular file (default), '5' directory. */
  type?: string;
  /** The ustar prefix field (the reader joins prefix/name). */
  prefix?: string;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A 512-byte ustar header: name, mode, uid, gid, octal size, mtime, checksum, type, magic. */
function tarHeader(item: TarItem): Uint8Array {
  const h = new Uint8Array(512);
  const size = item.data?.length ?? 0;
  h.set(ascii(item.name), 0);
  h.set(ascii(item.type === "5" ? "0000755\0" : "0000644\0"), 100);
  h.set(ascii("0001750\0"), 108);
  h.set(ascii("0001750\0"), 116);
  h.set(ascii(size.toString(8).padStart(11, "0") + "\0"), 124);
  h.set(ascii("11622645330\0"), 136);
  h.set(ascii("        "), 148); // the checksum counts its own field as spaces
  h.set(ascii(item.type ?? "0"), 156);
  h.set(ascii("ustar\0"), 257);
  h.set(ascii("00"), 263);
  if (item.prefix) h.set(ascii(item.prefix), 345);
  const sum = h.reduce((a, b) => a + b, 0);
  h.set(ascii(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return h;
}

/** A tar archive: header and data (padded to 512 bytes) per item, then two zero blocks. */
function tar(items: TarItem[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const item of items) {
    blocks.push(tarHeader(item));
    if (item.data?.length) {
      const padded = new Uint8Array(Math.ceil(item.data.length / 512) * 512);
      padded.set(item.data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** Header offsets of the archive's items, in order. */
function headerOffsets(items: TarItem[]): number[] {
  const offsets: number[] = [];
  let o = 0;
  for (const item of items) {
    offsets.push(o);
    o += 512 + Math.ceil((item.data?.length ?? 0) / 512) * 512;
  }
  return offsets;
}

/** Six batch files of a few random records each: data_batch_k has k + 1 records, test_batch 3. */
function syntheticBatches(seed: number): Map<string, Records> {
  const rng = new Random(seed);
  const batches = new Map<string, Records>();
  CIFAR10_FILES.train.forEach((name, k) => batches.set(name, records(rng, k + 2)));
  batches.set("test_batch.bin", records(rng, 3));
  return batches;
}

/** The archive the way the official one is laid out, its files in a scrambled order. */
function officialLayout(batches: Map<string, Records>, skip: string[] = []): TarItem[] {
  const order = [
    "test_batch.bin",
    "data_batch_3.bin",
    "data_batch_1.bin",
    "data_batch_5.bin",
    "data_batch_2.bin",
    "data_batch_4.bin",
  ];
  return [
    { name: "cifar-10-batches-bin/", type: "5" },
    { name: "cifar-10-batches-bin/batches.meta.txt", data: ascii(CIFAR10_CLASSES.join("\n") + "\n") },
    ...order
      .filter((n) => !skip.includes(n))
      .map((n) => ({ name: `cifar-10-batches-bin/${n}`, data: batches.get(n)!.bytes })),
    { name: "cifar-10-batches-bin/readme.html", data: ascii("<html></html>") },
  ];
}

/** The records of `names` concatenated, as loadCifar10 should return them. */
function expected(batches: Map<string, Records>, names: readonly string[]): { labels: number[]; pixels: Uint8Array } {
  const parts = names.map((n) => batches.get(n)!);
  const pixels = new Uint8Array(parts.reduce((s, p) => s + p.pixels.length, 0));
  let o = 0;
  for (const p of parts) {
    pixels.set(p.pixels, o);
    o += p.pixels.length;
  }
  return { labels: parts.flatMap((p) => p.labels), pixels };
}

function expectDataset(data: Dataset, want: { labels: number[]; pixels: Uint8Array }): void {
  expect(data.name).toBe("cifar10");
  expect(data.shape).toEqual([3, 32, 32]);
  expect(data.classes).toEqual(CIFAR10_CLASSES);
  expect(data.count).toBe(want.labels.length);
  expect(Array.from(data.labels)).toEqual(want.labels);
  expect(data.images.length).toBe(want.pixels.length);
  expect(
    Buffer.compare(
      Buffer.from(data.images.buffer, data.images.byteOffset, data.images.length),
      Buffer.from(want.pixels),
    ),
  ).toBe(0);
}

/** A fresh folder under the temporary one. */
let folders = 0;
function folder(): string {
  const dir = join(tmp, `case-${++folders}`);
  mkdirSync(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------

const realFiles = "CIFAR-10: the real files in shared/datasets";
describe.runIf(cifarAvailable("test/sdk/data/cifar.test.ts", realFiles))(realFiles, () => {
  it("the test batch: 10,000 images of [3, 32, 32], 1,000 per class, records as in the file", () => {
    const data = loadCifar10("test", REAL_DIR);
    const raw = gunzipSync(readFileSync(join(REAL_DIR, "test_batch.bin.gz")));
    expect(raw.length).toBe(10000 * RECORD);
    expect(data.name).toBe("cifar10");
    expect(data.count).toBe(10000);
    expect(data.shape).toEqual([3, 32, 32]);
    expect(data.images.length).toBe(10000 * PIXELS);
    expect(data.labels.length).toBe(10000);
    expect(data.classes).toEqual(
      readFileSync(join(REAL_DIR, "batches.meta.txt"), "utf8")
        .split("\n")
        .filter((l) => l.trim()),
    );
    const counts = new Array(10).fill(0);
    for (const l of data.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    // first record: byte 0 is the label, bytes 1..3072 the pixels (red, green, blue planes)
    expect(data.labels[0]).toBe(raw[0]);
    expect(Array.from(data.images.subarray(0, PIXELS))).toEqual(Array.from(raw.subarray(1, RECORD)));
    // and every other record too
    for (const i of [1, 4999, 9999]) {
      expect(data.labels[i]).toBe(raw[i * RECORD]);
      expect(
        Buffer.compare(
          Buffer.from(data.images.subarray(i * PIXELS, (i + 1) * PIXELS)),
          raw.subarray(i * RECORD + 1, (i + 1) * RECORD),
        ),
      ).toBe(0);
    }
    let mismatches = 0;
    for (let i = 0; i < 10000; i++) {
      if (data.labels[i] !== raw[i * RECORD]) mismatches++;
      else if (
        Buffer.compare(
          Buffer.from(data.images.subarray(i * PIXELS, (i + 1) * PIXELS)),
          raw.subarray(i * RECORD + 1, (i + 1) * RECORD),
        ) !== 0
      )
        mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it("the training batches: 50,000 images, 5,000 per class, data_batch_1 first", () => {
    const data = loadCifar10("train", REAL_DIR);
    expect(data.count).toBe(50000);
    const counts = new Array(10).fill(0);
    for (const l of data.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(5000));
    const first = gunzipSync(readFileSync(join(REAL_DIR, "data_batch_1.bin.gz"))).subarray(0, RECORD);
    const last = gunzipSync(readFileSync(join(REAL_DIR, "data_batch_5.bin.gz"))).subarray(-RECORD);
    expect(data.labels[0]).toBe(first[0]);
    expect(Buffer.compare(Buffer.from(data.images.subarray(0, PIXELS)), first.subarray(1))).toBe(0);
    expect(data.labels[49999]).toBe(last[0]);
    expect(Buffer.compare(Buffer.from(data.images.subarray(49999 * PIXELS)), last.subarray(1))).toBe(0);
  });
});

describe("CIFAR-10: synthetic archives and folders", () => {
  it("the official layout as cifar-10-binary.tar.gz: train is the five batches in order, test the test batch", () => {
    const batches = syntheticBatches(1);
    const dir = folder();
    const file = join(dir, "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(tar(officialLayout(batches))));
    expectDataset(loadCifar10("train", file), expected(batches, CIFAR10_FILES.train));
    expectDataset(loadCifar10("test", file), expected(batches, ["test_batch.bin"]));
    expect(loadCifar10("train", file).count).toBe(2 + 3 + 4 + 5 + 6);
  });

  it("an uncompressed .tar, names in the ustar prefix field, GNU-style end without the marker", () => {
    const batches = syntheticBatches(2);
    const items: TarItem[] = [...CIFAR10_FILES.train, "test_batch.bin"].map((n) => ({
      name: n,
      prefix: "cifar-10-batches-bin",
      data: batches.get(n)!.bytes,
    }));
    const dir = folder();
    const file = join(dir, "cifar-10-binary.tar");
    const bytes = tar(items);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1024)); // no end-of-archive blocks
    expectDataset(loadCifar10("train", file), expected(batches, CIFAR10_FILES.train));
    expectDataset(loadCifar10("test", file), expected(batches, ["test_batch.bin"]));
  });

  it("readTar lists regular files with their bytes, skips directories", () => {
    const a = ascii("hello");
    const b = new Uint8Array(1025).fill(7); // spans three blocks
    const entries = readTar(
      tar([
        { name: "d/", type: "5" },
        { name: "d/a.txt", data: a },
        { name: "b.bin", prefix: "x/y", data: b },
        { name: "empty" },
      ]),
      "t.tar",
    );
    expect(entries.map((e) => e.name)).toEqual(["d/a.txt", "x/y/b.bin", "empty"]);
    expect(Array.from(entries[0].data)).toEqual(Array.from(a));
    expect(Array.from(entries[1].data)).toEqual(Array.from(b));
    expect(entries[2].data.length).toBe(0);
  });

  it("a folder of plain .bin files, and a folder holding cifar-10-batches-bin/ with .bin.gz files", () => {
    const batches = syntheticBatches(3);
    const plain = folder();
    for (const [name, r] of batches) writeFileSync(join(plain, name), r.bytes);
    expectDataset(loadCifar10("train", plain), expected(batches, CIFAR10_FILES.train));
    expectDataset(loadCifar10("test", plain), expected(batches, ["test_batch.bin"]));

    const parent = folder();
    mkdirSync(join(parent, "cifar-10-batches-bin"));
    for (const [name, r] of batches)
      writeFileSync(join(parent, "cifar-10-batches-bin", `${name}.gz`), gzipSync(r.bytes));
    expectDataset(loadCifar10("train", parent), expected(batches, CIFAR10_FILES.train));
    expectDataset(loadCifar10("test", parent), expected(batches, ["test_batch.bin"]));
  });
});

describe("CIFAR-10: bad files are BAD_FILE errors naming the file", () => {
  /** A folder with the six batch files, `test_batch.bin` replaced by `testBytes`. */
  function folderWithTest(testBytes: Uint8Array): string {
    const dir = folder();
    for (const [name, r] of syntheticBatches(4))
      writeFileSync(join(dir, name), name === "test_batch.bin" ? testBytes : r.bytes);
    return dir;
  }

  it("a file whose length is not a multiple of 3,073 bytes", () => {
    const good = records(new Random(5), 2).bytes;
    for (const length of [RECORD + 1, 2 * RECORD - 1, 100]) {
      const bytes = new Uint8Array(length);
      bytes.set(good.subarray(0, Math.min(length, good.length)));
      const dir = folderWithTest(bytes);
      expectError(() => loadCifar10("test", dir), "BAD_FILE", join(dir, "test_batch.bin"), `${length} bytes`);
    }
  });

  it("an empty file", () => {
    const dir = folderWithTest(new Uint8Array(0));
    expectError(() => loadCifar10("test", dir), "BAD_FILE", join(dir, "test_batch.bin"), "0 bytes");
    expect(loadCifar10("train", dir).count).toBe(20); // the training files are fine
  });

  it("a label of 10 (or 255)", () => {
    for (const label of [10, 255]) {
      const bytes = records(new Random(6), 3).bytes;
      bytes[2 * RECORD] = label;
      const dir = folderWithTest(bytes);
      expectError(
        () => loadCifar10("test", dir),
        "BAD_FILE",
        join(dir, "test_batch.bin"),
        "record 2",
        `label ${label}`,
      );
    }
  });

  it("a bad record inside the archive is named by archive and entry", () => {
    const batches = syntheticBatches(7);
    batches.get("data_batch_4.bin")!.bytes[0] = 10;
    const file = join(folder(), "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(tar(officialLayout(batches))));
    expectError(
      () => loadCifar10("train", file),
      "BAD_FILE",
      `${file}:cifar-10-batches-bin/data_batch_4.bin`,
      "label 10",
    );
    expect(loadCifar10("test", file).count).toBe(3);
  });

  it("a tar with a corrupted header checksum", () => {
    const items = officialLayout(syntheticBatches(8));
    const bytes = tar(items);
    const third = headerOffsets(items)[3]; // data_batch_3.bin
    bytes[third + 20] ^= 0x01; // a byte of the name
    const file = join(folder(), "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(bytes));
    expectError(() => loadCifar10("train", file), "BAD_FILE", file, "checksum", `byte ${third}`);
    // and a damaged checksum field itself
    const again = tar(items);
    again[third + 150] = again[third + 150] === 0x30 ? 0x31 : 0x30;
    writeFileSync(file, gzipSync(again));
    expectError(() => loadCifar10("test", file), "BAD_FILE", file, "checksum");
  });

  it("a truncated tar (an entry runs past the end), and a truncated gzip", () => {
    const items = officialLayout(syntheticBatches(9));
    const bytes = tar(items);
    const cut = headerOffsets(items)[4] + 512 + 1000; // inside data_batch_1.bin's data (6,146 bytes)
    const file = join(folder(), "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(bytes.subarray(0, cut)));
    expectError(() => loadCifar10("train", file), "BAD_FILE", file, "truncated");
    writeFileSync(file, gzipSync(bytes).subarray(0, 200));
    expectError(() => loadCifar10("train", file), "BAD_FILE", file, "gzip");
  });

  it("an archive without test_batch.bin", () => {
    const batches = syntheticBatches(10);
    const file = join(folder(), "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(tar(officialLayout(batches, ["test_batch.bin"]))));
    expectError(() => loadCifar10("test", file), "BAD_FILE", file, "test_batch.bin");
    expectDataset(loadCifar10("train", file), expected(batches, CIFAR10_FILES.train));
  });

  it("a file that is no tar archive at all (a plain batch file given as the path)", () => {
    const file = join(folder(), "test_batch.bin");
    writeFileSync(file, records(new Random(11), 2).bytes);
    expectError(() => loadCifar10("test", file), "BAD_FILE", file);
  });

  it("a folder without data_batch_3.bin", () => {
    const dir = folder();
    for (const [name, r] of syntheticBatches(12))
      if (name !== "data_batch_3.bin") writeFileSync(join(dir, name), r.bytes);
    expectError(() => loadCifar10("train", dir), "BAD_FILE", dir, "data_batch_3.bin");
    expect(loadCifar10("test", dir).count).toBe(3);
  });

  it("a path that does not exist", () => {
    const path = join(tmp, "no-such-thing", "cifar-10-binary.tar.gz");
    expectError(() => loadCifar10("test", path), "BAD_FILE", path);
    expectError(() => loadCifar10("train", join(tmp, "missing-folder")), "BAD_FILE", join(tmp, "missing-folder"));
  });
});

// ---------------------------------------------------------------------------------------------
// Architecture strings

describe("architecture strings (sdk/arch.ts)", () => {
  const TEXT = "conv:32x3,relu,maxpool:2,conv:64x3s2p1,avgpool:3s2,flatten,dense:128,sigmoid,dense:10";
  const LAYERS: LayerSpec[] = [
    { type: "conv2d", filters: 32, size: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    { type: "conv2d", filters: 64, size: 3, stride: 2, padding: 1 },
    { type: "avgpool", size: 3, stride: 2 },
    { type: "flatten" },
    { type: "dense", units: 128 },
    { type: "sigmoid" },
    { type: "dense", units: 10 },
  ];

  it("parseArch reads every kind of layer", () => {
    expect(parseArch(TEXT)).toStrictEqual(LAYERS);
    expect(parseArch(" conv:8x5p2 , maxpool:3s1,dense:4, ")).toStrictEqual([
      { type: "conv2d", filters: 8, size: 5, padding: 2 },
      { type: "maxpool", size: 3, stride: 1 },
      { type: "dense", units: 4 },
    ]);
  });

  it("formatArch is its inverse, and writes default strides and paddings out of the way", () => {
    expect(formatArch(LAYERS)).toBe(TEXT);
    expect(formatArch(parseArch(TEXT))).toBe(TEXT);
    for (const preset of Object.values(ARCH_PRESETS)) expect(formatArch(parseArch(preset))).toBe(preset);
    expect(
      formatArch([
        { type: "conv2d", filters: 8, size: 3, stride: 1, padding: 0 },
        { type: "maxpool", size: 2, stride: 2 },
        { type: "avgpool", size: 2, stride: 1 },
      ]),
    ).toBe("conv:8x3,maxpool:2,avgpool:2s1");
  });

  it("bad strings are BAD_ARGUMENT errors naming the bad part", () => {
    for (const [text, part] of [
      ["conv:32", "conv:32"],
      ["dense:0", "dense:0"],
      ["pool:2", "pool:2"],
      ["relu:3", "relu:3"],
      ["conv:32x3,relu,dense:0,dense:10", "dense:0"],
      ["conv:32x3s0", "conv:32x3s0"],
      ["conv:0x3", "conv:0x3"],
      ["maxpool:0", "maxpool:0"],
      ["avgpool:2s0", "avgpool:2s0"],
      ["dense:1.5", "dense:1.5"],
      ["dense:-4", "dense:-4"],
      ["dense:10:2", "dense:10:2"],
      ["Dense:10", "Dense:10"],
      ["flatten:1", "flatten:1"],
    ]) {
      expectError(() => parseArch(text), "BAD_ARGUMENT", `"${part}"`);
    }
    for (const text of ["", " ", ",,"]) expectError(() => parseArch(text), "BAD_ARGUMENT", "empty");
  });

  it("withClassifier appends dense:classes only when the last layer is not dense", () => {
    const convs = parseArch("conv:8x3,relu");
    expect(withClassifier(convs, 10)).toStrictEqual([...convs, { type: "dense", units: 10 }]);
    expect(convs).toHaveLength(2); // not modified
    expect(withClassifier(parseArch("conv:8x3,flatten"), 7).at(-1)).toStrictEqual({ type: "dense", units: 7 });
    const dense = parseArch("conv:8x3,relu,dense:5");
    expect(withClassifier(dense, 10)).toStrictEqual(dense);
    expect(withClassifier([], 3)).toStrictEqual([{ type: "dense", units: 3 }]);
  });

  describe("models", () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await Runtime.create();
    });

    it("the parsed string builds a model with the expected shapes", () => {
      const model = new Model(rt, { input: [3, 32, 32], layers: parseArch(TEXT) });
      expect(model.layers.map((l) => l.outputShape)).toEqual([
        [32, 30, 30],
        [32, 30, 30],
        [32, 15, 15],
        [64, 8, 8],
        [64, 3, 3],
        [576],
        [128],
        [128],
        [10],
      ]);
      model.dispose();
    });

    it.each(Object.keys(ARCH_PRESETS))("preset %s builds a 10-class model on its data set's input shape", (name) => {
      const input = name.includes("cifar") ? [3, 32, 32] : [1, 28, 28];
      const layers = withClassifier(parseArch(ARCH_PRESETS[name]), 10);
      expect(layers.at(-1)).toStrictEqual({ type: "dense", units: 10 });
      const model = new Model(rt, { input, layers }, { seed: 1 });
      try {
        expect(model.classCount).toBe(10);
        expect(model.inputSize).toBe(input.reduce((a, b) => a * b, 1));
        expect(model.layers.at(-1)!.outputShape).toEqual([10]);
        const rng = new Random(3);
        const probs = model.predict(Uint8Array.from({ length: 2 * model.inputSize }, () => rng.int(256)));
        expect(probs.length).toBe(20);
        for (let r = 0; r < 2; r++) {
          const row = Array.from(probs.subarray(10 * r, 10 * r + 10));
          expect(row.every((p) => p >= 0 && p <= 1)).toBe(true);
          expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
        }
      } finally {
        model.dispose();
      }
    });
  });
});
