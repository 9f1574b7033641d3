// ConvTranspose against its plain reference (test/support/conv-transpose-reference.ts): forward
// (with and without the fused ReLU) and backward (input, filter and bias gradients), on one
// thread and on two, for hand-picked shapes (stride 2 with padding 1, the decoder's 7x7 -> 14x14,
// gaps between taps, several channels, batches) and shapes drawn at random; then its gradients
// against central differences, alone and inside a small decoder.
//
// The reference works in float64 on the layer's own float32 inputs; the tolerance of an output is
// 2·(depth + 4)·u times the same sum over absolute values, the float32 bound of a sum of `depth`
// products in any order. The reference itself is checked against conv2d's (a transposed
// convolution is the adjoint of the convolution with the same filters).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../../../sdk/node";
import { fillNormal, useRuntime } from "../../support/buffers";
import { conv2dForward } from "../../support/conv2d-reference";
import { convTBackward, convTForward, convTOutputSide, type ConvTShape } from "../../support/conv-transpose-reference";
import { checkModel } from "../../support/model-gradients";
import { buildModel, checkLayer, expectWithin, firstLayer, U } from "../../support/numeric";
import { expectError } from "../../support/errors";

useRuntime();

let one: Runtime;
let two: Runtime;
beforeAll(async () => {
  one = await Runtime.create({ threads: 1 });
  two = await Runtime.create({ threads: 2 });
  expect(two.features.threads, two.features.threadsNote).toBe(2);
});
afterAll(() => {
  one.dispose();
  two.dispose();
});

const abs = (v: ArrayLike<number>): Float64Array => Float64Array.from(v, Math.abs);
const tolerance = (magnitude: Float64Array, depth: number): Float64Array =>
  magnitude.map((m) => 2 * (depth + 4) * U * m + 1e-30);

const convTSpec = (s: ConvTShape): ModelSpec => ({
  input: [s.C, s.H, s.W],
  layers: [
    { type: "convT", filters: s.K, size: s.R, stride: s.stride, padding: s.pad },
    { type: "flatten" },
    { type: "dense", units: 2 },
  ],
});

/** Runs ConvTranspose on `rt` for shape `s` with random data against the reference; returns the threads the passes used. */
function compareWithReference(rt: Runtime, s: ConvTShape, seed: number): number {
  const model = new Model(rt, convTSpec(s), { seed });
  const rng = new Random(seed);
  const layer = model.layers[0];
  const [weight, bias] = layer.params;
  const OH = convTOutputSide(s.H, s),
    OW = convTOutputSide(s.W, s);
  expect(layer.outputShape).toEqual([s.K, OH, OW]);
  expect(weight.value.shape).toEqual([s.C, s.K, s.R, s.R]);
  const inSize = s.N * s.C * s.H * s.W,
    outSize = s.N * s.K * OH * OW;
  bias.value.write(Float32Array.from({ length: s.K }, () => rng.normal()));
  const w = weight.value.read(),
    b = bias.value.read();
  model.allocate(s.N);
  const input = rt.f32(model.inputPtr, inSize);
  input.set(Float32Array.from({ length: inSize }, () => rng.normal()));
  const x = input.slice();
  const dyPtr = rt.alloc(outSize * 4);
  const dy = Float32Array.from({ length: outSize }, () => rng.normal());
  rt.f32(dyPtr, outSize).set(dy);
  const spy = vi.spyOn(rt, "parallel");
  try {
    const want = convTForward(s, x, w, b);
    // Each output sums at most C·⌈R/stride⌉² products; C·R·R bounds it.
    const forwardTol = tolerance(convTForward(s, abs(x), abs(w), abs(b)), s.C * s.R * s.R + 1);
    const y = rt.f32(layer.forward(model.inputPtr, s.N, true), outSize).slice();
    expectWithin(y, want, forwardTol, "y");

    layer.reluFused = true;
    const relu = rt.f32(layer.forward(model.inputPtr, s.N, true), outSize).slice();
    layer.reluFused = false;
    expectWithin(
      relu,
      want.map((v) => Math.max(v, 0)),
      forwardTol,
      "y, fused ReLU",
    );
    layer.forward(model.inputPtr, s.N, true);

    for (const p of layer.params) p.grad.fill(1e6); // must be overwritten, not added to
    const dx = rt.f32(layer.backward(dyPtr, s.N, true), inSize).slice();
    const [dw, db] = layer.params.map((p) => p.grad.read());
    const ref = convTBackward(s, x, w, dy);
    const mag = convTBackward(s, abs(x), abs(w), abs(dy));
    expectWithin(dx, ref.dx, tolerance(mag.dx, s.K * s.R * s.R), "dx");
    expectWithin(dw, ref.dw, tolerance(mag.dw, s.N * s.H * s.W), "dW");
    expectWithin(db, ref.db, tolerance(mag.db, s.N * OH * OW), "db");

    layer.forward(model.inputPtr, s.N, true);
    expect(layer.backward(dyPtr, s.N, false)).toBe(0);
    expect(weight.grad.read()).toEqual(dw);
    expect(bias.grad.read()).toEqual(db);
    return Math.max(...spy.mock.calls.map(([tasks]) => tasks.length));
  } finally {
    spy.mockRestore();
    rt.free(dyPtr);
    model.dispose();
  }
}

