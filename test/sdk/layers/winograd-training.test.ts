// Conv2D's Winograd training passes (sdk/layers/winograd.ts: forward with training set, backward; on through
// Model's `winograd`): the gradients dX, dW and db against the exact (float64) gradients and the
// default im2col path, and against numerical gradients; one and two threads, each the same from
// run to run.
//
// Each shape runs the tile size the rule picks (winogradTile): F(2x2, 3x3) or F(4x4, 3x3).
//
// Tolerance. Each path is within its float32 bound of the exact gradients. Winograd: dX within
// 2·(K + e)·u and dW within 2·(N·T + e)·u times the same Winograd computation on absolute values
// (winogradGradTolerance: e = 20 for 2x2 tiles, 24 for 4x4; N·T the tiles summed into each dU). The default path: dX, a sum of 9K
// products (Wᵀ·dy, then col2im adds up to 9 patches), within 2·(9K + 9)·u·Σ|w·dy|; dW, a sum of
// N·OH·OW products, within 2·(N·OH·OW + 2)·u·Σ|dy·x|. Their difference is bounded by the sum of
// the two bounds. db is the same kernel on both paths: equal.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../../../sdk/node";
import { useRuntime } from "../../support/buffers";
import { conv2dBackward, conv2dForward, type ConvShape } from "../../support/conv2d-reference";
import { checkModel } from "../../support/model-gradients";
import { buildModel, expectWithin, U } from "../../support/numeric";
import { winogradKernel, winogradReference } from "../../support/winograd-reference";
import { winogradTile } from "../../../sdk/layers/winograd";

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
const spec = (s: ConvShape): ModelSpec => ({
  input: [s.C, s.H, s.W],
  layers: [{ type: "conv2d", filters: s.K, size: 3, padding: s.pad }, { type: "flatten" }, { type: "dense", units: 2 }],
});

/** The kernels the calls of rt.parallel ran, by name. */
const kernelsRun = (spy: { mock: { calls: unknown[][] } }): Set<string> =>
  new Set((spy.mock.calls as [[string, ...number[]][][]][]).flatMap(([tasks]) => tasks.flat().map((c) => c[0])));

interface Gradients {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  ran: Set<string>;
}

/** One training forward and backward pass of the model's conv layer on x, with dy given. */
function step(rt: Runtime, model: Model, s: ConvShape, x: Float32Array, dy: Float32Array): Gradients {
  const layer = model.layers[0];
  const [weight, bias] = layer.params;
  rt.f32(model.inputPtr, x.length).set(x);
  const spy = vi.spyOn(rt, "parallel");
  try {
    const y = rt.f32(layer.forward(model.inputPtr, s.N, true), dy.length).slice();
    // dy goes where the next layer's input gradient would: a buffer of the model's own.
    const dyPtr = rt.alloc(dy.length * 4);
    try {
      rt.f32(dyPtr, dy.length).set(dy);
      weight.grad.fill(NaN);
      bias.grad.fill(NaN);
      const dx = rt.f32(layer.backward(dyPtr, s.N, true), x.length).slice();
      return { y, dx, dw: weight.grad.read(), db: bias.grad.read(), ran: kernelsRun(spy) };
    } finally {
      rt.free(dyPtr);
    }
  } finally {
    spy.mockRestore();
  }
}

