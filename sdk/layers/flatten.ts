import { layerDisposed, type Layer } from "./layer";

export interface FlattenSpec {
  type: "flatten";
}

/**
 * [C, H, W] -> [C·H·W]. Activations are already contiguous in that order, so this layer moves
 * nothing: it only changes the shape that the next layer sees (a dense layer reads any shape flat).
 */
export class Flatten implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];

  constructor(
    readonly spec: FlattenSpec,
    readonly inputShape: readonly number[],
  ) {
    this.outputShape = [inputShape.reduce((a, b) => a * b, 1)];
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
