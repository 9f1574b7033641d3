// Back-propagation against numerical gradients (central differences, (f(v+ε) - f(v-ε)) / 2ε).
// Compared: every entry of every parameter gradient (dense weights and biases) and of the input
// gradient, for each layer on its own (Dense, Sigmoid, ReLU under a random linear read-out
// L = Σ r·y), for the softmax-cross-entropy head (d mean loss / d logits), and for whole models
// (sigmoid MLP, ReLU MLP, two hidden layers; batches 1 and 5) under the mean cross-entropy.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor for gradients near zero. ReLU is not differentiable at 0: inputs are drawn so
// that no ReLU input lies within a margin of 0, and every perturbation is checked not to flip
// a ReLU on or off (the finite difference would be meaningless otherwise).
// The gradient-check machinery is shared, in test/support/numeric.ts.
import { describe, expect, it } from "vitest";
import { Random, type Model, type ModelSpec } from "../sdk/index";
import { fillNormal, rt, useRuntime } from "./support/buffers";
import { buildModel, checkLayer, checkModelGradients, expectGradient, firstLayer, numericalGrad, sizeOf, typeOf } from "./support/numeric";

/** ReLU inputs are kept at least this far from 0. */
const RELU_MARGIN = 0.05;

useRuntime();

// ---------------------------------------------------------------------------------------------
// Single layers under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("single layers", () => {
  /** An input writer: every value drawn by `value`. */
  const each = (value: (rng: Random) => number) => (x: Float32Array, rng: Random): void => {
    for (let i = 0; i < x.length; i++) x[i] = value(rng);
  };

  it.each([1, 5])("Dense 7 -> 5: weight, bias and input gradients (batch %i)", (batch) => {
    const { model, layer, rng } = firstLayer({ input: [7], layers: [{ type: "dense", units: 5 }] }, batch, 10 + batch, each((r) => r.normal()));
    checkLayer(layer, model.inputPtr, batch, rng, "dense");
    model.dispose();
  });

  it("Dense over a [2,3,2] sample shape (read flat) -> 4, batch 3", () => {
    const { model, layer, rng } = firstLayer({ input: [2, 3, 2], layers: [{ type: "dense", units: 4 }] }, 3, 20, each((r) => r.normal()));
    expect(layer.params[0].value.shape).toEqual([12, 4]);
    checkLayer(layer, model.inputPtr, 3, rng, "dense");
    model.dispose();
  });

  it.each([1, 5])("Sigmoid over 9 values: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "sigmoid" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(spec, batch, 30 + batch, each((r) => 2 * r.normal()));
    checkLayer(layer, model.inputPtr, batch, rng, "sigmoid");
    model.dispose();
  });

  it.each([1, 5])("ReLU over 9 values, inputs away from 0: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "relu" }, { type: "dense", units: 2 }] };
    // |x| in [0.1, 1.1]: a perturbation of ε = 0.01 never crosses the kink.
    const { model, layer, rng } = firstLayer(spec, batch, 40 + batch, each((r) => (r.uniform() < 0.5 ? -1 : 1) * (0.1 + r.uniform())));
    checkLayer(layer, model.inputPtr, batch, rng, "relu");
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// The loss head: d(mean cross-entropy)/d(logits) = (softmax - onehot) / batch

describe("softmax cross-entropy head", () => {
  it.each([[1, 3], [5, 10]])("gradient w.r.t. the logits (batch %i, %i classes)", (batch, classes) => {
    const model = buildModel({ input: [2], layers: [{ type: "dense", units: classes }] }, batch, 50);
    const rng = new Random(51 + batch);
    const logitsPtr = rt.alloc(batch * classes * 4);
    const view = (): Float32Array => rt.f32(logitsPtr, batch * classes);
    fillNormal(view(), rng, 2);
    view()[0] += 30; // a dominant logit: stability of the head, and near-saturated probabilities
    const labels = rt.u8(model.labelPtr, batch);
    for (let i = 0; i < batch; i++) labels[i] = rng.int(classes);
    labels[0] = 1; // the first row's label is not its dominant class
    const meanLoss = (): number => model.loss.forward(logitsPtr, model.labelPtr, batch, false) / batch;
    model.loss.forward(logitsPtr, model.labelPtr, batch, true);
    const analytic = rt.f32(model.loss.gradPtr, batch * classes).slice();
    expectGradient(analytic, numericalGrad(view, meanLoss), "dlogits");
    rt.free(logitsPtr);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Whole models: mean cross-entropy of model.forward, gradients from model.backward

describe("models", () => {
  /** Mean loss over the batch, plus the on/off pattern of every ReLU input and its smallest |z|. */
  // The walk reads each ReLU's input, so it runs with the bias+ReLU fusion off (same loss); the
  // analytic gradients (checkModelGradients) come from model.forward with it on.
  function evaluate(model: Model, batch: number): { loss: number; mask: string; margin: number } {
    let x = model.inputPtr;
    let mask = "";
    let margin = Infinity;
    model.fusion = false;
    for (const layer of model.layers) {
      if (typeOf(layer) === "relu") {
        for (const z of rt.f32(x, batch * sizeOf(layer.inputShape))) {
          mask += z > 0 ? "1" : "0";
          margin = Math.min(margin, Math.abs(z));
        }
      }
      x = layer.forward(x, batch, true);
    }
    model.fusion = true;
    return { loss: model.loss.forward(x, model.labelPtr, batch, false) / batch, mask, margin };
  }

  /** Writes random inputs in [-1, 1] and labels, redrawn until every ReLU input is off the kink. */
  function drawBatch(model: Model, batch: number, rng: Random): void {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const x = rt.f32(model.inputPtr, batch * model.inputSize);
      for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 1;
      const labels = rt.u8(model.labelPtr, batch);
      for (let i = 0; i < batch; i++) labels[i] = rng.int(model.classCount);
      if (evaluate(model, batch).margin >= RELU_MARGIN) return;
    }
    expect.fail("could not draw a batch with every ReLU input away from 0");
  }

  const cases: { name: string; spec: ModelSpec; batch: number }[] = [];
  const mlp = (input: number[], layers: ModelSpec["layers"]): ModelSpec => ({ input, layers });
  for (const batch of [1, 5]) {
    cases.push(
      { name: "sigmoid MLP 7-5-3", batch, spec: mlp([7], [{ type: "dense", units: 5 }, { type: "sigmoid" }, { type: "dense", units: 3 }]) },
      { name: "ReLU MLP 6-8-4", batch, spec: mlp([6], [{ type: "dense", units: 8 }, { type: "relu" }, { type: "dense", units: 4 }]) },
      {
        name: "two hidden layers [2,5]-6(sigmoid)-5(relu)-3", batch, spec: mlp([2, 5], [
          { type: "dense", units: 6 }, { type: "sigmoid" }, { type: "dense", units: 5 }, { type: "relu" }, { type: "dense", units: 3 }]),
      },
      {
        name: "two ReLU layers 4-7-6-10 (he init)", batch, spec: mlp([4], [
          { type: "dense", units: 7, init: "he" }, { type: "relu" }, { type: "dense", units: 6, init: "he" }, { type: "relu" },
          { type: "dense", units: 10 }]),
      },
    );
  }

  it.each(cases.map((c, i) => ({ ...c, seed: 100 + i })))("$name, batch $batch: every parameter and input gradient", ({ spec, batch, seed }) => {
    const model = buildModel(spec, batch, seed);
    drawBatch(model, batch, new Random(seed + 7));
    // Back-propagation against central differences of the mean loss; every perturbation must keep the ReLU pattern.
    checkModelGradients(model, batch, () => evaluate(model, batch), "a ReLU");
    model.dispose();
  });
});
