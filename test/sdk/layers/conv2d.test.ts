// Conv2D against its plain reference (test/support/conv2d-reference.ts): every path the layer
// picks, forward (with and without the fused ReLU) and backward (input, filter and bias
// gradients), on one thread and on two, for shapes drawn at random (channels, odd sides, filter
// sizes, strides, padding, batches) and for the shapes that select each fast path:
//
// - im2col + packed GEMM, a batch shared out by images;
// - im2col + GEMM, one image shared out by filters (two threads, a product worth splitting);
// - convDirect, a batch shared out by images (one channel, patches of up to 25 values, stride 1,
//   no padding), and one image shared out by filters;
// - backward: dW by dy·colsᵀ, or transposed for narrow patches (more filters than patch values),
//   summed over the threads' shares.
//
// The spy on runtime.parallel reads which path ran from the kernels called, so each case states
// its path and a final test checks that all of them were taken. The reference works in float64
// on the layer's own float32 inputs; the tolerance of an output is 2·(depth + 4)·u times the same
// sum over absolute values (the reference on |x|, |w|, |b|, |dy|), the float32 bound of a sum of
// `depth` products in any order.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Model, Random, Runtime, SGD, type Layer, type ModelSpec } from "../../../sdk/node";
import { fillNormal, useRuntime } from "../../support/buffers";
import { conv2dBackward, conv2dForward, convOutputSide, type ConvShape } from "../../support/conv2d-reference";
import { gradientsOf } from "../../support/model";
import { checkLayer, expectWithin, firstLayer, U } from "../../support/numeric";

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

/** The tasks of one rt.parallel call: a list of kernel calls per thread. */
type KernelCalls = Parameters<Runtime["parallel"]>[0];

/** The forward path that ran, from the kernels of its parallel calls. */
function forwardPath(calls: KernelCalls[]): string {
  const names = new Set(calls.flat(2).map((call) => call[0]));
  const threads = Math.max(...calls.map((tasks) => tasks.length));
  const path = names.has("convDirect")
    ? names.has("packConvFilters")
      ? "convDirect, one image by filters"
      : "convDirect"
    : names.has("gemmPacked")
      ? "im2col + packed GEMM"
      : "im2col + GEMM, one image by filters";
  return `${path} on ${threads} thread${threads > 1 ? "s" : ""}`;
}

/** The backward path that ran: dW multiplied out as is or transposed, and on how many threads. */
function backwardPath(layer: Layer, calls: KernelCalls[]): string {
  const threads = Math.max(...calls.map((tasks) => tasks.length));
  const narrow = (layer as unknown as { narrowPatch: boolean }).narrowPatch;
  return `${narrow ? "dWᵀ" : "dW"} on ${threads} thread${threads > 1 ? "s" : ""}`;
}

const abs = (v: ArrayLike<number>): Float64Array => Float64Array.from(v, Math.abs);
/** Float32 tolerance of sums of `depth` products whose absolute values sum to `magnitude`. */
const tolerance = (magnitude: Float64Array, depth: number): Float64Array =>
  magnitude.map((m) => 2 * (depth + 4) * U * m + 1e-30);

const pathsSeen = new Set<string>();

/**
 * Runs Conv2D on `rt` for shape `s` with random input, filters, biases and output gradient,
 * compares each result with the reference and returns the paths the layer took.
 */
