import type { Runtime } from "../runtime/runtime";
import { BatchBuffer } from "./layer";

/**
 * The loss head: softmax over `classes` logits and the mean cross-entropy against uint8 labels
 * (eq. 5-8), with its gradient (probs - onehot) / batch (eq. 9).
 */
export class SoftmaxCrossEntropy {
  private readonly probs: BatchBuffer;
  private readonly grad: BatchBuffer;

  constructor(private readonly rt: Runtime, readonly classes: number) {
    this.probs = new BatchBuffer(rt, classes);
    this.grad = new BatchBuffer(rt, classes);
  }

  allocate(batch: number): void {
    this.probs.ensure(batch);
    this.grad.ensure(batch);
  }

  /** Address of the probabilities of the last forward(). */
  get probsPtr(): number {
    return this.probs.ptr;
  }

  /** Address of d(mean loss)/d(logits) of the last forward() with `withGrad`. */
  get gradPtr(): number {
    return this.grad.ptr;
  }

  /** Returns the summed cross-entropy over the batch. */
  forward(logits: number, labels: number, batch: number, withGrad: boolean): number {
    return this.rt.kernels.softmaxCrossEntropy(
      logits, labels, this.probs.ptr, withGrad ? this.grad.ptr : 0, batch, this.classes);
  }

  dispose(): void {
    this.probs.release();
    this.grad.release();
  }
}
