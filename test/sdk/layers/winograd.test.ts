// Conv2D's Winograd forward pass (sdk/layers/winograd.ts, on through Model's `winograd`)
// against the default path and the exact convolution, for shapes that cover the path's cases:
// padding 0, 1 and 2, odd sides whose last tiles overhang, channel and filter counts that are not
// multiples of 4 or 5, batches of several images (several images to a product, and groups cut by
// the threads' shares), one and two threads, one image split by filter bands.
//
// Tolerance. Each path is within its float32 bound of the exact (float64) convolution: the default
// path 2·(9C + 5)·u·Σ|w·x| + |b| (a sum of 9C products, as in conv2d.test.ts), Winograd
// 2·(C + 16)·u (2x2 tiles) or 2·(C + 20)·u (4x4 tiles) times the same algorithm on absolute values
// (see winogradTolerance: its transforms add up to 16 or 36 terms with coefficients up to 8, so
// its magnitude is a few times Σ|w·x|, more for 4x4 tiles). Their difference is bounded by the
// sum of the two bounds, which is what "within float32 tolerance" means here. Each shape runs the
// tile size the rule picks (winogradTile).
//
// Whole model: the shipped MNIST CNN gives the same class for 2,000 test images with and without
// Winograd, its probabilities within 1e-5 (measured: about 1e-6).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_MODEL_PATH,
  deserializeModel,
  loadMnist,
  loadModelFile,
  Model,
  Random,
  Runtime,
  type ModelSpec,
} from "../../../sdk/node";
import { conv2dForward, type ConvShape } from "../../support/conv2d-reference";
import { expectError } from "../../support/errors";
import { expectWithin, U } from "../../support/numeric";
import { winogradKernel, winogradReference } from "../../support/winograd-reference";
import { winogradTile } from "../../../sdk/layers/winograd";

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
  layers: [
    { type: "conv2d", filters: s.K, size: 3, padding: s.pad },
    { type: "relu" },
    { type: "flatten" },
    { type: "dense", units: 2 },
  ],
});

/** The kernels the calls of rt.parallel ran, by name. */
const kernelsRun = (spy: { mock: { calls: unknown[][] } }): Set<string> =>
  new Set((spy.mock.calls as [[string, ...number[]][][]][]).flatMap(([tasks]) => tasks.flat().map((c) => c[0])));

