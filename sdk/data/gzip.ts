import { byteArray } from "../args";
import { fail } from "../errors";
import { FILE_LIMITS } from "../io/limits";

/** True when the bytes start with the gzip magic number 1f 8b. */
export const isGzip = (bytes: Uint8Array): boolean =>
  bytes instanceof Uint8Array && bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * Inflates gzip bytes with the platform's DecompressionStream (browsers, Node >= 18); returns
 * other bytes unchanged. `maxBytes` (default FILE_LIMITS.dataBytes) bounds the output: inflating
 * stops, and the data is refused, as soon as it passes that, so a hostile file cannot fill memory.
 */
export async function gunzipIfNeeded(
  bytes: Uint8Array,
  what: string,
  maxBytes: number = FILE_LIMITS.dataBytes,
): Promise<Uint8Array> {
  bytes = byteArray(bytes, "gunzipIfNeeded: bytes");
  if (!isGzip(bytes)) return bytes;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel();
        fail("BAD_FILE", `${what}: decompresses to more than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if ((e as { code?: string }).code === "BAD_FILE") throw e;
    fail("BAD_FILE", `${what}: corrupt gzip data (${(e as Error).message})`);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
