import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { BatchBuffer } from "./layer";

/** The losses on pixel targets: binary cross-entropy on a sigmoid output, or the squared error. */
export type PixelLossName = "bce" | "mse";

/**
 * The loss head of an autoencoder or VAE: the model's output against its own input, `size`
 * values an image, summed over the image (a loss per image in nats for "bce", in squared pixel
 * units for "mse").
 * - "bce": the output values are logits; the reconstruction is σ(logits) and the loss
 *   Σ -t·log σ - (1 - t)·log(1 - σ), fused (assembly/pixel-loss.ts), gradient (σ - t) / batch.
 * - "mse": the output is the reconstruction as it is; the loss ½ Σ (y - t)², gradient (y - t) / batch.
 * Like SoftmaxLoss, forward() returns the loss summed over the batch.
 */
export class PixelLoss {
  private readonly out: BatchBuffer;
  private readonly grad: BatchBuffer;
  /** For "mse", the reconstruction is the model's output buffer itself. */
  private lastOutput = 0;
  private disposed = false;

  constructor(
    private readonly rt: Runtime,
    readonly size: number,
    readonly kind: PixelLossName,
  ) {
    this.out = new BatchBuffer(rt, kind === "bce" ? size : 0);
    this.grad = new BatchBuffer(rt, size);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) lossDisposed();
    if (this.kind === "bce") this.out.ensure(batch);
    if (training) this.grad.ensure(batch);
  }

  /** Address of the reconstructed pixels [batch, size] of the last forward(). */
  get probsPtr(): number {
    return this.kind === "bce" ? this.out.ptr : this.lastOutput;
  }

  /** Address of d(mean loss)/d(output) of the last forward() with `withGrad`. */
  get gradPtr(): number {
    return this.grad.ptr;
  }

  /**
   * The loss of `batch` outputs at `output` against the targets at `targets` (float pixels in
   * [0, 1]), summed over the batch; `targets` 0 computes the reconstruction only and returns 0.
   */
  forward(output: number, targets: number, batch: number, withGrad: boolean): number {
    if (this.disposed) lossDisposed();
    if (withGrad) this.grad.ensure(batch); // a model allocated for inference only has no room yet
    const k = this.rt.kernels;
    const dz = withGrad && targets !== 0 ? this.grad.ptr : 0;
    this.lastOutput = output;
    if (this.kind === "bce") return k.sigmoidBinaryCrossEntropy(output, targets, this.out.ptr, dz, batch, this.size);
    return targets === 0 ? 0 : k.squaredError(output, targets, dz, batch, this.size);
  }

  dispose(): void {
    this.disposed = true;
    this.out.release();
    this.grad.release();
  }
}

function lossDisposed(): never {
  return fail("BAD_STATE", "the loss layer was disposed (with its model)");
}
