import { fail } from "../errors";
import type { Runtime } from "../runtime/runtime";
import { splitRange, type KernelCall } from "../runtime/threads";

/**
 * A 3x3 stride-1 convolution by Winograd's F(m x m, 3x3), m = 2 (assembly/winograd.ts) or 4
 * (assembly/winograd4.ts), the tile size: per image, the (m + 2) x (m + 2) input tiles (m apart)
 * are transformed into V [P, C, tiles] (P = (m + 2)² positions), multiplied by the transformed
 * filters U [P, K, C] in P GEMMs into M [P, K, tiles], and M's tiles transformed into m x m
 * blocks of outputs, the bias (and a fused ReLU) added on the way: 16·C·K multiply-adds per four
 * outputs (m = 2) or 36·C·K per sixteen (m = 4) instead of 9·C·K per output. The floats differ
 * from the im2col product's in the last bits, more so for m = 4, whose transforms' coefficients
 * reach 8 and 1/24 (test/sdk/layers/winograd.test.ts bounds them), so a model runs it only when
 * asked (Model's `winograd` option).
 *
 * The backward pass of training turns each tile's output gradient into dM [P, K, tiles]
 * (A dY Aᵀ) and makes two sets of P GEMMs of it: dU_i = dM_i · V_iᵀ summed over the images
 * (then dW = Gᵀ dU G) and dV_i = U_iᵀ · dM_i (then dX = the tiles' B dV Bᵀ, overlapping): each
 * again P·C·K multiply-adds per tile (assembly/winograd-grad.ts, assembly/winograd4-grad.ts).
 *
 * Images of a small map are multiplied several at a time, their tiles side by side as the
 * columns of one product (GROUP_COLUMNS): 16 tiles alone would fill two of the GEMM's 8-column
 * micro-tiles. U is made and packed for the GEMM (kernels.packA) once per weights version.
 */
/**
 * An image group's product has at least this many columns (tiles) when the batch allows. Groups
 * of 64 measured as fast as 128-512 in inference, and in training's backward pass (whose dU sums
 * over the columns) as 128 and 256, faster than 32.
 */
const GROUP_COLUMNS = 64;
/**
 * The filter transforms (U from the weights, dW from dU) share the filters among the threads from
 * this many a thread: a training step makes both, K·C of each (2,048 for the LeNet-like net's
 * conv2), between its parallel passes.
 */
const FILTERS_PER_THREAD = 8;
/** Filter bands of a one-image pass split among threads are multiples of the GEMM's 5 rows. */
const FILTER_BAND_ALIGN = 5;
/**
 * The kernels of each tile size: F(2x2, 3x3) (assembly/winograd.ts) and F(4x4, 3x3)
 * (assembly/winograd4.ts); the output transforms differ in their arguments (see outputCall).
 */
const KERNELS = {
  2: {
    filters: "winogradFilters",
    padBytes: "winogradPadBytes",
    input: "winogradInput",
    gradPlaneBytes: "winogradGradPlaneBytes",
    gradOutput: "winogradGradOutput",
    gradInput: "winogradGradInput",
    filterGrad: "winogradFilterGrad",
  },
  4: {
    filters: "winograd4Filters",
    padBytes: "winograd4PadBytes",
    input: "winograd4Input",
    gradPlaneBytes: "winograd4GradPlaneBytes",
    gradOutput: "winograd4GradOutput",
    gradInput: "winograd4GradInput",
    filterGrad: "winograd4FilterGrad",
  },
} as const;

/** Output tile sides: F(2x2, 3x3) or F(4x4, 3x3). */
export type WinogradTile = keyof typeof KERNELS;

