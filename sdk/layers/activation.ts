import type { Runtime } from "../runtime/runtime";
import { BatchBuffer, sizeOf, type Layer } from "./layer";

export interface ActivationSpec {
  type: "sigmoid" | "relu";
}

/**
 * Element-wise activation, any sample shape: sigmoid (eq. 2, backward eq. 17) or ReLU (eq. 24-25).
 * Both backward passes need only the forward output y.
 */
export class Activation implements Layer {
  readonly outputShape: readonly number[];
  readonly params = [];
  private readonly size: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;

  constructor(private readonly rt: Runtime, readonly spec: ActivationSpec, readonly inputShape: readonly number[]) {
    this.outputShape = inputShape;
    this.size = sizeOf(inputShape);
    this.out = new BatchBuffer(rt, this.size);
    this.dx = new BatchBuffer(rt, this.size);
  }

  allocate(batch: number): void {
    this.out.ensure(batch);
    this.dx.ensure(batch);
  }

  forward(x: number, batch: number): number {
    const k = this.rt.kernels;
    const n = batch * this.size;
    if (this.spec.type === "sigmoid") k.sigmoidForward(x, this.out.ptr, n);
    else k.reluForward(x, this.out.ptr, n);
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (!needInputGrad) return 0;
    const k = this.rt.kernels;
    const n = batch * this.size;
    if (this.spec.type === "sigmoid") k.sigmoidBackward(this.out.ptr, dy, this.dx.ptr, n);
    else k.reluBackward(this.out.ptr, dy, this.dx.ptr, n);
    return this.dx.ptr;
  }

  dispose(): void {
    this.out.release();
    this.dx.release();
  }
}
