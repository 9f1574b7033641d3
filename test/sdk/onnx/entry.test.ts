// The ONNX code is an entry of its own ("mnist-wasm/onnx"): a page that does not import it gets
// none of it, one that does gets its reader, writer and protobuf codec (sdk/onnx/wire.ts); once
// imported, deserializeModel() reads ONNX. The ONNX issue's budget was 60 KB gzipped for such a
// page; the sparse, Winograd-training and int8 kernels took it to 65.5 KB (docs/DESIGN.md, "The
// kernel module"), and these bounds keep it from growing further unnoticed. This file imports
// the browser entry alone.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { deserializeModel, MnistWasmError, Runtime } from "../../../sdk/index";

const root = new URL("../../../", import.meta.url).pathname;
const lenet = new Uint8Array(readFileSync(`${root}test/fixtures/onnx/lenet-pytorch.onnx`));

/** A page's script: load a model with deserializeModel and predict, with or without the ONNX entry. */
async function pageBundle(withOnnx: boolean): Promise<{ text: string; gzipped: number }> {
  const source = [
    `import { Runtime, deserializeModel } from "${root}sdk/index.ts";`,
    withOnnx ? `import "${root}sdk/onnx/index.ts";` : "",
    "const rt = await Runtime.create();",
    'const bytes = new Uint8Array(await (await fetch("model")).arrayBuffer());',
    "console.log(deserializeModel(rt, bytes).model.predict(new Uint8Array(784)));",
  ].join("\n");
  const result = await build({
    stdin: { contents: source, resolveDir: root, sourcefile: "page.ts", loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const bytes = result.outputFiles[0].contents;
  return { text: new TextDecoder().decode(bytes), gzipped: gzipSync(bytes, { level: 9 }).length };
}

describe('the "mnist-wasm/onnx" entry', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.create({ threads: 1 });
  });

  it("is needed to read ONNX in the browser entry: without it an ONNX file is refused as not safetensors", async () => {
    let error: unknown;
    try {
      deserializeModel(rt, lenet, "lenet.onnx");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MnistWasmError);
    expect((error as MnistWasmError).code).toBe("BAD_FILE");
    expect((error as Error).message).toMatch(/^lenet\.onnx: not a safetensors file/);
    await import("../../../sdk/onnx/index");
    const { model } = deserializeModel(rt, lenet, "lenet.onnx");
    expect(model.spec.layers).toHaveLength(10);
    model.dispose();
  });

  it("costs a page that does not import it nothing but the registry; one that does stays under 72 KB gzipped", async () => {
    const without = await pageBundle(false);
    const withOnnx = await pageBundle(true);
    console.log(`page bundle, gzipped: ${without.gzipped} bytes without ONNX, ${withOnnx.gzipped} with`);
    for (const name of ["ModelProto", "BatchNormalization", "messages nested too deeply"]) {
      expect(without.text.includes(name), `${name} without the ONNX entry`).toBe(false);
      expect(withOnnx.text.includes(name), `${name} with the ONNX entry`).toBe(true);
    }
    // Most of a page's size is the kernels (one build whole, three as deltas) and the layers.
    expect(without.gzipped).toBeLessThan(62_000);
    expect(withOnnx.gzipped - without.gzipped).toBeGreaterThan(3_000);
    expect(withOnnx.gzipped).toBeLessThan(72_000);
  }, 60_000);
});
