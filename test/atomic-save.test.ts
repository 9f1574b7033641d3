// Saving is atomic: a save killed at any moment (SIGKILL, no chance to clean up) leaves the model
// file either as it was or as the new complete one, never truncated. Runs the built SDK
// (dist/, which npm test builds first) in a child process that saves in a loop.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deserializeModel, Random, Runtime } from "../sdk/node";

const NODE_ENTRY = new URL("../dist/node.js", import.meta.url).href;

/** The child: build a 12 MB model once, then save it over and over, saying "saved N" after each. */
const CHILD = `
import { Runtime, Model, mlpSpec, saveModelFile } from ${JSON.stringify(NODE_ENTRY)};
const rt = await Runtime.create();
const model = new Model(rt, mlpSpec({ input: [1, 28, 28], hidden: [4000], classes: 10 }), { seed: 1 });
for (let i = 1; ; i++) {
  await saveModelFile(process.argv.at(-1), model, { generation: String(i) });
  process.stdout.write("saved " + i + "\\n");
}
`;

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});

/** Starts the child, waits for `after` complete saves, then kills it `delayMs` later. */
function saveThenKill(path: string, after: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, path], { stdio: ["ignore", "pipe", "pipe"] });
    let saves = 0;
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d: Buffer) => {
      saves += (d.toString().match(/saved/g) ?? []).length;
      if (saves >= after && !child.killed) setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("exit", (code, signal) => (signal === "SIGKILL" ? resolve(saves) : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
}

describe("atomic save", () => {
  it("a save killed mid-way never leaves a truncated or corrupt model file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-atomic-"));
    const path = join(dir, "model.safetensors");
    const rng = new Random(9);
    let lastGeneration = 0;
    for (let round = 0; round < 6; round++) {
      // Kill at a random moment inside the next saves (each takes tens of milliseconds).
      await saveThenKill(path, 1, rng.int(60));
      const { model, metadata } = deserializeModel(rt, readFileSync(path), path);
      const generation = Number(metadata.generation);
      expect(generation).toBeGreaterThanOrEqual(1);
      expect(model.paramCount).toBe(784 * 4000 + 4000 + 4000 * 10 + 10);
      model.dispose();
      lastGeneration = generation;
    }
    expect(lastGeneration).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe("Ctrl-C during train", () => {
  it("stops after the current batch, saves a checkpoint, and --init-from resumes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-sigint-"));
    const out = join(dir, "run.safetensors");
    const cli = new URL("../dist/cli.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, "train", "--limit", "20000", "--epochs", "50", "--optimizer", "momentum", "--out", out],
      { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (/epoch +2\/50/.test(stdout) && !child.killed) child.kill("SIGINT");
    });
    expect(await exit).toBe(0);
    expect(stdout).toMatch(/interrupted: stopping after this batch/);
    expect(stdout).toMatch(/saved a checkpoint after 2 complete epochs/);
    const { model, metadata, optimizerState } = deserializeModel(rt, readFileSync(out), out);
    expect(metadata.epochs).toBe("2");
    expect(optimizerState?.settings.name).toBe("momentum");
    model.dispose();
    const resumed = spawn(process.execPath, [cli, "train", "--limit", "20000", "--epochs", "1", "--optimizer", "momentum",
      "--init-from", out, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
    let resumedOut = "";
    resumed.stdout.on("data", (d: Buffer) => (resumedOut += d.toString()));
    expect(await new Promise((resolve) => resumed.on("exit", resolve))).toBe(0);
    expect(resumedOut).toMatch(/resuming momentum from its saved state/);
    expect(resumedOut).toMatch(/epoch 3\/3 /);
  }, 120_000);
});
