// The Dense layer (sdk/layers/dense.ts): back-propagation against numerical gradients (central
// differences, (f(v+ε) - f(v-ε)) / 2ε) of weights, bias and input on its own under a random linear
// read-out.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor for gradients near zero (the gradient-check machinery is in test/support/numeric.ts).
import { describe, expect, it, vi } from "vitest";
import type { Random } from "../../../sdk/index";
import { useRuntime } from "../../support/buffers";
import { checkLayer, firstLayer } from "../../support/numeric";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("Dense gradients", () => {
  /** An input writer: every value drawn by `value`. */
  const each =
    (value: (rng: Random) => number) =>
    (x: Float32Array, rng: Random): void => {
      for (let i = 0; i < x.length; i++) x[i] = value(rng);
    };

  it.each([1, 5])("Dense 7 -> 5: weight, bias and input gradients (batch %i)", (batch) => {
    const { model, layer, rng } = firstLayer(
      { input: [7], layers: [{ type: "dense", units: 5 }] },
      batch,
      10 + batch,
      each((r) => r.normal()),
    );
    checkLayer(layer, model.inputPtr, batch, rng, "dense");
    model.dispose();
  });

  it("Dense 60 -> 6 on an input four-fifths zeros (the sparse products of a first layer), batch 5", () => {
    const { model, layer, rng } = firstLayer(
      { input: [60], layers: [{ type: "dense", units: 6 }] },
      5,
      30,
      each((r) => (r.uniform() < 0.8 ? 0 : r.normal())),
    );
    const spy = vi.spyOn(model.rt, "sparseGemm");
    checkLayer(layer, model.inputPtr, 5, rng, "dense");
    expect(spy, "forward and dW took the sparse products").toHaveBeenCalled();
    spy.mockRestore();
    model.dispose();
  });

  it("Dense over a [2,3,2] sample shape (read flat) -> 4, batch 3", () => {
    const { model, layer, rng } = firstLayer(
      { input: [2, 3, 2], layers: [{ type: "dense", units: 4 }] },
      3,
      20,
      each((r) => r.normal()),
    );
    expect(layer.params[0].value.shape).toEqual([12, 4]);
    checkLayer(layer, model.inputPtr, 3, rng, "dense");
    model.dispose();
  });
});
