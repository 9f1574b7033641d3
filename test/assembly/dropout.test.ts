// assembly/dropout.ts: the mask is a function of (seed, step, index) alone, its values 0 or 1/keep.
import { describe, expect, it } from "vitest";
import { readF32 as read, rt, useRuntime } from "../support/buffers";
import { Scratch } from "../support/scratch";

useRuntime();

describe("dropout kernels", () => {
  it("the kernel's mask depends only on (seed, step, index): values 0 or 1/keep, any call order", () => {
    const n = 1003,
      keep = 0.75;
    const s = new Scratch();
    try {
      const x = s.f32(Float32Array.from({ length: n }, (_, i) => i + 1));
      const y = s.f32(n),
        mask = s.f32(n);
      const draw = (seed: number, step: number): Float32Array => {
        rt.kernels.dropoutForward(x, y, mask, n, keep, seed, step);
        return read(mask, n);
      };
      const m53 = draw(5, 3),
        m54 = draw(5, 4),
        m63 = draw(6, 3),
        m53again = draw(5, 3);
      expect(m53again).toEqual(m53);
      expect(m54).not.toEqual(m53);
      expect(m63).not.toEqual(m53);
      const scale = Math.fround(1 / keep);
      for (const m of [m53, m54, m63]) expect(m.every((v) => v === 0 || v === scale)).toBe(true);
      // The output is x·mask, and a longer run starts with the same mask.
      expect(read(y, n)).toEqual(Float32Array.from(m53, (v, i) => Math.fround(v * (i + 1))));
      const longer = s.f32(2 * n),
        longerMask = s.f32(2 * n),
        longerY = s.f32(2 * n);
      rt.kernels.dropoutForward(longer, longerY, longerMask, 2 * n, keep, 5, 3);
      expect(read(longerMask, n)).toEqual(m53);
    } finally {
      s.free();
    }
  });
});
