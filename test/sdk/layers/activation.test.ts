// The activation layers (sdk/layers/activation.ts): the input gradients of Sigmoid and ReLU against
// numerical gradients (central differences, float32, ε = 1e-2, relative tolerance 2e-2; ReLU inputs
// kept off the kink), and ReLU fusion.
//
// ReLU fusion (Model.fusion): a dense or conv2d layer followed by a ReLU applies it as it adds
// its bias, and a max-pool after a ReLU applies the ReLU's backward pass as it routes the
// gradient. Fused and unfused models must compute the same floats, forward and backward, on one
// thread and on two.
import { afterAll, describe, expect, it } from "vitest";
import { Model, Random, Runtime, type ModelSpec } from "../../../sdk/node";
import { useRuntime } from "../../support/buffers";
import { checkLayer, firstLayer } from "../../support/numeric";
import { gradientsOf } from "../../support/model";

useRuntime();

const SPEC: ModelSpec = {
  input: [1, 12, 12],
  layers: [
    { type: "conv2d", filters: 12, size: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    // A ReLU not fused into the layer before, then overlapping pool windows (a pixel receiving
    // several windows' gradients, kept or dropped together by the mask).
    { type: "conv2d", filters: 6, size: 3, padding: 1 },
    { type: "batchnorm" },
    { type: "relu" },
    { type: "maxpool", size: 2, stride: 1 },
    { type: "flatten" },
    { type: "dense", units: 16 },
    { type: "relu" },
    { type: "dense", units: 5 },
    { type: "sigmoid" },
    { type: "dense", units: 4 },
  ],
};
const BATCH = 6;

const runtimes: Runtime[] = [];
afterAll(() => runtimes.forEach((rt) => rt.dispose()));

/** Probabilities, then every parameter gradient after one forward/backward pass on the same batch. */
function run(model: Model, pixels: Float32Array, labels: Uint8Array): { probs: Float32Array; grads: Float32Array[] } {
  return { probs: model.predict(pixels, BATCH), grads: gradientsOf(model, pixels, labels) };
}

describe("bias + ReLU fusion", () => {
  it.each([1, 2])(
    "gives the same probabilities and gradients, bit for bit, as the unfused layers (%i threads)",
    async (threads) => {
      const rt = await Runtime.create({ threads });
      runtimes.push(rt);
      const rng = new Random(9);
      const pixels = Float32Array.from({ length: BATCH * 144 }, () => rng.uniform());
      const labels = Uint8Array.from({ length: BATCH }, () => rng.int(4));
      const fused = new Model(rt, SPEC, { seed: 4 });
      const unfused = new Model(rt, SPEC, { seed: 4 });
      unfused.fusion = false;
      expect(fused.fusion).toBe(true);
      expect(unfused.fusion).toBe(false);
      const a = run(fused, pixels, labels);
      const b = run(unfused, pixels, labels);
      expect(a.probs).toEqual(b.probs);
      a.grads.forEach((grad, i) => expect(grad, fused.params[i].name).toEqual(b.grads[i]));
      // A second, different batch: the fused ReLU's backward must read this pass's output.
      const pixels2 = Float32Array.from(pixels, (v) => 1 - v);
      const a2 = run(fused, pixels2, labels);
      const b2 = run(unfused, pixels2, labels);
      a2.grads.forEach((grad, i) => expect(grad, `${fused.params[i].name}, second batch`).toEqual(b2.grads[i]));
      expect(a2.grads[0]).not.toEqual(a.grads[0]);
      fused.dispose();
      unfused.dispose();
    },
  );

  it("is off for a model with nothing to fuse (a ReLU after pooling, a sigmoid after dense)", async () => {
    const rt = await Runtime.create();
    runtimes.push(rt);
    const model = new Model(rt, {
      input: [1, 4, 4],
      layers: [
        { type: "maxpool", size: 2 },
        { type: "relu" },
        { type: "flatten" },
        { type: "dense", units: 3 },
        { type: "sigmoid" },
        { type: "dense", units: 2 },
      ],
    });
    expect(model.fusion).toBe(false);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("Sigmoid and ReLU gradients", () => {
  /** An input writer: every value drawn by `value`. */
  const each =
    (value: (rng: Random) => number) =>
    (x: Float32Array, rng: Random): void => {
      for (let i = 0; i < x.length; i++) x[i] = value(rng);
    };

  it.each([1, 5])("Sigmoid over 9 values: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "sigmoid" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(
      spec,
      batch,
      30 + batch,
      each((r) => 2 * r.normal()),
    );
    checkLayer(layer, model.inputPtr, batch, rng, "sigmoid");
    model.dispose();
  });

  it.each([1, 5])("ReLU over 9 values, inputs away from 0: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "relu" }, { type: "dense", units: 2 }] };
    // |x| in [0.1, 1.1]: a perturbation of ε = 0.01 never crosses the kink.
    const { model, layer, rng } = firstLayer(
      spec,
      batch,
      40 + batch,
      each((r) => (r.uniform() < 0.5 ? -1 : 1) * (0.1 + r.uniform())),
    );
    checkLayer(layer, model.inputPtr, batch, rng, "relu");
    model.dispose();
  });
});
