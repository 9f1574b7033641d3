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
import { beforeAll, describe, expect, it } from "vitest";
import { Model, Random, Runtime, type Layer, type ModelSpec } from "../sdk/index";

const EPS = 1e-2;
const RTOL = 2e-2;
const ATOL = 1e-4;
/** ReLU inputs are kept at least this far from 0. */
const RELU_MARGIN = 0.05;

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isRelu = (layer: Layer): boolean => (layer.spec as { type: string }).type === "relu";

/** Central difference of f with respect to view()[i]; the value is restored afterwards. */
function centralDiff(view: () => Float32Array, i: number, f: () => number): number {
  const orig = view()[i];
  view()[i] = orig + EPS;
  const up = view()[i]; // the float32 actually stored
  const fUp = f();
  view()[i] = orig - EPS;
  const down = view()[i];
  const fDown = f();
  view()[i] = orig;
  return (fUp - fDown) / (up - down);
}

/** Numerical gradient of f with respect to every entry of view(). */
const numericalGrad = (view: () => Float32Array, f: () => number): Float64Array =>
  Float64Array.from({ length: view().length }, (_, i) => centralDiff(view, i, f));

/** |analytic - numerical| <= RTOL·max(|a|, |n|) + ATOL everywhere, and the gradient is not all ~0. */
function expectGradient(analytic: ArrayLike<number>, numerical: ArrayLike<number>, what: string): void {
  expect(analytic.length, `${what}: length`).toBe(numerical.length);
  let largest = 0;
  for (let i = 0; i < numerical.length; i++) {
    const a = analytic[i], n = numerical[i];
    largest = Math.max(largest, Math.abs(n));
    if (!(Math.abs(a - n) <= RTOL * Math.max(Math.abs(a), Math.abs(n)) + ATOL)) {
      expect.fail(`${what}[${i}]: back-propagation ${a}, numerical ${n}`);
    }
  }
  expect(largest, `${what}: the gradient is too small for the check to mean anything`).toBeGreaterThan(100 * ATOL);
}

function fillNormal(out: Float32Array, rng: Random, scale: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * scale;
}

/** A model with `batch` rows of room and its biases set to random non-zero values. */
function buildModel(spec: ModelSpec, batch: number, seed: number): Model {
  const model = new Model(rt, spec, { seed });
  model.allocate(batch);
  const rng = new Random(seed + 1);
  for (const p of model.params) if (p.name.endsWith(".bias")) fillNormal(p.value.view(), rng, 0.5);
  return model;
}

