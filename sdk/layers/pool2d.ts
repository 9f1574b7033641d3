import type { Runtime } from "../runtime/runtime";
import type { KernelCall } from "../runtime/threads";
import { BatchBuffer, type Layer, layerDisposed } from "./layer";

/** Planes per thread below which splitting a pooling pass costs more than it saves (~64K inputs). */
const minPlanesPerThread = (planeSize: number): number => Math.ceil((1 << 16) / planeSize);

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
  private disposed = false;
  readonly params = [];
  private readonly stride: number;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  private readonly argmax: BatchBuffer;
  /**
   * Set by the model when this is a max-pool right after a ReLU (Activation.maskedByNext): the
   * backward pass applies the ReLU's mask as it routes the gradient (kernels.maxPoolBackwardRelu,
   * or maxPool2x2Backward for 2x2 windows of stride 2).
   */
  reluBefore = false;
  /**
   * Set for the max-pool an int8 convolution applies as it runs (Conv2D.int8PoolFused): inference
   * passes return their input as it is, for the next layer, which reads what that convolution
   * wrote for it.
   */
  appliedByPrevious = false;
  /** The input of the last forward pass (the ReLU's output, for its mask). */
  private input = 0;

  /** `outputShape` comes from planModel, which has checked that the windows fit the input. */
  constructor(
    private readonly rt: Runtime,
    readonly spec: Pool2DSpec,
    readonly inputShape: readonly number[],
    outputShape: readonly number[],
  ) {
    const [C, H, W] = inputShape;
    const [, OH, OW] = outputShape;
    this.stride = spec.stride ?? spec.size;
    this.outputShape = outputShape;
    this.out = new BatchBuffer(rt, C * OH * OW);
    this.argmax = new BatchBuffer(rt, spec.type === "maxpool" ? C * OH * OW : 0);
    this.dx = new BatchBuffer(rt, C * H * W);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    if (!training) return;
    this.dx.ensure(batch);
    if (this.spec.type === "maxpool") this.argmax.ensure(batch);
  }

  // Planes (image x channel) are independent: shared out among the threads for big batches. Only a
  // training pass records the max-pool's arg-max, for the backward pass.
  forward(x: number, batch: number, training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (this.appliedByPrevious && !training) return x;
    this.input = x;
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    const { size } = this.spec;
    const [inPlane, outPlane] = [H * W * 4, OH * OW * 4];
    const [y, argmax] = [this.out.ptr, this.argmax.ptr];
    this.rt.parallelFor(batch * C, minPlanesPerThread(H * W), (start, end): KernelCall[] => {
      if (this.spec.type === "avgpool") {
        return [
          ["avgPoolForward", x + start * inPlane, y + start * outPlane, end - start, H, W, size, this.stride, OH, OW],
        ];
      }
      if (training) {
        return [
          [
            "maxPoolForward",
            x + start * inPlane,
            y + start * outPlane,
            argmax + start * outPlane,
            end - start,
            H,
            W,
            size,
            this.stride,
            OH,
            OW,
          ],
        ];
      }
      return [
        ["maxPoolValues", x + start * inPlane, y + start * outPlane, end - start, H, W, size, this.stride, OH, OW],
      ];
    });
    return y;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!needInputGrad) return 0;
    const [C, H, W] = this.inputShape;
    const [, OH, OW] = this.outputShape;
    const [inPlane, outPlane] = [H * W * 4, OH * OW * 4];
    const [dx, argmax, x] = [this.dx.ptr, this.argmax.ptr, this.input];
    this.rt.parallelFor(batch * C, minPlanesPerThread(H * W), (start, end): KernelCall[] => {
      if (this.spec.type === "avgpool") {
        return [
          [
            "avgPoolBackward",
            dy + start * outPlane,
            dx + start * inPlane,
            end - start,
            H,
            W,
            this.spec.size,
            this.stride,
            OH,
            OW,
          ],
        ];
      }
      if (this.spec.size === 2 && this.stride === 2) {
        return [
          [
            "maxPool2x2Backward",
            dy + start * outPlane,
            argmax + start * outPlane,
            // With the ReLU's mask, the window maxima: y is x at the arg-max.
            this.reluBefore ? this.out.ptr + start * outPlane : 0,
            dx + start * inPlane,
            end - start,
            H,
            W,
            OH,
            OW,
            this.reluBefore ? 1 : 0,
          ],
        ];
      }
      if (this.reluBefore) {
        return [
          [
            "maxPoolBackwardRelu",
            dy + start * outPlane,
            argmax + start * outPlane,
            x + start * inPlane,
            dx + start * inPlane,
            end - start,
            H,
            W,
            OH,
            OW,
          ],
        ];
      }
      return [
        [
          "maxPoolBackward",
          dy + start * outPlane,
          argmax + start * outPlane,
          dx + start * inPlane,
          end - start,
          H,
          W,
          OH,
          OW,
        ],
      ];
    });
    return dx;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
    this.argmax.release();
  }
}
