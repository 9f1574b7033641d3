// The browser entry ("mnist-wasm", dist/index.js) in other people's pages: the README's
// "classify a canvas" example (test/fixtures/vite-app/main.js, quoted in the README verbatim) is
// bundled by Vite with no configuration and by esbuild, and loaded with no bundler at all through
// an import map. The bundles must pull in no Node built-in (a guard build of "mnist-wasm/node"
// shows the check catches them), and each page must classify an MNIST test digit in Chromium
// (browser part skipped locally without /usr/bin/chromium, failing on CI, as in browser.test.ts).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build as esbuild } from "esbuild";
import type { Browser } from "playwright-core";
import { build as viteBuild, createLogger } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveDemo } from "../scripts/serve-demo.mjs";
import { loadMnist } from "../sdk/node";
import { chromiumAvailable, launchChromium, recordProblems } from "./support/browser";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "test", "fixtures", "vite-app");
const MODEL = join(ROOT, "models", "mnist-cnn.safetensors");
/** The README's no-bundler line: an import map from the package name to its browser entry. */
const IMPORT_MAP = `<script type="importmap">{ "imports": { "mnist-wasm": "/node_modules/mnist-wasm/dist/index.js" } }</script>`;

let work: string;

/**
 * A copy of the fixture app in `dir` that imports the package as an installed dependency would:
 * node_modules/mnist-wasm is a link to this repository (as `npm link` makes), resolved through
 * package.json's "exports". `entry` rewrites the import (the guard build uses "mnist-wasm/node").
 */
function makeApp(dir: string, entry = "mnist-wasm"): string {
  cpSync(FIXTURE, dir, { recursive: true });
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(ROOT, join(dir, "node_modules", "mnist-wasm"), "dir");
  mkdirSync(join(dir, "public"));
  cpSync(MODEL, join(dir, "public", "mnist-cnn.safetensors"));
  if (entry !== "mnist-wasm") {
    const main = join(dir, "main.js");
    writeFileSync(main, readFileSync(main, "utf8").replace(`from "mnist-wasm"`, `from "${entry}"`));
  }
  return dir;
}

/** Builds `app` with Vite's defaults (no config file) into `outDir`; returns every warning or error it reported, and the JavaScript. */
async function viteBuildApp(app: string, outDir: string): Promise<{ warnings: string[]; code: string }> {
  const warnings: string[] = [];
  const logger = createLogger("warn", { allowClearScreen: false });
  logger.warn = (msg) => void warnings.push(msg);
  logger.warnOnce = (msg) => void warnings.push(msg);
  logger.error = (msg) => void warnings.push(msg);
  // As `npx vite build` runs for a user: vitest sets NODE_ENV=test, which makes Vite build in
  // development mode, where Node built-ins become runtime stubs instead of build warnings.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await viteBuild({
      root: app,
      configFile: false,
      logLevel: "warn",
      customLogger: logger,
      // Only to see warnings (e.g. "Module "fs" has been externalized for browser compatibility").
      build: { outDir, emptyOutDir: true, rollupOptions: { onwarn: (w) => void warnings.push(w.message) } },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  const assets = join(outDir, "assets");
  const code = readdirSync(assets)
    .filter((f) => f.endsWith(".js"))
    .map((f) => readFileSync(join(assets, f), "utf8"))
    .join("\n");
  return { warnings, code };
}

