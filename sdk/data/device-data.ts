import type { Runtime } from "../runtime/runtime";
import { sampleSize, type Dataset } from "./dataset";

/**
 * A data set copied once into wasm memory (uint8 pixels and labels), so that a training step
 * gathers its mini-batch with one kernel call instead of copying from JavaScript.
 */
export class DeviceData {
  readonly imagesPtr: number;
  readonly labelsPtr: number;
  readonly count: number;
  readonly sampleSize: number;

  constructor(private readonly rt: Runtime, readonly data: Dataset) {
    this.count = data.count;
    this.sampleSize = sampleSize(data);
    this.imagesPtr = rt.alloc(data.images.length);
    this.labelsPtr = rt.alloc(data.labels.length);
    rt.u8(this.imagesPtr, data.images.length).set(data.images);
    rt.u8(this.labelsPtr, data.labels.length).set(data.labels);
  }

  dispose(): void {
    this.rt.free(this.imagesPtr);
    this.rt.free(this.labelsPtr);
  }
}
