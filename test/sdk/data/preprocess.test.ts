// preprocessDigit (a user's image -> an MNIST 28x28 digit) and `predict --image`.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, run } from "../../support/cli";
import { loadMnist, MnistWasmError, Model, mlpSpec, preprocessDigit, Runtime, saveModelFile } from "../../../sdk/node";

/** Distance from (px, py) to the segment (ax, ay)-(bx, by). */
function segmentDistance(px: number, py: number, [ax, ay, bx, by]: number[]): number {
  const dx = bx - ax,
    dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/**
 * Ink coverage (0-1, anti-aliased) of a "7" with its top-left corner at (x0, y0), `size` pixels
 * tall, in a width x height image.
 */
function seven(width: number, height: number, x0: number, y0: number, size: number): Float32Array {
  const segments = [
    [0, 0, 0.6, 0],
    [0.6, 0, 0.2, 1],
  ].map((s) => s.map((v, i) => v * size + (i % 2 ? y0 : x0)));
  const thickness = Math.max(1, size / 10);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = Math.min(...segments.map((s) => segmentDistance(x + 0.5, y + 0.5, s)));
      out[y * width + x] = Math.max(0, Math.min(1, thickness / 2 - d + 0.5));
    }
  }
  return out;
}

/** RGBA bytes: `ink` colour over `paper` colour by coverage, opaque. */
function paint(coverage: Float32Array, ink: number[], paper: number[], channels = 4): Uint8Array {
  const out = new Uint8Array(coverage.length * channels);
  coverage.forEach((c, p) => {
    for (let k = 0; k < 3; k++) out[channels * p + k] = Math.round(ink[k] * c + paper[k] * (1 - c));
    if (channels === 4) out[4 * p + 3] = 255;
  });
  return out;
}

const WHITE = [255, 255, 255];
const BLACK = [0, 0, 0];

/** Bounding box (of non-zero pixels) and centre of mass of a 28x28 image. */
function measure(pixels: Uint8Array): { boxW: number; boxH: number; cx: number; cy: number } {
  let x0 = 28,
    y0 = 28,
    x1 = -1,
    y1 = -1,
    mass = 0,
    mx = 0,
    my = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = pixels[y * 28 + x];
      if (v === 0) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  return { boxW: x1 - x0 + 1, boxH: y1 - y0 + 1, cx: mx / mass, cy: my / mass };
}