/**
 * Whether Winograd is faster than the im2col product for a 3x3 stride-1 convolution with C input
 * channels, K filters and an OH x OW output. From per-layer timings on one thread
 * (bench/winograd.mjs --layers; figures in docs/DESIGN.md, "Winograd convolution"):
 * - at least 8 input channels: the transforms cost per channel what the products save per pair of
 *   channels (3 channels in, a colour image's first layer: 0.84x; 6: 1.2x; 8: 1.4x);
 * - at least 4 filters (8 in, 4 out: 1.3x in batches);
 * - at least 8 tiles (2x2 output blocks) an image, so that one image's products fill the GEMM's
 *   8-column micro-tile: with 4 tiles (a 4x4 output) one image alone ran 0.7-1.3x, slower for
 *   32 and 256 channels, faster for 64 and 128 (and 1.5-2.6x in batches of 100).
 * The rule reads the layer's shape only, not the batch: an image's probabilities do not depend on
 * the images it is batched with. Measured where it says yes: 1.3-2.6x faster in batches of 100,
 * 1.0-2.2x for one image.
 *
 * Training passes (`training` set; bench/winograd.mjs --training --layers) drop the tile count:
 * a training batch fills the products whatever the map (4x4 outputs, batch 100, forward and
 * backward: 2.0-2.3x for 32-128 channels), and what one image would give is not in question.
 * The channel and filter bounds hold as in inference (3 channels in: 0.69x, 4: 0.81x, 6: 1.0x;
 * 8 in and 4 out: 1.5x).
 */
export function winogradPays(C: number, K: number, OH: number, OW: number, training = false): boolean {
  return C >= 8 && K >= 4 && (training || Math.ceil(OH / 2) * Math.ceil(OW / 2) >= 8);
}

/**
 * The tile size a 3x3 stride-1 convolution with C input channels, K filters and an OH x OW output
 * runs Winograd with, 0 where Winograd does not pay (winogradPays): 4 where an image has at least
 * 9 tiles of 4x4 outputs and F(4x4, 3x3) makes at most 0.7 of F(2x2, 3x3)'s products (36 per
 * 4x4 tile against 16 per 2x2 tile, counting the tiles that overhang the output), else 2. From
 * per-layer timings on one thread (bench/winograd.mjs --layers, with and without --training;
 * figures in docs/DESIGN.md, "Winograd convolution"):
 * - 16x16 and 32x32 outputs (16 and 64 tiles): F(4x4) 1.3-1.45x faster than F(2x2) in inference
 *   batches and one image at a time, 1.4x in training;
 * - 11x11 (9 tiles, 0.56 of the products): 1.29x in inference batches (one image alone 0.94x),
 *   1.34x in training;
 * - 9x9 (9 tiles, 0.81 of the products): 0.96x in training;
 * - 8x8 and smaller (4 tiles or fewer): up to 1.2x slower for many channels (U for 36 positions
 *   outgrows the cache: 2.4 MB at 128 channels in and out), and one image alone 0.8-0.9x.
 * Like winogradPays it reads the shape only; training and inference pick the same size.
 */
export function winogradTile(C: number, K: number, OH: number, OW: number, training = false): WinogradTile | 0 {
  if (!winogradPays(C, K, OH, OW, training)) return 0;
  const tiles = (side: number): number => Math.ceil(OH / side) * Math.ceil(OW / side);
  return tiles(4) >= 9 && 36 * tiles(4) <= 0.7 * 16 * tiles(2) ? 4 : 2;
}

export class WinogradConv {
  /** Positions of a transformed tile, (tile + 2)²: one product each. */
  private readonly positions: number;
  private readonly names: (typeof KERNELS)[WinogradTile];
  private readonly tilesH: number;
  private readonly tilesW: number;
  private readonly tiles: number;
  /** Images per product and the row stride of the scratch V, M, dV and dM. */
  private readonly group: number;
  private readonly ld: number;
  /** U [positions, K, C], and each U_i packed for gemmPacked (a block of packedBytes each). */
  private u = 0;
  private packed = 0;
  private readonly packedBytes: number;
  /** U_iᵀ [C, K] packed for the backward pass's dV (a block of packedTBytes each). */
  private packedT = 0;
  private readonly packedTBytes: number;
  /**
   * Per thread: the padded image (or one plane of dy or dx), V [positions, C, ld], M or dM
   * [positions, K, ld], and for training dV [positions, C, ld].
   */
  private scratch: { padded: number; v: number; m: number; dv: number }[] = [];
  /** Each thread's share of dU [positions, K, C], summed into the first. */
  private du = 0;
  /** The input and batch of the last training forward pass: the backward pass transforms it again. */
  private trained = { x: 0, batch: 0 };
  /** The weights U was made from, and whether it was made at all. */
  private madeFrom = 0;
  private made = false;

