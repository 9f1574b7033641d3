// sdk/evaluate.ts's test-time flips against a plain reference: the model's probabilities on each
// image and on its mirror image computed by predict(), averaged here in double.
import { beforeAll, describe, expect, it } from "vitest";
import { evaluate, Model, parseArch, Random, Runtime, withClassifier, type Dataset } from "../../sdk/node";
import { expectWithin } from "../support/numeric";

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
});

/** `count` random images of `shape` with random labels of `classes` classes. */
function randomImages(shape: [number, number, number], count: number, classes: number, seed: number): Dataset {
  const rng = new Random(seed);
  const size = shape[0] * shape[1] * shape[2];
  const images = Uint8Array.from({ length: count * size }, () => rng.int(256));
  const labels = Uint8Array.from({ length: count }, () => rng.int(classes));
  return { name: "random", shape, images, labels, count, classes: Array.from({ length: classes }, (_, i) => `c${i}`) };
}

/** The images mirrored left to right, plane by plane. */
function mirrored(data: Dataset): Uint8Array {
  const [c, h, w] = data.shape;
  const out = new Uint8Array(data.images.length);
  for (let plane = 0; plane < data.count * c; plane++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) out[(plane * h + y) * w + x] = data.images[(plane * h + y) * w + (w - 1 - x)];
  return out;
}

describe("evaluate with flip", () => {
  it.each([
    ["conv:6x3p1,relu,maxpool:2", [3, 8, 6] as [number, number, number], 4],
    ["conv:4x3,batchnorm,relu", [1, 7, 9] as [number, number, number], 10],
  ])(
    "%s on %j: predictions and loss of the mean of both passes' probabilities (batches of 7)",
    (arch, shape, classes) => {
      const data = randomImages(shape, 30, classes, 5);
      const model = new Model(rt, { input: shape, layers: withClassifier(parseArch(arch), classes) }, { seed: 3 });
      const plain = model.predict(data.images, data.count);
      const flipped = model.predict(mirrored(data), data.count);
      const predictions = new Int32Array(data.count);
      let loss = 0;
      for (let i = 0; i < data.count; i++) {
        const mean = Array.from({ length: classes }, (_, j) => (plain[i * classes + j] + flipped[i * classes + j]) / 2);
        predictions[i] = mean.indexOf(Math.max(...mean));
        loss -= Math.log(mean[data.labels[i]]);
      }
      const result = evaluate(model, data, { flip: true, batchSize: 7 });
      expect(Array.from(result.predictions)).toEqual(Array.from(predictions));
      expectWithin([result.loss], [loss / data.count], 1e-5, "loss");
      // Without flips: the first pass alone, as before.
      const single = evaluate(model, data, 7);
      const argmax = Array.from({ length: data.count }, (_, i) => {
        const row = Array.from(plain.subarray(i * classes, (i + 1) * classes));
        return row.indexOf(Math.max(...row));
      });
      expect(Array.from(single.predictions)).toEqual(argmax);
      // The mirrored pass changes the probabilities, or the test could not tell flips from none.
      expect(Math.abs(result.loss - single.loss)).toBeGreaterThan(1e-4);
      model.dispose();
    },
  );

  it("refuses a model whose input is not an image, and flip values that are not booleans", () => {
    const data = randomImages([1, 4, 4], 5, 3, 1);
    const dense = new Model(rt, { input: [16], layers: [{ type: "dense", units: 3 }] });
    const flat = { ...data, shape: [16, 1, 1] as [number, number, number] };
    expect(() => evaluate(dense, { ...flat }, { flip: true })).toThrow(/flip mirrors images/);
    const conv = new Model(rt, { input: [1, 4, 4], layers: withClassifier(parseArch("conv:2x3"), 3) });
    expect(() => evaluate(conv, data, { flip: "yes" } as never)).toThrow(/flip must be true or false/);
    expect(() => evaluate(conv, data, { flips: true } as never)).toThrow(/flips/);
    dense.dispose();
    conv.dispose();
  });
});