function compareWithReference(rt: Runtime, s: ConvShape, seed: number): { forward: string; backward: string } {
  const spec: ModelSpec = {
    input: [s.C, s.H, s.W],
    layers: [
      { type: "conv2d", filters: s.K, size: s.R, stride: s.stride, padding: s.pad },
      { type: "flatten" },
      { type: "dense", units: 2 },
    ],
  };
  const model = new Model(rt, spec, { seed });
  const rng = new Random(seed);
  const layer = model.layers[0];
  const [weight, bias] = layer.params;
  const OH = convOutputSide(s.H, s),
    OW = convOutputSide(s.W, s);
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
    const want = conv2dForward(s, x, w, b);
    const forwardTol = tolerance(conv2dForward(s, abs(x), abs(w), abs(b)), s.C * s.R * s.R + 1);
    const y = rt.f32(layer.forward(model.inputPtr, s.N, true), outSize).slice();
    const forward = forwardPath(spy.mock.calls.map(([tasks]) => tasks));
    expectWithin(y, want, forwardTol, `${forward}: y`);

    layer.reluFused = true;
    const relu = rt.f32(layer.forward(model.inputPtr, s.N, true), outSize).slice();
    layer.reluFused = false;
    expectWithin(
      relu,
      want.map((v) => Math.max(v, 0)),
      forwardTol,
      `${forward}, fused ReLU: y`,
    );
    layer.forward(model.inputPtr, s.N, true); // the pass backward() follows

    spy.mockClear();
    for (const p of layer.params) p.grad.fill(1e6); // must be overwritten, not added to
    const dxPtr = layer.backward(dyPtr, s.N, true);
    const backward = backwardPath(
      layer,
      spy.mock.calls.map(([tasks]) => tasks),
    );
    const dx = rt.f32(dxPtr, inSize).slice();
    const [dw, db] = layer.params.map((p) => p.grad.read());
    const ref = conv2dBackward(s, x, w, dy);
    const mag = conv2dBackward(s, abs(x), abs(w), abs(dy));
    expectWithin(dx, ref.dx, tolerance(mag.dx, s.K * s.R * s.R), `${backward}: dx`);
    expectWithin(dw, ref.dw, tolerance(mag.dw, s.N * OH * OW), `${backward}: dW`);
    expectWithin(db, ref.db, tolerance(mag.db, s.N * OH * OW), `${backward}: db`);

    // Without the input gradient: 0 for it, the same filter and bias gradients.
    layer.forward(model.inputPtr, s.N, true);
    expect(layer.backward(dyPtr, s.N, false)).toBe(0);
    expect(weight.grad.read()).toEqual(dw);
    expect(bias.grad.read()).toEqual(db);

    pathsSeen.add(forward).add(backward);
    return { forward, backward };
  } finally {
    spy.mockRestore();
    rt.free(dyPtr);
    model.dispose();
  }
}

const describeShape = (s: ConvShape): string =>
  `batch ${s.N}, ${s.C}x${s.H}x${s.W} -> ${s.K} filters ${s.R}x${s.R}, stride ${s.stride}, padding ${s.pad}`;

describe("the reference itself", () => {
  it("computes a hand-worked convolution: one 3x3 channel, a 2x2 filter, padding 1, stride 2", () => {
    const s: ConvShape = { N: 1, C: 1, H: 3, W: 3, K: 1, R: 2, stride: 2, pad: 1 };
    // x = 1..9; outputs at (oy, ox) see x[2oy-1 .. 2oy, 2ox-1 .. 2ox], padding outside.
    const y = conv2dForward(s, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 10, 100, 1000], [0.5]);
    expect(Array.from(y)).toEqual([
      1000 * 1 + 0.5,
      100 * 2 + 1000 * 3 + 0.5,
      10 * 4 + 1000 * 7 + 0.5,
      1 * 5 + 10 * 6 + 100 * 8 + 1000 * 9 + 0.5,
    ]);
  });

  it("back-propagates what its forward pass computes (central differences in float64)", () => {
    const s: ConvShape = { N: 2, C: 2, H: 5, W: 4, K: 3, R: 3, stride: 2, pad: 1 };
    const rng = new Random(7);
    const normals = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.normal());
    const x = normals(s.N * s.C * s.H * s.W),
      w = normals(s.K * s.C * s.R * s.R),
      b = normals(s.K);
    const r = normals(s.N * s.K * convOutputSide(s.H, s) * convOutputSide(s.W, s));
    const loss = (): number => conv2dForward(s, x, w, b).reduce((sum, v, i) => sum + r[i] * v, 0);
    const numerical = (v: Float64Array): Float64Array =>
      v.map((orig, i) => {
        v[i] = orig + 1e-6;
        const up = loss();
        v[i] = orig - 1e-6;
        const down = loss();
        v[i] = orig;
        return (up - down) / 2e-6;
      });
    const { dx, dw, db } = conv2dBackward(s, x, w, r);
    expectWithin(dx, numerical(x), 1e-6, "dx");
    expectWithin(dw, numerical(w), 1e-6, "dW");
    expectWithin(db, numerical(b), 1e-6, "db");
  });
});

