// Every layer's output for one sample: what a "look inside the model" view draws. Built on the
// model's public forward pieces (its layers, input buffer and runtime), so it runs the very
// kernels predict() runs and costs one forward pass plus a copy per layer.
import { pixelArray } from "./args";
import { fail } from "./errors";
import { checkModel } from "./evaluate";
import { PIXEL_SCALE, type Model } from "./model";
import type { LayerSpec } from "./spec";

export interface LayerActivation {
  /** Position of the layer in the model (model.layers[index], model.spec.layers[index]). */
  index: number;
  spec: LayerSpec;
  /** Shape of one sample's output: [C, H, W] after conv and pooling layers, [N] after dense ones. */
  shape: readonly number[];
  /** The output values of this sample (a copy, safe to keep). */
  values: Float32Array;
}

/**
 * Runs `model` on one sample of raw pixels (bytes 0-255, or floats already in [0, 1], in any of
 * the forms predict() takes) in inference mode and returns the output of every layer, in order. The
 * last entry holds the logits; softmax of them is what predict() returns.
 */
export function layerActivations(model: Model, given: Parameters<Model["predict"]>[0]): LayerActivation[] {
  checkModel(model, "layerActivations");
  const pixels = pixelArray(given, "layerActivations: pixels");
  if (pixels.length !== model.inputSize) {
    fail(
      "BAD_SHAPE",
      `layerActivations: expected ${model.inputSize} values (input [${model.spec.input}]), got ${pixels.length}`,
    );
  }
  const { rt } = model;
  model.allocate(1, false);
  const input = rt.f32(model.inputPtr, model.inputSize);
  if (pixels instanceof Uint8Array) for (let i = 0; i < pixels.length; i++) input[i] = pixels[i] * PIXEL_SCALE;
  else input.set(pixels);
  const out: LayerActivation[] = [];
  let x = model.inputPtr;
  // Every layer's own output: a convolution's before the ReLU that follows it.
  const fusion = model.fusion;
  model.fusion = false;
  try {
    model.layers.forEach((layer, index) => {
      x = layer.forward(x, 1, false);
      const size = layer.outputShape.reduce((a, b) => a * b, 1);
      // A fresh view per layer: a view made before a forward pass would detach if memory grew.
      out.push({ index, spec: model.spec.layers[index], shape: layer.outputShape, values: rt.f32(x, size).slice() });
    });
  } finally {
    model.fusion = fusion;
  }
  return out;
}
