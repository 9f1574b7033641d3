import { describeValue } from "../args";
import { fail } from "../errors";
import { Runtime } from "../runtime/runtime";
import { checkDataset, sampleSize, type Dataset } from "./dataset";

/**
 * A data set copied once into wasm memory (uint8 pixels and labels), so that a training step
 * gathers its mini-batch with one kernel call instead of copying from JavaScript. After dispose()
 * (its own or its runtime's) its addresses are refused (BAD_STATE); a second dispose() does nothing.
 */
export class DeviceData {
  private readonly images: number;
  private readonly labels: number;
  readonly count: number;
  readonly sampleSize: number;
  private isDisposed = false;

  constructor(
    readonly rt: Runtime,
    readonly data: Dataset,
  ) {
    if (!(rt instanceof Runtime))
      fail("BAD_ARGUMENT", `new DeviceData: rt must be a Runtime, got ${describeValue(rt)}`);
    if (rt.disposed) fail("BAD_STATE", "new DeviceData: the runtime was disposed");
    checkDataset(data, "new DeviceData: data");
    this.count = data.count;
    this.sampleSize = sampleSize(data);
    this.images = rt.alloc(data.images.length);
    try {
      this.labels = rt.alloc(data.labels.length);
    } catch (e) {
      rt.free(this.images);
      throw e;
    }
    rt.u8(this.images, data.images.length).set(data.images);
    rt.u8(this.labels, data.labels.length).set(data.labels);
  }

  /** Address of the uint8 pixels, [count, sampleSize]. */
  get imagesPtr(): number {
    this.check();
    return this.images;
  }

  /** Address of the uint8 labels, [count]. */
  get labelsPtr(): number {
    this.check();
    return this.labels;
  }

  /** True once dispose() has run. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    if (this.rt.disposed) return; // the memory went with the runtime
    this.rt.free(this.images);
    this.rt.free(this.labels);
  }

  private check(): void {
    if (this.isDisposed) fail("BAD_STATE", `data set "${this.data.name}" in wasm memory was disposed`);
    if (this.rt.disposed) fail("BAD_STATE", `data set "${this.data.name}": its runtime was disposed`);
  }
}
