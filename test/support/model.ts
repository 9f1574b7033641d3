// One training step's gradients of a model, without an optimizer: what the threads and fusion
// tests compare between two models that must agree.
import type { Model } from "../../sdk/node";

/**
 * Every parameter gradient (copies) after one training-mode forward pass, the loss and the
 * backward pass on `pixels` (floats, sample after sample) with `labels`.
 */
export function gradientsOf(model: Model, pixels: Float32Array, labels: Uint8Array): Float32Array[] {
  const batch = labels.length;
  model.allocate(batch);
  model.rt.f32(model.inputPtr, pixels.length).set(pixels);
  model.rt.u8(model.labelPtr, batch).set(labels);
  const logits = model.forward(model.inputPtr, batch, true);
  model.loss.forward(logits, model.labelPtr, batch, true);
  model.backward(batch);
  return model.params.map((p) => p.grad.view().slice());
}
