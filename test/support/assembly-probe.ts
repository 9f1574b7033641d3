// Compiles a small AssemblyScript module at test time, for the kernel sources whose functions are
// inlined helpers the kernel module does not export (assembly/simd.ts, assembly/zero-extended.ts):
// the probe imports them and exports functions that call them. The probe's source lives in memory
// (as "probe.ts" beside assembly/); everything it imports is read from the repository.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import asc from "assemblyscript/asc";

/** The probe compiled with the kernel module's options (asconfig.json) and these wasm features. */
export async function compileProbe(source: string, features: string[]): Promise<Uint8Array<ArrayBuffer>> {
  let binary: Uint8Array | undefined;
  const stderr: string[] = [];
  const args = ["probe.ts", "--outFile", "probe.wasm", "--runtime", "stub", "--importMemory", "--noAssert", "-O3"];
  const result = await asc.main([...args, "--enable", features.join(",")], {
    readFile: (name, base) => {
      if (name === "probe.ts") return source;
      try {
        return readFileSync(join(base, name), "utf8");
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      if (name.endsWith(".wasm") && typeof contents !== "string") binary = contents;
    },
    listFiles: () => [],
    stderr: { write: (text: string | Uint8Array) => stderr.push(String(text)) } as never,
  });
  if (result.error || !binary)
    throw new Error(`the probe does not compile: ${result.error?.message}\n${stderr.join("")}`);
  return new Uint8Array(binary);
}

/** An instance of a compiled probe over a fresh memory of two pages (the kernel module's initial size). */
export function instantiate(binary: Uint8Array<ArrayBuffer>): {
  exports: Record<string, CallableFunction>;
  memory: WebAssembly.Memory;
} {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
  return { exports: instance.exports as Record<string, CallableFunction>, memory };
}
