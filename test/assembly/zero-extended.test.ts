// assembly/zero-extended.ts, compiled into a small probe module (it is an inlined helper the kernel
// module does not export): zeroExtended(pointer, n) is `pointer` for every n >= 0, whatever the
// pointer (0, small, past 2^31, the last byte of a 4 GiB memory) and the count (0 to 2^31 - 1).
import { describe, expect, it } from "vitest";
import { compileProbe, instantiate } from "../support/assembly-probe";

const PROBE = `import { zeroExtended } from "./assembly/zero-extended";
export function probe(pointer: usize, n: i32): usize {
  return zeroExtended(pointer, n);
}`;

describe("zeroExtended", () => {
  it("returns its pointer for every non-negative count", async () => {
    const { exports } = instantiate(await compileProbe(PROBE, ["simd"]));
    const pointers = [0, 1, 4, 1536, 65536, 2 ** 31 - 4, 2 ** 31, 2 ** 32 - 16, 2 ** 32 - 1];
    const counts = [0, 1, 7, 1000, 2 ** 30, 2 ** 31 - 1];
    for (const pointer of pointers) {
      for (const n of counts) {
        const got = (exports.probe(pointer, n) as number) >>> 0; // usize comes back as a signed i32
        if (got !== pointer) expect.fail(`zeroExtended(${pointer}, ${n}) = ${got}`);
      }
    }
  });
});