describe("the reference itself", () => {
  it("computes a hand-worked transposed convolution: one 2x2 channel, a 2x2 filter, stride 2", () => {
    const s: ConvTShape = { N: 1, C: 1, H: 2, W: 2, K: 1, R: 2, stride: 2, pad: 0 };
    // Each input value stamps the filter times itself onto its own 2x2 block of the 4x4 output.
    const y = convTForward(s, [1, 2, 3, 4], [1, 10, 100, 1000], [0.5]);
    expect(Array.from(y)).toEqual(
      [1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000].map((v) => v + 0.5),
    );
  });

  it("is the adjoint of conv2d with the same filters: <convT(x), y> = <x, conv2d(y)>", () => {
    for (const [stride, pad] of [
      [1, 0],
      [2, 1],
      [3, 2],
    ]) {
      const s: ConvTShape = { N: 2, C: 3, H: 4, W: 5, K: 2, R: 4, stride, pad };
      const rng = new Random(stride * 10 + pad);
      const normals = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.normal());
      const OH = convTOutputSide(s.H, s),
        OW = convTOutputSide(s.W, s);
      const x = normals(s.N * s.C * s.H * s.W),
        w = normals(s.C * s.K * s.R * s.R),
        y = normals(s.N * s.K * OH * OW);
      const left = convTForward(s, x, w, new Float64Array(s.K)).reduce((sum, v, i) => sum + v * y[i], 0);
      // The convolution from [K, OH, OW] back to [C, H, W]: conv2d's filters [C, K, R, R] are w as stored.
      const conv = { N: s.N, C: s.K, H: OH, W: OW, K: s.C, R: s.R, stride, pad };
      const back = conv2dForward(conv, y, w, new Float64Array(s.C));
      expect(back.length).toBe(x.length);
      const right = back.reduce((sum, v, i) => sum + v * x[i], 0);
      expect(Math.abs(left - right)).toBeLessThan(1e-9 * (1 + Math.abs(left)));
    }
  });
});

