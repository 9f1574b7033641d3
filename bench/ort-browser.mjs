// ONNX Runtime Web on several threads, measured in Chromium for bench/peers.mjs: in Node,
// onnxruntime-web always runs one thread (it turns numThreads off there), so its threaded wasm
// build can only be timed in a cross-origin isolated page. The page (bench/ort-browser/) is served
// with COOP/COEP headers by scripts/serve-demo.mjs, with onnxruntime-web's ESM build and wasm files
// copied from bench/node_modules beside it; Chromium is Debian's /usr/bin/chromium driven by
// playwright-core, as in bench/browser.mjs.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serveDemo } from "../scripts/serve-demo.mjs";
import { CHROMIUM, CHROMIUM_ARGS } from "./browser.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

/**
 * Times each case in Chromium with ONNX Runtime Web on `threads` threads: a case is a model
 * (ONNX bytes), the number of images per call and their float pixels. Each case is called a few
 * times first, then timed over at least `seconds` (and 5 calls). Returns, per case id,
 * { opsPerSecond, method: "loop", calls } or { error }, and the page's thread count and isolation.
 */
export async function measureOrtWebInChromium(cases, { threads, seconds = 2 }) {
  const dir = join(tmpdir(), `mnist-wasm-ort-page-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  // The package's main file is in its dist/ (its exports do not include package.json).
  const dist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
  for (const f of ORT_FILES) copyFileSync(join(dist, f), join(dir, f));
  copyFileSync(join(here, "ort-browser", "index.html"), join(dir, "index.html"));
  for (const c of cases) {
    writeFileSync(join(dir, `${c.id}.onnx`), c.model);
    writeFileSync(join(dir, `${c.id}.bin`), c.pixels);
  }
  const { server, url } = await serveDemo({ dir, port: 0, log: () => {} });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    return await page.evaluate(
      async ({ cases, threads, seconds }) => {
        const ort = await import("./ort.wasm.min.mjs");
        ort.env.wasm.numThreads = threads;
        ort.env.wasm.wasmPaths = new URL("./", location.href).href;
        const results = {};
        for (const c of cases) {
          try {
            const model = new Uint8Array(await (await fetch(`${c.id}.onnx`)).arrayBuffer());
            const pixels = new Float32Array(await (await fetch(`${c.id}.bin`)).arrayBuffer());
            const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
            const run = async () => {
              const out = await session.run({ [c.input]: new ort.Tensor("float32", pixels, [c.count, ...c.shape]) });
              return out[c.output].data;
            };
            for (let i = 0; i < 3; i++) await run();
            let calls = 0;
            const started = performance.now();
            while (calls < 5 || performance.now() - started < seconds * 1000) {
              await run();
              calls++;
            }
            const elapsed = (performance.now() - started) / 1000;
            results[c.id] = { opsPerSecond: calls / elapsed, method: "loop", calls };
            await session.release();
          } catch (e) {
            results[c.id] = { error: String(e?.message ?? e).split("\n")[0] };
          }
        }
        return { results, threads: ort.env.wasm.numThreads, crossOriginIsolated: self.crossOriginIsolated };
      },
      {
        cases: cases.map(({ id, count, shape, input, output }) => ({ id, count, shape, input, output })),
        threads,
        seconds,
      },
    );
  } finally {
    await browser.close();
    await new Promise((done) => server.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  }
}
