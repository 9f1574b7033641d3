import { fail } from "../errors";
import type { Random } from "../random";
import type { Runtime } from "../runtime/runtime";
import { BatchBuffer, type Layer, layerDisposed, sizeOf, checkNoisePosition, type NoisePosition } from "./layer";

export interface DropoutSpec {
  type: "dropout";
  /** rho: the fraction of values dropped in training, 0 <= rate < 1. */
  rate: number;
}

/**
 * Dropout (eq. 26-27), inverted: in training each value is dropped with probability `rate` and
 * the kept ones are scaled by 1/(1 - rate); at test time the layer passes its input through,
 * which equals the course's test-time scaling by (1 - rho) of an unscaled training mask.
 * Masks come from a hash of (seed, step, index) in wasm: reproducible from the model's seed.
 */
export class Dropout implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];
  private readonly size: number;
  private seed: number;
  private step = 0;
  private readonly out: BatchBuffer;
  private readonly mask: BatchBuffer;
  private readonly dx: BatchBuffer;

  constructor(
    private readonly rt: Runtime,
    readonly spec: DropoutSpec,
    readonly inputShape: readonly number[],
    rng: Random,
  ) {
    if (!(spec.rate >= 0 && spec.rate < 1)) fail("BAD_ARGUMENT", `dropout rate must be in [0, 1), got ${spec.rate}`);
    this.outputShape = inputShape;
    this.size = sizeOf(inputShape);
    this.seed = rng.nextU32();
    this.out = new BatchBuffer(rt, this.size);
    this.mask = new BatchBuffer(rt, this.size);
    this.dx = new BatchBuffer(rt, this.size);
  }

  /** Where the draws stand: the seed and the number of draws made (see Layer.noise). */
  get noise(): NoisePosition {
    return { seed: this.seed, step: this.step };
  }

  set noise(position: NoisePosition) {
    if (this.disposed) layerDisposed(this.spec);
    ({ seed: this.seed, step: this.step } = checkNoisePosition(position, "Dropout.noise"));
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    // In inference the layer passes its input through: nothing to allocate.
    if (!training) return;
    this.out.ensure(batch);
    this.mask.ensure(batch);
    this.dx.ensure(batch);
  }

  forward(x: number, batch: number, training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!training || this.spec.rate === 0) return x;
    this.rt.kernels.dropoutForward(
      x,
      this.out.ptr,
      this.mask.ptr,
      batch * this.size,
      1 - this.spec.rate,
      this.seed,
      this.step++,
    );
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!needInputGrad) return 0;
    if (this.spec.rate === 0) return dy;
    this.rt.kernels.dropoutBackward(dy, this.mask.ptr, this.dx.ptr, batch * this.size);
    return this.dx.ptr;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.mask.release();
    this.dx.release();
  }
}