describe("Conv2D's Winograd training passes = the exact gradients within float32 tolerance", () => {
  // (N, C, H, W, K, pad)
  const shapes: [number, number, number, number, number, number][] = [
    [3, 9, 7, 9, 13, 1], // odd sides: tiles overhang the output; C, K not multiples of 4
    [2, 8, 10, 10, 8, 0], // no padding
    [4, 17, 6, 7, 6, 2], // padding 2
    [11, 8, 6, 6, 9, 1], // 9 tiles an image: products of several images, shares cut by threads
    [5, 32, 13, 13, 64, 0], // the MNIST cnn's conv2
    [6, 16, 4, 4, 12, 1], // 4 tiles an image: training runs Winograd where inference does not
    // F(4x4, 3x3) (winogradTile) for these and the MNIST cnn's conv2:
    [3, 9, 13, 15, 7, 1], // odd sides: 4x4 tiles overhang the output; C, K not multiples of 4
    [11, 8, 12, 12, 5, 1], // 9 tiles an image: products of 8 images, shares cut by threads
  ];
  it.each(shapes)("N=%i, C=%i, %ix%i, K=%i, pad %i", (N, C, H, W, K, pad) => {
    const s: ConvShape = { N, C, H, W, K, R: 3, stride: 1, pad };
    const OH = H + 2 * pad - 2,
      OW = W + 2 * pad - 2;
    const rng = new Random(N * 1000 + C * 10 + K);
    const x = Float32Array.from({ length: N * C * H * W }, () => rng.normal());
    const dy = Float32Array.from({ length: N * K * OH * OW }, () => rng.normal());
    const results = new Map<string, Gradients>();
    // The tile size the rule picks for training this shape, and for inference.
    const tile = winogradTile(C, K, OH, OW, true) as 2 | 4;
    expect(tile).not.toBe(0);
    const ref = winogradReference(tile);
    let w: ArrayLike<number> = [],
      b: ArrayLike<number> = [];
    for (const threads of [1, 2]) {
      const rt = threads === 1 ? one : two;
      for (const winograd of [false, true]) {
        const model = new Model(rt, spec(s), { seed: 3, winograd });
        try {
          const [weight, bias] = model.layers[0].params;
          const brng = new Random(C + K);
          bias.value.write(Float32Array.from({ length: K }, () => brng.normal()));
          w = weight.value.read();
          b = bias.value.read();
          model.allocate(N, true);
          const first = step(rt, model, s, x, dy);
          // Run to run: the same floats.
          const again = step(rt, model, s, x, dy);
          for (const key of ["y", "dx", "dw", "db"] as const) expect(again[key], `${key} again`).toEqual(first[key]);
          expect(first.ran.has(winogradKernel(tile, "winogradGradOutput")), [...first.ran].join(", ")).toBe(winograd);
          expect(first.ran.has(winogradKernel(tile, "winogradGradInput"))).toBe(winograd);
          expect(first.ran.has("im2col")).toBe(!winograd);
          results.set(`${threads} ${winograd}`, first);
          // The training forward pass gives the inference pass's outputs (where inference runs the same tiles).
          if (winograd && winogradTile(C, K, OH, OW) === tile) {
            const y = rt.f32(model.layers[0].forward(model.inputPtr, N, false), first.y.length).slice();
            expect(first.y).toEqual(y);
          }
        } finally {
          model.dispose();
        }
      }
    }
    const exact = conv2dBackward(s, x, w, dy);
    const T = Math.ceil(OH / tile) * Math.ceil(OW / tile);
    const mag = ref.winogradConvBackward(s, abs(x), abs(w), abs(dy), true);
    const winoDx = ref.winogradGradTolerance(mag.dx, K);
    const winoDw = ref.winogradGradTolerance(mag.dw, N * T);
    const directMag = conv2dBackward(s, abs(x), abs(w), abs(dy));
    const directDx = directMag.dx.map((m) => 2 * (9 * K + 9) * U * m + 1e-30);
    const directDw = directMag.dw.map((m) => 2 * (N * OH * OW + 2) * U * m + 1e-30);
    for (const threads of [1, 2]) {
      const direct = results.get(`${threads} false`)!;
      const wino = results.get(`${threads} true`)!;
      expectWithin(wino.dx, exact.dx, winoDx, `Winograd dX, ${threads} thread(s)`);
      expectWithin(wino.dw, exact.dw, winoDw, `Winograd dW, ${threads} thread(s)`);
      expectWithin(direct.dx, exact.dx, directDx, `default dX, ${threads} thread(s)`);
      expectWithin(direct.dw, exact.dw, directDw, `default dW, ${threads} thread(s)`);
      expectWithin(
        wino.dx,
        direct.dx,
        winoDx.map((t, i) => t + directDx[i]),
        `Winograd dX against the default path, ${threads} thread(s)`,
      );
      expectWithin(
        wino.dw,
        direct.dw,
        winoDw.map((t, i) => t + directDw[i]),
        `Winograd dW against the default path, ${threads} thread(s)`,
      );
      expect(wino.db).toEqual(direct.db);
      // Not the same floats: the paths round differently.
      expect(wino.dw.some((v, i) => v !== direct.dw[i])).toBe(true);
    }
    // The forward pass agrees with the exact convolution (its own tests bound it closely).
    const yExact = conv2dForward(s, x, w, b);
    const y = results.get("1 true")!.y;
    expect(y.every((v, i) => Math.abs(v - yExact[i]) < 1e-3 * (1 + Math.abs(yExact[i])))).toBe(true);
    // dX is made per image: the same floats on one thread and two. dW sums the threads' shares.
    expect(results.get("2 true")!.dx).toEqual(results.get("1 true")!.dx);
  });

  it("the backward pass follows the last training pass; a backward pass of another batch is refused", () => {
    const s: ConvShape = { N: 2, C: 8, H: 6, W: 6, K: 4, R: 3, stride: 1, pad: 1 };
    const model = new Model(one, spec(s), { winograd: true });
    const dy = one.alloc(2 * 4 * 36 * 4);
    try {
      model.allocate(2, true);
      const layer = model.layers[0];
      const rng = new Random(3);
      const input = one.f32(model.inputPtr, 2 * 8 * 36);
      for (let i = 0; i < input.length; i++) input[i] = rng.normal();
      const g = one.f32(dy, 2 * 4 * 36);
      for (let i = 0; i < g.length; i++) g[i] = rng.normal();
      const [weight] = layer.params;
      const grads = (): Float32Array[] => {
        const dx = one.f32(layer.backward(dy, 2, true), input.length).slice();
        return [dx, weight.grad.read()];
      };
      layer.forward(model.inputPtr, 2, true);
      const want = grads();
      // An inference pass of other images in between changes nothing (input restored after it).
      layer.forward(model.inputPtr, 2, true);
      const saved = input.slice();
      input.fill(0.5);
      layer.forward(model.inputPtr, 1, false);
      input.set(saved);
      expect(grads()).toEqual(want);
      // Winograd turned off between the passes: the default path's backward pass, within float32 of it.
      layer.forward(model.inputPtr, 2, true);
      model.winograd = false;
      const [dx, dw] = grads();
      expect(dx.every((v, i) => Math.abs(v - want[0][i]) < 1e-4 * (1 + Math.abs(v)))).toBe(true);
      expect(dw.every((v, i) => Math.abs(v - want[1][i]) < 1e-4 * (1 + Math.abs(v)))).toBe(true);
      model.winograd = true;
      layer.forward(model.inputPtr, 2, true);
      expect(() => layer.backward(dy, 1, true)).toThrow(/training forward pass of the same batch/);
    } finally {
      one.free(dy);
      model.dispose();
    }
  });
});

