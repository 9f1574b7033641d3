// assembly/pool.ts (max and average pooling, forward and backward) against plain double-precision
// references, on seeded random data, windows that do not tile the image, overlap and gaps.
// Every buffer handed to a kernel sits between sentinel guards checked after each test, and
// outputs start as NaN, so an element written out of bounds or left unwritten fails (the guarded
// buffers and comparisons are in test/support/).
//
// Tolerances: copies and single float32 operations per element must match the float32-rounded
// reference exactly; sums get the standard error bound of float32 summation, c·n·u·Σ|terms|
// (u = 2^-24).
import { describe, expect, it } from "vitest";
import { Random } from "../../sdk/index";
import {
  checkGuardsAfterEach,
  f32Buf,
  i32Buf,
  nans,
  normals,
  readF32,
  readI32,
  rt,
  useRuntime,
} from "../support/buffers";
import { side } from "../support/conv-kernels";
import { expectExact, expectWithin, U } from "../support/numeric";

useRuntime();
checkGuardsAfterEach();

// ---------------------------------------------------------------------------------------------
// Pooling

/** Calls visit(o, i) for every (output o, input pixel i of its window), windows in row-major order. */
function forEachWindowEntry(
  planes: number,
  H: number,
  W: number,
  size: number,
  stride: number,
  visit: (o: number, i: number, first: boolean) => void,
): void {
  const OH = side(H, size, stride, 0),
    OW = side(W, size, stride, 0);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const o = (p * OH + oy) * OW + ox;
        for (let ky = 0; ky < size; ky++) {
          for (let kx = 0; kx < size; kx++) {
            visit(o, (p * H + oy * stride + ky) * W + ox * stride + kx, ky === 0 && kx === 0);
          }
        }
      }
    }
  }
}

/** Max of each window and the in-plane index (iy·W + ix) of its first maximum. */
function maxPoolRef(x: ArrayLike<number>, planes: number, H: number, W: number, size: number, stride: number) {
  const n = planes * side(H, size, stride, 0) * side(W, size, stride, 0);
  const y = new Float64Array(n);
  const argmax = new Int32Array(n);
  forEachWindowEntry(planes, H, W, size, stride, (o, i, first) => {
    if (first || x[i] > y[o]) {
      y[o] = x[i];
      argmax[o] = i % (H * W);
    }
  });
  return { y, argmax };
}

/** dx[i] = Σ over windows whose arg-max is i of dy, with Σ|terms| and the count of terms. */
function maxPoolBackRef(
  dy: ArrayLike<number>,
  argmax: ArrayLike<number>,
  planes: number,
  H: number,
  W: number,
  outputs: number,
) {
  const dx = new Float64Array(planes * H * W);
  const absSum = new Float64Array(dx.length);
  const count = new Int32Array(dx.length);
  for (let p = 0; p < planes; p++) {
    for (let j = 0; j < outputs; j++) {
      const o = p * outputs + j;
      const i = p * H * W + argmax[o];
      dx[i] += dy[o];
      absSum[i] += Math.abs(dy[o]);
      count[i]++;
    }
  }
  return { dx, absSum, count };
}

/** (planes, H, W, size, stride) for sizes 2, 3 and strides 1, 2, 3 over odd and even images. */
function poolCases(): [number, number, number, number, number][] {
  // [6, 26]: a row long enough for several of the 2x2 kernels' four-output steps and a leftover.
  const images: [number, number][] = [
    [7, 5],
    [6, 6],
    [9, 8],
    [3, 4],
    [5, 11],
    [6, 26],
  ];
  const out: [number, number, number, number, number][] = [];
  images.forEach(([H, W], k) => {
    for (const size of [2, 3]) {
      for (const stride of [1, 2, 3]) {
        if (side(H, size, stride, 0) > 0 && side(W, size, stride, 0) > 0) out.push([1 + (k % 3), H, W, size, stride]);
      }
    }
  });
  return out;
}

