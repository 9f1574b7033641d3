// sdk/report/image-grid.ts: images laid out in a grid of RGBA pixels.
import { describe, expect, it } from "vitest";
import { imageGrid } from "../../../sdk/node";
import { expectError } from "../../support/errors";

const pixel = (img: { width: number; data: Uint8ClampedArray }, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

describe("imageGrid", () => {
  it("places grey images in rows of `columns`, gaps grey, pixels clipped to [0, 1]", () => {
    // Three 2x2 images: all 0, all 1, and a ramp with values outside [0, 1].
    const images = Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1, -1, 0.5, 0.25, 2]);
    const img = imageGrid(images, [1, 2, 2], 2, { gap: 1 });
    expect([img.width, img.height]).toEqual([2 * 3 + 1, 2 * 3 + 1]);
    expect(pixel(img, 0, 0)).toEqual([128, 128, 128, 128]);
    expect(pixel(img, 1, 1)).toEqual([0, 0, 0, 255]); // first image, top left
    expect(pixel(img, 4, 1)).toEqual([255, 255, 255, 255]); // second image
    expect(pixel(img, 1, 4)).toEqual([0, 0, 0, 255]); // third image's -1, clipped
    expect(pixel(img, 2, 4)).toEqual([128, 128, 128, 255]); // 0.5
    expect(pixel(img, 2, 5)).toEqual([255, 255, 255, 255]); // 2, clipped
  });

  it("reads colour images plane by plane, and scales", () => {
    const red = Float32Array.from([1, 0, 0]); // one pixel, channels R, G, B
    const img = imageGrid(red, [3, 1, 1], 1, { gap: 0, scale: 3 });
    expect([img.width, img.height]).toEqual([3, 3]);
    expect(pixel(img, 2, 2)).toEqual([255, 0, 0, 255]);
  });

  it.each([
    [new Float32Array(5), [1, 2, 2], 1, "BAD_SHAPE"],
    [new Float32Array(4), [2, 2, 1], 1, "BAD_SHAPE"],
    [new Float32Array(4), [1, 2, 2], 0, "BAD_ARGUMENT"],
    [[0, 0, 0, 0], [1, 2, 2], 1, "BAD_ARGUMENT"],
  ])("refuses %o of %o in %i columns", (pixels, shape, columns, code) => {
    expectError(() => imageGrid(pixels as Float32Array, shape, columns), code);
  });
});
