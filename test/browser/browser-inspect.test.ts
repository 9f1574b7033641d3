// The demo's panels around the digit model (demo/panels.ts and the files it mounts), driven in
// Debian's Chromium through playwright-core, checked against the SDK and the CLI run in Node:
// the layers' maps follow the drawing, the in-page evaluation gives the CLI's confusion matrix,
// the CIFAR-10 photos get the CLI's predictions, model files load from a picker or a drop (and
// damaged ones say why), and the benchmark reports numbers and the wasm features. One browser,
// one page; without /usr/bin/chromium the tests are skipped locally and fail on CI.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemo } from "../../scripts/build-demo.mjs";
import {
  CIFAR10_CLASSES,
  DEFAULT_MODEL_PATH,
  deserializeModel,
  evaluate,
  fit,
  importOnnx,
  loadMnist,
  loadModelFile,
  mlpSpec,
  Model,
  Optimizer,
  quantizeModel,
  Runtime,
  serializeModel,
  takeFirst,
  type Dataset,
} from "../../sdk/node";
import { chromiumAvailable, openDemo, paintOnPad, type DemoPage } from "../support/browser";
import { run } from "../support/cli";

const SCREENSHOT = "/tmp/inspect.png";
const ROOT = new URL("../..", import.meta.url).pathname;
const CIFAR_SAMPLES = join(ROOT, "demo", "cifar10-samples.bin");
const CIFAR_MODEL = join(ROOT, "models", "cifar10-cnn.int8.safetensors");

/** Per activation canvas of the inspect panel: its size, the sum of its red channel and its lit pixels. */
type Snapshot = { layer: string; w: number; h: number; sum: number; lit: number }[];