describe("pooling", () => {
  const cases = poolCases();

  it("the case list covers what it claims", () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
    // Windows that do not tile the image exactly (leftover rows or columns).
    expect(cases.some(([, H, W, size, stride]) => (H - size) % stride !== 0 || (W - size) % stride !== 0)).toBe(true);
    expect(cases.some(([, , , size, stride]) => stride < size)).toBe(true); // overlapping windows
    expect(cases.some(([, , , size, stride]) => stride > size)).toBe(true); // gaps between windows
    // 2x2 windows of stride 2 in rows of fewer than four windows, of a multiple of four, and of
    // more than four but not a multiple (the last four overlapping the four before).
    const rows2x2 = cases
      .filter(([, , , size, stride]) => size === 2 && stride === 2)
      .map(([, , W]) => side(W, 2, 2, 0));
    expect(rows2x2.some((OW) => OW < 4)).toBe(true);
    expect(rows2x2.some((OW) => OW % 4 === 0)).toBe(true);
    expect(rows2x2.some((OW) => OW > 4 && OW % 4 !== 0)).toBe(true);
  });

  it.each(cases)(
    "maxPoolForward / maxPoolValues / maxPoolBackward(Relu) / maxPool2x2Backward: planes %i, %ix%i, size %i, stride %i",
    (planes, H, W, size, stride) => {
      const OH = side(H, size, stride, 0),
        OW = side(W, size, stride, 0);
      const n = planes * OH * OW;
      const rng = new Random(planes * 1000 + H * 100 + W * 10 + size * 3 + stride);
      // Random values, then values with many ties (few distinct, all negative in one plane) for
      // the first-maximum rule.
      const random = normals(rng, planes * H * W);
      const ties = Float64Array.from({ length: planes * H * W }, (_, i) => rng.int(3) - (i < H * W ? 5 : 1));
      for (const [what, x] of [
        ["random", random],
        ["ties", ties],
      ] as const) {
        const ref = maxPoolRef(x, planes, H, W, size, stride);
        const xPtr = f32Buf(x, "x");
        const yPtr = f32Buf(nans(n), "y");
        const aPtr = i32Buf(new Int32Array(n).fill(-7), "argmax");
        rt.kernels.maxPoolForward(xPtr, yPtr, aPtr, planes, H, W, size, stride, OH, OW);
        expectExact(readF32(yPtr, n), ref.y, `y (${what})`);
        expectExact(readI32(aPtr, n), ref.argmax, `argmax (${what})`);
        expectExact(readF32(xPtr, x.length), x, `x (${what}, unchanged)`);
        // Inference's variant without the arg-max: the same floats.
        const valuesPtr = f32Buf(nans(n), "y (values)"); // guarded: a write past its end fails the test
        rt.kernels.maxPoolValues(xPtr, valuesPtr, planes, H, W, size, stride, OH, OW);
        expectExact(readF32(valuesPtr, n), ref.y, `maxPoolValues y (${what})`);

        // Backward: dy routed to each arg-max, summed where overlapping windows share one.
        const dy = normals(rng, n);
        const dyPtr = f32Buf(dy, "dy");
        const dxPtr = f32Buf(nans(planes * H * W), "dx");
        rt.kernels.maxPoolBackward(dyPtr, aPtr, dxPtr, planes, H, W, OH, OW);
        const back = maxPoolBackRef(dy, ref.argmax, planes, H, W, OH * OW);
        expectWithin(
          readF32(dxPtr, planes * H * W),
          back.dx,
          Array.from(back.absSum, (s, i) => 2 * (back.count[i] + 1) * U * s),
          `dx (${what})`,
        );
        // Where one window's gradient lands, it is copied exactly.
        back.count.forEach((c, i) => {
          if (c === 1 && rt.f32(dxPtr + i * 4, 1)[0] !== Math.fround(back.dx[i]))
            expect.fail(`dx[${i}] (${what}): single gradient not exact`);
        });
        // With a ReLU's mask (x > 0, x standing for the ReLU's output): the routed sums where x > 0, else 0.
        const maskedPtr = f32Buf(nans(planes * H * W), "dx (ReLU masked)");
        rt.kernels.maxPoolBackwardRelu(dyPtr, aPtr, xPtr, maskedPtr, planes, H, W, OH, OW);
        expectExact(
          readF32(maskedPtr, planes * H * W),
          readF32(dxPtr, planes * H * W).map((v, i) => (x[i] > 0 ? v : 0)),
          `dx masked (${what})`,
        );
        // 2x2 windows of stride 2: the direct kernel gives the same floats, masked or not (its
        // mask read from the window maxima y).
        if (size === 2 && stride === 2) {
          for (const relu of [0, 1]) {
            const direct = f32Buf(nans(planes * H * W), "dx (2x2)");
            rt.kernels.maxPool2x2Backward(dyPtr, aPtr, relu ? yPtr : 0, direct, planes, H, W, OH, OW, relu);
            expectExact(
              readF32(direct, planes * H * W),
              readF32(relu ? maskedPtr : dxPtr, planes * H * W),
              `maxPool2x2Backward dx (${what}, relu ${relu})`,
            );
          }
        }
        // With overlap, the ties data routes several windows to one pixel: the sum is exercised.
        if (stride < size && n > planes && what === "ties")
          expect(Math.max(...back.count), "a pixel receiving several gradients").toBeGreaterThan(1);
      }
    },
  );

  it("maxPoolForward: the reference's first-maximum rule on a hand-made plane", () => {
    // 4x4, size 2, stride 2. Windows: all equal (-> top-left), tie between the 2nd and 3rd
    // entries (-> 2nd), negative values only (max -1 at the last entry), max at the last entry.
    const x = [3, 3, 0, 5, 3, 3, 5, 1, -4, -3, 2, 2, -2, -1, 2, 9];
    const ref = maxPoolRef(x, 1, 4, 4, 2, 2);
    expect(Array.from(ref.y)).toEqual([3, 5, -1, 9]);
    expect(Array.from(ref.argmax)).toEqual([0, 3, 13, 15]);
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(4), "y");
    const aPtr = i32Buf([-7, -7, -7, -7], "argmax");
    rt.kernels.maxPoolForward(xPtr, yPtr, aPtr, 1, 4, 4, 2, 2, 2, 2);
    expectExact(readF32(yPtr, 4), ref.y, "y");
    expectExact(readI32(aPtr, 4), ref.argmax, "argmax");
    rt.kernels.maxPoolValues(xPtr, yPtr, 1, 4, 4, 2, 2, 2, 2);
    expectExact(readF32(yPtr, 4), ref.y, "maxPoolValues y");
  });

  it("maxPoolForward / maxPoolValues: NaN, -0 and infinities follow the first-maximum rule (v > best replaces)", () => {
    // One 2x12 plane, size 2, stride 2: six windows, so maxPoolValues makes a four-output step
    // and an overlapping one for the last four.
    const x = [
      -0,
      0,
      NaN,
      1,
      1,
      NaN,
      -Infinity,
      -Infinity,
      0,
      -0,
      Infinity,
      5,
      0,
      -0,
      2,
      1,
      3,
      0,
      -Infinity,
      -1,
      -0,
      0,
      NaN,
      5,
    ];
    const want = [-0, NaN, 3, -1, 0, Infinity];
    const ref = maxPoolRef(x, 1, 2, 12, 2, 2);
    const same = (got: ArrayLike<number>) => Array.from(got).every((v, i) => Object.is(v, want[i]));
    expect(same(ref.y), `reference ${Array.from(ref.y)}`).toBe(true);
    const xPtr = f32Buf(x, "x");
    const yPtr = f32Buf(nans(6), "y");
    rt.kernels.maxPoolForward(xPtr, yPtr, i32Buf(new Int32Array(6), "argmax"), 1, 2, 12, 2, 2, 1, 6);
    expect(same(readF32(yPtr, 6)), `maxPoolForward ${readF32(yPtr, 6)}`).toBe(true);
    const valuesPtr = f32Buf(nans(6), "y (values)");
    rt.kernels.maxPoolValues(xPtr, valuesPtr, 1, 2, 12, 2, 2, 1, 6);
    expect(same(readF32(valuesPtr, 6)), `maxPoolValues ${readF32(valuesPtr, 6)}`).toBe(true);
  });

  it.each(cases)(
    "avgPoolForward / avgPoolBackward: planes %i, %ix%i, size %i, stride %i",
    (planes, H, W, size, stride) => {
      const OH = side(H, size, stride, 0),
        OW = side(W, size, stride, 0);
      const n = planes * OH * OW;
      const area = size * size;
      const rng = new Random(planes * 1000 + H * 100 + W * 10 + size * 3 + stride + 5);
      const x = normals(rng, planes * H * W);

      const y = new Float64Array(n);
      const yAbs = new Float64Array(n);
      forEachWindowEntry(planes, H, W, size, stride, (o, i) => {
        y[o] += x[i] / area;
        yAbs[o] += Math.abs(x[i]) / area;
      });
      const xPtr = f32Buf(x, "x");
      const yPtr = f32Buf(nans(n), "y");
      rt.kernels.avgPoolForward(xPtr, yPtr, planes, H, W, size, stride, OH, OW);
      expectWithin(
        readF32(yPtr, n),
        y,
        Array.from(yAbs, (s) => 2 * (area + 3) * U * s),
        "y",
      );
      expectExact(readF32(xPtr, x.length), x, "x (unchanged)");

      const dy = normals(rng, n);
      const dx = new Float64Array(planes * H * W);
      const dxAbs = new Float64Array(dx.length);
      const count = new Int32Array(dx.length);
      forEachWindowEntry(planes, H, W, size, stride, (o, i) => {
        dx[i] += dy[o] / area;
        dxAbs[i] += Math.abs(dy[o]) / area;
        count[i]++;
      });
      const dyPtr = f32Buf(dy, "dy");
      const dxPtr = f32Buf(nans(dx.length), "dx");
      rt.kernels.avgPoolBackward(dyPtr, dxPtr, planes, H, W, size, stride, OH, OW);
      expectWithin(
        readF32(dxPtr, dx.length),
        dx,
        Array.from(dxAbs, (s, i) => 2 * (count[i] + 3) * U * s),
        "dx",
      );
      // Pixels outside every window (leftover rows/columns, gaps) get exactly 0.
      count.forEach((c, i) => {
        if (c === 0 && rt.f32(dxPtr + i * 4, 1)[0] !== 0) expect.fail(`dx[${i}]: outside every window but not 0`);
      });
      if (stride < size && n > planes) expect(Math.max(...count), "overlapping windows").toBeGreaterThan(1);
    },
  );
});
