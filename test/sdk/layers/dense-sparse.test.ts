// A dense layer reading the model's input skips its zeros (Dense.sparseInput, Runtime.sparseGemm):
// the floats must be the GEMM's, bit for bit. Checked on real MNIST images, on the plain and the
// relaxed-SIMD builds, on one thread and on two (where the products are shared out): the
// runtime's products against gemm(), and a few batches of training with the sparse products
// against the same training with them turned off, weight for weight. The kernels themselves are
// tested against plain references in test/assembly/sparse.test.ts.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Dense } from "../../../sdk/layers/dense";
import {
  type Dataset,
  fit,
  loadMnist,
  Model,
  Optimizer,
  type OptimizerSpec,
  parseArch,
  Random,
  Runtime,
  takeFirst,
} from "../../../sdk/node";
import { expectSameBits } from "../../support/bits";

/** The four kinds of runtime: plain or relaxed SIMD (FMA), one thread or two. */
const CONFIGS = [
  { relaxedSimd: false, threads: 1 },
  { relaxedSimd: true, threads: 1 },
  { relaxedSimd: false, threads: 2 },
  { relaxedSimd: true, threads: 2 },
] as const;
const runtimes: Runtime[] = [];
let train: Dataset;

beforeAll(async () => {
  for (const config of CONFIGS) {
    const rt = await Runtime.create(config);
    runtimes.push(rt);
    expect(rt.threads, rt.features.threadsNote).toBe(config.threads);
  }
  train = takeFirst(loadMnist("train"), 600);
});
afterAll(() => {
  for (const rt of runtimes) rt.dispose();
});

const label = (rt: Runtime): string => `${rt.features.relaxedSimd ? "relaxed" : "plain"} SIMD, ${rt.threads} thread(s)`;

describe("Runtime.sparseGemm", () => {
  // x·W of the MLP's first layer (shared out by rows of C on two threads), its dW = xᵀ·dY (by rows
  // of dW), a wide product shared out by columns, and products too small to share out (one image).
  const shapes: [string, number, number, number, boolean][] = [
    ["x·W, batch 100", 100, 784, 100, false],
    ["xᵀ·dY, batch 100", 784, 100, 100, true],
    ["x·W, 20 images, 400 units (split by columns)", 20, 784, 400, false],
    ["x·W, one image", 1, 784, 100, false],
    ["x·W, 3 images, 37 units", 3, 784, 37, false],
  ];

  it.each(shapes)("%s: gemm's floats on MNIST pixels, on every runtime", (_, m, k, n, transA) => {
    const images = transA ? k : m;
    const pixels = Float32Array.from(train.images.subarray(0, images * 784), (v) => v / 255);
    const rng = new Random(m + k + n);
    const b = Float32Array.from({ length: k * n }, () => rng.normal() * 0.05);
    for (const rt of runtimes) {
      const x = rt.alloc(pixels.length * 4);
      const bPtr = rt.alloc(b.length * 4);
      const dense = rt.alloc(m * n * 4);
      const sparse = rt.alloc(m * n * 4);
      const rows = rt.alloc(rt.sparseRowsBytes(m, k));
      rt.f32(x, pixels.length).set(pixels);
      rt.f32(bPtr, b.length).set(b);
      rt.f32(sparse, m * n).fill(NaN);
      rt.gemm(x, bPtr, dense, m, k, n, transA, false, 0);
      let nonzeros: number;
      if (transA) {
        // xᵀ·dY: the nonzeros of x [k,m], transposed, as Dense lists them for dW.
        const byImage = rt.alloc(rt.sparseRowsBytes(k, m));
        nonzeros = rt.sparseRows(x, k, m, byImage);
        rt.sparseTranspose(byImage, k, m, rows);
        rt.free(byImage);
      } else {
        nonzeros = rt.sparseRows(x, m, k, rows);
      }
      expect(nonzeros, "MNIST pixels: about a fifth nonzero").toBeLessThan(0.3 * m * k);
      rt.sparseGemm(rows, bPtr, sparse, m, k, n);
      expectSameBits(rt.f32(sparse, m * n).slice(), rt.f32(dense, m * n).slice(), label(rt));
      for (const ptr of [x, bPtr, dense, sparse, rows]) rt.free(ptr);
    }
  });
});