/** Signs that a bundle reaches for Node: imports of built-ins, require(), process or Buffer. */
const NODE_TRACES =
  /from\s*["'](node:)?(fs|path|url|zlib|module|os|v8|child_process|crypto)(\/[a-z]+)?["']|require\(|__vite-browser-external|externalized for browser compatibility|\bprocess\.|\bBuffer\./;

let vite: { warnings: string[]; code: string };
let esbuilt: { errors: unknown[]; warnings: unknown[]; code: string };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "mnist-wasm-bundlers-"));
  const app = makeApp(join(work, "vite-app"));
  vite = await viteBuildApp(app, join(work, "vite-dist"));
  // esbuild: the same app's main.js, bundled for browsers, with the page and the model beside it.
  const out = join(work, "esbuild-dist");
  const result = await esbuild({
    entryPoints: [join(app, "main.js")],
    outfile: join(out, "main.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  esbuilt = { errors: result.errors, warnings: result.warnings, code: readFileSync(join(out, "main.js"), "utf8") };
  cpSync(join(app, "index.html"), join(out, "index.html"));
  cpSync(MODEL, join(out, "mnist-cnn.safetensors"));
}, 120_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the browser entry in bundlers", () => {
  it("is quoted in the README exactly as the fixture app runs it", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(readFileSync(join(FIXTURE, "main.js"), "utf8").trim());
    expect(readme).toContain(IMPORT_MAP);
  });

  it("bundles with Vite's defaults: no warnings, no Node built-ins, the kernels embedded", () => {
    expect(vite.warnings).toEqual([]);
    expect(vite.code).not.toMatch(NODE_TRACES);
    expect(vite.code).toContain("AGFzbQ"); // base64 of "\0asm": the wasm kernels travel inside the bundle
    expect(vite.code).toContain("classifyCanvas");
  });

  it('catches a bundle that pulls in Node built-ins (the guard: "mnist-wasm/node" is not for pages)', async () => {
    const app = makeApp(join(work, "vite-guard"), "mnist-wasm/node");
    const { warnings } = await viteBuildApp(app, join(work, "vite-guard-dist"));
    expect(warnings.join("\n")).toMatch(/Module "fs" has been externalized for browser compatibility/);
  });

  it("bundles with esbuild for the browser platform: no warnings, no Node built-ins", () => {
    expect(esbuilt.errors).toEqual([]);
    expect(esbuilt.warnings).toEqual([]);
    expect(esbuilt.code).not.toMatch(NODE_TRACES);
    expect(esbuilt.code).toContain("AGFzbQ");
  });
});

describe.skipIf(!chromiumAvailable("test/vite.test.ts", "bundled pages in the browser"))(
  "bundled pages in the browser",
  () => {
    let browser: Browser | undefined;
    const servers: Server[] = [];

    beforeAll(async () => {
      // Without a bundler: the package's dist/ where a page can fetch it, and the import map.
      const plain = join(work, "plain");
      mkdirSync(join(plain, "node_modules", "mnist-wasm"), { recursive: true });
      cpSync(join(ROOT, "dist"), join(plain, "node_modules", "mnist-wasm", "dist"), { recursive: true });
      cpSync(join(FIXTURE, "main.js"), join(plain, "main.js"));
      cpSync(MODEL, join(plain, "mnist-cnn.safetensors"));
      writeFileSync(
        join(plain, "index.html"),
        readFileSync(join(FIXTURE, "index.html"), "utf8").replace("</title>", `</title>\n  ${IMPORT_MAP}`),
      );
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
    });

    // The two bundles built in the file's beforeAll, and the page without a bundler.
    it.each([
      ["Vite", "vite-dist"],
      ["esbuild", "esbuild-dist"],
      ["no bundler (import map)", "plain"],
    ])("the %s page classifies a digit drawn on a canvas", async (_, dir) => {
      const { server, url } = await serveDemo({ dir: join(work, dir), port: 0 });
      servers.push(server);
      const page = await browser!.newPage();
      const problems: string[] = [];
      recordProblems(page, problems, { requests: false });
      try {
        await page.goto(url);
        await page.waitForSelector("body[data-ready='true']");
        const test = loadMnist("test");
        // Test image 0 (a 7) drawn ten times larger, dark ink on a light canvas.
        const pixels = Array.from(test.images.subarray(0, 784));
        const answer = await page.evaluate((px) => {
          const canvas = document.getElementById("digit") as HTMLCanvasElement;
          const ctx = canvas.getContext("2d")!;
          const img = ctx.createImageData(280, 280);
          for (let i = 0; i < 280 * 280; i++) {
            img.data[4 * i] =
              img.data[4 * i + 1] =
              img.data[4 * i + 2] =
                255 - px[Math.floor(i / 2800) * 28 + Math.floor((i % 280) / 10)];
            img.data[4 * i + 3] = 255;
          }
          ctx.putImageData(img, 0, 0);
          return (
            window as unknown as { classifyCanvas: (c: HTMLCanvasElement) => { digit: number; probability: number } }
          ).classifyCanvas(canvas);
        }, pixels);
        expect(answer.digit).toBe(test.labels[0]);
        expect(answer.probability).toBeGreaterThan(0.9);
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    });
  },
);
