// Shared by the kernel and gradient tests (not a test file itself: vitest runs test/**/*.test.ts):
//
// - element-wise comparisons with a tolerance (expectWithin, expectExact) and the float32
//   unit round-off U for the kernels' error bounds;
// - numerical gradients by central differences, (f(v+ε) - f(v-ε)) / 2ε, and their comparison
//   with back-propagation (expectGradient). Everything runs in float32, so ε is 1e-2 and the
//   tolerance is relative, 2e-2, with a small absolute floor for gradients near zero;
// - gradient checks of a single layer (checkLayer, under a random linear read-out L = Σ r·y) and
//   of a whole model (backprop for the analytic side, expectModelGradients for the numerical one,
//   checkModelGradients for both), on models from buildModel.
//
// The model helpers use the runtime of ./buffers: call useRuntime() in the test file.
import { expect } from "vitest";
import { type Layer, Model, type ModelSpec, Random } from "../../sdk/index";
import { fillNormal, rt } from "./buffers";

/** Unit round-off of float32. */
export const U = 2 ** -24;

// ---------------------------------------------------------------------------------------------
// Tolerances

/** Fails at the first i with |got[i] - want[i]| > tol[i] (NaN fails too). */
export function expectWithin(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number | ArrayLike<number>,
  what: string,
): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const t = typeof tol === "number" ? tol : tol[i];
    if (!(Math.abs(got[i] - want[i]) <= t)) {
      expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${t})`);
    }
  }
}

/** Exact equality, element by element (the reference is already rounded to float32). */
export const expectExact = (got: ArrayLike<number>, want: ArrayLike<number>, what: string): void =>
  expectWithin(got, want, 0, what);

// ---------------------------------------------------------------------------------------------
// Central differences

/** The step of the central differences. */
export const EPS = 1e-2;
/** Relative tolerance between back-propagation and central differences. */
export const RTOL = 2e-2;
/** Absolute floor of that tolerance, for gradients near zero. */
export const ATOL = 1e-4;

/** Central difference of f with respect to view()[i]; the value is restored afterwards. */
export function centralDiff(view: () => Float32Array, i: number, f: () => number): number {
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
export const numericalGrad = (view: () => Float32Array, f: () => number): Float64Array =>
  Float64Array.from({ length: view().length }, (_, i) => centralDiff(view, i, f));

/**
 * |analytic - numerical| <= RTOL·max(|a|, |n|) + ATOL everywhere, and the numerical gradient is
 * not all ~0 (unless `zero`: then both must be ~0 everywhere).
 */
export function expectGradient(
  analytic: ArrayLike<number>,
  numerical: ArrayLike<number>,
  what: string,
  zero = false,
): void {
  expect(analytic.length, `${what}: length`).toBe(numerical.length);
  let largest = 0,
    largestEither = 0;
  for (let i = 0; i < numerical.length; i++) {
    const a = analytic[i],
      n = numerical[i];
    largest = Math.max(largest, Math.abs(n));
    largestEither = Math.max(largestEither, Math.abs(n), Math.abs(a));
    if (!(Math.abs(a - n) <= RTOL * Math.max(Math.abs(a), Math.abs(n)) + ATOL)) {
      expect.fail(`${what}[${i}]: back-propagation ${a}, numerical ${n}`);
    }
  }
  if (zero) expect(largestEither, `${what}: should be ~0`).toBeLessThan(ATOL);
  else expect(largest, `${what}: the gradient is too small for the check to mean anything`).toBeGreaterThan(100 * ATOL);
}

// ---------------------------------------------------------------------------------------------
// Layers and models

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
/** The layer's spec type ("dense", "relu", "maxpool", …). */
export const typeOf = (layer: Layer): string => (layer.spec as { type: string }).type;

/**
 * A model with `batch` samples of room and random non-zero biases (and, for batch norm, random
 * gamma around 1 and beta), so that no gradient is zero merely because a parameter is.
 */
export function buildModel(spec: ModelSpec, batch: number, seed: number): Model {
  const model = new Model(rt, spec, { seed });
  model.allocate(batch);
  const rng = new Random(seed + 1);
  for (const p of model.params) {
    if (p.name.endsWith(".bias")) fillNormal(p.value.view(), rng, 0.5);
    if (p.name.endsWith(".gamma")) fillNormal(p.value.view(), rng, 0.3, 1);
    if (p.name.endsWith(".beta")) fillNormal(p.value.view(), rng, 0.2);
  }
  return model;
}

/** The first layer of a model built from `spec`, with an input batch written by `input`. */
export function firstLayer(
  spec: ModelSpec,
  batch: number,
  seed: number,
  input: (x: Float32Array, rng: Random) => void,
) {
  const model = buildModel(spec, batch, seed);
  const rng = new Random(seed + 2);
  input(rt.f32(model.inputPtr, batch * model.inputSize), rng);
  return { model, layer: model.layers[0], rng };
}

/**
 * Checks layer.backward against central differences of L(x, θ) = Σ r·forward(x, training) (r
 * random, so dL/dy = r) for the input and every parameter; `inputPtr` holds the layer's input
 * batch. The parameter gradients start as garbage (they must be overwritten, not accumulated),
 * and a backward without the input gradient must return 0 and give the same parameter
 * gradients. Returns the input gradient.
 */
export function checkLayer(layer: Layer, inputPtr: number, batch: number, rng: Random, name: string): Float32Array {
  const inSize = sizeOf(layer.inputShape) * batch;
  const outSize = sizeOf(layer.outputShape) * batch;
  const r = Float64Array.from({ length: outSize }, () => rng.normal());
  const rPtr = rt.alloc(outSize * 4);
  try {
    rt.f32(rPtr, outSize).set(r);
    const L = (): number => {
      const y = rt.f32(layer.forward(inputPtr, batch, true), outSize);
      let sum = 0;
      for (let i = 0; i < outSize; i++) sum += r[i] * y[i];
      return sum;
    };
    layer.forward(inputPtr, batch, true);
    for (const p of layer.params) p.grad.fill(1e6);
    const dx = rt.f32(layer.backward(rPtr, batch, true), inSize).slice();
    const paramGrads = layer.params.map((p) => p.grad.read());
    for (const p of layer.params) p.grad.fill(1e6);
    expect(layer.backward(rPtr, batch, false)).toBe(0);
    layer.params.forEach((p, i) =>
      expect(p.grad.read(), `${p.name} without the input gradient`).toEqual(paramGrads[i]),
    );
    expectGradient(
      dx,
      numericalGrad(() => rt.f32(inputPtr, inSize), L),
      `${name} input`,
    );
    layer.params.forEach((p, i) =>
      expectGradient(
        paramGrads[i],
        numericalGrad(() => p.value.view(), L),
        `${name} ${p.name}`,
      ),
    );
    return dx;
  } finally {
    rt.free(rPtr);
  }
}

/** The analytic side of a model's gradient check. */
export interface Backprop {
  /** Mean loss over the batch. */
  loss: number;
  /** d mean loss / d parameter, in the order of model.params. */
  paramGrads: Float32Array[];
  /** d mean loss / d input batch. */
  inputGrad: Float32Array;
}

/**
 * From the `logits` of a training forward of the model's input batch: the mean loss with its
 * gradient, model.backward for the parameters (their gradients start as garbage: overwritten,
 * not accumulated), and the input gradient (which model.backward does not compute) by the same
 * chain with needInputGrad set, which must leave the parameter gradients as they were.
 */
export function backprop(model: Model, logits: number, batch: number): Backprop {
  const loss = model.loss.forward(logits, model.labelPtr, batch, true) / batch;
  for (const p of model.params) p.grad.fill(1e6);
  model.backward(batch);
  const paramGrads = model.params.map((p) => p.grad.read());
  let grad = model.loss.gradPtr;
  for (let i = model.layers.length - 1; i >= 0; i--) grad = model.layers[i].backward(grad, batch, true);
  const inputGrad = rt.f32(grad, batch * model.inputSize).slice();
  model.params.forEach((p, i) => expect(p.grad.read(), `${p.name} recomputed`).toEqual(paramGrads[i]));
  return { loss, paramGrads, inputGrad };
}

/**
 * The numerical side: every parameter and input gradient of `analytic` against central
 * differences of pass().loss (the mean loss). pass().mask is the pattern of every
 * non-differentiable switch (ReLU on/off, max-pool arg-max); every perturbation must leave it at
 * `baseMask`, or the finite difference would be meaningless. `switched` names those switches in
 * the message; parameters for which `zero` holds must have gradients of ~0.
 */
export function expectModelGradients(
  model: Model,
  batch: number,
  analytic: Backprop,
  pass: () => { loss: number; mask: string },
  baseMask: string,
  switched: string,
  zero: (name: string) => boolean = () => false,
): void {
  let flips = 0;
  const meanLoss = (): number => {
    const { loss, mask } = pass();
    if (mask !== baseMask) flips++;
    return loss;
  };
  model.params.forEach((p, i) =>
    expectGradient(
      analytic.paramGrads[i],
      numericalGrad(() => p.value.view(), meanLoss),
      p.name,
      zero(p.name),
    ),
  );
  expectGradient(
    analytic.inputGrad,
    numericalGrad(() => rt.f32(model.inputPtr, batch * model.inputSize), meanLoss),
    "input",
  );
  expect(flips, `perturbations that switched ${switched} (finite differences invalid)`).toBe(0);
}

/**
 * Both sides for the model's current input batch and labels: backprop of a training forward
 * (whose loss must match pass().loss to 6 digits), then expectModelGradients with the pattern
 * of pass() before the check as the one every perturbation must keep.
 */
export function checkModelGradients(
  model: Model,
  batch: number,
  pass: () => { loss: number; mask: string },
  switched: string,
): void {
  const base = pass();
  const analytic = backprop(model, model.forward(model.inputPtr, batch, true), batch);
  expect(analytic.loss).toBeCloseTo(base.loss, 6);
  expectModelGradients(model, batch, analytic, pass, base.mask, switched);
}