describe.skipIf(!chromiumAvailable("test/browser/browser-inspect.test.ts", "demo panels in the browser"))(
  "demo panels in the browser",
  () => {
    let demo: DemoPage | undefined;
    let page: Page;
    let url: string;
    let outDir: string;
    let test: Dataset;
    let problems: string[] = [];

    beforeAll(async () => {
      test = loadMnist("test");
      // Its own build directory: browser.test.ts builds demo/dist/ and may run at the same time.
      outDir = mkdtempSync(join(tmpdir(), "mnist-wasm-demo-"));
      await buildDemo({ outDir, quiet: true });
      demo = await openDemo(outDir, { viewport: { width: 800, height: 900 } });
      ({ page, url, problems } = demo);
    }, 120_000);

    afterAll(async () => {
      await demo?.close();
      if (outDir) rmSync(outDir, { recursive: true, force: true });
    });

    const snapshot = (): Promise<Snapshot> =>
      page.$$eval("#inspect-layers figure.activation canvas", (canvases) =>
        canvases.map((c) => {
          const canvas = c as HTMLCanvasElement;
          const d = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
          let sum = 0;
          let lit = 0;
          for (let i = 0; i < d.length; i += 4) {
            sum += d[i];
            if (d[i] > 40) lit++;
          }
          return { layer: canvas.parentElement!.dataset.layer!, w: canvas.width, h: canvas.height, sum, lit };
        }),
      );

    const stroke = async (from: [number, number], to: [number, number]): Promise<void> => {
      const box = (await page.locator("#pad").boundingBox())!;
      await page.mouse.move(box.x + from[0], box.y + from[1]);
      await page.mouse.down();
      await page.mouse.move(box.x + to[0], box.y + to[1], { steps: 10 });
      await page.mouse.up();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    };

    it("shows every layer's maps, following the drawing, and the first conv layer's filters", async () => {
      // Before anything is drawn: MNIST test image 0, so the panel is never empty.
      await page.waitForSelector("#inspect-layers[data-source='test']");
      const names = await page.locator("#inspect-layers figure.activation .layer-name").allTextContents();
      expect(names).toEqual([
        "conv 3×3 → batch norm → relu",
        "max pool 2×2",
        "conv 3×3 → batch norm → relu",
        "conv 3×3 → batch norm → relu",
        "max pool 2×2",
        "dense → relu",
        "dense",
      ]);
      const shapes = await page.locator("#inspect-layers figure.activation .layer-shape").allTextContents();
      expect(shapes).toEqual([
        "32 maps of 26×26",
        "32 maps of 13×13",
        "64 maps of 11×11",
        "64 maps of 9×9",
        "64 maps of 4×4",
        "128 units",
        "10 scores, one per class",
      ]);
      const before = await snapshot();
      expect(before.map((s) => s.layer)).toEqual(["2", "3", "6", "9", "10", "12", "13"]);
      for (const s of before) {
        expect(s.w * s.h, `layer ${s.layer}`).toBeGreaterThan(0);
        expect(s.lit, `layer ${s.layer} shows something`).toBeGreaterThan(0);
      }

      // The filters: 32 tiles of 3x3 weights, many grey levels (white +, black -, grey 0).
      expect(await page.textContent("#inspect-layers figure.weights .layer-shape")).toMatch(/^32 × 3×3/);
      const levels = await page.$eval("#inspect-layers figure.weights canvas", (c) => {
        const canvas = c as HTMLCanvasElement;
        const d = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        const seen = new Set<number>();
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) seen.add(d[i]);
        return seen.size;
      });
      expect(levels).toBeGreaterThan(50);

      // A stroke: every layer's maps change, and again with a second stroke.
      await page.click("#clear");
      await stroke([140, 50], [146, 230]);
      await page.waitForSelector("#inspect-layers[data-source='drawing']");
      expect(await page.textContent("#inspect-source")).toMatch(/your drawing/);
      const one = await snapshot();
      await stroke([80, 60], [200, 60]);
      const two = await snapshot();
      for (let i = 0; i < before.length; i++) {
        expect(one[i].sum, `layer ${one[i].layer}: test image -> stroke`).not.toBe(before[i].sum);
        expect(two[i].sum, `layer ${two[i].layer}: one stroke -> two`).not.toBe(one[i].sum);
      }
      // The output row's brightest tile is the class the bars show.
      const brightest = await page.$eval("#inspect-layers figure.activation[data-layer='13'] canvas", (c) => {
        const canvas = c as HTMLCanvasElement;
        const ctx = canvas.getContext("2d")!;
        // Ten tiles, 2 CSS pixels apart (demo/inspect.ts lays vectors out so).
        const css = parseFloat(canvas.style.width);
        const dpr = canvas.width / css;
        const tile = (css - 9 * 2) / 10;
        const values = Array.from(
          { length: 10 },
          (_, k) =>
            ctx.getImageData(Math.floor((k * (tile + 2) + tile / 2) * dpr), Math.floor(canvas.height / 2), 1, 1)
              .data[0],
        );
        return values.indexOf(Math.max(...values));
      });
      expect(String(brightest)).toBe(await page.textContent("#predicted"));

      // Clearing goes back to the test image.
      await page.click("#clear");
      await page.waitForSelector("#inspect-layers[data-source='test']");
      expect((await snapshot()).map((s) => s.sum)).toEqual(before.map((s) => s.sum));
      expect(problems).toEqual([]);
    });

    it("loads models from a picked or dropped file, and says what is wrong with a bad one", async () => {
      // A small MLP trained here: a different digit model from the shipped CNN.
      const rt = await Runtime.create();
      const mlp = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [16], classes: 10 }), { seed: 3 });
      await fit(mlp, takeFirst(test, 2000), {
        epochs: 1,
        batchSize: 100,
        optimizer: new Optimizer(rt, { name: "sgd", lr: 1 }),
        seed: 3,
      });
      const mlpBytes = Buffer.from(serializeModel(mlp, { testAccuracy: "0.5" }));
      const probs42 = mlp.predict(test.images.subarray(42 * 784, 43 * 784));

      await page.setInputFiles("#model-input", {
        name: "tiny-mlp.safetensors",
        mimeType: "application/octet-stream",
        buffer: mlpBytes,
      });
      await page.waitForSelector("#model-message[data-kind='ok']");
      expect(await page.textContent("#model-message")).toMatch(/^Loaded tiny-mlp\.safetensors \(12,730 parameters\)/);
      expect(await page.textContent("#status")).toBe(
        "tiny-mlp.safetensors · 12,730 parameters · 50.00% on MNIST's test set",
      );
      // The panels follow: the browser's answer is the MLP's, the inspect panel shows its layers.
      const shown = await page.evaluate(() => window.mnistDemo.showTest(42));
      const best = Array.from(probs42).indexOf(Math.max(...probs42));
      expect(shown.predicted).toBe(best);
      expect(shown.probability).toBeCloseTo(probs42[best], 4);
      expect(await page.locator("#inspect-layers figure.activation .layer-name").allTextContents()).toEqual([
        "dense → sigmoid",
        "dense",
      ]);
      expect(await page.textContent("#inspect-layers figure.weights .layer-name")).toBe(
        "input weights of the first dense layer",
      );
      expect(await page.isHidden("#eval-results")).toBe(true); // the shipped model's results are gone

      // A damaged file: a message in the page, the model in use unchanged, nothing in the console.
      const truncated = mlpBytes.subarray(0, mlpBytes.length - 100);
      await page.setInputFiles("#model-input", {
        name: "broken.safetensors",
        mimeType: "application/octet-stream",
        buffer: truncated,
      });
      await page.waitForSelector("#model-message[data-kind='error']");
      expect(await page.textContent("#model-message")).toMatch(/^broken\.safetensors: .*data/);
      expect(await page.textContent("#status")).toMatch(/^tiny-mlp\.safetensors/);
      await page.setInputFiles("#model-input", {
        name: "notes.txt",
        mimeType: "text/plain",
        buffer: Buffer.from("not a model at all"),
      });
      await page.waitForFunction(() => document.getElementById("model-message")!.textContent!.startsWith("notes.txt"));
      expect(await page.getAttribute("#model-message", "data-kind")).toBe("error");
      // A valid model of another input size is refused with both shapes named.
      const small = new Model(rt, mlpSpec({ input: [1, 8, 8], hidden: [4], classes: 10 }), { seed: 1 });
      await page.setInputFiles("#model-input", {
        name: "8x8.safetensors",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(serializeModel(small)),
      });
      await page.waitForFunction(() =>
        document.getElementById("model-message")!.textContent!.startsWith("8x8.safetensors"),
      );
      expect(await page.textContent("#model-message")).toMatch(/takes input \[1,8,8\].*\[1,28,28\]/);

      // An ONNX model made by PyTorch: the page reads it as Node does, and answers as it does.
      const lenet = readFileSync(join(ROOT, "test/fixtures/onnx/lenet-pytorch.onnx"));
      const fromNode = importOnnx(rt, lenet, "lenet").model;
      const lenet42 = fromNode.predict(test.images.subarray(42 * 784, 43 * 784));
      await page.setInputFiles("#model-input", {
        name: "lenet-pytorch.onnx",
        mimeType: "application/octet-stream",
        buffer: lenet,
      });
      await page.waitForFunction(() =>
        document.getElementById("model-message")!.textContent!.startsWith("Loaded lenet-pytorch.onnx"),
      );
      expect(await page.textContent("#model-message")).toMatch(/^Loaded lenet-pytorch\.onnx \(28,886 parameters\)/);
      const shownOnnx = await page.evaluate(() => window.mnistDemo.showTest(42));
      const bestOnnx = Array.from(lenet42).indexOf(Math.max(...lenet42));
      expect(shownOnnx.predicted).toBe(bestOnnx);
      expect(shownOnnx.probability).toBeCloseTo(lenet42[bestOnnx], 4);
      fromNode.dispose();
      // A damaged one: the reader's message, naming the file.
      await page.setInputFiles("#model-input", {
        name: "broken.onnx",
        mimeType: "application/octet-stream",
        buffer: lenet.subarray(0, 4000),
      });
      await page.waitForFunction(() =>
        document.getElementById("model-message")!.textContent!.startsWith("broken.onnx"),
      );
      expect(await page.textContent("#model-message")).toMatch(/^broken\.onnx: not an ONNX model/);
      // Its int8 model (mnist-wasm quantize's file) runs in the page: its answer is the int8 model's in Node.
      const int8Bytes = Buffer.from(quantizeModel(mlp, test.images.subarray(0, 500 * 784), 500));
      const int8Probs = deserializeModel(rt, int8Bytes).model.predict(test.images.subarray(42 * 784, 43 * 784));
      await page.setInputFiles("#model-input", {
        name: "tiny-mlp.int8.safetensors",
        mimeType: "application/octet-stream",
        buffer: int8Bytes,
      });
      await page.waitForFunction(() =>
        document.getElementById("model-message")!.textContent!.startsWith("Loaded tiny-mlp.int8.safetensors"),
      );
      const shownInt8 = await page.evaluate(() => window.mnistDemo.showTest(42));
      const bestInt8 = Array.from(int8Probs).indexOf(Math.max(...int8Probs));
      expect(shownInt8.predicted).toBe(bestInt8);
      expect(shownInt8.probability).toBeCloseTo(int8Probs[bestInt8], 4);

      // Dropped on the page: the CIFAR-10 model file goes to the photos panel.
      await page.evaluate((base64) => {
        const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped-cifar.safetensors"));
        document.body.dispatchEvent(new DragEvent("dragenter", { dataTransfer: dt, bubbles: true }));
        document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, readFileSync(CIFAR_MODEL).toString("base64"));
      await page.waitForFunction(() =>
        document.getElementById("model-message")!.textContent!.startsWith("Loaded dropped-cifar.safetensors"),
      );
      expect(await page.textContent("#cifar-model")).toMatch(/^dropped-cifar\.safetensors · /);
      expect(await page.isHidden(".drop-overlay")).toBe(true);

      // Back to the shipped models.
      await page.click("#model-reset");
      expect(await page.textContent("#status")).toMatch(/CNN .*% on MNIST's test set/);
      expect(await page.textContent("#cifar-model")).toMatch(/^int8 CNN · /);
      expect(await page.locator("#inspect-layers figure.activation").count()).toBe(7);
      expect((await page.evaluate(() => window.mnistDemo.showTest(42))).predicted).toBe(4);
      expect(problems).toEqual([]);
    });

    it("classifies the CIFAR-10 photos with the CIFAR-10 model as `mnist-wasm classify` does", async () => {
      await page.waitForSelector("section.cifar[data-ready='true']");
      const thumbs = await page.$$eval("#cifar-thumbs .thumb", (items) =>
        items.map((el) => ({
          label: Number((el as HTMLElement).dataset.label),
          predicted: Number((el as HTMLElement).dataset.predicted),
        })),
      );
      expect(thumbs).toHaveLength(100);
      const samples = readFileSync(CIFAR_SAMPLES);
      thumbs.forEach((t, i) => expect(t.label).toBe(samples[i * 3073]));
      const out = join(outDir, "cifar-predictions.txt");
      const r = run(["classify", "--input", CIFAR_SAMPLES, "--model", CIFAR_MODEL, "--out", out, "--no-progress"]);
      expect(r.code, r.stderr).toBe(0);
      const cli = readFileSync(out, "utf8").trim().split("\n").map(Number);
      expect(thumbs.map((t) => t.predicted)).toEqual(cli);
      const right = cli.filter((p, i) => p === thumbs[i].label).length;
      expect(await page.textContent("#cifar-status")).toMatch(new RegExp(`^${right} of these 100 right`));
      expect(await page.textContent("#cifar-model")).toMatch(/% on CIFAR-10's test set/);

      // One photo in detail: its true class, and the CLI's answer with class names.
      await page.click("#cifar-thumbs .thumb[data-index='3']");
      expect(await page.textContent("#cifar-index")).toBe("3");
      expect(await page.textContent("#cifar-label")).toBe(CIFAR10_CLASSES[thumbs[3].label]);
      expect(await page.textContent("#cifar-predicted")).toBe(CIFAR10_CLASSES[cli[3]]);
      expect(await page.getAttribute("#cifar-bars li.top", "data-class")).toBe(String(cli[3]));
      const shown = await page.$eval("#cifar-image", (c) => {
        const d = (c as HTMLCanvasElement).getContext("2d")!.getImageData(0, 0, 32, 32).data;
        return [d[0], d[1], d[2], d[4 * 1023], d[4 * 1023 + 1], d[4 * 1023 + 2]];
      });
      const record = samples.subarray(3 * 3073 + 1, 4 * 3073);
      expect(shown).toEqual([record[0], record[1024], record[2048], record[1023], record[2047], record[3071]]);
      expect(problems).toEqual([]);
    });

    it("evaluates the 10,000 test images in slices, with the CLI's accuracy (99.62%) and confusion matrix", async () => {
      // The page keeps painting frames while it evaluates.
      await page.evaluate(() => {
        const w = window as unknown as { frames: number };
        w.frames = 0;
        const tick = (): void => {
          w.frames++;
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      });
      await page.click("#eval-run");
      await page.waitForSelector("#eval-progress:not([hidden])");
      await page.waitForSelector("#eval-results:not([hidden])", { timeout: 60_000 });
      const frames = await page.evaluate(() => (window as unknown as { frames: number }).frames);
      expect(frames).toBeGreaterThan(5);

      expect(await page.textContent("#eval-accuracy")).toBe("99.62%");
      const correct = Number(await page.getAttribute("#eval-accuracy", "data-correct"));
      expect(correct).toBe(9962);
      const cells = await page.$$eval("#eval-matrix td", (tds) =>
        tds.map((td) => ({
          label: Number((td as HTMLElement).dataset.label),
          predicted: Number((td as HTMLElement).dataset.predicted),
          count: Number((td as HTMLElement).dataset.count),
        })),
      );
      expect(cells).toHaveLength(100);
      expect(cells.filter((c) => c.label === c.predicted).reduce((n, c) => n + c.count, 0)).toBe(correct);
      expect(cells.reduce((n, c) => n + c.count, 0)).toBe(10_000);
      // The SDK's evaluate (what `mnist-wasm eval` prints) on the same model and images, in Node.
      const rt = await Runtime.create();
      const { model } = await loadModelFile(rt, DEFAULT_MODEL_PATH);
      const reference = evaluate(model, test);
      expect(reference.accuracy).toBeCloseTo(0.9962, 6);
      for (const c of cells)
        expect(c.count, `confusion[${c.label}][${c.predicted}]`).toBe(reference.confusion[c.label][c.predicted]);

      // Every mistake is in the grid, each with its true label and the prediction.
      const mistakes = await page.$$eval("#eval-mistakes .mistake", (items) =>
        items.map((el) => ({
          index: Number((el as HTMLElement).dataset.index),
          label: Number((el as HTMLElement).dataset.label),
          predicted: Number((el as HTMLElement).dataset.predicted),
          caption: el.textContent,
        })),
      );
      expect(mistakes).toHaveLength(10_000 - correct);
      for (const m of mistakes) {
        expect(m.label).toBe(test.labels[m.index]);
        expect(m.predicted).toBe(reference.predictions[m.index]);
        expect(m.caption).toBe(`${m.label} → ${m.predicted}`);
      }

      // A cell filters the grid to its mistakes; "show all" brings them back.
      const worst = cells.filter((c) => c.label !== c.predicted).sort((a, b) => b.count - a.count)[0];
      await page.click(`#eval-matrix td[data-label="${worst.label}"][data-predicted="${worst.predicted}"]`);
      const filtered = await page.$$eval("#eval-mistakes .mistake", (items) =>
        items.map((el) => [(el as HTMLElement).dataset.label, (el as HTMLElement).dataset.predicted]),
      );
      expect(filtered).toHaveLength(worst.count);
      for (const [l, p] of filtered) expect([Number(l), Number(p)]).toEqual([worst.label, worst.predicted]);
      expect(await page.textContent("#eval-mistakes-title")).toContain(`${worst.label} read as ${worst.predicted}`);
      await page.click("#eval-mistakes-title button.link");
      expect(await page.locator("#eval-mistakes .mistake").count()).toBe(10_000 - correct);

      // A mistake opens in the test set browser.
      const first = mistakes[0];
      await page.click(`#eval-mistakes .mistake[data-index="${first.index}"]`);
      await page.waitForFunction(
        (i) => (document.getElementById("test-index") as HTMLInputElement).value === String(i),
        first.index,
      );
      expect(await page.textContent("#test-label")).toBe(String(first.label));
      expect(await page.textContent("#test-predicted")).toBe(String(first.predicted));
      expect(problems).toEqual([]);
    });

    it("benchmarks inference and training and lists the wasm features", async () => {
      await page.click("#bench-run");
      await page.waitForSelector("#bench-results dd[data-metric='training'][data-value]", { timeout: 60_000 });
      for (const metric of ["inference", "training"]) {
        const value = Number(await page.getAttribute(`#bench-results dd[data-metric='${metric}']`, "data-value"));
        expect(value, metric).toBeGreaterThan(10);
        expect(await page.textContent(`#bench-results dd[data-metric='${metric}']`)).toMatch(/^[\d,]+ images\/s$/);
      }
      expect(Number(await page.getAttribute("#bench-results dd[data-metric='latency']", "data-value"))).toBeGreaterThan(
        0,
      );
      const features = await page.$$eval("#bench-features li", (lis) =>
        lis.map((li) => [(li as HTMLElement).dataset.feature, (li as HTMLElement).dataset.on]),
      );
      const { relaxedSimd, threads } = await page.evaluate(() => window.mnistDemo.features());
      expect(features).toEqual([
        ["WebAssembly SIMD", "true"],
        ["relaxed SIMD", String(relaxedSimd)],
        ["threads", "true"],
      ]);
      // The subtitle says what ran: the kernels and the threads of the model's runtime, as the threads row does.
      expect(threads).toBeGreaterThan(1);
      expect(await page.textContent("#bench-status")).toBe(
        `${relaxedSimd ? "relaxed SIMD" : "SIMD"} kernels, ${threads} threads`,
      );
      expect(await page.textContent("#bench-features li[data-feature='threads'] .detail")).toMatch(
        new RegExp(`^${threads} threads: `),
      );
      // The model on the page is untouched by the training steps: its answer is the shipped model's in Node.
      const shipped = (await loadModelFile(await Runtime.create({ threads: 1 }), DEFAULT_MODEL_PATH)).model;
      const want = shipped.predict(test.images.subarray(42 * 784, 43 * 784))[4];
      expect((await page.evaluate(() => window.mnistDemo.showTest(42))).probability).toBeCloseTo(want, 5);

      // The whole page for a look, with a digit on the pad (test image 61, painted as if drawn).
      await paintOnPad(page, test.images.subarray(61 * 784, 62 * 784));
      expect(await page.textContent("#predicted")).toBe(String(test.labels[61]));
      await page.waitForTimeout(300); // the bars' transition
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(problems).toEqual([]);
    });

    it("says threads need COOP/COEP headers when the page is not cross-origin isolated", async () => {
      const plain = await demo!.browser.newPage();
      try {
        // The same files without the isolation headers.
        await plain.route("**/*", async (route) => {
          const response = await route.fetch();
          const headers = { ...response.headers() };
          delete headers["cross-origin-opener-policy"];
          delete headers["cross-origin-embedder-policy"];
          await route.fulfill({ response, headers });
        });
        await plain.goto(url);
        await plain.evaluate(() => window.mnistDemo.ready);
        expect(await plain.evaluate(() => crossOriginIsolated)).toBe(false);
        expect(await plain.getAttribute("#bench-features li[data-feature='threads']", "data-on")).toBe("false");
        expect(await plain.textContent("#bench-features li[data-feature='threads'] .detail")).toMatch(
          /need COOP\/COEP headers/,
        );
        // Its benchmark ran on one thread, and says so.
        await plain.click("#bench-run");
        await plain.waitForSelector("#bench-results dd[data-metric='training'][data-value]", { timeout: 60_000 });
        const { relaxedSimd, threads } = await plain.evaluate(() => window.mnistDemo.features());
        expect(threads).toBe(1);
        expect(await plain.textContent("#bench-status")).toBe(
          `${relaxedSimd ? "relaxed SIMD" : "SIMD"} kernels, one thread`,
        );
      } finally {
        await plain.unrouteAll({ behavior: "ignoreErrors" }); // the photos may still be on their way
        await plain.close();
      }
    });
  },
);