describe("Conv2D with Winograd = the default path within float32 tolerance", () => {
  // (N, C, H, W, K, pad)
  const shapes: [number, number, number, number, number, number][] = [
    [3, 9, 7, 9, 13, 1], // odd sides: tiles overhang the output; C, K not multiples of 4
    [2, 8, 10, 10, 8, 0], // no padding
    [4, 17, 6, 7, 6, 2], // padding 2
    [11, 8, 6, 6, 9, 1], // 9 tiles an image: products of 8 images, groups cut by threads
    [1, 32, 13, 13, 64, 0], // the MNIST cnn's conv2, one image
    [1, 48, 16, 16, 40, 1], // one image worth splitting: two threads take filter bands
    // F(4x4, 3x3) (winogradTile) for these and the two above:
    [5, 8, 12, 12, 6, 1], // 9 tiles an image: one product of 5 images, cut by threads
    [3, 9, 13, 15, 7, 1], // odd sides: 4x4 tiles overhang the output; C, K not multiples of 4
  ];
  for (const threads of [1, 2]) {
    it.each(shapes)(`N=%i, C=%i, %ix%i, K=%i, pad %i, ${threads} thread(s)`, (N, C, H, W, K, pad) => {
      const rt = threads === 1 ? one : two;
      const s: ConvShape = { N, C, H, W, K, R: 3, stride: 1, pad };
      const model = new Model(rt, spec(s), { seed: N + C + K });
      try {
        const layer = model.layers[0];
        const rng = new Random(C * 100 + K);
        const [weight, bias] = layer.params;
        bias.value.write(Float32Array.from({ length: K }, () => rng.normal()));
        model.allocate(N, true);
        const inSize = N * C * H * W;
        const OH = H + 2 * pad - 2,
          OW = W + 2 * pad - 2;
        const outSize = N * K * OH * OW;
        rt.f32(model.inputPtr, inSize).set(Float32Array.from({ length: inSize }, () => rng.normal()));
        const x = rt.f32(model.inputPtr, inSize).slice();
        const w = weight.value.read(),
          b = bias.value.read();
        const run = (training: boolean): Float32Array =>
          rt.f32(layer.forward(model.inputPtr, N, training), outSize).slice();

        const exact = conv2dForward(s, x, w, b);
        const directTol = conv2dForward(s, abs(x), abs(w), abs(b)).map((m) => 2 * (9 * C + 5) * U * m + 1e-30);
        // The tile sizes the rule picks for this shape, inference and training, and the reference of the first.
        const tile = winogradTile(C, K, OH, OW);
        const trainingTile = winogradTile(C, K, OH, OW, true);
        expect(tile).not.toBe(0);
        const ref = winogradReference(tile as 2 | 4);
        const winoTol = ref.winogradTolerance(ref.winogradConv(s, abs(x), abs(w), abs(b), true), C);
        const input = winogradKernel(tile as 2 | 4, "winogradInput");
        for (const relu of [false, true]) {
          layer.reluFused = relu;
          model.winograd = false;
          const direct = run(false);
          const trainingDirect = run(true);
          model.winograd = true;
          const spy = vi.spyOn(rt, "parallel");
          const wino = run(false);
          const ran = kernelsRun(spy);
          spy.mockClear();
          const training = run(true);
          const trainingRan = kernelsRun(spy);
          spy.mockRestore();
          expect(ran.has(input) && ran.has(winogradKernel(tile as 2 | 4, "winogradOutput")), [...ran].join(", ")).toBe(
            true,
          );
          // A one-image pass split by filters multiplies unpacked U bands; a batch, packed U.
          expect(ran.has(N === 1 && threads === 2 && C === 48 ? "gemm" : "gemmPackedSeries")).toBe(true);
          // Training passes run Winograd too (their backward passes: winograd-training.test.ts),
          // with the inference pass's floats where they pick the same tile size; without it they
          // are the default path's.
          expect(
            trainingRan.has(winogradKernel(trainingTile as 2 | 4, "winogradInput")),
            "training passes run Winograd",
          ).toBe(true);
          if (trainingTile === tile) expect(training).toEqual(wino);
          expect(trainingDirect).toEqual(direct);
          const want = relu ? exact.map((v) => Math.max(v, 0)) : exact;
          expectWithin(wino, want, winoTol, `Winograd against the exact convolution (relu ${relu})`);
          expectWithin(direct, want, directTol, `default path against the exact convolution (relu ${relu})`);
          expectWithin(
            wino,
            direct,
            winoTol.map((t, i) => t + directTol[i]),
            `Winograd against the default path (relu ${relu})`,
          );
          // Not the same floats: the paths differ in rounding (the reason it is opt-in).
          if (!relu) expect(wino.some((v, i) => v !== direct[i])).toBe(true);
          // An image's outputs do not depend on the images it is batched with (one thread).
          if (threads === 1) {
            const first = rt.f32(layer.forward(model.inputPtr, 1, false), K * OH * OW).slice();
            expect(first).toEqual(wino.subarray(0, K * OH * OW));
          }
        }
        // New weights: U is made again from them.
        layer.reluFused = false;
        const w2 = Float32Array.from(w, (v) => -v);
        weight.value.write(w2);
        model.winograd = true;
        const flipped = run(false);
        expectWithin(flipped, conv2dForward(s, x, w2, b), winoTol, "Winograd after the weights changed");
        // Off again: its memory is given back.
        const used = rt.usedBytes;
        model.winograd = false;
        expect(rt.usedBytes).toBeLessThan(used);
      } finally {
        model.dispose();
      }
    });
  }

  it("runs only where the rule says it pays, and only when asked", () => {
    const rt = one;
    const eligible = (C: number, K: number, side: number, extra: Partial<{ size: number; stride: number }> = {}) => {
      const model = new Model(rt, {
        input: [C, side, side],
        layers: [
          { type: "conv2d", filters: K, size: 3, padding: 1, ...extra },
          { type: "flatten" },
          { type: "dense", units: 2 },
        ],
      });
      const n = model.winogradLayers;
      model.dispose();
      return n;
    };
    expect(eligible(8, 4, 6)).toBe(1);
    // The tile size: 4x4 where an image has 9 or more such tiles and they save enough products.
    expect(winogradTile(32, 64, 11, 11)).toBe(4); // the MNIST cnn's conv2
    expect(winogradTile(32, 32, 32, 32)).toBe(4);
    expect(winogradTile(64, 64, 9, 9)).toBe(2); // 9 tiles of 4x4, but 0.81 of 2x2's products
    expect(winogradTile(128, 128, 8, 8)).toBe(2); // 4 tiles of 4x4
    expect(winogradTile(64, 64, 4, 4, true)).toBe(2);
    expect(winogradTile(3, 32, 32, 32)).toBe(0);
    expect(eligible(3, 32, 32)).toBe(0); // a colour image's first layer: too few channels in
    expect(eligible(8, 3, 8)).toBe(0); // too few filters
    expect(eligible(64, 64, 4)).toBe(0); // 4 tiles an image (training takes it: winograd-training.test.ts)
    expect(eligible(16, 16, 8, { size: 5 })).toBe(0);
    expect(eligible(16, 16, 8, { stride: 2 })).toBe(0);
    const model = new Model(rt, spec({ N: 1, C: 8, H: 8, W: 8, K: 8, R: 3, stride: 1, pad: 1 }));
    expect(model.winograd).toBe(false);
    model.allocate(2, false);
    const spy = vi.spyOn(rt, "parallel");
    model.forward(model.inputPtr, 2, false);
    expect([...kernelsRun(spy)].some((name) => name.startsWith("winograd"))).toBe(false);
    spy.mockRestore();
    model.dispose();
    const on = new Model(rt, spec({ N: 1, C: 8, H: 8, W: 8, K: 8, R: 3, stride: 1, pad: 1 }), { winograd: true });
    expect(on.winograd).toBe(true);
    on.allocate(2, false);
    const spyOn = vi.spyOn(rt, "parallel");
    on.forward(on.inputPtr, 2, false);
    expect(kernelsRun(spyOn).has(winogradKernel(winogradTile(8, 8, 8, 8) as 2 | 4, "winogradInput"))).toBe(true);
    spyOn.mockRestore();
    on.dispose();
  });
});

