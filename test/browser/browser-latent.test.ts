// The demo's "Latent space" panel, driven in Debian's Chromium (/usr/bin/chromium) by
// playwright-core: the shipped 2-D VAE's codes of the first test images drawn by class, the code
// under the pointer decoded live (checked against the SDK's decode in Node), samples from the
// prior, and model files of other autoencoders taking the panel over. The demo is built into a
// temporary folder. Never downloads a browser. Without Chromium the tests are skipped, except on
// CI where that fails.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemo } from "../../scripts/build-demo.mjs";
import {
  autoencoderSpec,
  deserializeModel,
  fit,
  loadMnist,
  Model,
  Optimizer,
  Runtime,
  serializeModel,
  takeFirst,
  type Dataset,
} from "../../sdk/node";
import { chromiumAvailable, openDemo, type DemoPage } from "../support/browser";
import { canvasPixels, classPixels } from "../support/screenshot";

const SHIPPED_VAE = join(__dirname, "..", "..", "models", "mnist-vae.safetensors");
const POINTS = 2000;

/** The 28x28 grey image the decoder gives `code`, as the page paints it (bytes 0-255). */
function decodedBytes(model: Model, code: [number, number]): number[] {
  return Array.from(new Uint8ClampedArray(model.decode(Float32Array.from(code), 1).map((v) => v * 255)));
}

