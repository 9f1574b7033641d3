// The worker pool: kernels run on two threads over one shared memory give the single-thread
// results (bit for bit where the work splits without changing any sum), failures in a worker
// surface as errors, and a runtime that cannot have threads says why and runs on one.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ARCH_PRESETS,
  DeviceData,
  evaluate,
  fit,
  loadMnist,
  Model,
  Optimizer,
  parseArch,
  Random,
  Runtime,
  setWorkerSpawner,
  takeFirst,
  threadsUnavailableReason,
  withClassifier,
  type ModelSpec,
  type WorkerSpawner,
} from "../sdk/node";
import { expectError } from "./support/errors";
import { gradientsOf } from "./support/model";

let one: Runtime;
let two: Runtime;

beforeAll(async () => {
  one = await Runtime.create({ threads: 1 });
  two = await Runtime.create({ threads: 2 });
});
afterAll(() => two.dispose());

function gemmOn(
  rt: Runtime,
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  m: number,
  k: number,
  n: number,
  ta: boolean,
  tb: boolean,
  beta: number,
): Float32Array {
  const [pa, pb, pc] = [a, b, c0].map((v) => {
    const p = rt.alloc(v.length * 4);
    rt.f32(p, v.length).set(v);
    return p;
  });
  rt.gemm(pa, pb, pc, m, k, n, ta, tb, beta);
  const c = rt.f32(pc, m * n).slice();
  [pa, pb, pc].forEach((p) => rt.free(p));
  return c;
}

