// Reads the demo's screenshots and canvases: how many pixels are painted in its accent colours
// (the gradient from --accent #6ea8ff to --accent-2 #9b7bff that marks an answer), to tell a
// placeholder or a stray mark apart from the page's muted greys and white text; and how many in
// each class colour of a scatter plot of codes.
import type { Locator, Page } from "playwright-core";
import { PNG } from "pngjs";
import { CLASS_COLORS } from "../../sdk/report/latent";

/** Strongly blue-violet: the accent gradient's colours and not the greys (#8891a3) or whites. */
const isAccent = (r: number, g: number, b: number): boolean => b > 180 && b - r > 60 && b - g > 40;

/** Pixels of `png` (a PNG file's bytes) in the accent colours. */
export function accentPixels(png: Buffer): number {
  const { data } = PNG.sync.read(png);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 200 && isAccent(data[i], data[i + 1], data[i + 2])) n++;
  return n;
}

/** Accent-coloured pixels in a screenshot of `element`. */
export async function accentPixelsOf(element: Locator): Promise<number> {
  return accentPixels(await element.screenshot({ animations: "disabled" }));
}

/** The pixels of the canvas with id `id`, as RGBA bytes with its size. */
export function canvasPixels(page: Page, id: string): Promise<{ width: number; height: number; data: number[] }> {
  return page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId) as HTMLCanvasElement;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height);
    return { width: c.width, height: c.height, data: Array.from(d.data) };
  }, id);
}

/** Opaque pixels of exactly each class colour (classColor 0 to 9) in RGBA bytes: the dots of a codes' plot. */
export function classPixels(data: ArrayLike<number>): number[] {
  const rgb = CLASS_COLORS.map((c) => [1, 3, 5].map((i) => Number.parseInt(c.slice(i, i + 2), 16)));
  const counts: number[] = Array(rgb.length).fill(0);
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] !== 255) continue;
    const k = rgb.findIndex(([r, g, b]) => data[i] === r && data[i + 1] === g && data[i + 2] === b);
    if (k >= 0) counts[k]++;
  }
  return counts;
}
