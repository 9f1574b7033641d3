// assembly/upsample.ts (nearest-neighbour upsampling and its adjoint) against plain
// double-precision references, on seeded random data: factors 1 to 5 (2 has its own shuffle
// path, 4 and 5 whole vectors), rows shorter and longer than a vector, several planes. Every
// buffer sits between sentinel guards and outputs start as NaN, so an element written out of
// bounds or left unwritten fails.
//
// Tolerances: the forward pass copies, so it must match exactly; the backward pass sums S·S
// values, within the float32 bound 2·(S·S + 1)·u·Σ|terms| (u = 2^-24).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import { checkGuardsAfterEach, f32Buf, nans, normals, readF32, rt, useRuntime } from "../support/buffers";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

/** y[p, oy, ox] = x[p, floor(oy / S), floor(ox / S)]. */
function upsampleRef(x: ArrayLike<number>, planes: number, H: number, W: number, S: number): Float64Array {
  const OH = H * S,
    OW = W * S;
  const y = new Float64Array(planes * OH * OW);
  for (let p = 0; p < planes; p++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++)
        y[(p * OH + oy) * OW + ox] = x[(p * H + Math.floor(oy / S)) * W + Math.floor(ox / S)];
  return y;
}

/** dx[p, iy, ix] = Σ over its S x S block of dy, with Σ|terms|. */
function upsampleBackRef(dy: ArrayLike<number>, planes: number, H: number, W: number, S: number) {
  const OH = H * S,
    OW = W * S;
  const dx = new Float64Array(planes * H * W);
  const absSum = new Float64Array(dx.length);
  for (let p = 0; p < planes; p++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++) {
        const i = (p * H + Math.floor(oy / S)) * W + Math.floor(ox / S);
        const g = dy[(p * OH + oy) * OW + ox];
        dx[i] += g;
        absSum[i] += Math.abs(g);
      }
  return { dx, absSum };
}

describe("upsampling kernels", () => {
  // (planes, H, W, S): widths below, at and above a vector's four values, and with leftovers.
  const cases: [number, number, number, number][] = [];
  for (const S of [1, 2, 3, 4, 5]) {
    for (const [planes, H, W] of [
      [1, 1, 1],
      [2, 3, 4],
      [3, 7, 7],
      [2, 5, 13],
      [1, 4, 9],
    ])
      cases.push([planes, H, W, S]);
  }

  it.each(cases)("upsampleForward / upsampleBackward: planes %i, %ix%i, scale %i", (planes, H, W, S) => {
    const rng = new Random(planes * 1000 + H * 100 + W * 10 + S);
    const n = planes * H * W,
      m = n * S * S;
    const x = normals(rng, n);
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(m), "y");
    rt.kernels.upsampleForward(xPtr, yPtr, planes, H, W, S);
    expectExact(readF32(yPtr, m), upsampleRef(x, planes, H, W, S), "y");
    expectExact(readF32(xPtr, n), x, "x (unchanged)");

    const dy = normals(rng, m);
    const dyPtr = f32Buf(dy, "dy");
    const dxPtr = f32Buf(nans(n), "dx");
    rt.kernels.upsampleBackward(dyPtr, dxPtr, planes, H, W, S);
    const ref = upsampleBackRef(dy, planes, H, W, S);
    expectWithin(
      readF32(dxPtr, n),
      ref.dx,
      Array.from(ref.absSum, (s) => 2 * (S * S + 1) * U * s),
      "dx",
    );
    expectExact(readF32(dyPtr, m), dy, "dy (unchanged)");
  });

  it("the backward pass is the forward pass's adjoint: <up(x), dy> = <x, up'(dy)>", () => {
    const [planes, H, W, S] = [2, 6, 10, 2];
    const rng = new Random(9);
    const n = planes * H * W,
      m = n * S * S;
    const x = normals(rng, n),
      dy = normals(rng, m);
    const yPtr = f32Buf(nans(m), "y"),
      dxPtr = f32Buf(nans(n), "dx");
    rt.kernels.upsampleForward(f32Buf(x, "x"), yPtr, planes, H, W, S);
    rt.kernels.upsampleBackward(f32Buf(dy, "dy"), dxPtr, planes, H, W, S);
    const y = readF32(yPtr, m),
      dx = readF32(dxPtr, n);
    const left = y.reduce((s, v, i) => s + v * dy[i], 0);
    const right = dx.reduce((s, v, i) => s + v * x[i], 0);
    expect(Math.abs(left - right)).toBeLessThan(1e-4 * (1 + Math.abs(left)));
  });
});
