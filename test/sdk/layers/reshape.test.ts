// The Reshape layer (sdk/layers/reshape.ts): the same values under a new shape, no copy; the
// gradient passes through; sizes that do not agree are refused before anything is allocated.
import { describe, expect, it } from "vitest";
import { Model, type ModelSpec, type Random } from "../../../sdk/index";
import { fillNormal, rt, useRuntime } from "../../support/buffers";
import { expectError } from "../../support/errors";
import { checkLayer, firstLayer } from "../../support/numeric";

useRuntime();

const reshapeSpec = (input: number[], shape: number[]): ModelSpec => ({
  input,
  layers: [
    { type: "reshape", shape },
    { type: "dense", units: 2 },
  ],
});

describe("Reshape", () => {
  it.each([
    [[1568], [32, 7, 7]],
    [[784], [1, 28, 28]],
    [[2, 3, 4], [24]],
    [
      [2, 3, 4],
      [6, 4],
    ],
    [[12], [12]],
  ] as [number[], number[]][])("%j -> %j: the input's values in the same place, no parameters", (input, shape) => {
    const batch = 3;
    const model = new Model(rt, reshapeSpec(input, shape));
    model.allocate(batch);
    const layer = model.layers[0];
    expect(layer.outputShape).toEqual(shape);
    expect(layer.params).toEqual([]);
    const n = batch * model.inputSize;
    const x = rt.f32(model.inputPtr, n);
    x.set(Float32Array.from({ length: n }, (_, i) => i * 0.25 - 7));
    for (const training of [false, true]) expect(layer.forward(model.inputPtr, batch, training)).toBe(model.inputPtr);
    expect(layer.backward(1234, batch, true)).toBe(1234);
    expect(layer.backward(1234, batch, false)).toBe(0);
    model.dispose();
  });

  it("[24] -> [2, 3, 4] (batch 2): the input gradient passes through (central differences)", () => {
    const { model, layer, rng } = firstLayer(reshapeSpec([24], [2, 3, 4]), 2, 9, (x: Float32Array, r: Random) =>
      fillNormal(x, r, 1),
    );
    checkLayer(layer, model.inputPtr, 2, rng, "reshape");
    model.dispose();
  });

  it("a reshaped vector feeds a convolution as an image", () => {
    const model = new Model(rt, {
      input: [16],
      layers: [
        { type: "reshape", shape: [1, 4, 4] },
        { type: "conv2d", filters: 2, size: 3 },
        { type: "dense", units: 2 },
      ],
    });
    expect(model.layers[1].outputShape).toEqual([2, 2, 2]);
    model.dispose();
  });

  it("refuses a shape whose size is not the input's (BAD_SHAPE naming the layer), and any use once disposed", () => {
    expectError(
      () => new Model(rt, reshapeSpec([784], [32, 7, 7])),
      "BAD_SHAPE",
      /layer 0 \(reshape 32x7x7\): cannot give its input \[784\] \(784 values\) the shape \[32,7,7\]/,
    );
    const model = new Model(rt, reshapeSpec([4], [2, 2]));
    model.allocate(1);
    const layer = model.layers[0];
    model.dispose();
    expectError(() => layer.forward(0, 1, false), "BAD_STATE", /reshape layer was disposed/);
  });
});