const greys = (rgba: number[]): number[] => rgba.filter((_, i) => i % 4 === 0);
const maxDifference = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe.skipIf(!chromiumAvailable("test/browser/browser-latent.test.ts", "the latent-space panel"))(
  "the latent-space panel",
  () => {
    let demo: DemoPage | undefined;
    let page: Page;
    let dir: string;
    let problems: string[] = [];
    let vae: Model;
    let test: Dataset;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "mnist-wasm-latent-test-"));
      const outDir = await buildDemo({ outDir: join(dir, "site"), quiet: true });
      demo = await openDemo(outDir, { viewport: { width: 800, height: 900 } });
      ({ page, problems } = demo);
      await page.waitForSelector("#latent[data-ready='true']", { timeout: 60_000 });
      await page.locator("#latent").scrollIntoViewIfNeeded();
      const rt = await Runtime.create();
      vae = deserializeModel(rt, new Uint8Array(readFileSync(SHIPPED_VAE)), SHIPPED_VAE).model;
      test = loadMnist("test");
    }, 120_000);

    afterAll(async () => {
      await demo?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("draws the shipped VAE's codes of the first 2,000 test images, every digit in its colour, on axes that fit them", async () => {
      expect(vae.task).toBe("vae");
      expect(await page.textContent("#latent-model")).toMatch(/^2-D VAE · [\d,]+ parameters/);
      expect(await page.getAttribute("#latent-scatter", "data-points")).toBe(String(POINTS));
      const counts = classPixels((await canvasPixels(page, "latent-scatter")).data);
      // Each class has its dots (some hidden under others) and its legend swatch.
      for (let c = 0; c < 10; c++) expect(counts[c], `pixels of class ${c}'s colour`).toBeGreaterThan(50);
      // The axes are those of the codes the SDK gives the same images, 4% to spare on each side.
      const codes = vae.encode(test.images.subarray(0, POINTS * 784), POINTS);
      const xs = codes.filter((_, i) => i % 2 === 0);
      const ys = codes.filter((_, i) => i % 2 === 1);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      const bounds = await page.evaluate(() => window.mnistLatent.bounds());
      const spare = (lo: number, hi: number): number => (hi - lo) * 0.04;
      expect(bounds.x0).toBeCloseTo(x0 - spare(x0, x1), 3);
      expect(bounds.x1).toBeCloseTo(x1 + spare(x0, x1), 3);
      expect(bounds.y0).toBeCloseTo(y0 - spare(y0, y1), 3);
      expect(bounds.y1).toBeCloseTo(y1 + spare(y0, y1), 3);
      expect(problems).toEqual([]);
    });

    it("decodes the code under the pointer as it moves: the SDK's image of that code, another at another point", async () => {
      const box = (await page.locator("#latent-scatter").boundingBox())!;
      const pointAt = async (u: number, v: number): Promise<{ code: [number, number]; pixels: number[] }> => {
        const before = await page.textContent("#latent-code");
        await page.mouse.move(box.x + box.width * u, box.y + box.height * v);
        await page.waitForFunction((text) => document.getElementById("latent-code")!.textContent !== text, before);
        const code = await page.evaluate(() => window.mnistLatent.code());
        return { code, pixels: greys((await canvasPixels(page, "latent-decoded")).data) };
      };
      const left = await pointAt(0.25, 0.3);
      const right = await pointAt(0.65, 0.7);
      // The axes run left to right and bottom to top, as drawn.
      expect(right.code[0]).toBeGreaterThan(left.code[0]);
      expect(right.code[1]).toBeLessThan(left.code[1]);
      // Each image is the decoder's for the code shown (the page's kernels may round the last bit differently).
      expect(left.pixels).toHaveLength(784);
      expect(maxDifference(left.pixels, decodedBytes(vae, left.code))).toBeLessThanOrEqual(1);
      expect(maxDifference(right.pixels, decodedBytes(vae, right.code))).toBeLessThanOrEqual(1);
      // Two places, two different digits.
      const changed = left.pixels.filter((p, i) => Math.abs(p - right.pixels[i]) > 64).length;
      expect(changed).toBeGreaterThan(40);
      // The arrow keys move the code too.
      await page.focus("#latent-scatter");
      await page.keyboard.press("ArrowUp");
      await page.waitForFunction((y) => window.mnistLatent.code()[1] > y, right.code[1]);
      expect(problems).toEqual([]);
    });

    it("draws 16 samples from the prior on each click of the button, new ones each time", async () => {
      const first = await canvasPixels(page, "latent-samples");
      expect(first.width).toBeGreaterThan(100);
      const seed = Number(await page.getAttribute("#latent-samples", "data-seed"));
      await page.click("#latent-sample");
      expect(Number(await page.getAttribute("#latent-samples", "data-seed"))).toBe(seed + 1);
      const second = await canvasPixels(page, "latent-samples");
      // Digits: white strokes on black in every tile, different ones from the first draw.
      const bright = (d: number[]): number => greys(d).filter((v) => v > 200).length;
      expect(bright(second.data)).toBeGreaterThan(16 * 20);
      const before = greys(first.data);
      const differing = greys(second.data).filter((v, i) => Math.abs(v - before[i]) > 64).length;
      expect(differing).toBeGreaterThan(16 * 20);
      expect(problems).toEqual([]);
    });

    it("takes over an autoencoder's model file (no prior: no samples), refuses other codes, and goes back to the VAE", async () => {
      const rt = await Runtime.create();
      const spec = autoencoderSpec({
        input: [1, 28, 28],
        latent: 2,
        encoder: "dense:32,relu",
        decoder: "dense:32,relu",
      });
      const ae = new Model(rt, spec, { seed: 2 });
      await fit(ae, takeFirst(loadMnist("train"), 2000), {
        epochs: 1,
        batchSize: 100,
        optimizer: new Optimizer(rt, { name: "adam", lr: 0.003 }),
        seed: 2,
      });
      await page.setInputFiles("#model-input", {
        name: "tiny-ae.safetensors",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(serializeModel(ae)),
      });
      await page.waitForSelector("#model-message[data-kind='ok']");
      expect(await page.textContent("#model-message")).toMatch(/^Loaded tiny-ae\.safetensors .*the latent space/);
      expect(await page.textContent("#latent-model")).toMatch(/^tiny-ae\.safetensors · [\d,]+ parameters$/);
      expect(await page.isDisabled("#latent-sample")).toBe(true);
      expect(await page.isHidden("#latent-samples")).toBe(true);
      const bounds = await page.evaluate(() => window.mnistLatent.bounds());
      const codes = ae.encode(test.images.subarray(0, POINTS * 784), POINTS);
      const xs = codes.filter((_, i) => i % 2 === 0);
      expect(bounds.x1).toBeCloseTo(Math.max(...xs) + (Math.max(...xs) - Math.min(...xs)) * 0.04, 3);
      // The drawing panels keep the shipped CNN.
      expect(await page.textContent("#status")).toMatch(/CNN/);

      const wide = new Model(rt, autoencoderSpec({ input: [1, 28, 28], latent: 3, encoder: "dense:8,relu" }), {
        seed: 1,
      });
      await page.setInputFiles("#model-input", {
        name: "3-d.safetensors",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(serializeModel(wide)),
      });
      await page.waitForSelector("#model-message[data-kind='error']");
      expect(await page.textContent("#model-message")).toMatch(/^3-d\.safetensors is an autoencoder .* 3-D codes/);
      expect(await page.textContent("#latent-model")).toMatch(/^tiny-ae\.safetensors/);

      await page.click("#model-reset");
      expect(await page.textContent("#latent-model")).toMatch(/^2-D VAE/);
      expect(await page.isEnabled("#latent-sample")).toBe(true);
      expect(problems).toEqual([]);
    });
  },
);
