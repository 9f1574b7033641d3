import type { Runtime } from "../runtime/runtime";
import type { KernelCall } from "../runtime/threads";
import { BatchBuffer, type Layer, layerDisposed } from "./layer";

/** Planes per thread below which splitting a pass costs more than it saves (~64K input values). */
const minPlanesPerThread = (planeSize: number): number => Math.ceil((1 << 16) / planeSize);

export interface UpsampleSpec {
  type: "upsample";
  /** S: every value becomes an S x S block (an integer from 1 to PLAN_LIMITS.upsample). */
  scale: number;
}

/**
 * Nearest-neighbour upsampling: x [batch, C, H, W] -> y [batch, C, H·S, W·S], each value copied
 * over an S x S block; the backward pass sums each block of the output gradient
 * (kernels.upsampleForward / upsampleBackward). Planes (image x channel) are independent: shared
 * out among the threads for big batches.
 */
export class Upsample implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;

  /** `outputShape` comes from planModel, which has checked the input's shape and the scale. */
  constructor(
    private readonly rt: Runtime,
    readonly spec: UpsampleSpec,
    readonly inputShape: readonly number[],
    outputShape: readonly number[],
  ) {
    const [C, H, W] = inputShape;
    this.outputShape = outputShape;
    this.out = new BatchBuffer(rt, C * H * W * spec.scale * spec.scale);
    this.dx = new BatchBuffer(rt, C * H * W);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    if (training) this.dx.ensure(batch);
  }

  forward(x: number, batch: number, _training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const [C, H, W] = this.inputShape;
    const S = this.spec.scale;
    const inPlane = H * W * 4;
    const outPlane = inPlane * S * S;
    const y = this.out.ptr;
    this.rt.parallelFor(batch * C, minPlanesPerThread(H * W), (start, end): KernelCall[] => [
      ["upsampleForward", x + start * inPlane, y + start * outPlane, end - start, H, W, S],
    ]);
    return y;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!needInputGrad) return 0;
    const [C, H, W] = this.inputShape;
    const S = this.spec.scale;
    const inPlane = H * W * 4;
    const outPlane = inPlane * S * S;
    const dx = this.dx.ptr;
    this.rt.parallelFor(batch * C, minPlanesPerThread(H * W), (start, end): KernelCall[] => [
      ["upsampleBackward", dy + start * outPlane, dx + start * inPlane, end - start, H, W, S],
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
