// assembly/index.ts: the kernel module's functions are what it re-exports, nothing more or less, in
// each of the four builds, and it imports nothing but its memory (which it exports again). (That the SDK's Kernels interface declares each
// of these functions, with its parameter count, is checked in test/types/kernel-calls.test.ts.)
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { rt, useRuntime } from "../support/buffers";
import { wasmExports } from "../support/wasm-sections";

useRuntime();

const BUILDS = ["kernels", "kernels-relaxed", "kernels-shared", "kernels-relaxed-shared"];
const binary = (name: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(readFileSync(new URL(`../../build/${name}.wasm`, import.meta.url)));

/** The names assembly/index.ts re-exports: `export { a, b } from "./x";` lines. */
function declaredExports(): string[] {
  const source = readFileSync(new URL("../../assembly/index.ts", import.meta.url), "utf8");
  return [...source.matchAll(/^export \{([^}]*)\} from "\.\/[\w-]+";$/gm)]
    .flatMap((m) => m[1].split(",").map((name) => name.trim()))
    .filter((name) => name !== "");
}

describe("the kernel module", () => {
  const declared = declaredExports();

  it("re-exports the kernels of every kernel source (the list this suite reads is not empty)", () => {
    expect(declared.length).toBeGreaterThan(40);
    expect(declared).toContain("gemm");
    expect(declared).toContain("heapBase");
    expect(new Set(declared).size).toBe(declared.length);
  });

  it.each(BUILDS)("%s exports exactly those names as functions, and its memory", (name) => {
    const exports = wasmExports(binary(name));
    expect(
      exports
        .filter((e) => e.kind === 0)
        .map((e) => e.name)
        .sort(),
    ).toEqual([...declared].sort());
    expect(exports.filter((e) => e.kind !== 0)).toEqual([{ name: "memory", kind: 2 }]);
  });

  it.each(BUILDS.filter((name) => WebAssembly.validate(binary(name))))(
    "%s imports only its memory (env.memory)",
    (name) => {
      expect(WebAssembly.Module.imports(new WebAssembly.Module(binary(name)))).toEqual([
        { module: "env", name: "memory", kind: "memory" },
      ]);
    },
  );

  it("the runtime's kernels are those functions", () => {
    for (const name of declared)
      expect(typeof (rt.kernels as unknown as Record<string, unknown>)[name], name).toBe("function");
  });
});
