// A byte delta of one kernel build against another (the four builds share all but a few
// instructions and a memory flag): what scripts/embed-wasm.mjs embeds for three of the four, so
// that a page's bundle carries one build's bytes, not four (gzip's 32 KB window cannot find the
// repeats across four 31 KB modules). sdk/runtime/wasm-delta.ts applies it.
//
// Format: varint(target length), then ops until the end: varint(length << 1 | 0) varint(offset)
// copies `length` bytes of the base from `offset`; varint(length << 1 | 1) then `length` bytes
// inserts them. Varints are LEB128 (7 bits a byte, low first).

/** Shortest repeat worth a copy op (a copy costs 3-6 bytes). */
const MIN_MATCH = 8;

function pushVarint(out, value) {
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

const key = (bytes, i) =>
  `${bytes[i]},${bytes[i + 1]},${bytes[i + 2]},${bytes[i + 3]},${bytes[i + 4]},${bytes[i + 5]},${bytes[i + 6]},${bytes[i + 7]}`;

/** The delta that turns `base` into `target` (Uint8Arrays), greedy longest matches. */
export function encodeDelta(base, target) {
  const index = new Map();
  for (let i = 0; i + MIN_MATCH <= base.length; i++) {
    const k = key(base, i);
    const list = index.get(k);
    if (list) list.push(i);
    else index.set(k, [i]);
  }
  const out = [];
  pushVarint(out, target.length);
  let literal = [];
  const flush = () => {
    if (literal.length === 0) return;
    pushVarint(out, literal.length * 2 + 1);
    out.push(...literal);
    literal = [];
  };
  let i = 0;
  let expected = 0; // where the last copy ended in the base: preferred for the next one
  while (i < target.length) {
    let best = { offset: 0, length: 0 };
    if (i + MIN_MATCH <= target.length) {
      const candidates = index.get(key(target, i)) ?? [];
      for (const offset of candidates.includes(expected) ? [expected, ...candidates] : candidates) {
        let length = 0;
        while (
          i + length < target.length &&
          offset + length < base.length &&
          base[offset + length] === target[i + length]
        )
          length++;
        if (length > best.length) best = { offset, length };
      }
    }
    if (best.length >= MIN_MATCH) {
      flush();
      pushVarint(out, best.length * 2);
      pushVarint(out, best.offset);
      i += best.length;
      expected = best.offset + best.length;
    } else {
      literal.push(target[i]);
      i++;
    }
  }
  flush();
  return Uint8Array.from(out);
}
