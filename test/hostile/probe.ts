// Probes the built CLI as a hostile user would, and measures what each probe cost: its exit
// code, its output, its peak resident memory (reported from inside the child on exit) and its
// wall time. A probe that outlives its time bound is killed and reported as timed out.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { CLI } from "../support/cli";

const PEAK_RSS_REPORTER = new URL("./report-peak-rss.mjs", import.meta.url).pathname;

/** Bounds every refusal must stay within (the README's "Errors and guarantees" states them). */
export const REFUSAL_LIMITS = {
  /** Peak resident memory of the whole process, MiB. */
  peakRssMiB: 400,
  /** Wall time, seconds: far above a refusal's real cost, low enough to catch a hang. */
  seconds: 10,
};

export interface Probe {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory in MiB, or NaN when the child died before it could report. */
  peakRssMiB: number;
  seconds: number;
  timedOut: boolean;
}

export interface ProbeOptions {
  /** Standard input (default: empty). */
  input?: string | Uint8Array;
  cwd?: string;
  env?: Record<string, string>;
  /** Kill the child after this long (default: twice the refusal bound). */
  timeoutMs?: number;
}

/** Runs `node dist/cli.js …args` and measures it. */
export function probeCli(args: string[], options: ProbeOptions = {}): Probe {
  const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-probe-"));
  const rssFile = join(dir, "peak-rss");
  const started = performance.now();
  const r = spawnSync(process.execPath, ["--import", PEAK_RSS_REPORTER, CLI, ...args], {
    input: options.input ?? "",
    cwd: options.cwd,
    env: { ...process.env, ...options.env, MNIST_WASM_PEAK_RSS_FILE: rssFile },
    encoding: "utf8",
    timeout: options.timeoutMs ?? 2 * REFUSAL_LIMITS.seconds * 1000,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  let peakRssMiB = NaN;
  try {
    peakRssMiB = Number(readFileSync(rssFile, "utf8")) / 1024;
  } catch {
    // killed before its exit handler ran
  }
  rmSync(dir, { recursive: true, force: true });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? "",
    stderr: r.stderr ?? "",
    peakRssMiB,
    seconds,
    timedOut,
  };
}

/**
 * A refusal: exit `code` (default 1), exactly one line on stderr, matching `pattern`, starting
 * with "mnist-wasm: ", no stack trace, within the memory and time bounds.
 */
export function expectRefusal(p: Probe, pattern: RegExp, code = 1, limits = REFUSAL_LIMITS): void {
  const what = `stderr: ${p.stderr}`;
  expect(p.timedOut, `timed out after ${p.seconds.toFixed(1)} s; ${what}`).toBe(false);
  expect(p.code, what).toBe(code);
  const lines = p.stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("Index of a test image"));
  expect(lines.length, what).toBe(1);
  expect(lines[0]).toMatch(/^mnist-wasm: /);
  expect(lines[0]).toMatch(pattern);
  expect(p.stderr).not.toMatch(/\n\s+at /);
  expect(p.peakRssMiB, `peak RSS; ${what}`).toBeLessThan(limits.peakRssMiB);
  expect(p.seconds, `seconds; ${what}`).toBeLessThan(limits.seconds);
}
