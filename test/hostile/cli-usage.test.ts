// The built CLI called wrongly: one probe of each kind of usage mistake (test/cli.test.ts reads
// the whole table of options and values in-process), each one `mnist-wasm: …` line and exit 2;
// --help and --version on standard output with exit 0; and an error nobody catches one line,
// exit 70, no stack trace unless DEBUG is set.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_ERROR_LINE } from "../../cli/errors";
import { expectRefusal, probeCli, type Probe } from "./probe";

const work = mkdtempSync(join(tmpdir(), "mnist-wasm-usage-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A usage refusal whose line also stays within the printed bound and holds no control character. */
function expectUsage(p: Probe, pattern: RegExp): void {
  expectRefusal(p, pattern, 2);
  const line = p.stderr.trimEnd();
  expect(line.length).toBeLessThanOrEqual("mnist-wasm: ".length + MAX_ERROR_LINE);
  expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
}

describe("usage mistakes from the built CLI", () => {
  const fifo = join(work, "fifo.json");
  spawnSync("mkfifo", [fifo]);
  mkdirSync(join(work, "folder.json"));
  const huge = join(work, "huge.json");
  writeFileSync(huge, "");
  truncateSync(huge, 64 * 1024 * 1024);

  it.each([
    ["a zero batch size", ["train", "--batch-size", "0"], /--batch-size <n>.*expected a positive integer/],
    ["NaN as a rate", ["train", "--lr", "NaN"], /--lr <rate>.*expected a positive number/],
    ["a negative epoch count", ["train", "--epochs", "-1"], /--epochs <n>.*expected an integer from 1 to 1000000/],
    ["text as a thread count", ["eval", "--threads", "x"], /--threads <n>.*expected an integer from 1 to 64/],
    ["too many threads", ["predict", "1", "--threads", "65"], /unknown option '--threads'/],
    [
      "an integer beyond 2^53",
      ["classify", "-i", "a", "-o", "b", "--batch-size", "99999999999999999999"],
      /--batch-size/,
    ],
    ["a seed beyond 32 bits", ["experiment", "optimizers", "--seed", "4294967296"], /--seed <n>.*from 0 to 4294967295/],
    ["momentum 1", ["train", "--momentum", "1"], /--momentum <alpha>.*up to \(not including\) 1/],
    ["hex", ["train", "--weight-decay", "0x10"], /--weight-decay/],
    [
      "label smoothing of an MSE loss",
      ["train", "--loss", "mse", "--label-smoothing", "0.1", "--limit", "100"],
      /--label-smoothing: label smoothing applies to a classifier's cross-entropy loss/,
    ],
    [
      "label smoothing of an autoencoder",
      ["train", "--task", "autoencoder", "--label-smoothing", "0.1", "--limit", "100"],
      /--label-smoothing: label smoothing applies to a classifier's cross-entropy loss/,
    ],
    [
      "test-time flips of an autoencoder",
      ["eval", "--model", "models/mnist-vae.safetensors", "--tta"],
      /--tta: test-time flips measure a classifier/,
    ],
    ["1e400", ["train", "--lr", "1e400"], /--lr/],
    ["an escape sequence", ["train", "--lr", "\u001b[2J\u009b1m"], /--lr <rate>.*\\x1b\[2J\\x9b1m/],
    ["a prototype name as a choice", ["train", "--optimizer", "__proto__"], /Allowed choices are sgd/],
    ["a prototype name as a preset", ["train", "--preset", "constructor"], /Allowed choices are speedrun/],
    [
      "a prototype name as an experiment",
      ["experiment", "hasOwnProperty"],
      /unknown experiment "hasOwnProperty"; one of optimizers/,
    ],
    ["__proto__ as an architecture", ["train", "--arch", "__proto__"], /^mnist-wasm: --arch: cannot read "__proto__"/],
    ["constructor as an architecture", ["train", "--arch", "constructor"], /--arch: cannot read "constructor"/],
    ["a malformed layer", ["train", "--arch", "conv:8x3,dense:1e9"], /--arch: cannot read "dense:1e9"/],
    ["a 100 KB architecture", ["train", "--arch", "x".repeat(100_000)], /--arch: cannot read "x{60}…"/],
    [
      "an unknown option",
      ["predict", "--bogus"],
      /^mnist-wasm: unknown option '--bogus' \(see mnist-wasm predict --help\)$/,
    ],
    ["a misspelt option", ["train", "--epoch", "3"], /unknown option '--epoch'; did you mean --epochs\?/],
    ["an unknown command", ["bogus"], /^mnist-wasm: unknown command 'bogus' \(see mnist-wasm --help\)$/],
    [
      "no command",
      [],
      /expected a command: predict, train, eval, quantize, classify, encode, generate, experiment, export/,
    ],
    ["an extra argument", ["eval", "extra"], /too many arguments for 'eval'/],
    ["a missing required option", ["classify", "-o", "out"], /required option '-i, --input <file>' not specified/],
    ["a missing value", ["train", "--lr"], /option '--lr <rate>' argument missing/],
    ["an empty --out", ["train", "--out=", "--limit", "10"], /--out: expected a path, got an empty value/],
    ["an empty --init-from", ["train", "--init-from="], /--init-from: expected a path, got an empty value/],
    ["an empty --data", ["eval", "--data="], /--data: expected a path, got an empty value/],
    ["an empty --model", ["predict", "1", "--model="], /--model: expected a path, got an empty value/],
    ["an empty --input", ["classify", "--input=", "-o", "x"], /--input: expected a path, got an empty value/],
    [
      "an empty --out-dir",
      ["experiment", "optimizers", "--out-dir="],
      /--out-dir: expected a path, got an empty value/,
    ],
    [
      "a rate for a rule without one",
      ["train", "--optimizer", "adadelta", "--lr", "0.1"],
      /--lr: adadelta has no learning rate/,
    ],
    ["more epochs than a run may count", ["train", "--epochs", "1000001"], /expected an integer from 1 to 1000000/],
  ])("%s", (_, args, pattern) => {
    expectUsage(probeCli(args), pattern);
  });

  it.each([
    ["a FIFO", fifo, /fifo\.json: is a FIFO \(named pipe\), not a regular file/],
    ["a folder", join(work, "folder.json"), /folder\.json: is a directory, not a regular file/],
    ["a 64 MiB file", huge, /huge\.json: 67,108,864 bytes is more than the 1 MiB limit for a JSON architecture file/],
  ])("an architecture file that is %s: refused before it is read", (_, path, pattern) => {
    expectUsage(probeCli(["train", "--arch", path, "--limit", "100"]), pattern);
  });
});

describe("help and version", () => {
  it("--help and --version print on standard output and exit 0", () => {
    const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
    const v = probeCli(["--version"]);
    expect([v.code, v.stdout, v.stderr]).toEqual([0, `${version}\n`, ""]);
    const h = probeCli(["train", "--help"]);
    expect([h.code, h.stderr]).toEqual([0, ""]);
    expect(h.stdout).toMatch(/^Usage: mnist-wasm train/);
  });
});

describe("errors nobody catches", () => {
  // Preloaded into the CLI: once main() has installed its handlers, fails in one of three ways.
  const preload = join(work, "fail.mjs");
  writeFileSync(
    preload,
    `
    import { EventEmitter } from "node:events";
    const failures = {
      throw: () => { throw new Error("thrown in a timer\\n  at nowhere (x.js:1:1)"); },
      reject: () => { Promise.reject("rejected\\twith a string"); },
      emit: () => new EventEmitter().emit("error", new Error("an 'error' event without a listener")),
    };
    const wait = setInterval(() => {
      if (process.listenerCount("unhandledRejection") === 0) return;
      clearInterval(wait);
      failures[process.env.FAIL_HOW]();
    }, 1);
    wait.unref();
  `,
  );

  it.each([
    ["throw", /^mnist-wasm: unexpected error: thrown in a timer at nowhere \(x\.js:1:1\)$/],
    ["reject", /^mnist-wasm: unexpected error: rejected with a string$/],
    ["emit", /^mnist-wasm: unexpected error: .*an 'error' event without a listener/],
  ])("an uncaught %s is one line and exit 70", (how, pattern) => {
    const p = probeCli(["eval"], { env: { NODE_OPTIONS: `--import ${preload}`, FAIL_HOW: how } });
    expectRefusal(p, pattern, 70);
  });

  it("with DEBUG set, the stack trace follows the line", () => {
    const p = probeCli(["eval"], { env: { NODE_OPTIONS: `--import ${preload}`, FAIL_HOW: "throw", DEBUG: "1" } });
    expect(p.code).toBe(70);
    expect(p.stderr).toMatch(/^mnist-wasm: unexpected error: thrown in a timer/);
    expect(p.stderr).toMatch(/\n\s+at /);
  });
});

describe("standard input is read within a bound", () => {
  it.each([
    ["an endless line of digits", "7".repeat(1 << 20), /longer than 256 characters/],
    ["a line of zero bytes", "\0".repeat(1 << 20), /longer than 256 characters/],
    ["nothing", "", /no index given on standard input/],
  ])("predict with %s on standard input: one line, exit 2", (_, input, pattern) => {
    expectUsage(probeCli(["predict"], { input }), pattern);
  });
});
