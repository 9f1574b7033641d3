import type { Runtime } from "../runtime/runtime";
import { BatchBuffer, type Layer, layerDisposed, sizeOf } from "./layer";

/** Elements per thread below which splitting an element-wise pass costs more than it saves. */
const MIN_ELEMENTS_PER_THREAD = 1 << 16;

export interface ActivationSpec {
  type: "sigmoid" | "relu";
}

/**
 * Element-wise activation, any sample shape: sigmoid (eq. 2, backward eq. 17) or ReLU (eq. 24-25).
 * Both backward passes need only the forward output y.
 */
export class Activation implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];
  private readonly size: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  /**
   * Set by the model when the layer before already applied this ReLU (Layer.reluFused): forward()
   * then passes its input through, and backward() reads that input as its output y.
   */
  appliedByPrevious = false;
  /**
   * Set by the model when a max-pool follows this ReLU and applies its backward pass as it routes
   * the gradient (Pool2D.reluBefore): backward() then passes the gradient through.
   */
  maskedByNext = false;
  /** The forward output y of the last forward pass (the backward passes need only y). */
  private y = 0;

  constructor(
    private readonly rt: Runtime,
    readonly spec: ActivationSpec,
    readonly inputShape: readonly number[],
  ) {
    this.outputShape = inputShape;
    this.size = sizeOf(inputShape);
    this.out = new BatchBuffer(rt, this.size);
    this.dx = new BatchBuffer(rt, this.size);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    // Fused, the output is the layer before's: no buffer of its own (86 MB for the LeNet-like
    // net's first ReLU at predict()'s batch of 1000). forward() makes it if fusion is turned off.
    if (!this.appliedByPrevious) this.out.ensure(batch);
    if (training && !this.maskedByNext) this.dx.ensure(batch);
  }

  forward(x: number, batch: number): number {
    if (this.disposed) layerDisposed(this.spec);
    if (this.appliedByPrevious) {
      this.y = x;
      return x;
    }
    const kernel = this.spec.type === "sigmoid" ? "sigmoidForward" : "reluForward";
    this.out.ensure(batch);
    const y = this.out.ptr;
    this.rt.parallelFor(batch * this.size, MIN_ELEMENTS_PER_THREAD, (start, end) => [
      [kernel, x + 4 * start, y + 4 * start, end - start],
    ]);
    this.y = y;
    return y;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!needInputGrad) return 0;
    if (this.maskedByNext) return dy;
    this.dx.ensure(batch); // not allocated while the pool after this ReLU did its work
    const kernel = this.spec.type === "sigmoid" ? "sigmoidBackward" : "reluBackward";
    const [y, dx] = [this.y, this.dx.ptr];
    this.rt.parallelFor(batch * this.size, MIN_ELEMENTS_PER_THREAD, (start, end) => [
      [kernel, y + 4 * start, dy + 4 * start, dx + 4 * start, end - start],
    ]);
    return dx;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
  }
}
