import type { Runtime } from "../runtime/runtime";
import { BatchBuffer, type Layer } from "./layer";

export interface Pool2DSpec {
  type: "maxpool" | "avgpool";
  /** d: windows are d x d. */
  size: number;
  /** Default: size (windows side by side). */
  stride?: number;
}

/**
 * Max pooling (eq. 63-64; the gradient goes to each window's arg-max) or average pooling (the
 * gradient is spread over the window): x [batch, C, H, W] -> y [batch, C, OH, OW], no padding.
 */
export class Pool2D implements Layer {
  readonly outputShape: readonly number[];
  readonly params = [];
  private readonly stride: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  private readonly argmax: BatchBuffer;

  /** `outputShape` comes from planModel, which has checked that the windows fit the input. */
  constructor(private readonly rt: Runtime, readonly spec: Pool2DSpec, readonly inputShape: readonly number[], outputShape: readonly number[]) {
    const [C, H, W] = inputShape;
    const [, OH, OW] = outputShape;
    this.stride = spec.stride ?? spec.size;
    this.outputShape = outputShape;
    this.out = new BatchBuffer(rt, C * OH * OW);
    this.argmax = new BatchBuffer(rt, spec.type === "maxpool" ? C * OH * OW : 0);
    this.dx = new BatchBuffer(rt, C * H * W);
  }

  allocate(batch: number): void {
    this.out.ensure(batch);
    this.dx.ensure(batch);
    if (this.spec.type === "maxpool") this.argmax.ensure(batch);
  }

  forward(x: number, batch: number): number {
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    const planes = batch * C;
    if (this.spec.type === "maxpool") {
      this.rt.kernels.maxPoolForward(x, this.out.ptr, this.argmax.ptr, planes, H, W, this.spec.size, this.stride, OH, OW);
    } else {
      this.rt.kernels.avgPoolForward(x, this.out.ptr, planes, H, W, this.spec.size, this.stride, OH, OW);
    }
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (!needInputGrad) return 0;
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    const planes = batch * C;
    if (this.spec.type === "maxpool") {
      this.rt.kernels.maxPoolBackward(dy, this.argmax.ptr, this.dx.ptr, planes, H, W, OH, OW);
    } else {
      this.rt.kernels.avgPoolBackward(dy, this.dx.ptr, planes, H, W, this.spec.size, this.stride, OH, OW);
    }
    return this.dx.ptr;
  }

  dispose(): void {
    this.out.release();
    this.dx.release();
    this.argmax.release();
  }
}
