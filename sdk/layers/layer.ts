import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { Tensor } from "../runtime/tensor";

/**
 * What a parameter is to the layer that owns it: a weight (dense, conv), a bias, or batch norm's
 * scale (gamma) and shift (beta). L2 weight decay applies to weights only.
 */
export type ParamRole = "weight" | "bias" | "scale" | "shift";

/** A learnable tensor and the gradient the backward pass writes for it. */
export interface Param {
  /** Name in the model file, e.g. "0.weight". */
  name: string;
  role: ParamRole;
  value: Tensor;
  grad: Tensor;
}

/** A tensor a layer keeps and saves but does not learn by gradient (batch norm's running statistics). */
export interface StateBuffer {
  name: string;
  value: Tensor;
}

/**
 * One step of a sequential model. Activations are [batch, ...sampleShape] float32 in wasm memory,
 * passed by address; a layer owns its output and input-gradient buffers, sized by allocate().
 * Inference needs only the outputs: what training adds (input gradients, a max-pool's arg-max, batch
 * norm's normalised input, a dropout mask) is allocated only for `training`.
 */
export interface Layer {
  /** The JSON-able description this layer was built from. */
  readonly spec: object;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly params: readonly Param[];
  /** Saved, non-learnable state (optional). */
  readonly buffers?: readonly StateBuffer[];
  /** Makes room for batches of up to `batch` samples: forward passes, and with `training` backward ones. */
  allocate(batch: number, training: boolean): void;
  /**
   * Returns the address of the output for input `x` of `batch` samples. A training pass needs room
   * allocated for training, and keeps what backward() needs.
   */
  forward(x: number, batch: number, training: boolean): number;
  /**
   * Takes the gradient of the loss w.r.t. the output, writes parameter gradients, and returns the
   * address of the gradient w.r.t. the input (0 when `needInputGrad` is false).
   */
  backward(dy: number, batch: number, needInputGrad: boolean): number;
  /**
   * Layers that can apply a ReLU to their own output as they add the bias (dense, conv2d): while
   * true, forward() returns max(output, 0). The model turns it on when a ReLU layer follows.
   */
  reluFused?: boolean;
  /**
   * Layers that draw random numbers in training (dropout, sampling): where their draws stand.
   * A resumed run restores it, and goes on with the draws the uninterrupted run would have made.
   */
  noise?: NoisePosition;
  /** Frees the layer's buffers; a second call does nothing, and any other use after it is BAD_STATE. */
  dispose(): void;
}

/** The seed of a layer's draws and how many it has made (counter-based: draw `step` from `seed`). */
export interface NoisePosition {
  seed: number;
  step: number;
}

/** Refuses a noise position that is not a 32-bit seed and a step count from 0 to 2^32 - 1. */
export function checkNoisePosition(p: unknown, what: string): NoisePosition {
  const o = p as Partial<NoisePosition> | null;
  const isU32 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff_ffff;
  if (typeof o !== "object" || o === null || !isU32(o.seed) || !isU32(o.step)) {
    fail("BAD_ARGUMENT", `${what}: a noise position is { seed, step }, integers from 0 to 4294967295`);
  }
  return { seed: o.seed as number, step: o.step as number };
}

/** Refuses the use of a disposed layer. */
export function layerDisposed(spec: object): never {
  return fail("BAD_STATE", `a ${(spec as { type?: string }).type ?? ""} layer was disposed (with its model)`);
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * A buffer of `perSample` float32 values per sample (plus `fixed` values whatever the batch),
 * re-made when a larger batch comes.
 */
export class BatchBuffer {
  ptr = 0;
  private capacity = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly perSample: number,
    private readonly fixed = 0,
  ) {}

  ensure(batch: number): void {
    if (batch <= this.capacity) return;
    this.release();
    this.ptr = this.rt.alloc((batch * this.perSample + this.fixed) * 4);
    this.capacity = batch;
  }

  /** Frees the buffer (a no-op when there is none, or when the runtime was disposed with it). */
  release(): void {
    if (this.capacity > 0 && !this.rt.disposed) this.rt.free(this.ptr);
    this.capacity = 0;
    this.ptr = 0;
  }
}

/** A parameter tensor and its gradient, allocated together. */
export function makeParam(rt: Runtime, name: string, shape: number[], role: ParamRole): Param {
  return {
    name,
    role,
    value: Tensor.alloc(rt, shape, `parameter "${name}"`),
    grad: Tensor.alloc(rt, shape, `gradient of "${name}"`),
  };
}

export function disposeParams(params: readonly Param[]): void {
  for (const p of params) {
    p.value.dispose();
    p.grad.dispose();
  }
}