describe("training with the sparse first layer", () => {
  const cases: [string, OptimizerSpec][] = [
    ["dense:100,sigmoid,dense:10", { name: "sgd", lr: 0.5 }],
    ["dense:100,relu,dense:10", { name: "adam" }],
    ["dense:64,relu,dense:32,relu,dense:10", { name: "momentum", lr: 0.05 }],
  ];

  it.each(cases)(
    "%s (%o): 6 batches of 100 MNIST images give the same weights and predictions as the GEMM",
    async (arch, optimizer) => {
      const images = train.images.subarray(0, 100 * 784);
      for (const rt of runtimes) {
        const spy = vi.spyOn(rt, "sparseGemm");
        const results = [];
        for (const sparse of [true, false]) {
          const model = new Model(rt, { input: [1, 28, 28], layers: parseArch(arch) }, { seed: 7 });
          const first = model.layers[0] as Dense;
          expect(first.sparseInput, "the model marks its first layer").toBe(true);
          first.sparseInput = sparse;
          spy.mockClear();
          await fit(model, train, { epochs: 1, batchSize: 100, optimizer: new Optimizer(rt, optimizer), seed: 3 });
          // Forward and dW of each of the 6 batches.
          expect(spy.mock.calls.length, `sparse products taken (sparseInput ${sparse})`).toBe(sparse ? 12 : 0);
          results.push({
            params: model.params.map((p) => p.value.view().slice()),
            batch: model.predict(images, 100),
            seven: model.predict(images.subarray(0, 7 * 784), 7),
          });
          model.dispose();
        }
        const [viaSparse, viaGemm] = results;
        viaGemm.params.forEach((want, i) => expectSameBits(viaSparse.params[i], want, `${label(rt)}: parameter ${i}`));
        expectSameBits(viaSparse.batch, viaGemm.batch, `${label(rt)}: predictions for 100 images`);
        expectSameBits(viaSparse.seven, viaGemm.seven, `${label(rt)}: predictions for 7 images`);
        spy.mockRestore();
      }
    },
  );

  it("an infinite weight, or a NaN in dY, where the input is 0: the GEMM's NaNs, not the sparse product's finite sums", () => {
    const pixels = Float32Array.from(train.images.subarray(0, 20 * 784), (v) => v / 255);
    // Pixel 0 (a corner) is 0 in every MNIST image: the sparse product never reads W's row 0.
    for (let i = 0; i < 20; i++) expect(pixels[i * 784]).toBe(0);
    for (const rt of runtimes) {
      const models = [true, false].map((sparse) => {
        const model = new Model(rt, { input: [1, 28, 28], layers: parseArch("dense:16,relu,dense:10") }, { seed: 5 });
        (model.layers[0] as Dense).sparseInput = sparse;
        return model;
      });
      // x·W: an infinity in row 0 of W makes 0·∞ = NaN in every image's sums.
      const outputs = models.map((model) => {
        model.params[0].value.view()[3] = Infinity;
        return model.predict(pixels, 20);
      });
      expect(outputs[0].every(Number.isNaN), "every probability is NaN").toBe(true);
      expectSameBits(outputs[0], outputs[1], `${label(rt)}: predictions with an infinite weight`);
      // dW = xᵀ·dY: a NaN in dY makes its column of dW NaN in every row, rows of zeros included.
      const grads = models.map((model) => {
        model.params[0].value.view()[3] = 0.5;
        const layer = model.layers[0];
        model.allocate(20, true);
        rt.f32(model.inputPtr, pixels.length).set(pixels);
        layer.forward(model.inputPtr, 20, true);
        const dy = rt.alloc(20 * 16 * 4);
        rt.f32(dy, 20 * 16).fill(0.25);
        rt.f32(dy, 20 * 16)[5 * 16 + 7] = NaN;
        layer.backward(dy, 20, false);
        rt.free(dy);
        return model.params[0].grad.view().slice();
      });
      for (let p = 0; p < 784; p++) expect(Number.isNaN(grads[0][p * 16 + 7]), `dW[${p}, 7]`).toBe(true);
      expectSameBits(grads[0], grads[1], `${label(rt)}: dW with a NaN in dY`);
      for (const model of models) model.dispose();
    }
  });

  it("the backward pass follows the last training pass: an inference pass of other images in between changes no gradient", () => {
    const rt = runtimes[0];
    const pixels = Float32Array.from(train.images.subarray(0, 20 * 784), (v) => v / 255);
    const others = Float32Array.from(train.images.subarray(20 * 784, 40 * 784), (v) => v / 255);
    const model = new Model(rt, { input: [1, 28, 28], layers: parseArch("dense:16,relu,dense:10") }, { seed: 5 });
    const layer = model.layers[0];
    const dy = rt.alloc(20 * 16 * 4);
    try {
      model.allocate(20, true);
      rt.f32(dy, 20 * 16).set(Float32Array.from({ length: 20 * 16 }, (_, i) => Math.sin(i)));
      const gradient = (between: boolean): Float32Array => {
        rt.f32(model.inputPtr, pixels.length).set(pixels);
        layer.forward(model.inputPtr, 20, true);
        if (between) {
          // Other images at the same address (the inference pass lists their nonzeros), then the batch back.
          rt.f32(model.inputPtr, others.length).set(others);
          layer.forward(model.inputPtr, 20, false);
          rt.f32(model.inputPtr, pixels.length).set(pixels);
        }
        layer.backward(dy, 20, false);
        return model.params[0].grad.view().slice();
      };
      const spy = vi.spyOn(rt, "sparseGemm");
      const want = gradient(false);
      expect(spy, "the sparse products ran").toHaveBeenCalled();
      spy.mockRestore();
      expectSameBits(gradient(true), want, "dW with an inference pass in between");
    } finally {
      rt.free(dy);
      model.dispose();
    }
  });

  it("a layer after the first, a first layer on inputs with few zeros, and small batches keep the GEMM", async () => {
    const rt = runtimes[0];
    const model = new Model(rt, { input: [1, 28, 28], layers: parseArch("flatten,dense:20,relu,dense:10") });
    expect((model.layers[1] as Dense).sparseInput, "the dense layer after a flatten reads the input").toBe(true);
    expect((model.layers[3] as Dense).sparseInput).toBe(false);
    const spy = vi.spyOn(rt, "sparseGemm");
    // Half the pixels nonzero: above the share where the sparse product pays.
    const halfLit = Float32Array.from({ length: 10 * 784 }, (_, i) => (i % 2 ? 0.5 : 0));
    model.predict(halfLit, 10);
    expect(spy).not.toHaveBeenCalled();
    // Fewer than 5 images: checking the weights would cost what skipping the zeros saves.
    model.predict(train.images.subarray(0, 4 * 784), 4);
    expect(spy).not.toHaveBeenCalled();
    model.predict(train.images.subarray(0, 10 * 784), 10);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    model.dispose();
  });
});
