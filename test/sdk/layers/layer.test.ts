// What every layer shares (sdk/layers/layer.ts): sizeOf, parameters made and freed in pairs
// (makeParam, disposeParams), the per-batch buffer that grows only when a larger batch comes
// (BatchBuffer), and the refusal of a disposed layer (layerDisposed).
import { describe, expect, it } from "vitest";
import { MnistWasmError } from "../../../sdk/index";
import { BatchBuffer, disposeParams, layerDisposed, makeParam, sizeOf } from "../../../sdk/layers/layer";
import { rt, useRuntime } from "../../support/buffers";
import { expectError } from "../../support/errors";

useRuntime();

describe("sizeOf", () => {
  it.each([
    [[], 1],
    [[7], 7],
    [[2, 3], 6],
    [[3, 1, 5], 15],
    [[4, 0, 2], 0],
  ] as [number[], number][])("of %j is the product of the sides, %i", (shape, size) => {
    expect(sizeOf(shape)).toBe(size);
  });
});

describe("makeParam / disposeParams", () => {
  it("a value and a gradient of the shape, zero, apart, with the name and role; freed together", () => {
    const used = rt.usedBytes;
    const params = [makeParam(rt, "0.weight", [3, 4], "weight"), makeParam(rt, "0.bias", [4], "bias")];
    expect(params.map((p) => [p.name, p.role, p.value.shape, p.grad.shape])).toEqual([
      ["0.weight", "weight", [3, 4], [3, 4]],
      ["0.bias", "bias", [4], [4]],
    ]);
    for (const p of params) {
      expect(p.value.read()).toEqual(new Float32Array(sizeOf(p.value.shape)));
      expect(p.grad.read()).toEqual(new Float32Array(sizeOf(p.grad.shape)));
    }
    // Value and gradient do not share memory.
    params[0].value.fill(1);
    expect(params[0].grad.read().every((v) => v === 0)).toBe(true);
    expect(rt.usedBytes).toBeGreaterThanOrEqual(used + 2 * (12 + 4) * 4);
    disposeParams(params);
    expect(rt.usedBytes).toBe(used);
    expectError(() => params[1].grad.read(), "BAD_STATE", /was disposed/);
  });
});

describe("BatchBuffer", () => {
  it("allocates perSample floats per sample on the first ensure, again only for a larger batch, frees on release", () => {
    const used = rt.usedBytes;
    const buffer = new BatchBuffer(rt, 10);
    expect(buffer.ptr).toBe(0);
    buffer.ensure(4);
    const first = buffer.ptr;
    expect(first).not.toBe(0);
    expect(rt.usedBytes - used).toBeGreaterThanOrEqual(4 * 10 * 4);
    rt.f32(first, 40).fill(7); // the whole batch is writable
    buffer.ensure(3);
    buffer.ensure(4);
    expect(buffer.ptr).toBe(first);
    const before = rt.usedBytes;
    buffer.ensure(9);
    expect(rt.usedBytes - used).toBeGreaterThanOrEqual(9 * 10 * 4);
    expect(rt.usedBytes).toBeGreaterThan(before);
    buffer.release();
    expect(buffer.ptr).toBe(0);
    expect(rt.usedBytes).toBe(used);
    buffer.release(); // a second release does nothing
    expect(rt.usedBytes).toBe(used);
  });
});

describe("layerDisposed", () => {
  it("throws BAD_STATE naming the layer's type", () => {
    expectError(() => layerDisposed({ type: "conv2d" }), "BAD_STATE", /a conv2d layer was disposed/);
    expect(() => layerDisposed({})).toThrow(MnistWasmError);
  });
});
