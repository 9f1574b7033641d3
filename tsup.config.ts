import { defineConfig } from "tsup";

export default defineConfig([
  {
    // The library: browser-safe main entry, the ONNX entry and the Node entry, with type declarations.
    entry: { index: "sdk/index.ts", node: "sdk/node.ts", onnx: "sdk/onnx/index.ts" },
    format: ["esm"],
    dts: true,
    target: "es2022",
    sourcemap: true,
  },
  {
    // The command line, a single executable file.
    entry: { cli: "cli/main.ts" },
    format: ["esm"],
    target: "node20",
    platform: "node",
    banner: { js: "#!/usr/bin/env node" },
    sourcemap: true,
  },
]);
