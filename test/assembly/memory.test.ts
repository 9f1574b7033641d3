// assembly/memory.ts: heapBase() is the first byte after the module's static data, where the SDK's
// allocator starts. Read against the data segments of each build (parsed from the binary), and
// against the runtime's first allocation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { rt, useRuntime } from "../support/buffers";
import { wasmDataSegments, wasmExports } from "../support/wasm-sections";

useRuntime();

const BUILDS = ["kernels", "kernels-relaxed", "kernels-shared", "kernels-relaxed-shared"];
const binary = (name: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(readFileSync(new URL(`../../build/${name}.wasm`, import.meta.url)));

describe("heapBase", () => {
  it("of the plain build is past every data segment, within one 16-byte alignment step", () => {
    const bytes = binary("kernels");
    const memory = new WebAssembly.Memory({ initial: 2 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const heapBase = (instance.exports.heapBase as () => number)();
    const end = Math.max(0, ...wasmDataSegments(bytes).map((s) => s.offset + s.length));
    expect(heapBase).toBeGreaterThanOrEqual(end);
    expect(heapBase - end).toBeLessThan(16);
    expect(heapBase % 16).toBe(0);
    expect(heapBase).toBeGreaterThan(0);
  });

  it.each(BUILDS)("%s exports heapBase as a function", (name) => {
    expect(wasmExports(binary(name))).toContainEqual({ name: "heapBase", kind: 0 });
  });

  it("the runtime's allocations start at or after it", () => {
    const heapBase = rt.kernels.heapBase();
    const ptrs = [1, 64, 4096].map((bytes) => rt.alloc(bytes));
    for (const p of ptrs) expect(p).toBeGreaterThanOrEqual(heapBase);
    for (const p of ptrs) rt.free(p);
  });
});
