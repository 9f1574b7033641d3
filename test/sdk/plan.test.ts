import { beforeAll, describe, expect, it } from "vitest";
import {
  ARCH_PRESETS,
  checkTrainingBatch,
  imageCost,
  inferenceBatch,
  INFERENCE_BATCH_BYTES,
  MAX_INFERENCE_BATCH,
  mlpSpec,
  Model,
  parseArch,
  PLAN_LIMITS,
  planModel,
  Runtime,
  validateSpec,
  withClassifier,
  type ModelSpec,
} from "../../sdk/node";
import { expectError } from "../support/errors";

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});

const spec = (input: number[], layers: unknown[]): ModelSpec => validateSpec({ input, layers });
const dense = (units: number): object => ({ type: "dense", units });
const relus = (n: number): object[] => Array.from({ length: n }, () => ({ type: "relu" }));
const head = [{ type: "flatten" }, dense(10)];

/** A model is accepted at each limit and refused one step beyond it, by the layer that crosses it. */
describe("the plan's limits", () => {
  it(`layers: ${PLAN_LIMITS.layers} pass, ${PLAN_LIMITS.layers + 1} and more are refused before any layer is looked at`, () => {
    expect(planModel(spec([784], [...relus(PLAN_LIMITS.layers - 1), dense(10)]))).toHaveLength(PLAN_LIMITS.layers);
    for (const count of [PLAN_LIMITS.layers + 1, 10_000, 1_000_000]) {
      const started = performance.now();
      expectError(
        () => validateSpec({ input: [784], layers: [...relus(count - 1), dense(10)] }),
        "BAD_ARGUMENT",
        `${count} layers is beyond the limit of ${PLAN_LIMITS.layers}`,
      );
      expectError(
        () => planModel({ input: [784], layers: [...relus(count - 1), dense(10)] as ModelSpec["layers"] }),
        "BAD_SHAPE",
        `beyond the limit of ${PLAN_LIMITS.layers}`,
      );
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it("windows and strides: up to the limit; padding below the window", () => {
    const side = PLAN_LIMITS.window + 2;
    for (const type of ["conv2d", "maxpool", "avgpool"]) {
      const extra = type === "conv2d" ? { filters: 1 } : {};
      expect(() =>
        planModel(spec([1, side, side], [{ type, size: PLAN_LIMITS.window, ...extra }, ...head])),
      ).not.toThrow();
      expect(() =>
        planModel(spec([1, side, side], [{ type, size: 2, stride: PLAN_LIMITS.window, ...extra }, ...head])),
      ).not.toThrow();
      expectError(
        () => planModel(spec([1, side, side], [{ type, size: PLAN_LIMITS.window + 1, ...extra }, ...head])),
        "BAD_SHAPE",
        `layer 0 (${type}`,
        `limited to ${PLAN_LIMITS.window}`,
      );
      expectError(
        () => planModel(spec([1, side, side], [{ type, size: 2, stride: PLAN_LIMITS.window + 1, ...extra }, ...head])),
        "BAD_SHAPE",
        `layer 0 (${type}`,
        `limited to ${PLAN_LIMITS.window}`,
      );
    }
    for (const size of [1, 2, 3, 5, 7]) {
      expect(() =>
        planModel(spec([1, 28, 28], [{ type: "conv2d", filters: 2, size, padding: size - 1 }, ...head])),
      ).not.toThrow();
      for (const padding of [size, size + 1, 10_000, 2 ** 40]) {
        expectError(
          () => planModel(spec([1, 28, 28], [{ type: "conv2d", filters: 2, size, padding }, ...head])),
          "BAD_SHAPE",
          `layer 0 (conv2d 2 ${size}x${size} padding ${padding}): padding must be smaller than the window (${size})`,
        );
      }
    }
  });

  it(`parameters: ${PLAN_LIMITS.parameters} pass, one layer more is refused naming it`, () => {
    // dense(u) on [n] holds u·(n + 1) values, then dense(1) u + 1 more.
    const units = 1024;
    const layers = [dense(units), { type: "relu" }, dense(1)];
    const n = PLAN_LIMITS.parameters / units - 3;
    expect(units * (n + 2) + 1).toBeLessThanOrEqual(PLAN_LIMITS.parameters);
    expect(() => planModel(spec([n], layers))).not.toThrow();
    expectError(
      () => planModel(spec([n + 1], layers)),
      "BAD_SHAPE",
      `layer 2 (dense 1): the model reaches ${PLAN_LIMITS.parameters + 1} parameters, beyond the limit of ${PLAN_LIMITS.parameters}`,
    );
    expectError(
      () => planModel(spec([n + 3], layers)),
      "BAD_SHAPE",
      `layer 0 (dense ${units}): the model reaches ${units * (n + 4)} parameters, beyond the limit of ${PLAN_LIMITS.parameters}`,
    );
  });

  it(`activations: ${PLAN_LIMITS.imageBytes} bytes per training image pass, 4 more are refused`, () => {
    // [k] -> relu -> dense(1): input 4k, relu output and gradient 8k, dense output 4 and input gradient 4k.
    const k = PLAN_LIMITS.imageBytes / 16;
    expect(() => planModel(spec([k - 1], [{ type: "relu" }, dense(1)]))).not.toThrow();
    expectError(
      () => planModel(spec([k], [{ type: "relu" }, dense(1)])),
      "BAD_SHAPE",
      "layer 1 (dense 1): the model reaches 64 MiB of activations per image, beyond the limit of 64 MiB",
    );
  });

  it("patch matrices and multiply-adds: the count in the refusal is the layer's own", () => {
    // A 1x1 convolution of C channels to K filters on H x W: patches C·H·W floats, K·C·H·W multiply-adds.
    const [C, K, H] = [2048, 2048, 32];
    expectError(
      () => planModel(spec([C, H, H], [{ type: "conv2d", filters: K, size: 1 }, ...head])),
      "BAD_SHAPE",
      `layer 0 (conv2d ${K} 1x1): the model reaches ${K * C * H * H} multiply-adds per image`,
    );
    // A 3x3 convolution of 64 channels on 256 x 256, padding 1: 64·9·256² patch values, for training twice.
    expectError(
      () => planModel(spec([64, 256, 256], [{ type: "conv2d", filters: 1, size: 3, padding: 1 }, ...head])),
      "BAD_SHAPE",
      `layer 0 (conv2d 1 3x3 padding 1): the model reaches ${(64 * 9 * 256 * 256 * 8) / 2 ** 20} MiB of patch matrices per thread`,
    );
  });

  it("transposed convolutions and upsampling: huge work or outputs are refused naming the layer", () => {
    // convT 512 3x3 on [512, 32, 32]: cols 512·9·32·32 floats, 512 times as many multiply-adds.
    expectError(
      () => planModel(spec([512, 32, 32], [{ type: "convT", filters: 512, size: 3 }, ...head])),
      "BAD_SHAPE",
      `layer 0 (convT 512 3x3): the model reaches ${512 * 512 * 9 * 32 * 32} multiply-adds per image`,
    );
    // A decoder that doubles its side five times, 64 x 8x8 -> 64 x 256x256: the last one's cols
    // [64·4·4, 128·128] are 64 MiB alone.
    const doubling = Array.from({ length: 5 }, () => [
      { type: "convT", filters: 64, size: 4, stride: 2, padding: 1 },
      { type: "relu" },
    ]).flat();
    expectError(
      () => planModel(spec([64, 8, 8], [...doubling, ...head])),
      "BAD_SHAPE",
      "layer 8 (convT 64 4x4 stride 2 padding 1): the model reaches 85 MiB of patch matrices per thread, beyond the limit of 64 MiB",
    );
    expectError(
      () => planModel(spec([64, 32, 32], [{ type: "upsample", scale: 16 }, ...head])),
      "BAD_SHAPE",
      /^layer 0 \(upsample 16\): the model reaches \d+ MiB of activations per image, beyond the limit of 64 MiB$/,
    );
    expectError(
      () =>
        planModel(spec([1, 4, 4], [{ type: "upsample", scale: 2 }, { type: "upsample", scale: 17 }, ...head] as never)),
      "BAD_ARGUMENT",
      'layer 1: upsample "scale" must be an integer from 1 to 16',
    );
    // The window rules of a convolution: side and stride up to the limit, padding below the side.
    expectError(
      () => planModel(spec([1, 4, 4], [{ type: "convT", filters: 1, size: PLAN_LIMITS.window + 1 }, ...head])),
      "BAD_SHAPE",
      `layer 0 (convT 1 ${PLAN_LIMITS.window + 1}x${PLAN_LIMITS.window + 1}): windows and strides are limited to ${PLAN_LIMITS.window}`,
    );
    expectError(
      () =>
        planModel(spec([1, 4, 4], [{ type: "convT", filters: 1, size: 2, stride: PLAN_LIMITS.window + 1 }, ...head])),
      "BAD_SHAPE",
      `limited to ${PLAN_LIMITS.window}`,
    );
    expectError(
      () => planModel(spec([1, 4, 4], [{ type: "convT", filters: 1, size: 3, padding: 3 }, ...head])),
      "BAD_SHAPE",
      "layer 0 (convT 1 3x3 padding 3): padding must be smaller than the window (3)",
    );
    // What fits: the lab's decoder, 32 x 7x7 -> 14x14 -> 28x28.
    const plans = planModel(
      spec(
        [2],
        [
          dense(1568),
          { type: "relu" },
          { type: "reshape", shape: [32, 7, 7] },
          { type: "convT", filters: 32, size: 4, stride: 2, padding: 1 },
          { type: "relu" },
          { type: "convT", filters: 1, size: 4, stride: 2, padding: 1 },
          ...head,
        ],
      ),
    );
    expect(plans.map((p) => p.outputShape)).toEqual([
      [1568],
      [1568],
      [32, 7, 7],
      [32, 14, 14],
      [32, 14, 14],
      [1, 28, 28],
      [784],
      [10],
    ]);
    expect(plans[3].tensors).toEqual([
      { name: "3.weight", shape: [32, 32, 4, 4] },
      { name: "3.bias", shape: [32] },
    ]);
    expect(plans[3].multiplyAdds).toBe(32 * 32 * 16 * 49);
  });

  it("refusals come before anything is allocated", () => {
    const used = rt.usedBytes;
    for (const s of [
      { input: [1, 28, 28], layers: [{ type: "conv2d", filters: 8, size: 1, padding: 10_000 }, ...head] },
      { input: [1, 28, 28], layers: [{ type: "flatten" }, dense(2 ** 24), dense(10)] },
      { input: [1, 2048, 2048], layers: [{ type: "conv2d", filters: 64, size: 3, padding: 1 }, ...head] },
      { input: [512, 32, 32], layers: [{ type: "convT", filters: 512, size: 3 }, ...head] },
      { input: [64, 32, 32], layers: [{ type: "upsample", scale: 16 }, ...head] },
    ]) {
      expect(() => new Model(rt, s as ModelSpec)).toThrow(/beyond the limit|smaller than the window/);
    }
    expect(rt.usedBytes).toBe(used);
  });
});

const models: [string, ModelSpec][] = [
  ["mlp", mlpSpec({ input: [1, 28, 28], hidden: [100, 50], classes: 10, batchnorm: true, dropout: 0.2 })],
  ...Object.keys(ARCH_PRESETS)
    .filter((name) => name !== "mlp")
    .map((name): [string, ModelSpec] => [
      name,
      spec(name.includes("cifar") ? [3, 32, 32] : [1, 28, 28], withClassifier(parseArch(ARCH_PRESETS[name]), 10)),
    ]),
  [
    "strided, padded conv with sigmoid and avgpool",
    spec(
      [3, 20, 20],
      [
        { type: "conv2d", filters: 6, size: 5, stride: 2, padding: 2 },
        { type: "sigmoid" },
        { type: "avgpool", size: 2 },
        ...head,
      ],
    ),
  ],
  [
    "a VAE: dense encoder, sampling, convT and upsample decoder",
    spec(
      [1, 28, 28],
      [
        dense(64),
        { type: "relu" },
        dense(8),
        { type: "sampling" },
        dense(392),
        { type: "relu" },
        { type: "reshape", shape: [8, 7, 7] },
        { type: "convT", filters: 8, size: 4, stride: 2, padding: 1 },
        { type: "relu" },
        { type: "upsample", scale: 2 },
        { type: "convT", filters: 1, size: 3, padding: 1 },
        ...head,
      ],
    ),
  ],
];

describe("imageCost: bytes per image", () => {
  /** Bytes a model's buffers take per image: the growth from a batch of 1 to a batch of 9, over 8. */
  function measured(s: ModelSpec, training: boolean): number {
    const grow = (batch: number): number => {
      const model = new Model(rt, s);
      const before = rt.usedBytes;
      model.allocate(batch, training);
      const used = rt.usedBytes - before;
      model.dispose();
      return used;
    };
    return (grow(9) - grow(1)) / 8;
  }

  for (const [name, s] of models) {
    it(`${name}: an upper bound on what allocate() takes per image, and a close one`, () => {
      const cost = imageCost(s);
      for (const [training, bound] of [
        [false, cost.inference],
        [true, cost.training],
      ] as const) {
        const actual = measured(s, training);
        expect(actual).toBeLessThanOrEqual(bound);
        expect(actual).toBeGreaterThan(bound / 2);
      }
    });
  }

  it("a first dense layer's nonzeros' lists are a fixed amount: MNIST's MLP still trains on all 60,000 images in one batch", () => {
    const mlp = spec([1, 28, 28], [dense(100), { type: "sigmoid" }, dense(10)]);
    const cost = imageCost(mlp);
    // By image and by pixel, 8 bytes a value each, for the 1,337 images of 2^20 pixels.
    expect(cost.scratch.training).toBeGreaterThan(16e6);
    expect(cost.scratch.training).toBeLessThan(17e6);
    // Per image: the input, the layers and their gradients, 9 KB, not the lists (over 20 KB more).
    expect(cost.training).toBeLessThan(9000);
    expect(() => checkTrainingBatch(mlp, 60000)).not.toThrow();
  });

  it("inferenceBatch: as many images as fit the batch budget, from 1 to the wanted batch", () => {
    for (const [, s] of models) {
      const batch = inferenceBatch(s);
      expect(batch).toBeLessThanOrEqual(MAX_INFERENCE_BATCH);
      expect(batch * imageCost(s).inference).toBeLessThanOrEqual(INFERENCE_BATCH_BYTES);
      expect(inferenceBatch(s, 7)).toBe(Math.min(7, batch));
    }
    // 255 ReLUs on 784 values: about 800 KB an image, so about 330 images a batch, not 1000.
    const deep = spec([784], [...relus(255), dense(10)]);
    expect(inferenceBatch(deep)).toBe(Math.floor(INFERENCE_BATCH_BYTES / imageCost(deep).inference));
    expect(inferenceBatch(deep)).toBeLessThan(MAX_INFERENCE_BATCH);
    // At the activation limit, a batch still holds at least one image.
    expect(
      inferenceBatch(spec([PLAN_LIMITS.imageBytes / 16 - 1], [{ type: "relu" }, dense(1)])),
    ).toBeGreaterThanOrEqual(1);
  });
});
