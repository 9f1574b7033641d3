// The Flatten layer (sdk/layers/flatten.ts): its output is its input, read flat, and its backward
// pass hands the gradient through.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor for gradients near zero (the gradient-check machinery is in test/support/numeric.ts).
import { describe, expect, it } from "vitest";
import { Model, type ModelSpec, type Random } from "../../../sdk/index";
import { fillNormal, rt, useRuntime } from "../../support/buffers";
import { expectError } from "../../support/errors";
import { checkLayer, firstLayer } from "../../support/numeric";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("Flatten", () => {
  const normalInput = (x: Float32Array, rng: Random): void => fillNormal(x, rng, 1);

  it.each([1, 3])("Flatten [2,3,4] -> [24] (batch %i): input gradient passes through", (batch) => {
    const spec: ModelSpec = { input: [2, 3, 4], layers: [{ type: "flatten" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(spec, batch, 4000 + batch, normalInput);
    expect(layer.outputShape).toEqual([24]);
    checkLayer(layer, model.inputPtr, batch, rng, "flatten");
    expect(layer.backward(123, batch, false)).toBe(0);
    model.dispose();
  });
});

describe("Flatten forward", () => {
  it.each([
    [[2, 3, 4], 24],
    [[5], 5],
    [[1, 1, 7], 7],
  ] as [number[], number][])(
    "[%j] -> [%i]: the output is the input's values in the same order, and no parameters",
    (input, size) => {
      const batch = 3;
      const model = new Model(rt, { input, layers: [{ type: "flatten" }, { type: "dense", units: 2 }] });
      model.allocate(batch);
      const layer = model.layers[0];
      expect(layer.outputShape).toEqual([size]);
      expect(layer.params).toEqual([]);
      const x = rt.f32(model.inputPtr, batch * size);
      x.set(Float32Array.from({ length: batch * size }, (_, i) => i * 0.5 - 3));
      for (const training of [false, true]) {
        const y = layer.forward(model.inputPtr, batch, training);
        expect(rt.f32(y, batch * size)).toEqual(x);
      }
      model.dispose();
    },
  );

  it("refuses any use once disposed (BAD_STATE)", () => {
    const model = new Model(rt, { input: [2, 2], layers: [{ type: "flatten" }, { type: "dense", units: 2 }] });
    model.allocate(1);
    const layer = model.layers[0];
    const x = model.inputPtr;
    model.dispose();
    expectError(() => layer.forward(x, 1, false), "BAD_STATE", /flatten layer was disposed/);
    expectError(() => layer.backward(0, 1, true), "BAD_STATE", /flatten layer was disposed/);
  });
});
