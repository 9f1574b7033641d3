// Shared by the tests that drive Debian's Chromium (/usr/bin/chromium) through playwright-core.
// Never downloads a browser. Without Chromium a test file is skipped with a message, except on
// CI, where a missing Chromium is a failing test (.ci/run installs it).
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { describe, it } from "vitest";
import { serveDemo } from "../../scripts/serve-demo.mjs";

export const CHROMIUM = "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/**
 * Whether `file`'s browser tests (`what`) can run. Without Chromium: on CI, registers a failing
 * test under `what`; elsewhere, says the tests are skipped.
 */
export function chromiumAvailable(file: string, what: string): boolean {
  if (!HAVE_CHROMIUM && process.env.CI) {
    describe(what, () => {
      it("needs Chromium", () => {
        throw new Error(
          `${CHROMIUM} is missing: CI must install Debian's chromium (see .ci/run) for the browser tests`,
        );
      });
    });
  } else if (!HAVE_CHROMIUM) {
    console.warn(`${file}: ${CHROMIUM} not found, skipping ${what} (apt-get install chromium)`);
  }
  return HAVE_CHROMIUM;
}

/** Headless Chromium, quiet: no GPU, no network of its own. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

/** Appends the page's console errors, page errors and (optionally) failed requests to `problems`. */
export function recordProblems(page: Page, problems: string[], { requests = true } = {}): void {
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  if (requests) page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
}

export interface DemoPage {
  browser: Browser;
  page: Page;
  url: string;
  /** Console errors, page errors and failed requests so far. */
  problems: string[];
  close(): Promise<void>;
}

/**
 * Serves a built demo (scripts/build-demo.mjs) from `dir` with its COOP/COEP headers, opens it in
 * Chromium and waits until the page says it is ready (window.mnistDemo.ready).
 */
export async function openDemo(dir: string, pageOptions: BrowserContextOptions = {}): Promise<DemoPage> {
  const { server, url } = (await serveDemo({ dir, port: 0 })) as { server: Server; url: string };
  const browser = await launchChromium();
  const page = await browser.newPage(pageOptions);
  const problems: string[] = [];
  recordProblems(page, problems);
  await page.goto(url);
  await page.evaluate(() => window.mnistDemo.ready);
  return {
    browser,
    page,
    url,
    problems,
    close: async () => {
      await browser.close();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/**
 * Paints 28x28 grey pixels (bytes, white digit on black, as MNIST stores them) onto the demo's
 * 280x280 drawing pad, ten screen pixels per image pixel, and returns the page's class
 * probabilities for it (null when the page found nothing to classify).
 */
export function paintOnPad(page: Page, pixels: ArrayLike<number>): Promise<number[] | null> {
  return page.evaluate((px) => {
    const ctx = (document.getElementById("pad") as HTMLCanvasElement).getContext("2d")!;
    const img = ctx.createImageData(280, 280);
    for (let i = 0; i < 280 * 280; i++) {
      img.data[4 * i] =
        img.data[4 * i + 1] =
        img.data[4 * i + 2] =
          px[Math.floor(i / 2800) * 28 + Math.floor((i % 280) / 10)];
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const p = window.mnistDemo.classify();
    return p ? Array.from(p) : null;
  }, Array.from(pixels));
}