  constructor(
    private readonly rt: Runtime,
    private readonly K: number,
    private readonly C: number,
    private readonly H: number,
    private readonly W: number,
    private readonly pad: number,
    private readonly OH: number,
    private readonly OW: number,
    readonly tile: WinogradTile = 2,
  ) {
    this.positions = (tile + 2) ** 2;
    this.names = KERNELS[tile];
    this.tilesH = Math.ceil(OH / tile);
    this.tilesW = Math.ceil(OW / tile);
    this.tiles = this.tilesH * this.tilesW;
    this.group = Math.max(1, Math.ceil(GROUP_COLUMNS / this.tiles));
    this.ld = this.group * this.tiles + 4;
    this.packedBytes = rt.kernels.packedABytes(K, C);
    this.packedTBytes = rt.kernels.packedABytes(C, K);
  }

  /**
   * y [batch, K, OH, OW] = conv(x [batch, C, H, W], weight [K, C, 3, 3]) + bias, then
   * max(·, 0) if `relu`. The batch is shared among the threads in runs of whole images; one image
   * with a big enough product is shared by filter bands (each thread transforms the input), except
   * in training, whose backward pass takes the threads' runs of images. A training pass notes x
   * for the backward pass, which must come before x changes.
   */
  forward(x: number, batch: number, weight: number, bias: number, y: number, relu: boolean, training: boolean): void {
    const { rt, K, C, H, W, OH, OW, tiles } = this;
    this.ensureScratch(training);
    this.makeFilters(weight);
    this.trained = training ? { x, batch } : this.trained;
    const inSize = C * H * W;
    const outSize = K * OH * OW;
    const bands = splitRange(K, rt.threads, FILTER_BAND_ALIGN);
    if (!training && batch === 1 && bands.length > 1 && rt.worthSplitting(2 * 9 * C * K * OH * OW)) {
      rt.parallel(
        bands.map(([first, end], t): KernelCall[] => {
          const s = this.scratch[t];
          const calls: KernelCall[] = [this.inputCall(x, s.padded, s.v, this.ld, 0)];
          for (let i = 0; i < this.positions; i++) {
            calls.push([
              "gemm",
              this.u + (i * K + first) * C * 4,
              C,
              s.v + i * C * this.ld * 4,
              this.ld,
              s.m + i * (end - first) * this.ld * 4, // this band's M [positions, end - first, ld]
              this.ld,
              end - first,
              C,
              tiles,
              0,
              0,
              0,
              rt.gemmWorkspace(t),
            ]);
          }
          calls.push(this.outputCall(s.m, 0, end - first, bias + first * 4, relu, y + first * OH * OW * 4, s.padded));
          return calls;
        }),
      );
      return;
    }
    rt.parallel(
      splitRange(batch, rt.threads).map(([start, end], t) => {
        const s = this.scratch[t];
        const calls: KernelCall[] = [];
        for (let g0 = start; g0 < end; g0 += this.group) {
          const count = Math.min(this.group, end - g0);
          for (let j = 0; j < count; j++)
            calls.push(this.inputCall(x + (g0 + j) * inSize * 4, s.padded, s.v, this.ld, j * tiles));
          // M_i [K, count·T] = U_i · V_i, all the positions' products in one call.
          calls.push([
            "gemmPackedSeries",
            this.packed,
            this.packedBytes,
            s.v,
            C * this.ld * 4,
            this.ld,
            s.m,
            K * this.ld * 4,
            this.ld,
            K,
            C,
            count * tiles,
            0,
            0,
            rt.gemmWorkspace(t),
            this.positions,
          ]);
          for (let j = 0; j < count; j++)
            calls.push(this.outputCall(s.m, j * tiles, K, bias, relu, y + (g0 + j) * outSize * 4, s.padded));
        }
        return calls;
      }),
    );
  }

