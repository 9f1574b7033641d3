// The demo's "Train in your browser" panel, driven in Debian's Chromium (/usr/bin/chromium) by
// playwright-core: training in a Web Worker (the SDK's ModelWorker), live progress, Stop, and a
// downloaded model file that the CLI reads. The demo is built into a temporary folder, so other
// runs serving demo/dist are not disturbed. Never downloads a browser. Without Chromium the tests
// are skipped, except on CI where that fails.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemo } from "../../scripts/build-demo.mjs";
import { decodeSafetensors } from "../../sdk/io/safetensors";
import { loadMnist } from "../../sdk/node";
import { chromiumAvailable, openDemo, paintOnPad, type DemoPage } from "../support/browser";
import { accentPixelsOf, canvasPixels, classPixels } from "../support/screenshot";
import { run } from "../support/cli";

const SCREENSHOT = "/tmp/train.png";

/** The CLI's "reconstruction: 181.23 nats an image" line of `eval`, as a number. */
function cliReconstruction(stdout: string): number {
  const m = /reconstruction:\s+([\d.]+) nats an image/.exec(stdout);
  if (!m) throw new Error(`no reconstruction line in:\n${stdout}`);
  return Number(m[1]);
}

/** The CLI's "accuracy: 97.12% (9712/10000)" line, as numbers. */
function cliAccuracy(stdout: string): { correct: number; count: number } {
  const m = /accuracy:\s+[\d.]+% \((\d+)\/(\d+)\)/.exec(stdout);
  if (!m) throw new Error(`no accuracy line in:\n${stdout}`);
  return { correct: Number(m[1]), count: Number(m[2]) };
}

