// The Upsample layer (sdk/layers/upsample.ts): its output against a plain nearest-neighbour
// reference, its backward pass against block sums and central differences, the same floats on
// one thread and on two (a batch big enough to be shared out), and its refusals.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../../../sdk/node";
import { fillNormal, useRuntime } from "../../support/buffers";
import { expectError } from "../../support/errors";
import { checkLayer, firstLayer } from "../../support/numeric";

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

const upsampleSpec = (input: number[], scale: number): ModelSpec => ({
  input,
  layers: [
    { type: "upsample", scale },
    { type: "dense", units: 2 },
  ],
});

/** The layer's output and input gradient for random x and dy, on `rt`; the threads used. */
function run(rt: Runtime, input: [number, number, number], scale: number, batch: number, seed: number) {
  const [C, H, W] = input;
  const model = new Model(rt, upsampleSpec(input, scale));
  model.allocate(batch);
  const layer = model.layers[0];
  const rng = new Random(seed);
  const n = batch * C * H * W,
    m = n * scale * scale;
  const x = Float32Array.from({ length: n }, () => rng.normal());
  const dy = Float32Array.from({ length: m }, () => rng.normal());
  rt.f32(model.inputPtr, n).set(x);
  const dyPtr = rt.alloc(m * 4);
  rt.f32(dyPtr, m).set(dy);
  const spy = vi.spyOn(rt, "parallel");
  try {
    const y = rt.f32(layer.forward(model.inputPtr, batch, true), m).slice();
    const dx = rt.f32(layer.backward(dyPtr, batch, true), n).slice();
    expect(layer.backward(dyPtr, batch, false)).toBe(0);
    const threads = Math.max(1, ...spy.mock.calls.map(([tasks]) => tasks.length));
    return { x, dy, y, dx, threads };
  } finally {
    spy.mockRestore();
    rt.free(dyPtr);
    model.dispose();
  }
}

describe("Upsample", () => {
  it.each([
    [[1, 3, 4], 2, 2],
    [[3, 7, 7], 2, 3],
    [[2, 5, 3], 3, 1],
    [[2, 2, 6], 4, 2],
    [[1, 1, 1], 16, 1],
    [[2, 3, 3], 1, 2],
  ] as [[number, number, number], number, number][])(
    "%j scale %i (batch %i): y[c, oy, ox] = x[c, oy/S, ox/S]; dx sums each S x S block of dy",
    (input, S, batch) => {
      const [C, H, W] = input;
      const { x, dy, y, dx } = run(one, input, S, batch, C * 100 + H * 10 + W + S);
      const [OH, OW] = [H * S, W * S];
      const wantY = new Float32Array(y.length);
      const wantDx = new Float64Array(dx.length);
      for (let p = 0; p < batch * C; p++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            const i = (p * H + Math.floor(oy / S)) * W + Math.floor(ox / S);
            const o = (p * OH + oy) * OW + ox;
            wantY[o] = x[i];
            wantDx[i] += dy[o];
          }
      expect(y).toEqual(wantY);
      dx.forEach((v, i) => {
        if (!(Math.abs(v - wantDx[i]) <= 1e-5 * (1 + Math.abs(wantDx[i]))))
          expect.fail(`dx[${i}] = ${v}, want ${wantDx[i]}`);
      });
    },
  );

  it("shares a big batch out between two threads, with the same floats as one thread", () => {
    const input: [number, number, number] = [16, 8, 8];
    const single = run(one, input, 2, 128, 5);
    const shared = run(two, input, 2, 128, 5);
    expect(single.threads).toBe(1);
    expect(shared.threads).toBe(2);
    expect(shared.y).toEqual(single.y);
    expect(shared.dx).toEqual(single.dx);
  });

  it.each([
    [[2, 3, 4], 2, 1],
    [[1, 2, 3], 3, 2],
  ] as [number[], number, number][])(
    "%j scale %i (batch %i): input gradient by central differences",
    (input, S, batch) => {
      const { model, layer, rng } = firstLayer(upsampleSpec(input, S), batch, 70 + S, (x, r) => fillNormal(x, r, 1));
      expect(layer.outputShape).toEqual([input[0], input[1] * S, input[2] * S]);
      expect(layer.params).toEqual([]);
      checkLayer(layer, model.inputPtr, batch, rng, "upsample");
      model.dispose();
    },
  );

  it("refuses an input that is not an image (BAD_SHAPE) and any use once disposed (BAD_STATE)", () => {
    expectError(
      () => new Model(one, upsampleSpec([12], 2)),
      "BAD_SHAPE",
      /layer 0 \(upsample 2\) needs \[channels, height, width\] input, got \[12\]/,
    );
    const model = new Model(one, upsampleSpec([1, 2, 2], 2));
    model.allocate(1);
    const layer = model.layers[0];
    model.dispose();
    expectError(() => layer.forward(0, 1, false), "BAD_STATE", /upsample layer was disposed/);
    expectError(() => layer.backward(0, 1, true), "BAD_STATE", /upsample layer was disposed/);
  });
});