  /**
   * The backward pass after a training forward pass of the same batch, for dy [batch, K, OH, OW]:
   * dw [K, C, 3, 3] = Gᵀ dU G with dU_i [K, C] = Σ_images dM_i · V_iᵀ, and (when dx is not 0)
   * dx [batch, C, H, W] = the tiles' B dV Bᵀ with dV_i = U_iᵀ · dM_i, where dM = A dY Aᵀ per tile
   * (assembly/winograd-grad.ts). V is made again from the forward pass's input, a group of images
   * at a time: its transform costs a twentieth of the products that use it, and V made now is in
   * cache where V kept for the whole batch (7 MB for the LeNet-like net's conv2) is not. Each
   * thread sums dU over its images into its own share, a group of images at a time; the
   * shares are added in thread order, so the result is the same from run to run for a thread
   * count. dx and dw are written, not added to.
   */
  backward(dy: number, batch: number, dx: number, dw: number): void {
    const { rt, K, C, tiles } = this;
    const { x, batch: trainedBatch } = this.trained;
    if (trainedBatch !== batch || !this.made)
      fail("BAD_STATE", "Winograd convolution: backward() needs a training forward pass of the same batch first");
    const weightsSize = this.positions * K * C;
    if (dx) this.packPositions(this.packedT, this.packedTBytes, C, K, 1);
    const outSize = K * this.OH * this.OW;
    const inSize = C * this.H * this.W;
    const { tilesH, tilesW, pad, H, W, OH, OW } = this;
    const ranges = splitRange(batch, rt.threads);
    rt.parallel(
      ranges.map(([start, end], t) => {
        const s = this.scratch[t];
        const du = this.du + t * weightsSize * 4;
        const calls: KernelCall[] = [];
        for (let g0 = start; g0 < end; g0 += this.group) {
          const count = Math.min(this.group, end - g0);
          for (let j = 0; j < count; j++)
            calls.push(this.inputCall(x + (g0 + j) * inSize * 4, s.padded, s.v, this.ld, j * tiles));
          for (let j = 0; j < count; j++) {
            calls.push([
              this.names.gradOutput,
              dy + (g0 + j) * outSize * 4,
              K,
              OH,
              OW,
              tilesH,
              tilesW,
              s.padded,
              s.m,
              this.ld,
              j * tiles,
            ]);
          }
          // dU_i [K, C] (+)= dM_i [K, count·T] · V_iᵀ (V_i [C, count·T] read transposed), i < 16.
          calls.push([
            "gemmSeries",
            s.m,
            K * this.ld * 4,
            this.ld,
            s.v,
            C * this.ld * 4,
            this.ld,
            du,
            K * C * 4,
            C,
            K,
            count * tiles,
            C,
            0,
            1,
            g0 === start ? 0 : 1,
            rt.gemmWorkspace(t),
            this.positions,
          ]);
          if (!dx) continue;
          // dV_i [C, count·T] = U_iᵀ [C, K] · dM_i [K, count·T], i < 16.
          calls.push([
            "gemmPackedSeries",
            this.packedT,
            this.packedTBytes,
            s.m,
            K * this.ld * 4,
            this.ld,
            s.dv,
            C * this.ld * 4,
            this.ld,
            C,
            K,
            count * tiles,
            0,
            0,
            rt.gemmWorkspace(t),
            this.positions,
          ]);
          for (let j = 0; j < count; j++) {
            calls.push([
              this.names.gradInput,
              s.dv,
              this.ld,
              j * tiles,
              C,
              tilesH,
              tilesW,
              pad,
              H,
              W,
              s.padded,
              dx + (g0 + j) * inSize * 4,
            ]);
          }
        }
        return calls;
      }),
    );
    const shares = ranges.length;
    if (shares > 1) rt.kernels.sumRows(this.du + weightsSize * 4, this.du, shares - 1, weightsSize, 1);
    rt.parallelFor(K, FILTERS_PER_THREAD, (first, end) => [[this.names.filterGrad, this.du, K, C, dw, first, end]]);
  }

