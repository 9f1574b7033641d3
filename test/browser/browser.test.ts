// The in-browser demo, driven in Debian's Chromium (/usr/bin/chromium) by playwright-core: built
// by scripts/build-demo.mjs, served in-process by scripts/serve-demo.mjs (COOP/COEP headers).
// Never downloads a browser. Without Chromium the tests are skipped, except on CI where that fails.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemo } from "../../scripts/build-demo.mjs";
import { loadMnist } from "../../sdk/node";
import { chromiumAvailable, openDemo, paintOnPad, type DemoPage } from "../support/browser";
import { accentPixelsOf } from "../support/screenshot";

const SCREENSHOT = "/tmp/demo.png";

describe.skipIf(!chromiumAvailable("test/browser/browser.test.ts", "browser demo"))("browser demo", () => {
  let demo: DemoPage | undefined;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    demo = await openDemo(await buildDemo({ quiet: true }), { viewport: { width: 800, height: 640 } });
    ({ page, problems } = demo);
  }, 120_000);

  afterAll(async () => {
    await demo?.close();
  });

  it("loads the model with no console or page errors, cross-origin isolated, and says which wasm features it uses", async () => {
    expect(await page.getAttribute("body", "data-ready")).toBe("true");
    expect(problems).toEqual([]);
    const features = await page.evaluate(() => window.mnistDemo.features());
    expect(features.crossOriginIsolated).toBe(true);
    const chips = await page.locator("#chips .chip").allTextContents();
    expect(chips).toContain("wasm SIMD");
    expect(chips).toContain(features.relaxedSimd ? "relaxed SIMD (FMA)" : "no relaxed SIMD");
    expect(chips).toContain("cross-origin isolated");
    // Cross-origin isolated: the kernels run on a pool (Chromium here sees the machine's cores).
    expect(features.threads).toBeGreaterThan(1);
    expect(chips).toContain(`${features.threads} threads`);
    expect(await page.textContent("#status")).toMatch(/CNN .*% on MNIST's test set/);
  });

  it("with nothing drawn shows no answer: no digit, no percentage, no bar lit, nothing in the accent colours", async () => {
    const result = page.locator(".result");
    const expectNoAnswer = async (when: string): Promise<void> => {
      expect(await page.textContent("#predicted"), when).toBe("");
      expect((await page.textContent("#confidence"))!.trim(), when).toBe("");
      expect(await page.locator("#bars li.top").count(), when).toBe(0);
      const widths = await page.locator("#bars .fill").evaluateAll((fills) => {
        for (const a of document.getAnimations()) a.finish(); // the bars' transitions, to their end
        return fills.map((f) => f.getBoundingClientRect().width);
      });
      expect(widths, when).toEqual(Array(10).fill(0));
      expect(await accentPixelsOf(result), when).toBe(0);
      // The answer's place keeps its height: the bars do not jump when a digit appears.
      expect((await page.locator("#predicted").boundingBox())!.height, when).toBeGreaterThan(40);
    };
    await expectNoAnswer("on load");
    const test = loadMnist("test");
    const seven = test.images.subarray(0, 784);
    // A digit's answer is drawn in the accent colours: what the check above would see.
    expect(await paintOnPad(page, seven)).not.toBeNull();
    expect(await accentPixelsOf(result)).toBeGreaterThan(100);
    await page.click("#clear");
    await expectNoAnswer("after Clear");
    await paintOnPad(page, seven);
    await page.keyboard.press("Escape");
    await expectNoAnswer("after Escape");
    // A pad painted black: nothing to classify.
    expect(await paintOnPad(page, new Uint8Array(784))).toBeNull();
    await expectNoAnswer("after an empty painting");
    expect(problems).toEqual([]);
  });

  it("classifies MNIST test images painted onto the pad as their labels", async () => {
    const test = loadMnist("test");
    for (let i = 0; i < 5; i++) {
      const probs = await paintOnPad(page, test.images.subarray(i * 784, (i + 1) * 784));
      expect(probs, `image ${i}`).not.toBeNull();
      const best = probs!.indexOf(Math.max(...probs!));
      expect(best, `image ${i}`).toBe(test.labels[i]);
      expect(await page.textContent("#predicted"), `image ${i}`).toBe(String(test.labels[i]));
    }
    expect(problems).toEqual([]);
  });

  it("classifies a stroke drawn with the mouse as it is drawn", async () => {
    await page.click("#clear");
    expect(await page.textContent("#predicted")).toBe("");
    const box = (await page.locator("#pad").boundingBox())!;
    const x = box.x + box.width / 2;
    await page.mouse.move(x, box.y + 50);
    await page.mouse.down();
    await page.mouse.move(x + 4, box.y + box.height / 2, { steps: 8 });
    // Bars update during the stroke (pointermove, one classification per frame).
    await page.waitForFunction(() => document.getElementById("predicted")!.textContent !== "");
    await page.mouse.move(x + 8, box.y + box.height - 50, { steps: 8 });
    await page.mouse.up();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const ps = (await page
      .locator("#bars li")
      .evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.p)))) as number[];
    expect(ps).toHaveLength(10);
    for (const p of ps) expect(p).toBeGreaterThanOrEqual(0);
    expect(ps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(await page.textContent("#predicted")).toMatch(/^\d$/);
    // The 28x28 preview shows ink.
    const ink = await page.evaluate(() => {
      const d = (document.getElementById("seen") as HTMLCanvasElement)
        .getContext("2d")!
        .getImageData(0, 0, 28, 28).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
      return n;
    });
    expect(ink).toBeGreaterThan(10);
    // The winning bar is drawn as wide as its probability (after its CSS transition).
    await page.waitForTimeout(300);
    const widths = await page.evaluate(() => {
      const li = document.querySelector("#bars li.top")!;
      return [
        li.querySelector(".fill")!.getBoundingClientRect().width,
        li.querySelector(".track")!.getBoundingClientRect().width,
        Number((li as HTMLElement).dataset.p),
      ];
    });
    expect(widths[0]).toBeGreaterThan(0);
    expect(widths[0] / widths[1]).toBeCloseTo(widths[2], 1);
    await page.screenshot({ path: SCREENSHOT });
    expect(problems).toEqual([]);
  });

  it("browses the MNIST test set like `mnist-wasm predict 42`: image, true label, prediction and bars", async () => {
    const test = loadMnist("test");
    // Through the hook: index 42 is a 4, index 0 a 7, and the model gets both right.
    const r42 = await page.evaluate(() => window.mnistDemo.showTest(42));
    expect(r42).toMatchObject({ index: 42, label: 4, predicted: 4 });
    expect(test.labels[42]).toBe(4);
    expect(await page.textContent("#test-label")).toBe("4");
    expect(await page.textContent("#test-predicted")).toBe("4");
    expect(await page.inputValue("#test-index")).toBe("42");
    expect(await page.getAttribute("#test-verdict", "data-verdict")).toBe("correct");
    expect(await page.textContent("#test-confidence")).toMatch(/^\d+\.\d% sure$/);
    // The canvas holds the test image's pixels.
    const shown = await page.evaluate(() => {
      const d = (document.getElementById("test-image") as HTMLCanvasElement)
        .getContext("2d")!
        .getImageData(0, 0, 28, 28).data;
      return Array.from({ length: 784 }, (_, i) => d[4 * i]);
    });
    expect(shown).toEqual(Array.from(test.images.subarray(42 * 784, 43 * 784)));
    const ps = (await page
      .locator("#test-bars li")
      .evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.p)))) as number[];
    expect(ps).toHaveLength(10);
    expect(ps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(ps.indexOf(Math.max(...ps))).toBe(4);
    expect(await page.getAttribute("#test-bars li.top", "data-class")).toBe("4");

    // Through the controls: type 0 and press Enter, then next / previous.
    await page.fill("#test-index", "0");
    await page.press("#test-index", "Enter");
    await page.waitForFunction(() => document.getElementById("test-label")!.textContent === "7");
    expect(await page.textContent("#test-predicted")).toBe("7");
    await page.click("#test-next");
    await page.waitForFunction(() => (document.getElementById("test-index") as HTMLInputElement).value === "1");
    expect(await page.textContent("#test-label")).toBe(String(test.labels[1]));
    await page.click("#test-prev");
    await page.waitForFunction(() => (document.getElementById("test-index") as HTMLInputElement).value === "0");
    expect(await page.textContent("#test-label")).toBe("7");
    await page.click("#test-prev"); // wraps around
    await page.waitForFunction(() => (document.getElementById("test-index") as HTMLInputElement).value === "9999");
    expect(await page.textContent("#test-label")).toBe(String(test.labels[9999]));
    await page.click("#test-random");
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
    const randomIndex = Number(await page.inputValue("#test-index"));
    expect(Number.isInteger(randomIndex) && randomIndex >= 0 && randomIndex < 10_000).toBe(true);
    expect(await page.textContent("#test-label")).toBe(String(test.labels[randomIndex]));
    expect(await page.textContent("#test-verdict")).toMatch(/correct|wrong/);

    // Both panels in one screenshot, showing image 42.
    expect(await page.evaluate(() => window.mnistDemo.showTest(42))).toMatchObject({ label: 4, predicted: 4 });
    await page.setViewportSize({ width: 800, height: 1100 });
    await page.waitForTimeout(300);
    const panel = (await page.locator(".browse").boundingBox())!;
    expect(panel.y + panel.height).toBeLessThanOrEqual(1100);
    await page.screenshot({ path: SCREENSHOT });
    expect(problems).toEqual([]);
  });

  it("fits a phone's screen: the drawing card centred like the cards under it, nothing past the right edge, the command wrapped in its box", async () => {
    const networks = await page.$$eval("#train-network option", (options) =>
      options.map((o) => (o as HTMLOptionElement).value),
    );
    expect(networks.length).toBeGreaterThan(1);
    for (const width of [320, 360, 375, 414]) {
      await page.setViewportSize({ width, height: 667 });
      for (const network of networks) {
        await page.selectOption("#train-network", network);
        // Two frames: what resize observers and the selection change lay out has been laid out.
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        const layout = await page.evaluate(() => {
          const vw = document.documentElement.clientWidth;
          const box = (el: Element) => {
            const r = el.getBoundingClientRect();
            return { left: r.left, right: vw - r.right, width: r.width };
          };
          const command = document.getElementById("train-command")!;
          return {
            vw,
            scrollWidth: document.documentElement.scrollWidth,
            draw: box(document.querySelector(".draw")!),
            result: box(document.querySelector(".result")!),
            pad: box(document.getElementById("pad")!),
            command: { ...box(command), scrollWidth: command.scrollWidth, clientWidth: command.clientWidth },
            train: box(document.getElementById("train")!),
            beyond: Array.from(document.querySelectorAll("main *"))
              .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > vw + 0.5)
              .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${e.className}`),
          };
        });
        const where = `${width} px, ${network}`;
        expect(layout.vw, where).toBe(width);
        expect(layout.scrollWidth, `${where}: no sideways scrolling`).toBe(width);
        expect(layout.beyond, `${where}: past the right edge`).toEqual([]);
        // The drawing card: centred, as wide as the result card under it, its pad centred in it.
        expect(Math.abs(layout.draw.left - layout.draw.right), where).toBeLessThanOrEqual(2);
        expect(Math.abs(layout.draw.left - layout.result.left), where).toBeLessThanOrEqual(1);
        expect(Math.abs(layout.draw.width - layout.result.width), where).toBeLessThanOrEqual(1);
        expect(Math.abs(layout.pad.left - layout.pad.right), where).toBeLessThanOrEqual(2);
        expect(layout.pad.width, where).toBeGreaterThan(200);
        // The command: all of it inside its box, which is inside the Train panel.
        expect(layout.command.scrollWidth, `${where}: ${JSON.stringify(layout.command)}`).toBeLessThanOrEqual(
          layout.command.clientWidth,
        );
        expect(layout.command.left, where).toBeGreaterThan(layout.train.left);
        expect(layout.command.right, where).toBeGreaterThan(layout.train.right);
      }
      // The pad, smaller on the narrowest screens, still takes a stroke and classifies it.
      await page.click("#clear");
      const box = (await page.locator("#pad").boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.8, { steps: 8 });
      await page.mouse.up();
      await page.waitForFunction(() => /^\d$/.test(document.getElementById("predicted")!.textContent ?? ""));
      if (width === 375) await page.screenshot({ path: "/tmp/demo-phone.png" });
    }
    expect(problems).toEqual([]);
  });
});