describe("Conv2D against the reference", () => {
  // Shapes that select each path (two threads for the splits: one image, a product of ≥ 6 MFLOP).
  const pathCases: [string, string, ConvShape, "one" | "two"][] = [
    [
      "im2col + packed GEMM on 1 thread",
      "dW on 1 thread",
      { N: 3, C: 3, H: 9, W: 7, K: 5, R: 3, stride: 1, pad: 1 },
      "one",
    ],
    [
      "im2col + packed GEMM on 2 threads",
      "dW on 2 threads",
      { N: 3, C: 2, H: 11, W: 9, K: 6, R: 4, stride: 2, pad: 2 },
      "two",
    ],
    [
      "im2col + GEMM, one image by filters on 2 threads",
      "dW on 1 thread",
      { N: 1, C: 3, H: 84, W: 83, K: 16, R: 3, stride: 1, pad: 1 },
      "two",
    ],
    ["convDirect on 1 thread", "dWᵀ on 1 thread", { N: 3, C: 1, H: 13, W: 15, K: 12, R: 3, stride: 1, pad: 0 }, "one"],
    ["convDirect on 2 threads", "dW on 2 threads", { N: 4, C: 1, H: 12, W: 14, K: 6, R: 5, stride: 1, pad: 0 }, "two"],
    [
      "convDirect, one image by filters on 2 threads",
      "dW on 1 thread",
      { N: 1, C: 1, H: 92, W: 91, K: 16, R: 5, stride: 1, pad: 0 },
      "two",
    ],
    [
      "im2col + packed GEMM on 2 threads",
      "dWᵀ on 2 threads",
      { N: 2, C: 1, H: 7, W: 9, K: 9, R: 2, stride: 1, pad: 1 },
      "two",
    ],
  ];

  it.each(pathCases)("%s, backward %s: %o", (forward, backward, s, threads) => {
    expect(compareWithReference(threads === "one" ? one : two, s, 11)).toEqual({ forward, backward });
  });

  // Shapes drawn at test time: 1-4 channels, sides of 1-5 plus up to 11, filters 1-12 of side 1-5,
  // stride 1-3, padding below the filter side, batches of 1-3; half of them one-channel, stride 1
  // and unpadded, the shapes convDirect takes when wide enough.
  const rng = new Random(2024);
  const randomCases: [string, ConvShape, "one" | "two"][] = [];
  for (let i = 0; i < 24; i++) {
    const R = 1 + rng.int(5);
    const plain = i % 2 === 0;
    const s: ConvShape = {
      N: 1 + rng.int(3),
      C: plain ? 1 : 1 + rng.int(4),
      H: R + rng.int(12),
      W: R + rng.int(12) + (plain ? 7 : 0),
      K: 1 + rng.int(12),
      R,
      stride: plain ? 1 : 1 + rng.int(3),
      pad: plain ? 0 : rng.int(R),
    };
    randomCases.push([describeShape(s), s, i % 4 < 2 ? "one" : "two"]);
  }

  it.each(randomCases)("%s (%s thread runtime)", (_, s, threads) => {
    compareWithReference(threads === "one" ? one : two, s, 100 + randomCases.findIndex((c) => c[1] === s));
  });

  it("the cases took every path, forward and backward", () => {
    for (const path of new Set([
      ...pathCases.map(([forward]) => forward),
      ...pathCases.map(([, backward]) => backward),
    ])) {
      expect(pathsSeen, path).toContain(path);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("Conv2D gradients (central differences)", () => {
  const normalInput = (x: Float32Array, rng: Random): void => fillNormal(x, rng, 1);

  // (C, H, W, filters, size, stride, padding, batch)
  const convCases: [number, number, number, number, number, number, number, number][] = [];
  for (const C of [1, 3]) {
    for (const stride of [1, 2]) {
      for (const padding of [0, 1]) convCases.push([C, 6, 5, 2, 3, stride, padding, stride === 1 ? 1 : 2]);
    }
  }
  convCases.push([3, 5, 5, 3, 2, 2, 1, 3], [2, 4, 7, 2, 4, 1, 1, 2], [1, 7, 6, 4, 1, 2, 0, 2]);
  // More filters than patch values on one channel: dW is multiplied out transposed (NARROW_PATCH).
  convCases.push([1, 6, 5, 12, 3, 1, 0, 3], [1, 5, 5, 7, 2, 1, 1, 2]);

  it.each(convCases)(
    "Conv2D C=%i %ix%i -> %i filters of size %i, stride %i, padding %i (batch %i): weight, bias, input",
    (C, H, W, filters, size, stride, padding, batch) => {
      const spec: ModelSpec = {
        input: [C, H, W],
        layers: [{ type: "conv2d", filters, size, stride, padding }, { type: "flatten" }, { type: "dense", units: 2 }],
      };
      const { model, layer, rng } = firstLayer(spec, batch, 1000 + C * 100 + stride * 10 + padding + size, normalInput);
      const OH = Math.floor((H + 2 * padding - size) / stride) + 1,
        OW = Math.floor((W + 2 * padding - size) / stride) + 1;
      expect(layer.outputShape).toEqual([filters, OH, OW]);
      expect(layer.params.map((p) => p.value.shape)).toEqual([[filters, C, size, size], [filters]]);
      checkLayer(layer, model.inputPtr, batch, rng, "conv2d");
      model.dispose();
    },
  );

  // (C, H, W, size, stride, batch): windows tiling or not, overlapping (stride < size), gaps.
  const _poolCases: [number, number, number, number, number | undefined, number][] = [
    [2, 5, 7, 2, undefined, 2],
    [1, 6, 5, 3, 1, 1],
    [3, 7, 7, 3, 2, 2],
    [2, 8, 7, 2, 3, 2],
    [1, 4, 4, 2, 2, 3],
  ];
});

// ---------------------------------------------------------------------------------------------
// Packed weights: a convolution packs its weights for the forward pass and repacks them only when
// they changed (kernels.copyIfChanged against a copy of the weights it packed). Whatever changes
// them (an optimizer step, a write through a view, a load) must show in the next forward pass.

// conv1's 9-value patches go through convDirect, conv2's 72-value ones through packA + GEMM.
const PACKED_SPEC: ModelSpec = {
  input: [1, 12, 12],
  layers: [
    { type: "conv2d", filters: 8, size: 3 },
    { type: "relu" },
    { type: "conv2d", filters: 10, size: 3 },
    { type: "relu" },
    { type: "flatten" },
    { type: "dense", units: 4 },
  ],
};

const runtimes: Runtime[] = [];
afterAll(() => runtimes.forEach((rt) => rt.dispose()));

describe("packed convolution weights", () => {
  it.each([
    [1, 1],
    [1, 3],
    [2, 1],
    [2, 3],
  ])("follow every change of the weights (%i threads, batch %i)", async (threads, batch) => {
    const rt = await Runtime.create({ threads });
    runtimes.push(rt);
    const rng = new Random(11);
    const pixels = Float32Array.from({ length: batch * 144 }, () => rng.uniform());
    const labels = Uint8Array.from({ length: batch }, () => rng.int(4));
    const model = new Model(rt, PACKED_SPEC, { seed: 2 });
    /** What a model built afresh with `model`'s current weights predicts. */
    const fresh = (): Float32Array => {
      const other = new Model(rt, PACKED_SPEC, { seed: 99 });
      other.params.forEach((p, i) => p.value.write(model.params[i].value.read()));
      const probs = other.predict(pixels, batch);
      other.dispose();
      return probs;
    };

    const before = model.predict(pixels, batch);
    expect(model.predict(pixels, batch)).toEqual(before); // unchanged weights: the packing is reused

    // Written through a view, as a loader or a user would.
    for (const p of model.params) p.value.view().forEach((v, i, view) => (view[i] = v + 0.05 * ((i % 7) - 3)));
    const written = model.predict(pixels, batch);
    expect(written).not.toEqual(before);
    expect(written).toEqual(fresh());

    // Changed by an optimizer step.
    gradientsOf(model, pixels, labels);
    const sgd = new SGD(rt, 0.5);
    sgd.step(model.params);
    sgd.dispose();
    const stepped = model.predict(pixels, batch);
    expect(stepped).not.toEqual(written);
    expect(stepped).toEqual(fresh());
    model.dispose();
  });
});
