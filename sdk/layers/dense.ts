import { initWeights, type Initializer } from "../init";
import type { Random } from "../random";
import type { Runtime } from "../runtime/runtime";
import type { Int8Forward, Int8Weights } from "./int8";
import { BatchBuffer, disposeParams, type Layer, layerDisposed, makeParam, type Param, sizeOf } from "./layer";

export interface DenseSpec {
  type: "dense";
  units: number;
  init?: Initializer;
}

/**
 * Fully connected layer (eq. 1, 3; backward eq. 13-15): y = x·W + b with x [batch, in]
 * (any sample shape, read flat), W [in, units], b [units], y [batch, units].
 */
export class Dense implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params: readonly Param[];
  private readonly inSize: number;
  private readonly weight: Param;
  private readonly bias: Param;
  private readonly out: BatchBuffer;
  private readonly dx: BatchBuffer;
  private input = 0;
  /** The model sets this when a ReLU follows: the bias kernel applies it (see Layer.reluFused). */
  reluFused = false;
  /** Set for an int8 model (sdk/io/int8-file.ts): inference passes run it instead of the float product. */
  int8?: Int8Forward;
  /**
   * Set for every quantized layer of an int8 model, int8 pass or not: its int8 weights (the float
   * weight holds them dequantized), which exportOnnx writes.
   */
  int8Weights?: Int8Weights;

  constructor(
    private readonly rt: Runtime,
    readonly spec: DenseSpec,
    readonly inputShape: readonly number[],
    index: number,
    rng: Random,
  ) {
    this.inSize = sizeOf(inputShape);
    this.outputShape = [spec.units];
    this.weight = makeParam(rt, `${index}.weight`, [this.inSize, spec.units], "weight");
    this.bias = makeParam(rt, `${index}.bias`, [spec.units], "bias");
    this.params = [this.weight, this.bias];
    initWeights(this.weight.value.view(), spec.init ?? "normal", this.inSize, spec.units, rng);
    this.bias.value.fill(0);
    this.out = new BatchBuffer(rt, spec.units);
    this.dx = new BatchBuffer(rt, this.inSize);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    if (training) this.dx.ensure(batch);
  }

  forward(x: number, batch: number, training = false): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec } = this;
    this.input = x;
    if (this.int8 && !training) {
      this.int8.forward(x, batch, this.out.ptr, this.reluFused);
      return this.out.ptr;
    }
    rt.gemm(x, this.weight.value.ptr, this.out.ptr, batch, this.inSize, spec.units, false, false, 0);
    if (this.reluFused) rt.kernels.addBiasRowsRelu(this.out.ptr, this.bias.value.ptr, batch, spec.units);
    else rt.kernels.addBiasRows(this.out.ptr, this.bias.value.ptr, batch, spec.units);
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec, inSize } = this;
    // dW[in, units] = xᵀ · dy ;  db = Σ_batch dy ;  dx[batch, in] = dy · Wᵀ
    rt.gemm(this.input, dy, this.weight.grad.ptr, inSize, batch, spec.units, true, false, 0);
    rt.kernels.sumRows(dy, this.bias.grad.ptr, batch, spec.units, 0);
    if (!needInputGrad) return 0;
    rt.gemm(dy, this.weight.value.ptr, this.dx.ptr, batch, spec.units, inSize, false, true, 0);
    return this.dx.ptr;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
    this.int8?.dispose();
    disposeParams(this.params);
  }
}
