// Drawing small images onto canvases: grey 28x28 digits, CIFAR-10's colour planes, and grids of
// maps (a layer's channels, a layer's filters) as tiles. Canvases get device-pixel backing
// stores and are filled pixel by pixel with nearest-neighbour sampling, so tiles stay crisp at
// any size and a grid costs one putImageData.

/** RGBA bytes of `count` maps of h x w, map after map. */
export interface Maps {
  rgba: Uint8ClampedArray;
  count: number;
  h: number;
  w: number;
}

/** Values mapped linearly from [lo, hi] to black..white (clamped), one grey map per `h*w` values. */
export function greyMaps(values: ArrayLike<number>, count: number, h: number, w: number, lo: number, hi: number): Maps {
  const rgba = new Uint8ClampedArray(count * h * w * 4);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < count * h * w; i++) {
    const v = (values[i] - lo) * scale;
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
    rgba[4 * i + 3] = 255;
  }
  return { rgba, count, h, w };
}

/** The smallest and largest of `values` (0 and 0 for none). */
export function extent(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < min) min = values[i];
    if (values[i] > max) max = values[i];
  }
  return values.length ? { min, max } : { min: 0, max: 0 };
}

/**
 * `count` images of `channels` planes of h x w (CHW, as models take them) as RGBA: one plane is
 * grey, three are red, green, blue. Values are mapped from [lo, hi]: bytes use 0..255, signed
 * weights a range symmetric around zero so that zero is mid grey.
 */
export function planesToMaps(
  values: ArrayLike<number>,
  count: number,
  channels: 1 | 3,
  h: number,
  w: number,
  lo = 0,
  hi = 255,
): Maps {
  if (channels === 1) return greyMaps(values, count, h, w, lo, hi);
  const rgba = new Uint8ClampedArray(count * h * w * 4);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const plane = h * w;
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < plane; p++) {
      const o = 4 * (n * plane + p);
      const base = n * 3 * plane + p;
      rgba[o] = (values[base] - lo) * scale;
      rgba[o + 1] = (values[base + plane] - lo) * scale;
      rgba[o + 2] = (values[base + 2 * plane] - lo) * scale;
      rgba[o + 3] = 255;
    }
  }
  return { rgba, count, h, w };
}

/** Layout of a grid of tiles: `cols` per row, each `tile` CSS pixels wide, `gap` pixels apart. */
export interface GridLayout {
  cols: number;
  tile: number;
  gap: number;
}

/**
 * Columns and tile size for `count` maps in `width` CSS pixels: at most `maxCols` per row, tiles
 * no larger than `maxTile`, and no smaller than one CSS pixel per map pixel when that fits.
 */
export function fitGrid(count: number, width: number, { maxCols = 16, maxTile = 48, gap = 3 } = {}): GridLayout {
  const cols = Math.max(1, Math.min(count, maxCols));
  const tile = Math.max(2, Math.min(maxTile, Math.floor((width - (cols - 1) * gap) / cols)));
  return { cols, tile, gap };
}

/** Sizes `canvas` to css x css pixels with a backing store at the device's pixel ratio; returns that ratio. */
function sizeCanvas(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): number {
  const dpr = Math.min(3, Math.max(1, Math.round(window.devicePixelRatio || 1)));
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  if (canvas.width !== cssWidth * dpr) canvas.width = cssWidth * dpr;
  if (canvas.height !== cssHeight * dpr) canvas.height = cssHeight * dpr;
  return dpr;
}

/**
 * Draws `maps` as a grid of tiles on `canvas` (resized to fit), transparent between tiles.
 * Tiles keep the maps' aspect ratio; each tile pixel takes the nearest map pixel.
 */
export function drawGrid(canvas: HTMLCanvasElement, maps: Maps, layout: GridLayout): void {
  const { cols, tile, gap } = layout;
  const rows = Math.ceil(maps.count / cols);
  const tileH = Math.max(1, Math.round((tile * maps.h) / maps.w));
  const dpr = sizeCanvas(canvas, cols * tile + (cols - 1) * gap, rows * tileH + (rows - 1) * gap);
  const out = new ImageData(canvas.width, canvas.height);
  const tw = tile * dpr;
  const th = tileH * dpr;
  // Which map pixel each device pixel of a tile shows, computed once per grid.
  const srcX = Int32Array.from({ length: tw }, (_, x) => Math.min(maps.w - 1, Math.floor((x * maps.w) / tw)));
  const srcY = Int32Array.from({ length: th }, (_, y) => Math.min(maps.h - 1, Math.floor((y * maps.h) / th)));
  for (let m = 0; m < maps.count; m++) {
    const x0 = (m % cols) * (tile + gap) * dpr;
    const y0 = Math.floor(m / cols) * (tileH + gap) * dpr;
    const base = m * maps.h * maps.w;
    for (let y = 0; y < th; y++) {
      const row = base + srcY[y] * maps.w;
      let o = 4 * ((y0 + y) * out.width + x0);
      for (let x = 0; x < tw; x++, o += 4) {
        const s = 4 * (row + srcX[x]);
        out.data[o] = maps.rgba[s];
        out.data[o + 1] = maps.rgba[s + 1];
        out.data[o + 2] = maps.rgba[s + 2];
        out.data[o + 3] = 255;
      }
    }
  }
  canvas.getContext("2d")!.putImageData(out, 0, 0);
}

/** Puts one image (map 0 of `maps`) on a canvas of its own size; CSS scales it (pixelated). */
export function paintImage(canvas: HTMLCanvasElement, maps: Maps, index = 0): void {
  canvas.width = maps.w;
  canvas.height = maps.h;
  const size = maps.w * maps.h * 4;
  const image = new ImageData(maps.rgba.slice(index * size, (index + 1) * size), maps.w, maps.h);
  canvas.getContext("2d")!.putImageData(image, 0, 0);
}