  private inputCall(x: number, padded: number, v: number, ldv: number, col0: number): KernelCall {
    const { C, H, W, pad, tilesH, tilesW } = this;
    return [this.names.input, x, C, H, W, pad, tilesH, tilesW, padded, v, ldv, col0];
  }

  /** y [K, OH, OW] of the image whose tiles start at column col0 of M [16, K, ld] at `m`. */
  private outputCall(
    m: number,
    col0: number,
    K: number,
    bias: number,
    relu: boolean,
    y: number,
    scratch: number,
  ): KernelCall {
    const { tilesH, tilesW, OH, OW, ld } = this;
    const r = relu ? 1 : 0;
    return this.tile === 4
      ? ["winograd4Output", m, ld, col0, K, tilesH, tilesW, bias, r, y, OH, OW, scratch]
      : ["winogradOutput", m, ld, col0, K, tilesH, tilesW, bias, r, y, OH, OW];
  }

  /** U and its packing from `weight`, unless they were made from the same weights. */
  private makeFilters(weight: number): void {
    const { rt, K, C } = this;
    const changed = rt.kernels.copyIfChanged(weight, this.madeFrom, K * C * 9) === 1;
    if (!changed && this.made) return;
    rt.parallelFor(K, FILTERS_PER_THREAD, (first, end) => [[this.names.filters, weight, K, C, this.u, first, end]]);
    this.packPositions(this.packed, this.packedBytes, K, C, 0);
    this.made = true;
  }

  /**
   * Each U_i [K, C] packed for the GEMM into a block of `blockBytes` at `to`: as rows x depth
   * (U_i, transposed 0) or read transposed (U_iᵀ [C, K], transposed 1). The positions are shared
   * among the threads (a training step packs 2 x 36 of them).
   */
  private packPositions(to: number, blockBytes: number, rows: number, depth: number, transposed: 0 | 1): void {
    const { rt, K, C } = this;
    rt.parallelFor(this.positions, 4, (first, end) => {
      const calls: KernelCall[] = [];
      for (let i = first; i < end; i++)
        calls.push(["packA", this.u + i * K * C * 4, C, rows, depth, transposed, to + i * blockBytes]);
      return calls;
    });
  }

  private ensureScratch(training: boolean): void {
    const { rt, K, C } = this;
    if (!this.u) {
      this.madeFrom = rt.alloc(K * C * 9 * 4);
      this.u = rt.alloc(this.positions * K * C * 4);
      this.packed = rt.alloc(this.positions * this.packedBytes);
    }
    while (this.scratch.length < rt.threads) {
      this.scratch.push({
        // The input transform's padded image, one plane of the gradient transforms, or the
        // F(4x4) output transform's scratch.
        padded: rt.alloc(
          Math.max(
            rt.kernels[this.names.padBytes](C, this.tilesH, this.tilesW),
            rt.kernels[this.names.gradPlaneBytes](this.tilesH, this.tilesW),
            this.tile === 4 ? rt.kernels.winograd4OutputScratchBytes() : 0,
          ),
        ),
        v: rt.alloc(this.positions * C * this.ld * 4),
        m: rt.alloc(this.positions * K * this.ld * 4),
        dv: 0,
      });
    }
    if (!training) return;
    for (const s of this.scratch) if (!s.dv) s.dv = rt.alloc(this.positions * C * this.ld * 4);
    if (!this.du) this.du = rt.alloc(rt.threads * this.positions * K * C * 4);
    if (!this.packedT) this.packedT = rt.alloc(this.positions * this.packedTBytes);
  }

  dispose(): void {
    if (this.rt.disposed) return;
    for (const s of this.scratch) for (const ptr of [s.padded, s.v, s.m, s.dv]) if (ptr) this.rt.free(ptr);
    this.scratch = [];
    for (const ptr of [this.madeFrom, this.u, this.packed, this.packedT, this.du]) if (ptr) this.rt.free(ptr);
    this.madeFrom = this.u = this.packed = this.packedT = this.du = 0;
    this.trained = { x: 0, batch: 0 };
    this.made = false;
  }
}
