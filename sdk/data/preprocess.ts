// Turns a user's image of a handwritten digit into what an MNIST model expects, following how the
// MNIST digits were made: grey levels, light ink on black, the ink's bounding box scaled so its
// longer side is 20 pixels (anti-aliased), placed in a 28x28 canvas by its centre of mass.
// Browser-safe: works on RGBA bytes, so a page can pass a canvas's ImageData.data.
import { describeValue } from "../args";
import { fail } from "../errors";

/** Side of the canvas the digit is placed in, and of the box its longer side is scaled to. */
const CANVAS = 28;
const BOX = 20;
/** Ink (after background removal, 0-255) above this counts for the bounding box. */
const INK_THRESHOLD = 32;
/** Below this contrast between the darkest and the brightest ink there is no digit. */
const MIN_CONTRAST = 24;

export interface PreprocessedDigit {
  /** 28 x 28 grey levels, row after row: light ink (255) on black (0), as MNIST's. */
  pixels: Uint8Array;
  /** The image was a dark digit on a light background, and was inverted. */
  inverted: boolean;
}

/**
 * Prepares one image of a digit for an MNIST model. `rgba` holds `width` x `height` pixels, row
 * after row, 4 bytes each (RGBA; 3-byte RGB is accepted too). Colour becomes grey by luminance;
 * alpha is composited onto white. When most border pixels are bright the image is taken as a dark
 * digit on a light background and inverted. The background level (median of the border) is
 * removed and the contrast stretched, the image is cropped to the bounding box of the ink, scaled
 * (area-average when shrinking, bilinear when enlarging) so that the box's longer side is 20
 * pixels, stretched again so the strongest ink is 255 (thin strokes fade when shrunk), and
 * placed in a black 28x28 canvas with its centre of mass at (14, 14) (clamped so the box stays
 * inside). An image without ink is a BAD_ARGUMENT error.
 */
