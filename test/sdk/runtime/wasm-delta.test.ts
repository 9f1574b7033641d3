// The kernel builds embedded as one whole build and deltas (scripts/wasm-delta.mjs encodes,
// sdk/runtime/wasm-delta.ts applies): every build comes back byte for byte, and the delta format
// round-trips any bytes, and refuses a damaged delta.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeDelta } from "../../../scripts/wasm-delta.mjs";
import { kernelBytes } from "../../../sdk/runtime/kernels";
import { applyDelta } from "../../../sdk/runtime/wasm-delta";
import { Random } from "../../../sdk/node";

const build = (file: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../../../build/${file}`, import.meta.url)));

describe("the embedded kernel builds", () => {
  it.each([
    [false, false, "kernels.wasm"],
    [true, false, "kernels-relaxed.wasm"],
    [false, true, "kernels-shared.wasm"],
    [true, true, "kernels-relaxed-shared.wasm"],
  ])("relaxed %s, shared %s: the bytes of build/%s", (relaxedSimd, shared, file) => {
    expect(Buffer.from(kernelBytes({ relaxedSimd, shared })).equals(Buffer.from(build(file)))).toBe(true);
  });
});

describe("deltas", () => {
  const rng = new Random(5);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.int(256));

  it("round-trip edits, moves, growth, shrinking and unrelated bytes, and stay small for small edits", () => {
    const base = bytes(5000);
    const edited = base.slice();
    edited[100] ^= 1;
    edited[4000] ^= 7;
    const cases = [
      edited,
      Uint8Array.from([...base.subarray(2500), ...base.subarray(0, 2500)]),
      Uint8Array.from([...base, ...bytes(300), ...base.subarray(0, 1000)]),
      base.subarray(17, 3000),
      bytes(700),
      new Uint8Array(0),
    ];
    for (const target of cases)
      expect(Array.from(applyDelta(base, encodeDelta(base, target)))).toEqual(Array.from(target));
    expect(encodeDelta(base, edited).length).toBeLessThan(40);
  });

  it("refuses a truncated or inconsistent delta", () => {
    const base = bytes(2000);
    const target = Uint8Array.from([...base.subarray(500), ...bytes(50)]);
    const delta = encodeDelta(base, target);
    expect(() => applyDelta(base, delta.subarray(0, delta.length - 3))).toThrow(/kernel build delta/);
    expect(() => applyDelta(base.subarray(0, 100), delta)).toThrow(/beyond its base/);
    const longer = Uint8Array.from([0x05, ...delta.subarray(1)]);
    expect(() => applyDelta(base, longer)).toThrow(/kernel build delta/);
  });
});
