// The Flatten layer (sdk/layers/flatten.ts): its output is its input, read flat, and its backward
// pass hands the gradient through.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor for gradients near zero (the gradient-check machinery is in test/support/numeric.ts).
import { describe, expect, it } from "vitest";
import type { ModelSpec, Random } from "../../../sdk/index";
import { fillNormal, useRuntime } from "../../support/buffers";
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
