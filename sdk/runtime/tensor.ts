import { fail } from "../errors";
import type { Runtime } from "./runtime";

/** A float32 array in wasm memory: an address and a shape. The runtime's memory holds the data. */
export class Tensor {
  readonly length: number;

  constructor(readonly rt: Runtime, readonly ptr: number, readonly shape: readonly number[]) {
    this.length = shape.reduce((a, b) => a * b, 1);
  }

  static alloc(rt: Runtime, shape: readonly number[]): Tensor {
    const t = new Tensor(rt, 0, shape);
    return new Tensor(rt, rt.alloc(t.length * 4), shape);
  }

  /** A live view of the data (valid until the memory grows). */
  view(): Float32Array {
    return this.rt.f32(this.ptr, this.length);
  }

  /** A copy of the data, safe to keep. */
  read(): Float32Array {
    return this.view().slice();
  }

  write(values: ArrayLike<number>): void {
    if (values.length !== this.length) {
      fail("BAD_SHAPE", `cannot write ${values.length} values into a tensor of shape [${this.shape}]`);
    }
    this.view().set(values);
  }

  fill(value: number): void {
    this.view().fill(value);
  }

  dispose(): void {
    this.rt.free(this.ptr);
  }
}
