// assembly/augment.ts: augmentImages flips and shifts each image of a batch in place, against a
// plain reference (out[c,y,x] = in[c, y - dy, flip(x) - dx], zero where that falls outside), for
// every flip and for shifts in both directions up to past the image's side, on odd shapes.
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, i32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

/** The image `x` [C, H, W] moved by (dy, dx) after an optional left-right flip, in float64. */
function augmentRef(
  x: ArrayLike<number>,
  C: number,
  H: number,
  W: number,
  flip: number,
  dy: number,
  dx: number,
): Float64Array {
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        const sy = y - dy,
          sx = (flip ? W - 1 - xx : xx) - dx;
        out[(c * H + y) * W + xx] = sy >= 0 && sy < H && sx >= 0 && sx < W ? x[(c * H + sy) * W + sx] : 0;
      }
    }
  }
  return out;
}

describe("augmentImages", () => {
  // (C, H, W): one channel square, three channels non-square, a single row.
  it.each([
    [1, 5, 5],
    [3, 4, 7],
    [2, 1, 6],
  ])("C=%i %ix%i: every flip and shift of a batch, each image by its own parameters", (C, H, W) => {
    const size = C * H * W;
    const params: number[][] = [];
    for (const flip of [0, 1]) {
      for (const dy of [-H, -2, -1, 0, 1, 3]) for (const dx of [-1, 0, 2, W]) params.push([flip, dy, dx]);
    }
    const batch = params.length;
    const x = normals(new Random(C * 100 + H * 10 + W), batch * size);
    for (let i = 0; i < x.length; i++) if (x[i] === 0) x[i] = 1; // a zero border cannot match by luck
    const xPtr = f32Buf(x, "x");
    const pPtr = i32Buf(params.flat(), "params");
    rt.kernels.augmentImages(xPtr, pPtr, batch, C, H, W, f32Buf(nans(size), "scratch"));
    const got = readF32(xPtr, batch * size);
    params.forEach(([flip, dy, dx], b) => {
      const want = augmentRef(x.subarray(b * size, (b + 1) * size), C, H, W, flip, dy, dx);
      expectExact(got.subarray(b * size, (b + 1) * size), want, `image ${b} (flip ${flip}, dy ${dy}, dx ${dx})`);
    });
    // The identity leaves its image alone; a shift past the side leaves only zeros.
    const identity = params.findIndex(([f, dy, dx]) => f === 0 && dy === 0 && dx === 0);
    expectExact(
      got.subarray(identity * size, (identity + 1) * size),
      x.subarray(identity * size, (identity + 1) * size),
      "identity",
    );
    expect(
      got.subarray(0, size).every((v) => v === 0),
      "dy = -H clears the image",
    ).toBe(true);
  });

  it("batch 0 touches nothing", () => {
    const x = normals(new Random(3), 12);
    const xPtr = f32Buf(x, "x");
    rt.kernels.augmentImages(xPtr, i32Buf([1, 1, 1], "params"), 0, 1, 3, 4, f32Buf(nans(12), "scratch"));
    expectExact(readF32(xPtr, 12), x, "x");
  });
});