describe("ConvTranspose against the reference", () => {
  const cases: [string, ConvTShape, "one" | "two"][] = [
    [
      "the decoder's 7x7 -> 14x14 (4x4 filters, stride 2, padding 1)",
      { N: 3, C: 4, H: 7, W: 7, K: 3, R: 4, stride: 2, pad: 1 },
      "one",
    ],
    ["the same on two threads", { N: 3, C: 4, H: 7, W: 7, K: 3, R: 4, stride: 2, pad: 1 }, "two"],
    ["3x3 filters, stride 1, no padding, one image", { N: 1, C: 2, H: 5, W: 6, K: 4, R: 3, stride: 1, pad: 0 }, "one"],
    ["3x3, stride 1, padding 1: the same size out", { N: 2, C: 3, H: 6, W: 5, K: 2, R: 3, stride: 1, pad: 1 }, "two"],
    ["gaps between the taps: 2x2 filters, stride 3", { N: 2, C: 2, H: 4, W: 3, K: 3, R: 2, stride: 3, pad: 0 }, "one"],
    [
      "one channel in, wide rows (col2im's short-row path)",
      { N: 2, C: 1, H: 9, W: 10, K: 5, R: 3, stride: 1, pad: 0 },
      "two",
    ],
    ["1x1 filters", { N: 2, C: 3, H: 3, W: 4, K: 2, R: 1, stride: 1, pad: 0 }, "one"],
    [
      "a batch of 5 on two threads, 5x5 filters, stride 2, padding 2",
      { N: 5, C: 2, H: 4, W: 4, K: 3, R: 5, stride: 2, pad: 2 },
      "two",
    ],
  ];
  it.each(cases)("%s: %o (%s thread)", (_, s, threads) => {
    const used = compareWithReference(threads === "one" ? one : two, s, 31);
    expect(used).toBe(threads === "two" && s.N > 1 ? 2 : 1);
  });

  const rng = new Random(77);
  const randomCases: [string, ConvTShape, "one" | "two"][] = [];
  for (let i = 0; i < 16; i++) {
    const R = 1 + rng.int(5);
    const s: ConvTShape = {
      N: 1 + rng.int(3),
      C: 1 + rng.int(4),
      H: 1 + rng.int(8),
      W: 1 + rng.int(8),
      K: 1 + rng.int(6),
      R,
      stride: 1 + rng.int(3),
      pad: 0,
    };
    s.pad = rng.int(R);
    if (convTOutputSide(s.H, s) <= 0 || convTOutputSide(s.W, s) <= 0) s.pad = 0;
    randomCases.push([
      `batch ${s.N}, ${s.C}x${s.H}x${s.W} -> ${s.K} filters ${R}x${R}, stride ${s.stride}, padding ${s.pad}`,
      s,
      i % 2 ? "two" : "one",
    ]);
  }
  it.each(randomCases)("%s (%s thread runtime)", (_, s, threads) => {
    compareWithReference(threads === "one" ? one : two, s, 200 + randomCases.findIndex((c) => c[1] === s));
  });
});

describe("ConvTranspose gradients (central differences)", () => {
  const normalInput = (x: Float32Array, rng: Random): void => fillNormal(x, rng, 1);
  // (C, H, W, filters, size, stride, padding, batch)
  const cases: [number, number, number, number, number, number, number, number][] = [
    [1, 3, 3, 2, 3, 1, 0, 1],
    [2, 3, 4, 2, 4, 2, 1, 2],
    [3, 2, 3, 2, 3, 2, 0, 2],
    [2, 4, 3, 3, 2, 3, 1, 3],
  ];
  it.each(cases)(
    "ConvTranspose C=%i %ix%i -> %i filters of size %i, stride %i, padding %i (batch %i): weight, bias, input",
    (C, H, W, filters, size, stride, padding, batch) => {
      const spec: ModelSpec = {
        input: [C, H, W],
        layers: [{ type: "convT", filters, size, stride, padding }, { type: "flatten" }, { type: "dense", units: 2 }],
      };
      const { model, layer, rng } = firstLayer(spec, batch, 500 + C * 10 + stride + padding, normalInput);
      checkLayer(layer, model.inputPtr, batch, rng, "convT");
      model.dispose();
    },
  );

  it("a small decoder (dense, relu, reshape, convT, relu, upsample, convT, dense head): every gradient", () => {
    const spec: ModelSpec = {
      input: [3],
      layers: [
        { type: "dense", units: 8 },
        { type: "relu" },
        { type: "reshape", shape: [2, 2, 2] },
        { type: "convT", filters: 2, size: 4, stride: 2, padding: 1 },
        { type: "relu" },
        { type: "upsample", scale: 2 },
        { type: "convT", filters: 1, size: 3, padding: 1 },
        { type: "dense", units: 3 },
      ],
    };
    const batch = 2;
    const model = buildModel(spec, batch, 61);
    expect(model.layers.map((l) => l.outputShape)).toEqual([
      [8],
      [8],
      [2, 2, 2],
      [2, 4, 4],
      [2, 4, 4],
      [2, 8, 8],
      [1, 8, 8],
      [3],
    ]);
    // The convT followed by a ReLU applies it itself.
    expect((model.layers[3] as unknown as { reluFused: boolean }).reluFused).toBe(true);
    checkModel(model, batch, new Random(62));
    model.dispose();
  });
});

