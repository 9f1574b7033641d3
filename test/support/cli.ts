// Running the built command line as a user runs it: `node dist/cli.js …` (npm test builds dist).
import { spawnSync } from "node:child_process";
import { expect } from "vitest";

export const CLI = new URL("../../dist/cli.js", import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args`, feeding `input` on stdin (empty by default). */
export function run(args: string[], input = ""): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8", timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failure is one line on stderr (the predict prompt aside), a non-zero exit, and no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("Index of a test image"));
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