describe("the shipped MNIST CNN with Winograd", () => {
  it("gives the same classes on 2,000 test images, probabilities within 1e-5", async () => {
    const rt = one;
    const bytes = new Uint8Array(readFileSync(DEFAULT_MODEL_PATH));
    const plain = deserializeModel(rt, bytes).model;
    const wino = deserializeModel(rt, bytes, "model file", { winograd: true }).model;
    const loaded = (await loadModelFile(rt, DEFAULT_MODEL_PATH, { winograd: true })).model;
    try {
      expect(wino.winograd && loaded.winograd).toBe(true);
      expect(plain.winograd).toBe(false);
      expect(wino.winogradLayers).toBe(2); // conv2 and conv3 (32 and 64 channels in); conv1 has one
      const test = loadMnist("test");
      const count = 2000;
      const images = test.images.subarray(0, count * 784);
      const p = plain.predict(images, count);
      const q = wino.predict(images, count);
      expect(loaded.predict(images, count)).toEqual(q);
      const argmax = (probs: Float32Array, i: number): number => {
        let best = 0;
        for (let c = 1; c < 10; c++) if (probs[i * 10 + c] > probs[i * 10 + best]) best = c;
        return best;
      };
      let maxDiff = 0;
      for (let i = 0; i < count; i++) {
        expect(argmax(q, i), `image ${i}`).toBe(argmax(p, i));
        for (let c = 0; c < 10; c++) maxDiff = Math.max(maxDiff, Math.abs(p[i * 10 + c] - q[i * 10 + c]));
      }
      expect(maxDiff).toBeGreaterThan(0);
      expect(maxDiff).toBeLessThan(1e-5);
    } finally {
      for (const m of [plain, wino, loaded]) m.dispose();
    }
  });
});

describe("misuse of the winograd option", () => {
  it("is refused with BAD_ARGUMENT", async () => {
    const rt = one;
    const s = spec({ N: 1, C: 8, H: 8, W: 8, K: 8, R: 3, stride: 1, pad: 1 });
    expectError(() => new Model(rt, s, { winograd: "yes" as unknown as boolean }), "BAD_ARGUMENT", "winograd", '"yes"');
    expectError(() => new Model(rt, s, { winograd: 1 as unknown as boolean }), "BAD_ARGUMENT", "winograd");
    const model = new Model(rt, s);
    expectError(
      () => {
        model.winograd = null as unknown as boolean;
      },
      "BAD_ARGUMENT",
      "winograd must be true or false",
    );
    expect(model.winograd).toBe(false);
    model.dispose();
    expectError(() => {
      model.winograd = true;
    }, "BAD_STATE");
    const bytes = new Uint8Array(readFileSync(DEFAULT_MODEL_PATH));
    expectError(
      () => deserializeModel(rt, bytes, "model file", { winograd: "true" as unknown as boolean }),
      "BAD_ARGUMENT",
      "deserializeModel: winograd must be true or false",
    );
    expectError(
      () => deserializeModel(rt, bytes, "model file", { winogard: true } as unknown as { winograd: boolean }),
      "BAD_ARGUMENT",
      'unknown option "winogard"',
    );
    await expect(loadModelFile(rt, DEFAULT_MODEL_PATH, { winograd: 0 as unknown as boolean })).rejects.toThrow(
      /loadModelFile: winograd must be true or false/,
    );
    await expect(loadModelFile(rt, DEFAULT_MODEL_PATH, { winograd: 0 as unknown as boolean })).rejects.toMatchObject({
      code: "BAD_ARGUMENT",
    });
  });
});
