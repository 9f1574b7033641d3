// The size limits of every file the SDK reads: a reader checks a file's size (and for gzip its
// inflated size, for PNG its pixel count) against these before it allocates for the content,
// so a hostile or mistaken file is refused with a message instead of filling memory.

const MiB = 2 ** 20;

export const FILE_LIMITS = {
  /** A model file (safetensors): 64 million float32 values, far above any network trained here. */
  modelBytes: 256 * MiB,
  /**
   * A data file (idx, .npy, CIFAR-10 batch, tar archive, labels), on disk and once inflated. The
   * largest real one, the CIFAR-10 tar, is 184 MB (176 MiB); the MNIST training images are 47 MB.
   * Gzip whose content declares no size is inflated up to this before it is refused, so it also
   * bounds the memory of that refusal.
   */
  dataBytes: 192 * MiB,
  /** One PNG file on disk. */
  pngBytes: 64 * MiB,
  /** Pixels of one PNG image (width x height), read from its header before decoding: 25 megapixels. */
  pngPixels: 25_000_000,
  /**
   * Memory to decode one PNG image, estimated from its header (decodeCost in png-header.ts): twice
   * its raw size plus 4 bytes a pixel (12 for 16-bit images), the raw size twice more when
   * interlaced. 25 megapixels of 8-bit grey or palette fit (150 MB); 8-bit RGB up to 18, RGBA up
   * to 15, 16-bit RGBA up to 6.4 megapixels. Keeps the CLI's peak memory under 320 MiB.
   */
  pngDecodeBytes: 180_000_000,
  /** A small text file (an architecture's JSON, a training history). */
  textBytes: 16 * MiB,
} as const;

/** "256 MiB" or "1,234 bytes": a byte count as people read it. */
export function formatBytes(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${(bytes / MiB).toLocaleString("en")} MiB`;
  return `${bytes.toLocaleString("en")} bytes`;
}
