import { describeValue } from "../args";
import { fail } from "../errors";
import type { Runtime } from "./runtime";

/**
 * A float32 array in wasm memory: an address and a shape. The runtime's memory holds the data.
 * After dispose() (the tensor's, or its model's or runtime's) every use is refused (BAD_STATE).
 */
export class Tensor {
  readonly length: number;
  private address: number;
  private disposed = false;

  /** `label` names the tensor in errors (a model's parameters carry their name, e.g. "0.weight"). */
  constructor(
    readonly rt: Runtime,
    ptr: number,
    readonly shape: readonly number[],
    readonly label = "tensor",
  ) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail("BAD_ARGUMENT", `tensor shape must be an array of non-negative integers, got ${describeValue(shape)}`);
    }
    if (!Number.isInteger(ptr) || ptr < 0)
      fail("BAD_ARGUMENT", `tensor address must be a non-negative integer, got ${describeValue(ptr)}`);
    this.length = shape.reduce((a, b) => a * b, 1);
    this.address = ptr;
  }

  static alloc(rt: Runtime, shape: readonly number[], label?: string): Tensor {
    const t = new Tensor(rt, 0, shape);
    return new Tensor(rt, rt.alloc(t.length * 4), shape, label);
  }

  /** Address of the data in the runtime's memory. */
  get ptr(): number {
    if (this.disposed) fail("BAD_STATE", `${this.label} [${this.shape}] was disposed`);
    if (this.rt.disposed) fail("BAD_STATE", `${this.label} [${this.shape}]: the runtime was disposed`);
    return this.address;
  }

  /** A live view of the data (valid until the memory grows). */
  view(): Float32Array {
    return this.rt.f32(this.ptr, this.length);
  }

  /** A copy of the data, safe to keep. */
  read(): Float32Array {
    return this.view().slice();
  }

  /** Copies `values` (a typed array or an array of numbers, exactly `length` of them) into the tensor. */
  write(values: ArrayLike<number>): void {
    if (!(ArrayBuffer.isView(values) || Array.isArray(values))) {
      fail(
        "BAD_ARGUMENT",
        `tensor write: values must be a typed array or an array of numbers, got ${describeValue(values)}`,
      );
    }
    if (values.length !== this.length) {
      fail("BAD_SHAPE", `cannot write ${values.length} values into a tensor of shape [${this.shape}]`);
    }
    this.view().set(values);
  }

  fill(value: number): void {
    if (typeof value !== "number")
      fail("BAD_ARGUMENT", `tensor fill: value must be a number, got ${describeValue(value)}`);
    this.view().fill(value);
  }

  /** Frees the data; a second call does nothing (nor does one after the runtime's dispose()). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.rt.disposed) this.rt.free(this.address);
  }
}
