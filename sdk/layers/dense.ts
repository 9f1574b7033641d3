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
 * The sparse products (sparseInput) run while at most this share of a batch's input is nonzero.
 * On MNIST batches of 100 (19% nonzero, 784 -> 100 units) x·W and dW together take 0.4 of the
 * GEMMs' time, listing the nonzeros included; the time grows with the nonzeros, and on inputs
 * with zeros scattered at random the two paths are about even from 40% to 60% nonzero.
 */
const SPARSE_MAX_DENSITY = 0.4;
/**
 * Batches smaller than this keep the GEMM: the check that the weights are finite (see
 * sparseInput) reads all of W, as the GEMM's product of a few rows does (one image through
 * 784 -> 100: about 5 µs either way), so skipping zeros saves nothing there.
 */
const SPARSE_MIN_BATCH = 5;
/**
 * Batches of more input values than this keep the GEMM, so that the nonzeros' lists (8 bytes a
 * value by image, 8 more by input value for dW) stay a fixed 16 MB at most rather than growing
 * with the batch: 1,337 MNIST images; the skip gains nothing more on bigger batches.
 */
export const SPARSE_MAX_VALUES = 1 << 20;

/** Bytes of a first dense layer's nonzeros' lists for an input of `inSize` values (see SPARSE_MAX_VALUES). */
export function sparseListBytes(inSize: number): { inference: number; training: number } {
  const images = Math.floor(SPARSE_MAX_VALUES / inSize);
  if (images === 0) return { inference: 0, training: 0 };
  const rows = 4 * images * (2 * inSize + 1);
  const columns = 4 * (images + 1) * 2 * inSize;
  return { inference: rows, training: rows + columns };
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
  /**
   * Set by the model on the layer that reads its input (only flatten or reshape before it):
   * x·W and dW = xᵀ·dY skip the zeros of x when there are enough of them (SPARSE_MAX_DENSITY),
   * by Runtime.sparseGemm, which gives the GEMM's floats bit for bit where its right-hand factor
   * is finite. A NaN or an infinity in W (for x·W) or in dY (for dW) would make 0·∞ = NaN terms
   * in the GEMM that the sparse product leaves out: the layer checks (kernels.allFinite, a few
   * microseconds) and takes the GEMM then, so a diverging run fails as it would without this.
   */
  sparseInput = false;
  /**
   * The nonzeros of the input by sample (Runtime.sparseRows), and by input value for dW (its
   * transpose): made on the first batch that takes the sparse products, for the largest such
   * batch (sparseImages), so that they are a fixed size (sparseListBytes) whatever the batch.
   */
  private readonly inputRows: BatchBuffer;
  private readonly inputColumns: BatchBuffer;
  /** Whether the last forward pass took the sparse product (its backward pass does too). */
  private sparseBatch = false;
  /** The largest batch that may take the sparse products (SPARSE_MAX_VALUES input values). */
  private readonly sparseImages: number;
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
    // Runtime.sparseRowsBytes(batch, in) and (in, batch): 8 bytes a value and 4 a row.
    this.inputRows = new BatchBuffer(rt, 2 * this.inSize + 1);
    this.inputColumns = new BatchBuffer(rt, 2 * this.inSize, this.inSize);
    this.sparseImages = Math.floor(SPARSE_MAX_VALUES / this.inSize);
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    if (training) this.dx.ensure(batch);
  }

  forward(x: number, batch: number, training = false): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec } = this;
    if (this.int8 && !training) {
      this.int8.forward(x, batch, this.out.ptr, this.reluFused);
      return this.out.ptr;
    }
    // The backward pass follows the last training pass: an inference pass in between changes
    // neither the input it reads nor the nonzeros' list it takes dW from.
    const sparse =
      this.sparseListed(batch) &&
      batch >= SPARSE_MIN_BATCH &&
      (training || !this.sparseBatch) &&
      this.listNonzeros(x, batch) &&
      this.finite(this.weight.value.ptr, this.weight.value.length);
    if (training) {
      this.input = x;
      this.sparseBatch = sparse;
    }
    if (sparse) rt.sparseGemm(this.inputRows.ptr, this.weight.value.ptr, this.out.ptr, batch, this.inSize, spec.units);
    else rt.gemm(x, this.weight.value.ptr, this.out.ptr, batch, this.inSize, spec.units, false, false, 0);
    if (this.reluFused) rt.kernels.addBiasRowsRelu(this.out.ptr, this.bias.value.ptr, batch, spec.units);
    else rt.kernels.addBiasRows(this.out.ptr, this.bias.value.ptr, batch, spec.units);
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    const { rt, spec, inSize } = this;
    // dW[in, units] = xᵀ · dy ;  db = Σ_batch dy ;  dx[batch, in] = dy · Wᵀ
    if (this.sparseBatch && this.finite(dy, batch * spec.units)) {
      this.inputColumns.ensure(this.sparseImages);
      rt.sparseTranspose(this.inputRows.ptr, batch, inSize, this.inputColumns.ptr);
      rt.sparseGemm(this.inputColumns.ptr, dy, this.weight.grad.ptr, inSize, batch, spec.units);
    } else {
      rt.gemm(this.input, dy, this.weight.grad.ptr, inSize, batch, spec.units, true, false, 0);
    }
    // The list is used: inference passes may list into it again (a second backward pass of the
    // same batch takes the GEMM, the same floats).
    this.sparseBatch = false;
    rt.kernels.sumRows(dy, this.bias.grad.ptr, batch, spec.units, 0);
    if (!needInputGrad) return 0;
    rt.gemm(dy, this.weight.value.ptr, this.dx.ptr, batch, spec.units, inSize, false, true, 0);
    return this.dx.ptr;
  }

  /** Whether a batch of this size may take the sparse products. */
  private sparseListed(batch: number): boolean {
    return this.sparseInput && !this.int8 && batch <= this.sparseImages;
  }

  /** Lists the nonzeros of x [batch, in] into inputRows; true when they are few enough for the sparse product. */
  private listNonzeros(x: number, batch: number): boolean {
    this.inputRows.ensure(this.sparseImages);
    const nonzeros = this.rt.sparseRows(x, batch, this.inSize, this.inputRows.ptr);
    return nonzeros <= SPARSE_MAX_DENSITY * batch * this.inSize;
  }

  /** Whether the n floats at ptr are all finite (no NaN, no infinity). */
  private finite(ptr: number, n: number): boolean {
    return this.rt.kernels.allFinite(ptr, n) === 1;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.dx.release();
    this.inputRows.release();
    this.inputColumns.release();
    this.int8?.dispose();
    disposeParams(this.params);
  }
}
