// Gradient checks of whole models with batch norm, dropout or the MSE head: the mean loss of a
// training-mode forward against the analytic gradients of model.backward, by central differences
// (float32, ε = 1e-2, relative tolerance 2e-2 with a small absolute floor, as in
// test/support/numeric.ts).
//
// Training-mode forwards of a batch-norm layer update its running statistics on every call; the
// batch statistics, and so the loss and its gradient, do not depend on them. A dropout layer
// draws a new mask on every training forward (its step counter advances), so the numerical
// gradients of models with dropout replay the mask of the analytic pass instead of calling the
// layer's forward again.
import { expect } from "vitest";
import type { Layer, Model, Random } from "../../sdk/node";
import { rt } from "./buffers";
import { backprop, expectModelGradients, sizeOf, typeOf } from "./numeric";
import { Scratch } from "./scratch";

/** ReLU inputs are kept at least this far from 0 in the model checks. */
const RELU_MARGIN = 0.03;

export interface Pass {
  loss: number;
  /** On/off pattern of every ReLU input. */
  mask: string;
  /** Smallest |ReLU input|. */
  margin: number;
}

/**
 * Mean loss of a training-mode forward. Dropout layers with an entry in `masks` apply that fixed
 * mask (y = x·mask in float32, written to `scratch`) instead of drawing a new one.
 */
export function trainingPass(
  model: Model,
  batch: number,
  masks?: Map<Layer, { mask: Float32Array; out: number }>,
): Pass {
  let x = model.inputPtr;
  let mask = "";
  let margin = Infinity;
  // This walk reads each ReLU's input, so the bias+ReLU fusion is off here (the same loss);
  // analyticPass runs with it on.
  model.fusion = false;
  for (const layer of model.layers) {
    const n = batch * sizeOf(layer.inputShape);
    if (typeOf(layer) === "relu") {
      for (const z of rt.f32(x, n)) {
        mask += z > 0 ? "1" : "0";
        margin = Math.min(margin, Math.abs(z));
      }
    }
    const fixed = masks?.get(layer);
    if (fixed) {
      const input = rt.f32(x, n);
      const out = rt.f32(fixed.out, n);
      for (let i = 0; i < n; i++) out[i] = Math.fround(input[i] * fixed.mask[i]);
      x = fixed.out;
    } else {
      x = layer.forward(x, batch, true);
    }
  }
  model.fusion = true;
  return { loss: model.loss.forward(x, model.labelPtr, batch, false) / batch, mask, margin };
}

/**
 * The analytic pass, layer by layer: the loss, every parameter gradient and the input gradient,
 * and the mask each dropout layer drew (read back from its input and output).
 */
export function analyticPass(model: Model, batch: number) {
  const masks = new Map<Layer, Float32Array>();
  let x = model.inputPtr;
  for (const layer of model.layers) {
    const n = batch * sizeOf(layer.inputShape);
    const input = rt.f32(x, n).slice();
    x = layer.forward(x, batch, true);
    if (typeOf(layer) === "dropout") {
      const keep = 1 - (layer.spec as { rate: number }).rate;
      const scale = Math.fround(1 / Math.fround(keep));
      const output = rt.f32(x, n);
      // Where the input is 0 (a ReLU that is off) the mask cannot be seen, and does not matter.
      const mask = Float32Array.from(output, (y, i) => (input[i] !== 0 && y !== 0 ? scale : 0));
      for (let i = 0; i < n; i++) expect(output[i], "dropout output = x·mask").toBe(Math.fround(input[i] * mask[i]));
      masks.set(layer, mask);
    }
  }
  return { ...backprop(model, x, batch), masks };
}

/**
 * Draws random inputs in [-1, 1] and labels, runs the analytic pass, and checks every parameter
 * and input gradient against central differences of the mean loss with every dropout mask held
 * at the analytic pass's. The batch is redrawn until every ReLU input of that pass is off the
 * kink; every perturbation must leave the ReLU pattern as it was.
 */
export function checkModel(
  model: Model,
  batch: number,
  rng: Random,
  zeroGrad: (name: string) => boolean = () => false,
): void {
  const s = new Scratch();
  try {
    let analytic: ReturnType<typeof analyticPass> | undefined;
    let fixed = new Map<Layer, { mask: Float32Array; out: number }>();
    let base: Pass | undefined;
    for (let attempt = 0; attempt < 2000 && !base; attempt++) {
      const x = rt.f32(model.inputPtr, batch * model.inputSize);
      for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 1;
      const labels = rt.u8(model.labelPtr, batch);
      for (let i = 0; i < batch; i++) labels[i] = rng.int(model.classCount);
      analytic = analyticPass(model, batch);
      if (!fixed.size)
        fixed = new Map([...analytic.masks].map(([layer, mask]) => [layer, { mask, out: s.f32(mask.length) }]));
      for (const [layer, mask] of analytic.masks) fixed.get(layer)!.mask = mask;
      const pass = trainingPass(model, batch, fixed);
      if (pass.margin >= RELU_MARGIN) base = pass;
    }
    if (!base || !analytic) {
      expect.fail("could not draw a batch with every ReLU input away from 0");
      return;
    }
    // The replayed masks give the analytic pass's loss exactly.
    expect(base.loss).toBe(analytic.loss);
    expectModelGradients(
      model,
      batch,
      analytic,
      () => trainingPass(model, batch, fixed),
      base.mask,
      "a ReLU",
      zeroGrad,
    );
  } finally {
    s.free();
  }
}

/** Multiplies the weights of the model's last layer by `factor`. */
export function scaleLastWeights(model: Model, factor: number): void {
  const w = model.layers[model.layers.length - 1].params[0].value.view();
  for (let i = 0; i < w.length; i++) w[i] *= factor;
}

/** Names of the biases of the layers right before a batch norm. */
export const biasesBeforeNorm = (model: Model): Set<string> =>
  new Set(
    model.layers.flatMap((l, i) =>
      i + 1 < model.layers.length && typeOf(model.layers[i + 1]) === "batchnorm"
        ? l.params.filter((p) => p.name.endsWith(".bias")).map((p) => p.name)
        : [],
    ),
  );