const normals = (rng: Random, n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

describe("a runtime with two threads", () => {
  it("runs a pool: two threads, shared memory", () => {
    expect(two.features.threads).toBe(2);
    expect(two.features.threadsNote).toBe("");
    expect(two.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(one.features.threads).toBe(1);
    expect(one.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  // Tall shapes split by rows (B wider than one 512-column block in 600 x 300 x 530), wide ones
  // by columns; sizes that are not multiples of the bands or panels; and small products with a B
  // bigger than 512 KB (one image through a wide dense layer), which stay on one thread.
  it.each([
    [100, 784, 100],
    [784, 100, 100],
    [131, 300, 97],
    [600, 300, 530],
    [64, 288, 1210],
    [37, 500, 1001],
    [512, 64, 515],
    [1, 1600, 128],
    [3, 1100, 130],
  ])("gemm %i x %i x %i gives the single-thread result bit for bit, every transpose and beta", (m, k, n) => {
    const rng = new Random(m + k + n);
    const a = normals(rng, m * k);
    const b = normals(rng, k * n);
    const c = normals(rng, m * n);
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      for (const beta of [0, 1, -0.5]) {
        const want = gemmOn(one, a, b, c, m, k, n, ta, tb, beta);
        const got = gemmOn(two, a, b, c, m, k, n, ta, tb, beta);
        const differ = want.findIndex((v, i) => !Object.is(v, got[i]));
        expect(differ, `transA ${ta} transB ${tb} beta ${beta}: first difference`).toBe(-1);
      }
    }
  });

  it("a CNN's forward pass is the same on two threads, for a batch and for one image; its gradients agree to rounding; it trains", async () => {
    const spec: ModelSpec = { input: [1, 28, 28], layers: withClassifier(parseArch(ARCH_PRESETS.cnn), 10) };
    const train = takeFirst(loadMnist("train"), 2000);
    const test = takeFirst(loadMnist("test"), 500);
    const models = [new Model(one, spec, { seed: 3 }), new Model(two, spec, { seed: 3 })];
    const probs = models.map((model) => model.predict(test.images.subarray(0, 50 * 784), 50));
    expect(probs[1]).toEqual(probs[0]);
    // One image at a time (its products too small to share out: all on the caller).
    for (let i = 0; i < 3; i++) {
      const image = test.images.subarray(i * 784, (i + 1) * 784);
      expect(models[1].predict(image, 1)).toEqual(models[0].predict(image, 1));
    }

    // One batch: parameter gradients (dW of a convolution is summed per thread, then added).
    const batch = 64;
    const pixels = Float32Array.from(train.images.subarray(0, batch * 784), (v) => v / 255);
    const grads = models.map((model) => gradientsOf(model, pixels, train.labels.subarray(0, batch)));
    grads[0].forEach((want, i) => {
      const got = grads[1][i];
      let scale = 0;
      let worst = 0;
      want.forEach((v, j) => {
        scale = Math.max(scale, Math.abs(v));
        worst = Math.max(worst, Math.abs(v - got[j]));
      });
      expect(worst / scale, `${models[0].params[i].name}: largest difference / largest gradient`).toBeLessThan(1e-5);
    });

    const optimizer = new Optimizer(two, { name: "momentum", lr: 0.05 });
    await fit(models[1], new DeviceData(two, train), { epochs: 1, batchSize: 50, optimizer, seed: 1 });
    expect(evaluate(models[1], test).accuracy).toBeGreaterThan(0.85);
    models.forEach((m) => m.dispose());
  });

  it("one image through convolutions big enough to share out by filters gives the same probabilities as on one thread", () => {
    // conv1: 64 filters of 5x5 on 64x64 (convDirect, 11.5 MFLOP); conv2: 16 filters over 64x3x3
    // patches on 30x30 (im2col + GEMM, 14 MFLOP); both above the 6 MFLOP a split needs.
    const spec: ModelSpec = {
      input: [1, 64, 64],
      layers: [
        { type: "conv2d", filters: 64, size: 5 },
        { type: "relu" },
        { type: "maxpool", size: 2 },
        { type: "conv2d", filters: 16, size: 3 },
        { type: "relu" },
        { type: "flatten" },
        { type: "dense", units: 10 },
      ],
    };
    const rng = new Random(17);
    const models = [new Model(one, spec, { seed: 5 }), new Model(two, spec, { seed: 5 })];
    // Biases that differ per filter (they start at 0), so a band reading another band's shows.
    models[0].params.forEach((p, i) => {
      if (!p.name.endsWith(".bias")) return;
      const bias = normals(rng, p.value.length);
      p.value.write(bias);
      models[1].params[i].value.write(bias);
    });
    const images = Float32Array.from({ length: 3 * 64 * 64 }, () => rng.uniform());
    const batch = models[0].predict(images, 3);
    expect(models[1].predict(images, 3)).toEqual(batch);
    for (let i = 0; i < 3; i++) {
      const image = images.subarray(i * 64 * 64, (i + 1) * 64 * 64);
      expect(models[1].predict(image, 1)).toEqual(models[0].predict(image, 1));
    }
    // A batch again after single images: the batch's packed weights must have survived them.
    expect(models[1].predict(images, 3)).toEqual(batch);
    models.forEach((m) => m.dispose());
  });

  it("a kernel failing in a worker is an error on the caller's thread, and the pool keeps working", () => {
    const beyond = two.memory.buffer.byteLength + 1024; // an address outside the memory: a trap
    const p = two.alloc(4 * 4);
    expect(() => two.parallel([[["scaleU8", p, p, 4, 1]], [["sigmoidForward", beyond, beyond, 1 << 20]]])).toThrow(
      /failed in a worker thread/,
    );
    const a = new Float32Array(200 * 200).fill(1);
    expect(gemmOn(two, a, a, new Float32Array(200 * 200), 200, 200, 200, false, false, 0)[0]).toBe(200);
    two.free(p);
  });
});

describe("when threads are impossible or not wanted", () => {
  it("threads must be a whole number from 1 to 64", async () => {
    for (const threads of [0, -1, 1.5, 65, NaN]) {
      await expect(Runtime.create({ threads })).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
    }
  });

  it("a page without cross-origin isolation runs on one thread and is told which headers to send", async () => {
    const g = globalThis as { crossOriginIsolated?: boolean };
    g.crossOriginIsolated = false;
    try {
      expect(threadsUnavailableReason()).toMatch(
        /Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/,
      );
      const rt = await Runtime.create({ threads: 2 });
      expect(rt.features.threads).toBe(1);
      expect(rt.features.threadsNote).toMatch(/cross-origin isolated/);
      expect(rt.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    } finally {
      delete g.crossOriginIsolated;
    }
  });

  it.each<[string, WorkerSpawner, RegExp]>([
    [
      "cannot be created",
      () => {
        throw new Error("Content-Security-Policy: worker-src 'none'");
      },
      /kernel workers could not start \(Content-Security-Policy: worker-src 'none'\): running on one thread/,
    ],
    [
      "fails while starting",
      (_body, onMessage) => {
        setTimeout(() => onMessage({ error: "WebAssembly.instantiate(): out of memory" }), 10);
        return { postMessage: () => {}, terminate: () => {} };
      },
      /a kernel worker failed to start: WebAssembly.instantiate\(\): out of memory/,
    ],
  ])("a worker that %s leaves the runtime on one thread, saying why", async (_, spawner, note) => {
    const previous = setWorkerSpawner(spawner);
    try {
      const rt = await Runtime.create({ threads: 2 });
      expect(rt.features.threads).toBe(1);
      expect(rt.features.threadsNote).toMatch(note);
      const a = new Float32Array(300 * 300).fill(1);
      expect(gemmOn(rt, a, a, new Float32Array(300 * 300), 300, 300, 300, false, false, 0)[0]).toBe(300);
    } finally {
      setWorkerSpawner(previous);
    }
  });

  it("a disposed pool refuses work instead of hanging", async () => {
    const rt = await Runtime.create({ threads: 2 });
    rt.dispose();
    expectError(() => rt.parallel([[], [["scaleU8", 0, 0, 0, 1]]]), "BAD_STATE", /disposed/);
  });

  // Memory after garbage collection, in a child process (--expose-gc), as runtimes with a pool
  // are made and disposed: plainly, and while a model of each stays referenced (as a page keeps
  // one). A disposed runtime lets go of its memory and its workers' buffers even so: before, each
  // kept 0.5 MiB of command buffers and its whole wasm memory (here 8 MiB touched) alive.
  it("creating and disposing runtimes with threads returns their memory, even while their models stay referenced", () => {
    const script = `
      const { Runtime, Model, mlpSpec } = await import(${JSON.stringify(new URL("../dist/node.js", import.meta.url).href)});
      const settle = async () => { for (let i = 0; i < 3; i++) { await new Promise((r) => setTimeout(r, 30)); globalThis.gc(); } };
      const kept = [];
      async function cycle(keep) {
        const rt = await Runtime.create({ threads: 2 });
        const p = rt.alloc(8 << 20);
        rt.u8(p, 8 << 20).fill(1);
        const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [64], classes: 10 }));
        if (keep) kept.push(model); else model.dispose();
        rt.dispose();
      }
      const growth = async (keep) => {
        for (let i = 0; i < 5; i++) await cycle(keep);
        await settle();
        const before = process.memoryUsage();
        for (let i = 0; i < 30; i++) await cycle(keep);
        await settle();
        const after = process.memoryUsage();
        return { rssMiB: (after.rss - before.rss) / 2 ** 20, arrayBuffersMiB: (after.arrayBuffers - before.arrayBuffers) / 2 ** 20 };
      };
      console.log(JSON.stringify({ plain: await growth(false), kept: await growth(true), models: kept.length }));`;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    const { plain, kept, models } = JSON.parse(r.stdout);
    expect(models).toBe(35);
    for (const [label, g] of [
      ["plain", plain],
      ["models kept", kept],
    ]) {
      // 30 cycles: a leak of the command buffers alone would be 15 MiB, of the memories 240 MiB.
      expect(g.arrayBuffersMiB, `${label}: array buffers`).toBeLessThan(1);
      expect(g.rssMiB, `${label}: resident memory`).toBeLessThan(12);
    }
  });

  it("a program that never disposes its runtime still exits", () => {
    const script = `
      const { Runtime } = await import(${JSON.stringify(new URL("../dist/node.js", import.meta.url).href)});
      const rt = await Runtime.create({ threads: 2 });
      const p = rt.alloc(512 * 512 * 4);
      rt.gemm(p, p, p, 256, 256, 256, false, false, 0);
      console.log("threads", rt.threads);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("threads 2");
    expect(r.status).toBe(0);
  });
});