describe.skipIf(!chromiumAvailable("test/browser/browser-train.test.ts", "browser training"))(
  "browser training",
  () => {
    let demo: DemoPage | undefined;
    let page: Page;
    let dir: string;
    let problems: string[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "mnist-wasm-train-test-"));
      const outDir = await buildDemo({ outDir: join(dir, "site"), quiet: true });
      demo = await openDemo(outDir, { viewport: { width: 800, height: 1000 }, acceptDownloads: true });
      ({ page, problems } = demo);
    }, 120_000);

    afterAll(async () => {
      await demo?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Sets the panel's form. */
    async function choose(o: {
      network: string;
      optimizer: string;
      epochs: number;
      images: number;
      lr?: string;
    }): Promise<void> {
      await page.selectOption("#train-network", o.network);
      await page.selectOption("#train-optimizer", o.optimizer);
      await page.fill("#train-epochs", String(o.epochs));
      await page.selectOption("#train-images", String(o.images));
      if (o.lr !== undefined) await page.fill("#train-lr", o.lr);
    }

    const finished = (): Promise<unknown> =>
      page.waitForFunction(() => ["done", "stopped", "error"].includes(window.mnistTrain.state()), null, {
        timeout: 110_000,
      });

    /** The labels each chart drew on its epoch axis. */
    const epochTicks = (): Promise<(string | undefined)[]> =>
      page.$$eval("#train-loss-chart, #train-acc-chart", (canvases) =>
        canvases.map((c) => (c as HTMLCanvasElement).dataset.xTicks),
      );

    it("before any run: the figures show muted dashes, none in the accent colours, and the charts whole epochs", async () => {
      const stats = await page.$$eval(".train-stats dd", (dds) =>
        dds.map((dd) => [dd.textContent, getComputedStyle(dd, "::before").content]),
      );
      expect(stats).toEqual(Array(4).fill(["", '"–"']));
      expect(await accentPixelsOf(page.locator(".train-stats"))).toBe(0);
      expect(await page.inputValue("#train-epochs")).toBe("3");
      expect(await epochTicks()).toEqual(["0 1 2 3", "0 1 2 3"]);
    });

    it("refuses a learning rate that is not a positive number, in the page", async () => {
      await choose({ network: "mlp", optimizer: "sgd", epochs: 1, images: 1000, lr: "-1" });
      await page.click("#train-start");
      expect(await page.textContent("#train-status")).toBe("The learning rate must be a positive number, e.g. 0.1.");
      expect(await page.getAttribute("#train-status", "class")).toContain("error");
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("idle");
      // Choosing the optimiser again restores its rate; AdaDelta has none.
      await page.selectOption("#train-optimizer", "adadelta");
      expect(await page.isDisabled("#train-lr")).toBe(true);
      await page.selectOption("#train-optimizer", "sgd");
      expect(await page.inputValue("#train-lr")).toBe("1");
    });

    it("stops a run asked to stop while the worker and the training set load, before it trains", async () => {
      await choose({ network: "mlp", optimizer: "sgd", epochs: 1, images: 1000 });
      await page.click("#train-start");
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("loading"); // fetching 9.8 MB
      await page.click("#train-stop");
      await page.waitForFunction(() => window.mnistTrain.state() === "idle", null, { timeout: 60_000 });
      expect(await page.textContent("#train-status")).toBe("Stopped before training began.");
      expect(await page.evaluate(() => window.mnistTrain.reports())).toEqual([]);
      expect(await page.isDisabled("#train-download")).toBe(true);
    });

    it("trains the MLP in a Web Worker: the loss falls, the test accuracy is far above chance, the curves are drawn", async () => {
      await choose({ network: "mlp", optimizer: "sgd", epochs: 1, images: 30000 });
      expect(await page.textContent("#train-command")).toBe(
        "npx mnist-wasm train --arch mlp --optimizer sgd --lr 1 --epochs 1 --limit 30000",
      );
      await page.click("#train-start");
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("done");
      const reports = await page.evaluate(() => window.mnistTrain.reports());
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      expect(reports.length).toBeGreaterThan(3);
      // The first report is the first batch alone: about ln 10 before any update.
      expect(reports[0]).toMatchObject({ epoch: 1, batch: 1, batches: 300, images: 100 });
      expect(reports[0].loss).toBeGreaterThan(2);
      const mean = (rs: typeof reports): number => rs.reduce((a, r) => a + r.loss, 0) / rs.length;
      expect(mean(reports.slice(-3))).toBeLessThan(mean(reports.slice(0, 3)) / 2);
      expect(reports[reports.length - 1]).toMatchObject({ batch: 300, fraction: 1, images: 30000 });
      expect(outcome).toMatchObject({ stopped: false, epochs: 1, images: 30000, testCount: 10000 });
      expect(outcome.testAccuracy).toBeGreaterThan(0.85);
      expect(await page.textContent("#train-test")).toBe(`${(outcome.testAccuracy! * 100).toFixed(2)}%`);
      expect(
        await accentPixelsOf(page.locator("#train-test")),
        "the test accuracy, in the accent colours",
      ).toBeGreaterThan(20);
      expect(await epochTicks()).toEqual(["0 1", "0 1"]);
      expect(await page.textContent("#train-status")).toMatch(
        /^Done: 30,000 images in \d+ s, \d+\.\d\d% on the test set \([\d,]+ of 10,000\)\.$/,
      );
      expect(await page.getAttribute("#train-meter", "aria-valuenow")).toBe("100");
      // Both charts hold curves: pixels of the loss colour and of the test accuracy's dots.
      const inked = await page.evaluate(() =>
        ["train-loss-chart", "train-acc-chart"].map((id) => {
          const c = document.getElementById(id) as HTMLCanvasElement;
          const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
          let blue = 0;
          let green = 0;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 200 && d[i + 2] > 200 && d[i] < 140) blue++; // #6ea8ff
            if (d[i + 3] > 200 && d[i + 1] > 180 && d[i] < 120 && d[i + 2] < 170) green++; // #57d48a
          }
          return { blue, green };
        }),
      );
      expect(inked[0].blue).toBeGreaterThan(100);
      expect(inked[1].green).toBeGreaterThan(20);
      expect(await page.isEnabled("#train-download")).toBe(true);
      expect(await page.textContent("#train-start")).toBe("Train again");
      await page.locator("#train").screenshot({ path: SCREENSHOT });
      expect(problems).toEqual([]);
    });

    it("downloads a model file that `mnist-wasm eval` reads, with the page's test accuracy", async () => {
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#train-download")]);
      expect(download.suggestedFilename()).toBe("mnist-mlp.safetensors");
      const file = join(dir, "from-the-page.safetensors");
      await download.saveAs(file);
      const { metadata, tensors } = decodeSafetensors(new Uint8Array(readFileSync(file)), file);
      expect(metadata).toMatchObject({
        format: "mnist-wasm/1",
        dataset: "mnist",
        epochs: "1",
        testAccuracy: outcome.testAccuracy!.toFixed(4),
      });
      expect(metadata.trainedWith).toBe(
        "mnist-wasm demo, in a browser tab (the same run as: mnist-wasm train --arch mlp --optimizer sgd --lr 1 --epochs 1 --limit 30000)",
      );
      expect(JSON.parse(metadata.optimizer)).toMatchObject({ name: "sgd", lr: 1, steps: 300 });
      expect([...tensors.keys()].sort()).toEqual(["0.bias", "0.weight", "2.bias", "2.weight"]);

      const r = run(["eval", "--model", file]);
      expect(r.code, r.stderr).toBe(0);
      const cli = cliAccuracy(r.stdout);
      expect(cli.count).toBe(10000);
      // The same weights on the same images; the page's and Node's kernels may round the last
      // bits differently (fused multiply-add or not), which can flip a borderline image or two.
      expect(Math.abs(cli.correct - outcome.testCorrect!)).toBeLessThanOrEqual(3);
    });

    it("shows the command line of the same run: the CLI running it makes the same weights", async () => {
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      const shown = (await page.textContent("#train-command"))!;
      const args = shown.replace(/^npx mnist-wasm /, "").split(" ");
      const out = join(dir, "from-the-cli.safetensors");
      const trained = run([...args, "--out", out, "--no-progress"]);
      expect(trained.code, trained.stderr).toBe(0);
      const cli = cliAccuracy(run(["eval", "--model", out]).stdout);
      expect(Math.abs(cli.correct - outcome.testCorrect!)).toBeLessThanOrEqual(3);
      // Same spec, seed, data order and kernels: bit for bit, where both engines use the same
      // kernel build (the relaxed one rounds multiply-adds once; Node's CLI turns it on).
      if ((await page.evaluate(() => window.mnistDemo.features())).relaxedSimd) {
        const fromPage = decodeSafetensors(
          new Uint8Array(readFileSync(join(dir, "from-the-page.safetensors"))),
          "page",
        ).tensors;
        const fromCli = decodeSafetensors(new Uint8Array(readFileSync(out)), "cli").tensors;
        for (const name of ["0.weight", "0.bias", "2.weight", "2.bias"])
          expect(fromPage.get(name)!.data, name).toEqual(fromCli.get(name)!.data);
      }
    });

    it("keeps the page responsive while a CNN trains; Stop ends the run and the model stays usable", async () => {
      await choose({ network: "cnn", optimizer: "adam", epochs: 1, images: 60000 });
      await page.click("#train-start");
      await page.waitForFunction(
        () => {
          const r = window.mnistTrain.reports();
          return r.length > 0 && r[r.length - 1].images >= 1000;
        },
        null,
        { timeout: 60_000 },
      );
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("training");
      expect(await page.isEnabled("#train-stop")).toBe(true);
      expect(await page.isDisabled("#train-network")).toBe(true);

      // One second of the page's life while the worker trains: frames keep coming, timers keep
      // firing, a click in the browse panel is handled (the shipped CNN runs on this thread),
      // and training goes on meanwhile.
      const before = await page.evaluate(() => window.mnistTrain.reports().at(-1)!.images);
      const indexBefore = Number(await page.inputValue("#test-index"));
      const life = await page.evaluate(async () => {
        let frames = 0;
        let timers = 0;
        let worstFrameGap = 0;
        let last = performance.now();
        const started = last;
        const timer = setInterval(() => timers++, 20);
        await new Promise<void>((resolve) => {
          const tick = (t: number): void => {
            frames++;
            worstFrameGap = Math.max(worstFrameGap, t - last);
            last = t;
            if (t - started < 1000) requestAnimationFrame(tick);
            else resolve();
          };
          requestAnimationFrame(tick);
          document.getElementById("test-next")!.click();
        });
        clearInterval(timer);
        return { frames, timers, worstFrameGap };
      });
      expect(life.frames).toBeGreaterThan(20);
      expect(life.timers).toBeGreaterThan(20);
      expect(life.worstFrameGap).toBeLessThan(250);
      expect(await page.inputValue("#test-index")).toBe(String(indexBefore + 1));
      const after = await page.evaluate(() => window.mnistTrain.reports().at(-1)!.images);
      expect(after).toBeGreaterThan(before);

      const stopClicked = Date.now();
      await page.click("#train-stop");
      await page.waitForFunction(() => !["training", "stopping"].includes(window.mnistTrain.state()), null, {
        timeout: 10_000,
      });
      const stopSeconds = (Date.now() - stopClicked) / 1000;
      expect(stopSeconds).toBeLessThan(5); // a batch or two of the CNN, then the worker answers
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("stopped");
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      expect(outcome.stopped).toBe(true);
      expect(outcome.epochs).toBe(0);
      expect(outcome.images).toBeGreaterThan(after - 1);
      expect(outcome.images).toBeLessThan(60000);
      expect(outcome.testAccuracy).toBeGreaterThan(0.6); // measured after the stop, on all 10,000 test images
      expect(await page.textContent("#train-status")).toMatch(
        /^Stopped: [\d,]+ images in \d+ s, \d+\.\d\d% on the test set/,
      );

      // The stopped model takes over the drawing pad, and gives it back.
      const shippedStatus = await page.textContent("#status");
      await page.check("#train-use");
      expect(await page.textContent("#status")).toMatch(
        /^your model, trained in this tab · LeNet-like CNN · \d+\.\d\d% on MNIST's test set$/,
      );
      const test = loadMnist("test");
      let right = 0;
      for (let i = 0; i < 10; i++) {
        const probs = await paintOnPad(page, test.images.subarray(i * 784, (i + 1) * 784));
        expect(probs).not.toBeNull();
        expect(probs!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        if (probs!.indexOf(Math.max(...probs!)) === test.labels[i]) right++;
      }
      expect(right).toBeGreaterThanOrEqual(6);
      await page.uncheck("#train-use");
      expect(await page.textContent("#status")).toBe(shippedStatus);
      expect(problems).toEqual([]);
    });

    it("trains the 2-D autoencoder for a short epoch: reconstruction loss instead of accuracy, the codes redrawn, the CLI's same run", async () => {
      await page.selectOption("#train-network", "autoencoder");
      // An autoencoder's own optimiser and rate, and figures labelled for it.
      expect(await page.inputValue("#train-optimizer")).toBe("adam");
      expect(await page.inputValue("#train-lr")).toBe("0.001");
      expect(await page.textContent("#train-acc-label")).toBe("reconstruction");
      expect(await page.textContent("#train-test-label")).toBe("test reconstruction");
      expect(await page.textContent("#train-acc-caption")).toBe("Reconstruction loss, nats an image");
      expect(await page.isVisible("#train-latent")).toBe(true);
      await page.fill("#train-epochs", "1");
      await page.selectOption("#train-images", "1000");
      expect(await page.textContent("#train-command")).toBe(
        "npx mnist-wasm train --task autoencoder --latent 2 --optimizer adam --lr 0.001 --epochs 1 --limit 1000",
      );
      expect(await page.getAttribute("#train-latent-chart", "data-points")).toBe("0");
      const empty = await canvasPixels(page, "train-latent-chart");
      expect(classPixels(empty.data)).toEqual(Array(10).fill(0));

      await page.click("#train-start");
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("done");
      const reports = await page.evaluate(() => window.mnistTrain.reports());
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      for (const r of reports) expect(r).not.toHaveProperty("accuracy");
      // Binary cross-entropy summed over 784 pixels: about 545 nats for the untrained network.
      expect(reports[0].loss).toBeGreaterThan(400);
      expect(outcome).toMatchObject({ task: "autoencoder", stopped: false, epochs: 1, images: 1000, testCount: 10000 });
      expect(outcome.test!.reconstruction).toBeLessThan(reports[0].loss);
      expect(outcome.test!.kl).toBe(0);
      expect(await page.textContent("#train-test")).toBe(outcome.test!.reconstruction.toFixed(1));
      expect(await page.textContent("#train-status")).toMatch(
        /^Done: 1,000 images in \d+ s, test reconstruction loss \d+\.\d nats an image\.$/,
      );
      // The epoch's codes of the first 1,000 test images, drawn by class where the plot was empty.
      expect(await page.getAttribute("#train-latent-chart", "data-points")).toBe("1000");
      expect(await page.textContent("#train-latent-caption")).toBe(
        "Codes of the first 1,000 test images, after epoch 1",
      );
      const drawn = classPixels((await canvasPixels(page, "train-latent-chart")).data);
      expect(drawn.filter((n) => n > 0).length).toBe(10);
      expect(drawn.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);

      // The downloaded file is an autoencoder the CLI evaluates to the page's test loss.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#train-download")]);
      expect(download.suggestedFilename()).toBe("mnist-autoencoder.safetensors");
      const file = join(dir, "autoencoder-from-the-page.safetensors");
      await download.saveAs(file);
      const evaluated = run(["eval", "--model", file]);
      expect(evaluated.code, evaluated.stderr).toBe(0);
      expect(cliReconstruction(evaluated.stdout)).toBeCloseTo(outcome.test!.reconstruction, 1);
      // The command shown makes the same weights (bit for bit where both use the relaxed kernels).
      const shown = (await page.textContent("#train-command"))!;
      const out = join(dir, "autoencoder-from-the-cli.safetensors");
      const trained = run([...shown.replace(/^npx mnist-wasm /, "").split(" "), "--out", out, "--no-progress"]);
      expect(trained.code, trained.stderr).toBe(0);
      expect(cliReconstruction(run(["eval", "--model", out]).stdout)).toBeCloseTo(outcome.test!.reconstruction, 1);
      if ((await page.evaluate(() => window.mnistDemo.features())).relaxedSimd) {
        const fromPage = decodeSafetensors(new Uint8Array(readFileSync(file)), "page").tensors;
        const fromCli = decodeSafetensors(new Uint8Array(readFileSync(out)), "cli").tensors;
        for (const [name, t] of fromCli) expect(fromPage.get(name)!.data, name).toEqual(t.data);
      }
      expect(problems).toEqual([]);
    });

    it("trains the 2-D VAE: its KL divergence and test ELBO, and the switch puts it into the latent-space panel", async () => {
      await page.selectOption("#train-network", "vae");
      expect(await page.textContent("#train-acc-label")).toBe("KL divergence");
      expect(await page.textContent("#train-test-label")).toBe("test ELBO");
      await page.fill("#train-epochs", "1");
      await page.selectOption("#train-images", "1000");
      await page.click("#train-start");
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("done");
      const outcome = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      const { test } = outcome;
      expect(outcome.task).toBe("vae");
      expect(test!.kl).toBeGreaterThan(0);
      expect(test!.elbo).toBeCloseTo(-(test!.reconstruction + test!.kl), 6);
      expect(await page.textContent("#train-test")).toBe(test!.elbo!.toFixed(1));
      expect(await page.textContent("#train-status")).toMatch(
        /^Done: 1,000 images in \d+ s, test ELBO -\d+\.\d nats an image \(reconstruction \d+\.\d, KL \d+\.\d\)\.$/,
      );
      expect(await page.getAttribute("#train-latent-chart", "data-points")).toBe("1000");

      const shipped = await page.textContent("#latent-model");
      const digitModel = await page.textContent("#status");
      await page.check("#train-use");
      expect(await page.textContent("#latent-model")).toMatch(/^your VAE, trained in this tab · test ELBO -/);
      expect(await page.textContent("#status")).toBe(digitModel); // the digit panels keep their model
      await page.uncheck("#train-use");
      expect(await page.textContent("#latent-model")).toBe(shipped);

      // Stopped inside an epoch: the test losses measured after the stop, the codes of the model as it ended.
      await page.selectOption("#train-images", "60000");
      await page.click("#train-start");
      await page.waitForFunction(
        () => {
          const r = window.mnistTrain.reports();
          return r.length > 0 && r[r.length - 1].images >= 3000;
        },
        null,
        { timeout: 60_000 },
      );
      await page.click("#train-stop");
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("stopped");
      const stopped = (await page.evaluate(() => window.mnistTrain.outcome()))!;
      expect(stopped).toMatchObject({ task: "vae", stopped: true, epochs: 0, testCount: 10000 });
      expect(stopped.test!.elbo).toBeLessThan(0);
      expect(await page.textContent("#train-status")).toMatch(/^Stopped: [\d,]+ images in \d+ s, test ELBO -\d+\.\d/);
      expect(await page.textContent("#train-latent-caption")).toBe(
        "Codes of the first 1,000 test images, when stopped",
      );
      expect(classPixels((await canvasPixels(page, "train-latent-chart")).data).filter((n) => n > 0).length).toBe(10);

      // Back to a classifier: its figures again, the codes' plot hidden.
      await page.selectOption("#train-network", "mlp");
      expect(await page.inputValue("#train-optimizer")).toBe("sgd");
      expect(await page.textContent("#train-acc-label")).toBe("train accuracy");
      expect(await page.isHidden("#train-latent")).toBe(true);
      expect(problems).toEqual([]);
    });

    it("labels the epoch axis of a 2-epoch run with whole epochs only: 0, 1, 2", async () => {
      await choose({ network: "mlp", optimizer: "sgd", epochs: 2, images: 1000 });
      await page.click("#train-start");
      await finished();
      expect(await page.evaluate(() => window.mnistTrain.state())).toBe("done");
      const reports = await page.evaluate(() => window.mnistTrain.reports());
      expect(new Set(reports.map((r) => r.epoch))).toEqual(new Set([1, 2]));
      expect(await epochTicks()).toEqual(["0 1 2", "0 1 2"]);
      expect(problems).toEqual([]);
    });
  },
);
