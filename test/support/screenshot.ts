// Reads the demo's screenshots: how many pixels are painted in its accent colours (the gradient
// from --accent #6ea8ff to --accent-2 #9b7bff that marks an answer), to tell a placeholder or a
// stray mark apart from the page's muted greys and white text.
import type { Locator } from "playwright-core";
import { PNG } from "pngjs";

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