export function preprocessDigit(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
): PreprocessedDigit {
  if (!(rgba instanceof Uint8Array || rgba instanceof Uint8ClampedArray))
    fail(
      "BAD_ARGUMENT",
      `preprocessDigit: rgba must be a Uint8Array or Uint8ClampedArray (ImageData.data), got ${describeValue(rgba)}`,
    );
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    fail("BAD_ARGUMENT", `preprocessDigit: width and height must be positive integers, got ${width} x ${height}`);
  }
  const count = width * height;
  const channels = rgba.length === 4 * count ? 4 : rgba.length === 3 * count ? 3 : 0;
  if (channels === 0) {
    fail(
      "BAD_ARGUMENT",
      `preprocessDigit: ${width} x ${height} pixels need ${4 * count} RGBA (or ${3 * count} RGB) bytes, got ${rgba.length}`,
    );
  }

  // Grey levels, alpha composited onto white. Integer luminance keeps grey pixels exact.
  const grey = new Float32Array(count);
  for (let p = 0; p < count; p++) {
    const r = rgba[channels * p];
    const g = rgba[channels * p + 1];
    const b = rgba[channels * p + 2];
    const lum = r === g && g === b ? r : (299 * r + 587 * g + 114 * b) / 1000;
    const a = channels === 4 ? rgba[4 * p + 3] : 255;
    grey[p] = a === 255 ? lum : (lum * a + 255 * (255 - a)) / 255;
  }

  // Light or dark background, from the border pixels.
  const edge: number[] = [];
  for (let x = 0; x < width; x++) {
    edge.push(x);
    if (height > 1) edge.push((height - 1) * width + x);
  }
  for (let y = 1; y < height - 1; y++) {
    edge.push(y * width);
    if (width > 1) edge.push(y * width + width - 1);
  }
  const bright = edge.filter((p) => grey[p] >= 128).length;
  const inverted = bright * 2 > edge.length;
  const ink = inverted ? grey.map((v) => 255 - v) : grey;

  // Remove the background level (the border's median) and stretch the contrast so the strongest
  // ink is 255.
  const border = edge.map((p) => ink[p]).sort((a, b) => a - b);
  const background = border[border.length >> 1];
  let max = 0;
  for (let p = 0; p < count; p++) if (ink[p] > max) max = ink[p];
  if (max - background < MIN_CONTRAST) {
    fail("BAD_ARGUMENT", `the image (${width} x ${height}) has no digit: no ink stands out from the background`);
  }
  const gain = 255 / (max - background);
  for (let p = 0; p < count; p++) ink[p] = Math.max(0, (ink[p] - background) * gain);

  // Bounding box of the ink.
  let x0 = width,
    y0 = height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > INK_THRESHOLD) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0)
    fail("BAD_ARGUMENT", `the image (${width} x ${height}) has no digit: no ink stands out from the background`);
  const boxW = x1 - x0 + 1;
  const boxH = y1 - y0 + 1;

  // Scale the box so its longer side is BOX pixels, separably: rows, then columns.
  const scale = BOX / Math.max(boxW, boxH);
  const outW = Math.max(1, Math.min(BOX, Math.round(boxW * scale)));
  const outH = Math.max(1, Math.min(BOX, Math.round(boxH * scale)));
  const wx = resampleWeights(boxW, outW);
  const wy = resampleWeights(boxH, outH);
  const rows = new Float32Array(boxH * outW);
  for (let y = 0; y < boxH; y++) {
    const src = (y0 + y) * width + x0;
    for (let ox = 0; ox < outW; ox++) {
      let s = 0;
      for (const [i, w] of wx[ox]) s += w * ink[src + i];
      rows[y * outW + ox] = s;
    }
  }
  const patch = new Float32Array(outH * outW);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      let s = 0;
      for (const [i, w] of wy[oy]) s += w * rows[i * outW + ox];
      patch[oy * outW + ox] = s;
    }
  }

  // Thin strokes in a large image fade when shrunk: stretch again so the strongest ink is 255,
  // as in MNIST's digits.
  let peak = 0;
  for (let i = 0; i < patch.length; i++) if (patch[i] > peak) peak = patch[i];
  if (peak > 0 && peak < 255) for (let i = 0; i < patch.length; i++) patch[i] *= 255 / peak;

  // Centre of mass of the patch, moved to (14, 14) by a whole-pixel shift that keeps it inside.
  let mass = 0,
    mx = 0,
    my = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = patch[y * outW + x];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  const place = (com: number, size: number): number =>
    Math.min(CANVAS - size, Math.max(0, Math.round(CANVAS / 2 - com)));
  const left = mass > 0 ? place(mx / mass, outW) : (CANVAS - outW) >> 1;
  const top = mass > 0 ? place(my / mass, outH) : (CANVAS - outH) >> 1;
  const pixels = new Uint8Array(CANVAS * CANVAS);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      pixels[(top + y) * CANVAS + left + x] = Math.min(255, Math.max(0, Math.round(patch[y * outW + x])));
    }
  }
  return { pixels, inverted };
}

/**
 * For each of `m` output samples, the (source index, weight) pairs that make it from `n` source
 * samples: the average over the covered span when shrinking (anti-aliased), linear interpolation
 * between pixel centres when enlarging.
 */
function resampleWeights(n: number, m: number): [number, number][][] {
  const out: [number, number][][] = [];
  const ratio = n / m;
  for (let i = 0; i < m; i++) {
    const taps: [number, number][] = [];
    if (m <= n) {
      const start = i * ratio;
      const end = (i + 1) * ratio;
      for (let j = Math.floor(start); j < Math.min(n, Math.ceil(end)); j++) {
        const w = Math.min(end, j + 1) - Math.max(start, j);
        if (w > 0) taps.push([j, w / ratio]);
      }
    } else {
      const c = Math.min(n - 1, Math.max(0, (i + 0.5) * ratio - 0.5));
      const j = Math.floor(c);
      const f = c - j;
      taps.push([j, 1 - f]);
      if (f > 0 && j + 1 < n) taps.push([j + 1, f]);
    }
    out.push(taps);
  }
  return out;
}
