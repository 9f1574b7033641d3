// What decoding a PNG will cost, read from its header before it is decoded. pngjs inflates the
// image data, unfilters it into a second buffer and expands it to RGBA (16-bit samples to a
// 16-bit bitmap, then to 8 bits): its memory follows the raw (inflated) size and the pixel count,
// so a 16-bit RGBA image costs seven times a grey one of the same size. Both budgets
// (FILE_LIMITS.pngPixels, FILE_LIMITS.pngDecodeBytes) are checked here, and an interlaced image,
// which pngjs inflates without a bound, has its data inflated within the size the header
// declares first.
import { inflateSync } from "node:zlib";
import { fail } from "../errors";
import { FILE_LIMITS } from "./limits";

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey and alpha, 6 RGBA. */
  colourType: number;
  interlaced: boolean;
  /** Colour types 2 (RGB), 3 (palette) and 6 (RGBA), as pngjs's `color`. */
  color: boolean;
  /** Bytes the image data inflates to: every row (of every Adam7 pass) with its filter byte. */
  rawBytes: number;
  /** What decoding costs in memory, the measure FILE_LIMITS.pngDecodeBytes bounds (decodeCost). */
  decodeBytes: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples a pixel of each colour type, and the bit depths the PNG specification allows for it. */
const COLOUR_TYPES = new Map<number, { samples: number; depths: number[] }>([
  [0, { samples: 1, depths: [1, 2, 4, 8, 16] }],
  [2, { samples: 3, depths: [8, 16] }],
  [3, { samples: 1, depths: [1, 2, 4, 8] }],
  [4, { samples: 2, depths: [8, 16] }],
  [6, { samples: 4, depths: [8, 16] }],
]);
/** The Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/**
 * Bytes decoding costs at its peak, measured with pngjs 7 (peak RSS of the CLI above its base, for
 * every colour type, bit depth and interlacing at the budget's edge): the inflated data and its
 * unfiltered copy (2 x raw), the RGBA bitmap (4 bytes a pixel; 16-bit images: 8, then 4 more for
 * the 8-bit copy), and for an interlaced image the raw size twice more (the bounded check's
 * inflate, and pngjs's unbounded one growing its buffer).
 */
export function decodeCost(
  width: number,
  height: number,
  bitDepth: number,
  interlaced: boolean,
  rawBytes: number,
): number {
  const pixels = width * height;
  return 2 * rawBytes + pixels * (bitDepth === 16 ? 12 : 4) + (interlaced ? 2 * rawBytes : 0);
}

/**
 * Reads and checks a PNG's header (`what` names the file in errors): a valid IHDR, at most
 * FILE_LIMITS.pngPixels pixels, at most FILE_LIMITS.pngDecodeBytes to decode; for an interlaced
 * image, image data that inflates to no more than the header declares. Refusals are BAD_FILE.
 */
export function readPngHeader(bytes: Uint8Array, what: string): PngHeader {
  const ihdr = [0x49, 0x48, 0x44, 0x52];
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b) || ihdr.some((b, i) => bytes[12 + i] !== b)) {
    fail("BAD_FILE", `${what}: not a PNG file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  const bitDepth = bytes[24];
  const colourType = bytes[25];
  const interlace = bytes[28];
  if (width === 0 || height === 0) fail("BAD_FILE", `${what}: not a valid PNG (${width} x ${height} pixels)`);
  const kind = COLOUR_TYPES.get(colourType);
  if (!kind?.depths.includes(bitDepth) || interlace > 1) {
    fail(
      "BAD_FILE",
      `${what}: not a valid PNG (colour type ${colourType}, bit depth ${bitDepth}, interlace method ${interlace})`,
    );
  }
  if (width * height > FILE_LIMITS.pngPixels) {
    fail(
      "BAD_FILE",
      `${what}: ${width.toLocaleString("en")} x ${height.toLocaleString("en")} pixels is more than the ` +
        `${FILE_LIMITS.pngPixels.toLocaleString("en")}-pixel budget (${FILE_LIMITS.pngPixels / 1e6} megapixels)`,
    );
  }
  const interlaced = interlace === 1;
  const rowBytes = (pixels: number): number => 1 + Math.ceil((pixels * kind.samples * bitDepth) / 8);
  let rawBytes = 0;
  if (interlaced) {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w > 0 && h > 0) rawBytes += h * rowBytes(w);
    }
  } else {
    rawBytes = height * rowBytes(width);
  }
  const decodeBytes = decodeCost(width, height, bitDepth, interlaced, rawBytes);
  if (decodeBytes > FILE_LIMITS.pngDecodeBytes) {
    fail(
      "BAD_FILE",
      `${what}: ${width.toLocaleString("en")} x ${height.toLocaleString("en")} pixels of ${bitDepth}-bit ` +
        `${describeColour(colourType)}${interlaced ? ", interlaced," : ""} needs ${formatMB(decodeBytes)} to decode, more than the ` +
        `${formatMB(FILE_LIMITS.pngDecodeBytes)} budget`,
    );
  }
  if (interlaced) checkInflatedSize(bytes, rawBytes, what);
  return { width, height, bitDepth, colourType, interlaced, color: (colourType & 2) !== 0, rawBytes, decodeBytes };
}

/**
 * Inflates the image data (the IDAT chunks in order) up to `rawBytes`, refusing data that inflates
 * to more; corrupt data passes, for the decoder to describe.
 */
export function checkInflatedSize(bytes: Uint8Array, rawBytes: number, what: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = view.getUint32(at, false);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    if (at + 12 + length > bytes.length) break; // truncated: pngjs says so
    if (type === "IDAT") parts.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === "IEND") break;
    at += 12 + length;
  }
  try {
    inflateSync(Buffer.concat(parts), { maxOutputLength: Math.max(rawBytes, 1) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      fail(
        "BAD_FILE",
        `${what}: not a valid PNG (its image data inflates to more than the ${rawBytes.toLocaleString("en")} bytes its header declares)`,
      );
    }
  }
}

function describeColour(colourType: number): string {
  return ({ 0: "grey", 2: "RGB", 3: "palette", 4: "grey and alpha", 6: "RGBA" } as Record<number, string>)[colourType];
}

/** "200 MB": decimal megabytes, as the budget is stated. */
const formatMB = (bytes: number): string => `${(bytes / 1e6).toLocaleString("en", { maximumFractionDigits: 1 })} MB`;