describe("ConvTranspose", () => {
  it("is initialised by He's rule with fan-in C·R²/S² (the products summed into each output)", () => {
    const model = new Model(
      one,
      {
        input: [32, 7, 7],
        layers: [
          { type: "convT", filters: 16, size: 4, stride: 2, padding: 1 },
          { type: "dense", units: 2 },
        ],
      },
      { seed: 3 },
    );
    const w = model.params[0].value.read();
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    // fan-in 32·16/4 = 128: variance 2/128; 8192 draws give it within 3%.
    expect(Math.abs(variance / (2 / 128) - 1)).toBeLessThan(0.05);
    model.dispose();
  });

  it("refuses a padding that crops the whole output, and an input that is not an image (BAD_SHAPE, naming the layer)", () => {
    expectError(
      () =>
        new Model(one, {
          input: [2, 1, 1],
          layers: [
            { type: "convT", filters: 2, size: 2, padding: 1 },
            { type: "dense", units: 2 },
          ],
        }),
      "BAD_SHAPE",
      /layer 0 \(convT 2 2x2 padding 1\): its padding crops the whole output of its input \[2,1,1\]/,
    );
    expectError(
      () =>
        new Model(one, {
          input: [8],
          layers: [
            { type: "convT", filters: 2, size: 2 },
            { type: "dense", units: 2 },
          ],
        }),
      "BAD_SHAPE",
      /layer 0 \(convT 2 2x2\) needs \[channels, height, width\] input, got \[8\]/,
    );
  });

  it("repacks its filters only when they change: a write through a view shows in the next pass", () => {
    const spec = convTSpec({ N: 2, C: 3, H: 3, W: 3, K: 2, R: 4, stride: 2, pad: 1 });
    const rng = new Random(8);
    const pixels = Float32Array.from({ length: 2 * 27 }, () => rng.uniform());
    const model = new Model(one, spec, { seed: 4 });
    const fresh = (): Float32Array => {
      const other = new Model(one, spec, { seed: 99 });
      other.params.forEach((p, i) => p.value.write(model.params[i].value.read()));
      const probs = other.predict(pixels, 2);
      other.dispose();
      return probs;
    };
    const before = model.predict(pixels, 2);
    expect(model.predict(pixels, 2)).toEqual(before);
    const w = model.params[0].value.view();
    for (let i = 0; i < w.length; i++) w[i] += 0.1 * ((i % 5) - 2);
    const written = model.predict(pixels, 2);
    expect(written).not.toEqual(before);
    expect(written).toEqual(fresh());
    model.dispose();
  });

  it("refuses any use once disposed (BAD_STATE)", () => {
    const model = new Model(one, convTSpec({ N: 1, C: 1, H: 2, W: 2, K: 1, R: 2, stride: 1, pad: 0 }));
    model.allocate(1);
    const layer = model.layers[0];
    model.dispose();
    expectError(() => layer.forward(0, 1, false), "BAD_STATE", /convT layer was disposed/);
    expectError(() => layer.backward(0, 1, true), "BAD_STATE", /convT layer was disposed/);
  });
});