// ---------------------------------------------------------------------------------------------
// Single layers under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("single layers", () => {
  /**
   * Checks layer.backward against central differences of L(x, θ) = Σ r·forward(x) for the input
   * and every parameter. `input` is a float32 view of the layer's input batch in wasm memory.
   */
  function checkLayer(layer: Layer, inputPtr: number, batch: number, rng: Random, name: string): void {
    const inSize = sizeOf(layer.inputShape) * batch;
    const outSize = sizeOf(layer.outputShape) * batch;
    const r = new Float64Array(outSize);
    for (let i = 0; i < outSize; i++) r[i] = rng.normal();
    const rPtr = rt.alloc(outSize * 4);
    try {
      const L = (): number => {
        const y = rt.f32(layer.forward(inputPtr, batch, true), outSize);
        let sum = 0;
        for (let i = 0; i < outSize; i++) sum += r[i] * y[i];
        return sum;
      };
      layer.forward(inputPtr, batch, true);
      rt.f32(rPtr, outSize).set(r);
      const dx = rt.f32(layer.backward(rPtr, batch, true), inSize).slice();
      const paramGrads = layer.params.map((p) => p.grad.read());
      expectGradient(dx, numericalGrad(() => rt.f32(inputPtr, inSize), L), `${name} input`);
      layer.params.forEach((p, i) => expectGradient(paramGrads[i], numericalGrad(() => p.value.view(), L), `${name} ${p.name}`));
    } finally {
      rt.free(rPtr);
    }
  }

  /** The first layer of a model built from `spec`, with a random input batch written. */
  function firstLayer(spec: ModelSpec, batch: number, seed: number, input: (rng: Random) => number) {
    const model = buildModel(spec, batch, seed);
    const rng = new Random(seed + 2);
    const x = rt.f32(model.inputPtr, batch * model.inputSize);
    for (let i = 0; i < x.length; i++) x[i] = input(rng);
    return { model, layer: model.layers[0], rng };
  }

  it.each([1, 5])("Dense 7 -> 5: weight, bias and input gradients (batch %i)", (batch) => {
    const { model, layer, rng } = firstLayer({ input: [7], layers: [{ type: "dense", units: 5 }] }, batch, 10 + batch, (r) => r.normal());
    checkLayer(layer, model.inputPtr, batch, rng, "dense");
    model.dispose();
  });

  it("Dense over a [2,3,2] sample shape (read flat) -> 4, batch 3", () => {
    const { model, layer, rng } = firstLayer({ input: [2, 3, 2], layers: [{ type: "dense", units: 4 }] }, 3, 20, (r) => r.normal());
    expect(layer.params[0].value.shape).toEqual([12, 4]);
    checkLayer(layer, model.inputPtr, 3, rng, "dense");
    model.dispose();
  });

  it.each([1, 5])("Sigmoid over 9 values: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "sigmoid" }, { type: "dense", units: 2 }] };
    const { model, layer, rng } = firstLayer(spec, batch, 30 + batch, (r) => 2 * r.normal());
    checkLayer(layer, model.inputPtr, batch, rng, "sigmoid");
    model.dispose();
  });

  it.each([1, 5])("ReLU over 9 values, inputs away from 0: input gradient (batch %i)", (batch) => {
    const spec: ModelSpec = { input: [9], layers: [{ type: "relu" }, { type: "dense", units: 2 }] };
    // |x| in [0.1, 1.1]: a perturbation of ε = 0.01 never crosses the kink.
    const { model, layer, rng } = firstLayer(spec, batch, 40 + batch, (r) => (r.uniform() < 0.5 ? -1 : 1) * (0.1 + r.uniform()));
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
  function evaluate(model: Model, batch: number): { loss: number; mask: string; margin: number } {
    let x = model.inputPtr;
    let mask = "";
    let margin = Infinity;
    for (const layer of model.layers) {
      if (isRelu(layer)) {
        for (const z of rt.f32(x, batch * sizeOf(layer.inputShape))) {
          mask += z > 0 ? "1" : "0";
          margin = Math.min(margin, Math.abs(z));
        }
      }
      x = layer.forward(x, batch, true);
    }
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
    const base = evaluate(model, batch);

    // Analytic: loss.forward with the gradient, then model.backward for the parameters; the input
    // gradient (which model.backward does not compute) by the same chain with needInputGrad set.
    const logits = model.forward(model.inputPtr, batch, true);
    const loss = model.loss.forward(logits, model.labelPtr, batch, true) / batch;
    expect(loss).toBeCloseTo(base.loss, 6);
    model.backward(batch);
    const paramGrads = model.params.map((p) => p.grad.read());
    let grad = model.loss.gradPtr;
    for (let i = model.layers.length - 1; i >= 0; i--) grad = model.layers[i].backward(grad, batch, true);
    const inputGrad = rt.f32(grad, batch * model.inputSize).slice();
    model.params.forEach((p, i) => expect(p.grad.read(), `${p.name} recomputed`).toEqual(paramGrads[i]));

    // Numerical: the mean loss, with the ReLU pattern required to stay as it was.
    let flips = 0;
    const meanLoss = (): number => {
      const { loss, mask } = evaluate(model, batch);
      if (mask !== base.mask) flips++;
      return loss;
    };
    model.params.forEach((p, i) => expectGradient(paramGrads[i], numericalGrad(() => p.value.view(), meanLoss), p.name));
    expectGradient(inputGrad, numericalGrad(() => rt.f32(model.inputPtr, batch * model.inputSize), meanLoss), "input");
    expect(flips, "perturbations that switched a ReLU (finite differences invalid)").toBe(0);
    model.dispose();
  });
});
