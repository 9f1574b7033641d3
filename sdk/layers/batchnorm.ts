import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { Tensor } from "../runtime/tensor";
import type { KernelCall } from "../runtime/threads";
import {
  BatchBuffer,
  disposeParams,
  type Layer,
  layerDisposed,
  makeParam,
  type Param,
  sizeOf,
  type StateBuffer,
} from "./layer";

/** Values (batch × spatial × channels) a thread must have for a batch-norm call to be split. */
const MIN_VALUES_PER_THREAD = 1 << 15;

export interface BatchNormSpec {
  type: "batchnorm";
  /** Weight of the old running statistics in each update (default 0.9). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalization (eq. 28-38), per feature after a dense layer ([F]) and per channel after
 * a convolution ([C, H, W]): normalise over the batch, scale by gamma (init 1), shift by beta
 * (init 0). Training uses the batch's statistics and updates running ones; inference uses the
 * running mean and (unbiased) variance, which the model file saves.
 */
export class BatchNorm implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params: readonly Param[];
  readonly buffers: readonly StateBuffer[];
  private readonly channels: number;
  private readonly spatial: number;
  private readonly gamma: Param;
  private readonly beta: Param;
  private readonly runningMean: Tensor;
  private readonly runningVar: Tensor;
  private readonly invStd: Tensor;
  private readonly out: BatchBuffer;
  private readonly xhat: BatchBuffer;
  private readonly dx: BatchBuffer;

  constructor(
    private readonly rt: Runtime,
    readonly spec: BatchNormSpec,
    readonly inputShape: readonly number[],
    index: number,
  ) {
    const momentum = spec.momentum ?? 0.9;
    const eps = spec.eps ?? 1e-5;
    if (!(momentum >= 0 && momentum < 1))
      fail("BAD_ARGUMENT", `layer ${index} (batchnorm): momentum must be in [0, 1)`);
    if (!(eps > 0)) fail("BAD_ARGUMENT", `layer ${index} (batchnorm): eps must be positive`);
    this.outputShape = inputShape;
    this.channels = inputShape[0];
    this.spatial = sizeOf(inputShape) / this.channels; // 1 after a dense layer
    this.gamma = makeParam(rt, `${index}.gamma`, [this.channels], "scale");
    this.beta = makeParam(rt, `${index}.beta`, [this.channels], "shift");
    this.gamma.value.fill(1);
    this.beta.value.fill(0);
    this.params = [this.gamma, this.beta];
    this.runningMean = Tensor.alloc(rt, [this.channels], `buffer "${index}.running_mean"`);
    this.runningVar = Tensor.alloc(rt, [this.channels], `buffer "${index}.running_var"`);
    this.runningMean.fill(0);
    this.runningVar.fill(1);
    this.buffers = [
      { name: `${index}.running_mean`, value: this.runningMean },
      { name: `${index}.running_var`, value: this.runningVar },
    ];
    this.invStd = Tensor.alloc(rt, [this.channels]);
    const size = sizeOf(inputShape);
    this.out = new BatchBuffer(rt, size);
    this.xhat = new BatchBuffer(rt, size);
    this.dx = new BatchBuffer(rt, size);
  }

  /**
   * Channels a thread must have for the layer to be shared out: each channel's figures do not
   * depend on the split, and under MIN_VALUES_PER_THREAD values waking a worker costs more than it saves.
   */
  private minChannelsPerThread(batch: number): number {
    return Math.ceil(MIN_VALUES_PER_THREAD / (batch * this.spatial));
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    if (!training) return;
    this.xhat.ensure(batch);
    this.dx.ensure(batch);
  }

  forward(x: number, batch: number, training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const eps = this.spec.eps ?? 1e-5;
    const momentum = this.spec.momentum ?? 0.9;
    const { channels: C, spatial: S } = this;
    const [out, xhat, invStd] = [this.out.ptr, this.xhat.ptr, this.invStd.ptr];
    const [gamma, beta, mean, variance] = [
      this.gamma.value.ptr,
      this.beta.value.ptr,
      this.runningMean.ptr,
      this.runningVar.ptr,
    ];
    if (training) {
      this.rt.parallelFor(C, this.minChannelsPerThread(batch), (c0, c1): KernelCall[] => [
        ["batchNormTrain", x, out, xhat, invStd, gamma, beta, mean, variance, batch, C, S, eps, momentum, c0, c1],
      ]);
    } else {
      this.rt.parallelFor(C, this.minChannelsPerThread(batch), (c0, c1): KernelCall[] => [
        ["batchNormInfer", x, out, gamma, beta, mean, variance, batch, C, S, eps, c0, c1],
      ]);
    }
    return out;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { channels: C, spatial: S } = this;
    const dx = needInputGrad ? this.dx.ptr : 0;
    const [xhat, invStd, gamma, dgamma, dbeta] = [
      this.xhat.ptr,
      this.invStd.ptr,
      this.gamma.value.ptr,
      this.gamma.grad.ptr,
      this.beta.grad.ptr,
    ];
    this.rt.parallelFor(C, this.minChannelsPerThread(batch), (c0, c1): KernelCall[] => [
      ["batchNormBackward", dy, xhat, invStd, gamma, dx, dgamma, dbeta, batch, C, S, c0, c1],
    ]);
    return needInputGrad ? this.dx.ptr : 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.xhat.release();
    this.dx.release();
    this.runningMean.dispose();
    this.runningVar.dispose();
    this.invStd.dispose();
    disposeParams(this.params);
  }
}