describe("which layers train by Winograd", () => {
  it("3x3 stride-1 convolutions of at least 8 channels in and 4 filters, whatever their maps", () => {
    const layers = (C: number, K: number, side: number, extra: Partial<{ size: number; stride: number }> = {}) => {
      const model = new Model(one, {
        input: [C, side, side],
        layers: [
          { type: "conv2d", filters: K, size: 3, padding: 1, ...extra },
          { type: "flatten" },
          { type: "dense", units: 2 },
        ],
      });
      const n = [model.winogradLayers, model.winogradTrainingLayers];
      model.dispose();
      return n;
    };
    expect(layers(32, 64, 13)).toEqual([1, 1]);
    expect(layers(64, 64, 4)).toEqual([0, 1]); // 4 tiles an image: training only
    expect(layers(8, 4, 2)).toEqual([0, 1]); // one tile
    expect(layers(6, 32, 32)).toEqual([0, 0]); // too few channels in
    expect(layers(8, 3, 8)).toEqual([0, 0]); // too few filters
    expect(layers(16, 16, 8, { size: 5 })).toEqual([0, 0]);
    expect(layers(16, 16, 8, { stride: 2 })).toEqual([0, 0]);
  });
});

describe("Winograd training gradients against central differences", () => {
  // A conv that runs Winograd (8 channels in, 4 or 5 filters, 9 or 12 tiles of 2x2 outputs, or 12
  // of 4x4) and a dense head,
  // with no ReLU between them (every input gradient and weight gradient of the conv is smooth):
  // padding 1, then none with odd output sides.
  it.each([
    ["padding 1", 4, 1, [8, 6, 6]],
    ["no padding, odd output", 5, 0, [8, 7, 9]],
    ["F(4x4, 3x3) tiles, odd output", 4, 1, [8, 13, 11]],
  ] as const)("%s", (_name, filters, padding, input) => {
    const model = buildModel(
      {
        input: [...input],
        layers: [{ type: "conv2d", filters, size: 3, padding }, { type: "flatten" }, { type: "dense", units: 3 }],
      },
      2,
      5,
    );
    try {
      model.winograd = true;
      expect(model.winogradLayers).toBe(1);
      const spy = vi.spyOn(model.rt, "parallel");
      checkModel(model, 2, new Random(11));
      const ran = kernelsRun(spy);
      spy.mockRestore();
      const [C, H, W] = input;
      const tile = winogradTile(C, filters, H + 2 * padding - 2, W + 2 * padding - 2, true) as 2 | 4;
      expect(
        ran.has(winogradKernel(tile, "winogradGradOutput")) && ran.has(winogradKernel(tile, "winogradInput")),
      ).toBe(true);
    } finally {
      model.dispose();
    }
  });
});
