import { checkSeed, describeValue } from "../args";
import { fail } from "../errors";
import type { Random } from "../random";
import type { Runtime } from "../runtime/runtime";
import { BatchBuffer, type Layer, layerDisposed, checkNoisePosition, type NoisePosition } from "./layer";

export interface SamplingSpec {
  type: "sampling";
}

/**
 * A variational autoencoder's sampling step (the reparameterisation trick): each sample's input
 * [2d] is read as the mean mu (first d values) and the log-variance logvar (last d) of a diagonal
 * Gaussian; the output is z [d] = mu + exp(½·logvar)·eps, eps ~ N(0, 1) drawn in wasm from a hash
 * of (seed, step, index) (kernels.gaussianNoise; the seed from the model's Random, like dropout's).
 * Inference passes output the mean z = mu, unless `sampleAlways`.
 *
 * The layer's own loss term is the KL divergence of that Gaussian from N(0, I),
 * KL = -½ Σ (1 + logvar - mu² - exp(logvar)): every forward pass leaves its sum over the batch in
 * `klSum`, and the backward pass adds the gradient of klSum / batch to the gradient it passes on,
 * as the loss heads do (they return a sum over the batch and the gradient of its mean):
 * dmu = dz + mu/batch, dlogvar = dz·½·eps·exp(½·logvar) + ½(exp(logvar) - 1)/batch.
 */
export class Sampling implements Layer {
  readonly outputShape: readonly number[];
  private disposed = false;
  readonly params = [];
  /** d: the size of the code z (half the input's). */
  readonly latent: number;
  /** Draw noise in inference passes too (an evaluation of the ELBO, samples from the posterior). */
  sampleAlways = false;
  /**
   * Reuse the noise of the last draw in the next forward passes, as long as the batch is no
   * larger than that draw's (a gradient check holds the noise fixed this way).
   */
  freezeNoise = false;
  private seed: number;
  private step = 0;
  private kl = 0;
  /** Samples whose noise the eps buffer holds (0 after it is re-made). */
  private drawn = 0;
  /** Whether the last forward pass added noise (its backward pass needs to know). */
  private noisy = false;
  private input = 0;
  private readonly out: BatchBuffer;
  private readonly eps: BatchBuffer;
  private readonly dx: BatchBuffer;

  constructor(
    private readonly rt: Runtime,
    readonly spec: SamplingSpec,
    readonly inputShape: readonly number[],
    rng: Random,
  ) {
    if (inputShape.length !== 1 || inputShape[0] % 2 !== 0) {
      fail(
        "BAD_SHAPE",
        `a sampling layer needs a flat input of an even size (means, then log-variances), got [${inputShape}]`,
      );
    }
    this.latent = inputShape[0] / 2;
    this.outputShape = [this.latent];
    this.seed = rng.nextU32();
    this.out = new BatchBuffer(rt, this.latent);
    this.eps = new BatchBuffer(rt, this.latent);
    this.dx = new BatchBuffer(rt, 2 * this.latent);
  }

  /** The KL divergence summed over the batch of the last forward pass (training or not). */
  get klSum(): number {
    return this.kl;
  }

  /** Starts the noise over from `seed` (an integer 0 to 2³² - 1): the same seed, the same draws. */
  reseed(seed: number): void {
    if (this.disposed) layerDisposed(this.spec);
    checkSeed(seed, "Sampling.reseed: seed");
    this.seed = seed;
    this.step = 0;
    this.drawn = 0;
  }

  /** Where the draws stand: the seed and the number of draws made (see Layer.noise). */
  get noise(): NoisePosition {
    return { seed: this.seed, step: this.step };
  }

  set noise(position: NoisePosition) {
    if (this.disposed) layerDisposed(this.spec);
    ({ seed: this.seed, step: this.step } = checkNoisePosition(position, "Sampling.noise"));
    this.drawn = 0;
  }

  allocate(batch: number, training: boolean): void {
    if (this.disposed) layerDisposed(this.spec);
    this.out.ensure(batch);
    // The noise is small (d floats a sample) and an inference pass may draw it (sampleAlways).
    const before = this.eps.ptr;
    this.eps.ensure(batch);
    if (this.eps.ptr !== before) this.drawn = 0;
    if (training) this.dx.ensure(batch);
  }

  forward(x: number, batch: number, training: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!Number.isSafeInteger(batch) || batch <= 0)
      fail("BAD_ARGUMENT", `sampling: batch must be a positive integer, got ${describeValue(batch)}`);
    const { rt, latent } = this;
    this.input = x;
    this.noisy = training || this.sampleAlways;
    if (this.noisy && !(this.freezeNoise && this.drawn >= batch)) {
      rt.kernels.gaussianNoise(this.eps.ptr, batch * latent, this.seed, this.step++);
      this.drawn = batch;
    }
    this.kl = rt.kernels.samplingForward(x, this.eps.ptr, this.out.ptr, batch, latent, this.noisy ? 1 : 0);
    return this.out.ptr;
  }

  backward(dy: number, batch: number, needInputGrad: boolean): number {
    if (this.disposed) layerDisposed(this.spec);
    if (!needInputGrad) return 0;
    const { rt, latent } = this;
    rt.kernels.samplingBackward(
      this.input,
      this.eps.ptr,
      dy,
      this.dx.ptr,
      batch,
      latent,
      1 / batch,
      this.noisy ? 1 : 0,
    );
    return this.dx.ptr;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.out.release();
    this.eps.release();
    this.dx.release();
  }
}
