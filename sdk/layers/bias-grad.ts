import type { Runtime } from "../runtime/runtime";

/**
 * A sum this many values long or more is shared among the threads: about 0.1 ms of one thread's
 * adding (1 MB of dy), against a few microseconds to wake the others.
 */
const SPLIT_VALUES = 1 << 18;

/**
 * db[c] = Σ over the batch and the map of dy[batch, channels, spatial], written (a convolution's
 * bias gradient). The channels are shared among the threads when the sum is long enough: each
 * channel is summed in the same order either way (kernels.sumChannelBand), so the floats do not
 * depend on the thread count.
 */
export function sumBiasGrad(
  rt: Runtime,
  dy: number,
  db: number,
  batch: number,
  channels: number,
  spatial: number,
): void {
  const perChannel = Math.max(1, batch * spatial);
  rt.parallelFor(channels, Math.ceil(SPLIT_VALUES / perChannel), (first, end) => [
    ["sumChannelBand", dy, db, batch, channels, spatial, first, end, 0],
  ]);
}