const maxDiff = (a: Uint8Array, b: Uint8Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe("preprocessDigit", () => {
  const shape = seven(90, 120, 20, 15, 90);

  it("gives the same digit for white-on-black and black-on-white, and says which it saw", () => {
    const darkBytes = paint(shape, BLACK, WHITE);
    const lightBytes = darkBytes.map((v, i) => (i % 4 === 3 ? v : 255 - v)); // the negative
    const light = preprocessDigit(lightBytes, 90, 120);
    const dark = preprocessDigit(darkBytes, 90, 120);
    expect(light.inverted).toBe(false);
    expect(dark.inverted).toBe(true);
    expect(light.pixels.length).toBe(784);
    expect(dark.pixels).toEqual(light.pixels);
    expect(Math.max(...light.pixels)).toBe(255);
    const { boxW, boxH } = measure(light.pixels);
    expect(Math.max(boxW, boxH)).toBeGreaterThanOrEqual(19);
    expect(Math.max(boxW, boxH)).toBeLessThanOrEqual(20);
  });

  it("crops a small digit in the corner of a 200x100 image, scales it to 20 pixels and centres its mass", () => {
    const small = seven(200, 100, 6, 78, 16);
    for (const [ink, paper] of [
      [BLACK, WHITE],
      [WHITE, BLACK],
    ]) {
      const { pixels } = preprocessDigit(paint(small, ink, paper), 200, 100);
      const { boxW, boxH, cx, cy } = measure(pixels);
      expect(boxW).toBeLessThanOrEqual(20);
      expect(boxH).toBeLessThanOrEqual(20);
      expect(Math.max(boxW, boxH)).toBeGreaterThanOrEqual(19); // enlarged, not left small
      expect(Math.abs(cx - 14)).toBeLessThanOrEqual(1);
      expect(Math.abs(cy - 14)).toBeLessThanOrEqual(1);
    }
  });

  it("takes RGB as well as RGBA, and coloured ink on coloured paper", () => {
    const rgba = preprocessDigit(paint(shape, BLACK, WHITE), 90, 120);
    const rgb = preprocessDigit(paint(shape, BLACK, WHITE, 3), 90, 120);
    expect(rgb).toEqual(rgba);
    const blueOnYellow = preprocessDigit(paint(shape, [20, 40, 200], [250, 240, 190]), 90, 120);
    expect(blueOnYellow.inverted).toBe(true);
    expect(maxDiff(blueOnYellow.pixels, rgba.pixels)).toBeLessThanOrEqual(2);
  });

  it("composites alpha onto white: black strokes on a transparent canvas are a dark digit on light", () => {
    // What a page's drawing canvas gives: transparent black everywhere but the strokes.
    const rgba = new Uint8Array(shape.length * 4);
    shape.forEach((c, p) => (rgba[4 * p + 3] = Math.round(255 * c)));
    const drawn = preprocessDigit(rgba, 90, 120);
    expect(drawn.inverted).toBe(true);
    expect(maxDiff(drawn.pixels, preprocessDigit(paint(shape, BLACK, WHITE), 90, 120).pixels)).toBeLessThanOrEqual(1);
    // Uint8ClampedArray (ImageData.data) works the same.
    expect(preprocessDigit(new Uint8ClampedArray(rgba), 90, 120)).toEqual(drawn);
  });

  it.each([
    ["white", WHITE],
    ["black", BLACK],
    ["grey", [128, 128, 128]],
  ])("refuses an all-%s image", (_, colour) => {
    const blank = paint(new Float32Array(50 * 40), colour, colour);
    expect(() => preprocessDigit(blank, 50, 40)).toThrow(MnistWasmError);
    expect(() => preprocessDigit(blank, 50, 40)).toThrow(/no digit/);
    try {
      preprocessDigit(blank, 50, 40);
    } catch (e) {
      expect(["BAD_ARGUMENT", "BAD_FILE"]).toContain((e as MnistWasmError).code);
    }
  });

  it("refuses a buffer that does not fit the size", () => {
    expect(() => preprocessDigit(new Uint8Array(10), 3, 3)).toThrow(MnistWasmError);
    expect(() => preprocessDigit(new Uint8Array(0), 0, 0)).toThrow(MnistWasmError);
  });
});

describe("mnist-wasm predict --image", () => {
  const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-image-"));
  const COUNT = 20;
  const SIDE = 140;
  let labels: Uint8Array;

  /** Writes an RGBA buffer as a PNG file. */
  function writePng(path: string, width: number, height: number, rgba: Uint8Array): void {
    const png = new PNG({ width, height });
    png.data.set(rgba);
    writeFileSync(path, PNG.sync.write(png));
  }

  beforeAll(() => {
    // MNIST test digits, enlarged 5x (bilinear) and inverted to black on white, as a user's scan.
    const test = loadMnist("test");
    labels = test.labels.slice(0, COUNT);
    for (let n = 0; n < COUNT; n++) {
      const img = test.images.subarray(n * 784, (n + 1) * 784);
      const at = (x: number, y: number): number => img[Math.min(27, y) * 28 + Math.min(27, x)];
      const rgba = new Uint8Array(SIDE * SIDE * 4);
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          const sx = Math.max(0, (x + 0.5) / 5 - 0.5),
            sy = Math.max(0, (y + 0.5) / 5 - 0.5);
          const x0 = Math.floor(sx),
            y0 = Math.floor(sy),
            fx = sx - x0,
            fy = sy - y0;
          const v =
            (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
            fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
          rgba.fill(255 - Math.round(v), 4 * (y * SIDE + x), 4 * (y * SIDE + x) + 3);
          rgba[4 * (y * SIDE + x) + 3] = 255;
        }
      }
      writePng(join(dir, `digit${n}.png`), SIDE, SIDE, rgba);
    }
  });

  it("classifies enlarged, inverted MNIST test digits as their labels", () => {
    let correct = 0;
    for (let n = 0; n < COUNT; n++) {
      const r = run(["predict", "--image", join(dir, `digit${n}.png`), "--no-color"]);
      expect(r.code, r.stderr).toBe(0);
      if (n === 0) {
        expect(r.stdout).toContain(
          `image: ${join(dir, "digit0.png")} (140x140, detected: dark digit on light background)`,
        );
        expect(r.stdout).toMatch(/@@/); // the digit drawn
        expect(r.stdout).not.toMatch(/true label/);
        for (let d = 0; d <= 9; d++) expect(r.stdout).toMatch(new RegExp(`^ +${d} +\\d+\\.\\d\\d%`, "m"));
      }
      const m = /^predicted: +(\d) +\(\d+\.\d\d%\)$/m.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      if (Number(m![1]) === labels[n]) correct++;
    }
    // Measured: 20 of 20 (and 100 of the first 100).
    expect(correct).toBeGreaterThanOrEqual(18);
  });

  it("refuses a corrupt PNG, a non-PNG, a missing file and a blank image with one line", () => {
    const corrupt = join(dir, "corrupt.png");
    const png = PNG.sync.write(new PNG({ width: 30, height: 30 }));
    writeFileSync(corrupt, png.subarray(0, 50));
    expectOneLineError(run(["predict", "--image", corrupt]), /corrupt\.png: not a valid PNG/);
    const text = join(dir, "text.png");
    writeFileSync(text, "not an image\n");
    expectOneLineError(run(["predict", "--image", text]), /text\.png: not a PNG file/);
    expectOneLineError(run(["predict", "--image", join(dir, "missing.png")]), /missing\.png: cannot read \(ENOENT/);
    const blank = join(dir, "blank.png");
    writePng(blank, 30, 20, new Uint8Array(30 * 20 * 4).fill(255));
    expectOneLineError(run(["predict", "--image", blank]), /no digit/);
    expectOneLineError(run(["predict", "3", "--image", blank]), /--image takes no index/);
  });

  it("refuses a model whose input is not [1,28,28], naming both shapes", async () => {
    const rt = await Runtime.create();
    const path = join(dir, "flat.safetensors");
    await saveModelFile(path, new Model(rt, mlpSpec({ input: [784], hidden: [8], classes: 10 }), { seed: 1 }));
    expectOneLineError(run(["predict", "--image", join(dir, "digit0.png"), "--model", path]), /\[784\].*\[1,28,28\]/);
  });
});
