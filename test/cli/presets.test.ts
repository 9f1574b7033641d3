// cli/presets.ts: the speedrun preset does what it is for, run whole as a user runs it: 99% MNIST
// test accuracy from a cold start (docs/RESULTS.md "Speedrun" has its times and seeds).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../support/cli";

describe("train --preset speedrun", () => {
  it("reaches 99.0% MNIST test accuracy in its one epoch (seed 1, two threads)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-speedrun-"));
    try {
      const out = join(dir, "speedrun.safetensors");
      const r = run(["train", "--preset", "speedrun", "--seed", "1", "--threads", "2", "--no-progress", "--out", out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("on 50,000 mnist images");
      expect(r.stdout).toMatch(/epoch 1\/1 /);
      const accuracy = Number(/saved .* \(test accuracy ([\d.]+)%\)/.exec(r.stdout)?.[1]);
      expect(accuracy, r.stdout).toBeGreaterThanOrEqual(99.0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
