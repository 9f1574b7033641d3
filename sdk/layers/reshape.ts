import { layerDisposed, type Layer } from "./layer";

export interface ReshapeSpec {
  type: "reshape";
  /** The output shape of one sample: 1 to 3 positive integers whose product is the input's size. */
  shape: number[];
}

/**
 * Gives one sample's values a new shape of the same size ([784] -> [1, 28, 28], [1568] -> [32, 7, 7]):
 * activations are contiguous in row-major order, so, like Flatten, this layer moves nothing and
 * only changes the shape that the next layer sees. planModel checks that the sizes agree.
 */
export class Reshape implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];

  constructor(
    readonly spec: ReshapeSpec,
    readonly inputShape: readonly number[],
  ) {
    this.outputShape = [...spec.shape];
  }

  allocate(): void {
    if (this.disposed) layerDisposed(this.spec);
  }

  forward(x: number): number {
    if (this.disposed) layerDisposed(this.spec);
    return x;
  }

  backward(dy: number, _batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    return needInputGrad ? dy : 0;
  }

  dispose(): void {
    this.disposed = true;
  }
}
