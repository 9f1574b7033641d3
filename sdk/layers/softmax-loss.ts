import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { BatchBuffer } from "./layer";

/**
 * The loss head: softmax over `classes` logits (eq. 5-6), then against uint8 labels either the
 * cross-entropy (eq. 7-8, gradient (probs - onehot) / batch, eq. 9) or the mean squared error
 * ½|probs - onehot|² (gradient through the softmax's Jacobian).
 */
export class SoftmaxLoss {
  private readonly probs: BatchBuffer;
  private readonly grad: BatchBuffer;
  private disposed = false;

  constructor(
    private readonly rt: Runtime,
    readonly classes: number,
    readonly kind: "cross-entropy" | "mse" = "cross-entropy",
  ) {
    this.probs = new BatchBuffer(rt, classes);
    this.grad = new BatchBuffer(rt, classes);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) lossDisposed();
    this.probs.ensure(batch);
    if (training) this.grad.ensure(batch);
  }

  /** Address of the probabilities of the last forward(). */
  get probsPtr(): number {
    return this.probs.ptr;
  }

  /** Address of d(mean loss)/d(logits) of the last forward() with `withGrad`. */
  get gradPtr(): number {
    return this.grad.ptr;
  }

  /**
   * Returns the loss summed over the batch; labels 0 computes probabilities only. With
   * `labelSmoothing` ε (cross-entropy only) the target is (1 - ε)·onehot + ε/classes: the loss and
   * its gradient against it, which keeps a network from driving its logits ever apart.
   */
  forward(logits: number, labels: number, batch: number, withGrad: boolean, labelSmoothing = 0): number {
    if (this.disposed) lossDisposed();
    const k = this.rt.kernels;
    if (withGrad) this.grad.ensure(batch); // a model allocated for inference only has no room yet
    const grad = withGrad ? this.grad.ptr : 0;
    if (this.kind === "mse") {
      if (labelSmoothing !== 0) fail("BAD_ARGUMENT", "label smoothing applies to the cross-entropy loss, not mse");
      return k.softmaxMse(logits, labels, this.probs.ptr, grad, batch, this.classes);
    }
    return k.softmaxCrossEntropy(logits, labels, this.probs.ptr, grad, batch, this.classes, labelSmoothing);
  }

  dispose(): void {
    this.disposed = true;
    this.probs.release();
    this.grad.release();
  }
}

function lossDisposed(): never {
  return fail("BAD_STATE", "the loss layer was disposed (with its model)");
}
