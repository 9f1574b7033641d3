// The pooling layers (sdk/layers/pool2d.ts, MaxPool2D and AvgPool2D): output shapes, and
// back-propagation against numerical gradients (central differences, (f(v+ε) - f(v-ε)) / 2ε) of the
// input on their own under a random linear read-out. Max pooling is not differentiable where the
// arg-max would switch: the input's values are at least 0.1 apart.
//
// Everything runs in float32, so ε is 1e-2 and the tolerance is relative, 2e-2, with a small
// absolute floor for gradients near zero (the gradient-check machinery is in test/support/numeric.ts).
import { describe, expect, it } from "vitest";
import type { ModelSpec, Random } from "../../../sdk/index";
import { fillNormal, useRuntime } from "../../support/buffers";
import { checkLayer, firstLayer, sizeOf } from "../../support/numeric";

useRuntime();

// ---------------------------------------------------------------------------------------------
// Under L = Σ r·y (r random), so dL/dy = r and backward(r) must give dL/dx, dL/dθ.

describe("MaxPool2D and AvgPool2D gradients", () => {
  const normalInput = (x: Float32Array, rng: Random): void => fillNormal(x, rng, 1);

  // (C, H, W, size, stride, batch): windows tiling or not, overlapping (stride < size), gaps.
  const poolCases: [number, number, number, number, number | undefined, number][] = [
    [2, 5, 7, 2, undefined, 2],
    [1, 6, 5, 3, 1, 1],
    [3, 7, 7, 3, 2, 2],
    [2, 8, 7, 2, 3, 2],
    [1, 4, 4, 2, 2, 3],
  ];

  it.each(poolCases)(
    "MaxPool2D C=%i %ix%i, size %i, stride %s (undefined: = size) (batch %i): input, values 0.1 apart",
    (C, H, W, size, stride, batch) => {
      const spec: ModelSpec = {
        input: [C, H, W],
        layers: [
          { type: "maxpool", size, ...(stride ? { stride } : {}) },
          { type: "flatten" },
          { type: "dense", units: 2 },
        ],
      };
      // A shuffled ramp: every two values differ by >= 0.1 > 2ε, so no perturbation moves an arg-max.
      const distinct = (x: Float32Array, rng: Random): void => {
        const order = Array.from({ length: x.length }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        order.forEach((v, i) => (x[i] = (v - x.length / 2) * 0.1));
      };
      const { model, layer, rng } = firstLayer(spec, batch, 2000 + C * 100 + H * 10 + W + size, distinct);
      const s = stride ?? size;
      expect(layer.outputShape).toEqual([C, Math.floor((H - size) / s) + 1, Math.floor((W - size) / s) + 1]);
      const dx = checkLayer(layer, model.inputPtr, batch, rng, "maxpool");
      // Exactly one input per window receives a gradient unless windows overlap.
      const nonZero = dx.filter((v) => v !== 0).length;
      if (s >= size) expect(nonZero).toBe(batch * sizeOf(layer.outputShape));
      model.dispose();
    },
  );

  it.each(poolCases)("AvgPool2D C=%i %ix%i, size %i, stride %s (batch %i): input", (C, H, W, size, stride, batch) => {
    const spec: ModelSpec = {
      input: [C, H, W],
      layers: [
        { type: "avgpool", size, ...(stride ? { stride } : {}) },
        { type: "flatten" },
        { type: "dense", units: 2 },
      ],
    };
    const { model, layer, rng } = firstLayer(spec, batch, 3000 + C * 100 + H * 10 + W + size, normalInput);
    checkLayer(layer, model.inputPtr, batch, rng, "avgpool");
    model.dispose();
  });
});
