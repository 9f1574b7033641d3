// Applies a delta made by scripts/wasm-delta.mjs (its header says the format): three of the four
// kernel builds are embedded as deltas against the plain one.

/** `base` turned into the target the delta describes; a malformed delta is an Error (a bug). */
export function applyDelta(base: Uint8Array, delta: Uint8Array): Uint8Array {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= delta.length) throw new Error("kernel build delta: truncated");
      const byte = delta[at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  const out = new Uint8Array(varint());
  let written = 0;
  while (at < delta.length) {
    const op = varint();
    const length = Math.floor(op / 2);
    if (written + length > out.length) throw new Error("kernel build delta: longer than its target");
    if (op % 2 === 0) {
      const offset = varint();
      if (offset + length > base.length) throw new Error("kernel build delta: a copy beyond its base");
      out.set(base.subarray(offset, offset + length), written);
    } else {
      if (at + length > delta.length) throw new Error("kernel build delta: truncated");
      out.set(delta.subarray(at, at + length), written);
      at += length;
    }
    written += length;
  }
  if (written !== out.length) throw new Error("kernel build delta: shorter than its target");
  return out;
}
