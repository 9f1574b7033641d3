// A convolution packs its weights for the forward pass and repacks them only when they changed
// (kernels.copyIfChanged against a copy of the weights it packed). Whatever changes them (an
// optimizer step, a write through a view, a load) must show in the next forward pass.
import { afterAll, describe, expect, it } from "vitest";
import { Model, Random, Runtime, SGD, type ModelSpec } from "../sdk/node";
import { gradientsOf } from "./support/model";

// conv1's 9-value patches go through convDirect, conv2's 72-value ones through packA + GEMM.
const SPEC: ModelSpec = {
  input: [1, 12, 12],
  layers: [
    { type: "conv2d", filters: 8, size: 3 }, { type: "relu" }, { type: "conv2d", filters: 10, size: 3 }, { type: "relu" },
    { type: "flatten" }, { type: "dense", units: 4 },
  ],
};

const runtimes: Runtime[] = [];
afterAll(() => runtimes.forEach((rt) => rt.dispose()));

describe("packed convolution weights", () => {
  it.each([[1, 1], [1, 3], [2, 1], [2, 3]])("follow every change of the weights (%i threads, batch %i)", async (threads, batch) => {
    const rt = await Runtime.create({ threads });
    runtimes.push(rt);
    const rng = new Random(11);
    const pixels = Float32Array.from({ length: batch * 144 }, () => rng.uniform());
    const labels = Uint8Array.from({ length: batch }, () => rng.int(4));
    const model = new Model(rt, SPEC, { seed: 2 });
    /** What a model built afresh with `model`'s current weights predicts. */
    const fresh = (): Float32Array => {
      const other = new Model(rt, SPEC, { seed: 99 });
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
