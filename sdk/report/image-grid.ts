// Images side by side in one RGBA picture: samples of a generative model, originals above their
// reconstructions. Pure pixels (a PNG encoder in Node, a canvas in a page turns them into files
// and screens).
import { checkInteger, describeValue } from "../args";
import { fail } from "../errors";

export interface RgbaImage {
  width: number;
  height: number;
  /** RGBA bytes, row after row. */
  data: Uint8ClampedArray;
}

/**
 * `count` images of `shape` [channels (1 or 3), height, width] float pixels in [0, 1] (values
 * outside are clipped) laid out in rows of `columns`, `gap` pixels apart on a grey background.
 */
export function imageGrid(
  pixels: Float32Array,
  shape: readonly number[],
  columns: number,
  options: { gap?: number; scale?: number } = {},
): RgbaImage {
  if (!(pixels instanceof Float32Array))
    fail("BAD_ARGUMENT", `imageGrid: pixels must be a Float32Array, got ${describeValue(pixels)}`);
  const [channels, height, width] = shape;
  if (shape.length !== 3 || (channels !== 1 && channels !== 3) || !(height > 0 && width > 0)) {
    fail("BAD_SHAPE", `imageGrid: images must be [1 or 3, height, width], got [${shape}]`);
  }
  const size = channels * height * width;
  if (pixels.length === 0 || pixels.length % size !== 0)
    fail("BAD_SHAPE", `imageGrid: ${pixels.length} values are not whole images of [${shape}]`);
  checkInteger(columns, "imageGrid: columns", 1, 1024);
  const gap = checkInteger(options.gap ?? 2, "imageGrid: gap", 0, 64);
  const scale = checkInteger(options.scale ?? 1, "imageGrid: scale", 1, 16);
  const count = pixels.length / size;
  const rows = Math.ceil(count / columns);
  const cols = Math.min(columns, count);
  const [cellW, cellH] = [width * scale + gap, height * scale + gap];
  const out = { width: cols * cellW + gap, height: rows * cellH + gap };
  if (out.width * out.height > 64 * 1024 * 1024)
    fail("BAD_ARGUMENT", `imageGrid: a ${out.width}x${out.height} picture is too large`);
  const data = new Uint8ClampedArray(out.width * out.height * 4).fill(0x80);
  const plane = height * width;
  for (let n = 0; n < count; n++) {
    const [left, top] = [gap + (n % columns) * cellW, gap + Math.floor(n / columns) * cellH];
    for (let y = 0; y < height * scale; y++) {
      for (let x = 0; x < width * scale; x++) {
        const src = n * size + Math.floor(y / scale) * width + Math.floor(x / scale);
        const dst = ((top + y) * out.width + left + x) * 4;
        for (let c = 0; c < 3; c++) data[dst + c] = Math.round(pixels[src + (channels === 3 ? c * plane : 0)] * 255);
        data[dst + 3] = 255;
      }
    }
  }
  return { ...out, data };
}
