// Saving is atomic: a save killed at any moment (SIGKILL, no chance to clean up) leaves the model
// file either as it was or as the new complete one, never truncated. Runs the built SDK
// (dist/, which npm test builds first) in a child process that saves in a loop.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkWritable, deserializeModel, MnistWasmError, Random, Runtime, writeFileAtomic } from "../sdk/node";

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
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, path], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let saves = 0;
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d: Buffer) => {
      saves += (d.toString().match(/saved/g) ?? []).length;
      if (saves >= after && !child.killed) setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve(saves) : reject(new Error(`child exited ${code}: ${stderr}`)),
    );
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
    // Killed saves leave temporary files; the next save to the same target removes them.
    await writeFileAtomic(path, Uint8Array.from([1]));
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
  }, 120_000);
});

describe("Ctrl-C during train", () => {
  it("stops after the current batch, saves a checkpoint, and --init-from resumes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-sigint-"));
    const out = join(dir, "run.safetensors");
    const cli = new URL("../dist/cli.js", import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      [cli, "train", "--limit", "20000", "--epochs", "50", "--optimizer", "momentum", "--out", out],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (/epoch +2\/50/.test(stdout) && !child.killed) child.kill("SIGINT");
    });
    // Interrupted: exit 130 after the checkpoint, so that `train && next` stops.
    expect(await exit).toBe(130);
    expect(stdout).toMatch(/interrupted: stopping after this batch/);
    expect(stdout).toMatch(/saved a checkpoint after 2 complete epochs/);
    const { model, metadata, optimizerState } = deserializeModel(rt, readFileSync(out), out);
    expect(metadata.epochs).toBe("2");
    // Saved part-way through epoch 3: no test measured these weights, so none is recorded.
    expect(metadata.testAccuracy).toBeUndefined();
    expect(metadata.loss).toBeUndefined();
    expect(optimizerState?.settings.name).toBe("momentum");
    model.dispose();
    const resumed = spawn(
      process.execPath,
      [cli, "train", "--limit", "20000", "--epochs", "1", "--optimizer", "momentum", "--init-from", out, "--out", out],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let resumedOut = "";
    resumed.stdout.on("data", (d: Buffer) => (resumedOut += d.toString()));
    expect(await new Promise((resolve) => resumed.on("exit", resolve))).toBe(0);
    expect(resumedOut).toMatch(/resuming momentum from its saved state/);
    expect(resumedOut).toMatch(/epoch 3\/3 /);
  }, 120_000);
});

/** Everything about a path that a write must keep: its kind, a link's text, a file's bytes and mode. */
function describePath(path: string): { kind: string; link?: string; mode?: number; rdev?: number } {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return { kind: "missing" };
  if (st.isSymbolicLink()) return { kind: "symlink", link: readlinkSync(path) };
  if (st.isFile()) return { kind: "file", mode: st.mode & 0o7777 };
  if (st.isCharacterDevice()) return { kind: "character device", rdev: st.rdev };
  if (st.isFIFO()) return { kind: "fifo" };
  if (st.isDirectory()) return { kind: "directory" };
  return { kind: "other" };
}

/** The BAD_FILE error a promise rejects with (fails the test when it resolves or rejects otherwise). */
async function writeRefusal(p: Promise<unknown>): Promise<MnistWasmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "a refusal").toBeInstanceOf(MnistWasmError);
  expect((e as MnistWasmError).code).toBe("BAD_FILE");
  expect((e as Error).message).not.toContain("\n");
  return e as MnistWasmError;
}

/** Writes `bytes` to a FIFO with a `cat` reading it; the reader's output. */
async function writeThroughFifo(fifo: string, bytes: Uint8Array): Promise<Buffer> {
  const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
  const chunks: Buffer[] = [];
  reader.stdout.on("data", (d: Buffer) => chunks.push(d));
  const done = new Promise((resolve) => reader.on("exit", resolve));
  // cat opens the FIFO soon after it starts; until it has, there is no reader.
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFileAtomic(fifo, bytes);
      break;
    } catch (e) {
      if (attempt > 200 || !/no reader/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await done;
  return Buffer.concat(chunks);
}

describe("writeFileAtomic writes to what the target is, never replacing it with something else", () => {
  const bytes = new TextEncoder().encode("7\n2\n1\n");

  // Each case sets up a target in a fresh folder and says where the bytes must end up.
  const cases: { name: string; setup: (dir: string) => { target: string; lands: string } }[] = [
    { name: "a new path", setup: (dir) => ({ target: join(dir, "out.txt"), lands: join(dir, "out.txt") }) },
    {
      name: "a regular file (its mode kept)",
      setup: (dir) => {
        writeFileSync(join(dir, "out.txt"), "old");
        chmodSync(join(dir, "out.txt"), 0o640);
        return { target: join(dir, "out.txt"), lands: join(dir, "out.txt") };
      },
    },
    {
      name: "a symlink to a file",
      setup: (dir) => {
        writeFileSync(join(dir, "real.txt"), "old");
        symlinkSync("real.txt", join(dir, "link.txt"));
        return { target: join(dir, "link.txt"), lands: join(dir, "real.txt") };
      },
    },
    {
      name: "a symlink to a file in another folder",
      setup: (dir) => {
        mkdirSync(join(dir, "a"));
        mkdirSync(join(dir, "b"));
        writeFileSync(join(dir, "b", "real.txt"), "old");
        symlinkSync("../b/real.txt", join(dir, "a", "link.txt"));
        return { target: join(dir, "a", "link.txt"), lands: join(dir, "b", "real.txt") };
      },
    },
    {
      name: "a dangling symlink (its target is created)",
      setup: (dir) => {
        symlinkSync("missing.txt", join(dir, "link.txt"));
        return { target: join(dir, "link.txt"), lands: join(dir, "missing.txt") };
      },
    },
    {
      name: "a chain of symlinks to a file",
      setup: (dir) => {
        writeFileSync(join(dir, "real.txt"), "old");
        symlinkSync("real.txt", join(dir, "l2"));
        symlinkSync(join(dir, "l2"), join(dir, "l1"));
        return { target: join(dir, "l1"), lands: join(dir, "real.txt") };
      },
    },
    {
      name: "a chain of symlinks ending nowhere",
      setup: (dir) => {
        symlinkSync("missing.txt", join(dir, "l2"));
        symlinkSync("l2", join(dir, "l1"));
        return { target: join(dir, "l1"), lands: join(dir, "missing.txt") };
      },
    },
  ];

  for (const c of cases) {
    it(`replaces atomically through ${c.name}, the target keeping its kind`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-write-"));
      const { target, lands } = c.setup(dir);
      const others = readdirSync(dir, { recursive: true })
        .map(String)
        .filter((n) => join(dir, n) !== lands);
      const before = new Map(others.map((n) => [n, describePath(join(dir, n))]));
      const landsBefore = describePath(lands);
      await writeFileAtomic(target, bytes);
      expect(readFileSync(lands, "utf8")).toBe("7\n2\n1\n");
      expect(readFileSync(target, "utf8")).toBe("7\n2\n1\n");
      // Every other entry (the links above all) is as it was, and no temporary file is left.
      for (const [n, was] of before) expect(describePath(join(dir, n)), n).toEqual(was);
      const after = readdirSync(dir, { recursive: true })
        .map(String)
        .filter((n) => join(dir, n) !== lands);
      expect(after.sort()).toEqual([...before.keys()].sort());
      if (landsBefore.kind === "missing") expect(describePath(lands).kind).toBe("file");
      else expect(describePath(lands)).toEqual(landsBefore);
    });
  }

  it("writes to /dev/null and a symlink to it directly: the device stays a device", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-write-"));
    const device = describePath("/dev/null");
    expect(device.kind).toBe("character device");
    symlinkSync("/dev/null", join(dir, "null-link"));
    await writeFileAtomic("/dev/null", bytes);
    await writeFileAtomic(join(dir, "null-link"), bytes);
    expect(describePath("/dev/null")).toEqual(device);
    expect(describePath(join(dir, "null-link"))).toEqual({ kind: "symlink", link: "/dev/null" });
    expect(readdirSync(dir)).toEqual(["null-link"]);
    expect(readdirSync("/dev").filter((n) => n.startsWith("null."))).toEqual([]);
  });

  it("writes to a FIFO's reader, directly or through a symlink: the FIFO stays a FIFO", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-write-"));
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    symlinkSync("pipe", join(dir, "pipe-link"));
    const big = new Uint8Array(1 << 20).map((_, i) => i % 251); // more than a pipe's buffer
    expect(Buffer.compare(await writeThroughFifo(fifo, big), Buffer.from(big))).toBe(0);
    expect((await writeThroughFifo(join(dir, "pipe-link"), bytes)).toString()).toBe("7\n2\n1\n");
    expect(describePath(fifo)).toEqual({ kind: "fifo" });
    expect(readdirSync(dir).sort()).toEqual(["pipe", "pipe-link"]);
  });

  it("a pre-check finds a FIFO's reader and keeps it until the write: the reader gets the whole file, not an early end", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-write-"));
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    reader.stdout.on("data", (d: Buffer) => chunks.push(d));
    const ended = new Promise((resolve) => reader.on("exit", resolve));
    for (let attempt = 0; ; attempt++) {
      try {
        checkWritable(fifo);
        break;
      } catch (e) {
        if (attempt > 200 || !/no reader/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    checkWritable(fifo); // a second check of the same FIFO holds nothing more
    // The work between the check and the write: the reader must still be there, waiting.
    await new Promise((r) => setTimeout(r, 300));
    expect(reader.exitCode).toBe(null);
    const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
    await writeFileAtomic(fifo, big);
    await ended;
    expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(big))).toBe(0);
    expect(describePath(fifo)).toEqual({ kind: "fifo" });
  });

  // Each refused kind: one line, at once, and nothing in the folder changed.
  const refused: { name: string; pattern: RegExp; setup: (dir: string) => string | Promise<string> }[] = [
    { name: "a directory", pattern: /is a directory/, setup: (dir) => (mkdirSync(join(dir, "d")), join(dir, "d")) },
    {
      name: "a symlink to a directory",
      pattern: /is a directory/,
      setup: (dir) => (mkdirSync(join(dir, "d")), symlinkSync("d", join(dir, "l")), join(dir, "l")),
    },
    {
      name: "a FIFO without a reader",
      pattern: /FIFO \(named pipe\) with no reader/,
      setup: (dir) => (execFileSync("mkfifo", [join(dir, "p")]), join(dir, "p")),
    },
    {
      name: "a socket",
      pattern: /is a socket; refusing/,
      setup: async (dir) => {
        const server = createServer();
        await new Promise<void>((r) => server.listen(join(dir, "s"), r));
        server.unref();
        return join(dir, "s");
      },
    },
    {
      name: "a path in a missing folder",
      pattern: /the folder .*missing does not exist/,
      setup: (dir) => join(dir, "missing", "out.txt"),
    },
    {
      name: "a dangling symlink into a missing folder",
      pattern: /does not exist/,
      setup: (dir) => (symlinkSync("missing/out.txt", join(dir, "l")), join(dir, "l")),
    },
    {
      name: "a path below a regular file",
      pattern: /not a folder/,
      setup: (dir) => (writeFileSync(join(dir, "f"), "x"), join(dir, "f", "out.txt")),
    },
    {
      name: "a loop of symlinks",
      pattern: /cannot write/,
      setup: (dir) => (symlinkSync("b", join(dir, "a")), symlinkSync("a", join(dir, "b")), join(dir, "a")),
    },
  ];

  for (const r of refused) {
    it(`refuses ${r.name} with one line, at once, changing nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-write-"));
      const target = await r.setup(dir);
      const before = readdirSync(dir, { recursive: true }).map(String).sort();
      const kinds = before.map((n) => describePath(join(dir, n)));
      const started = performance.now();
      const e = await writeRefusal(writeFileAtomic(target, bytes));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(e.message).toMatch(r.pattern);
      expect(readdirSync(dir, { recursive: true }).map(String).sort()).toEqual(before);
      expect(before.map((n) => describePath(join(dir, n)))).toEqual(kinds);
      // The pre-check says the same before any work, a FIFO without a reader included.
      expect(() => checkWritable(target)).toThrow(r.pattern);
    });
  }
});

describe("stale temporary files", () => {
  it("are removed by the next save to the same target: those of dead processes, of this one, or over an hour old", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-stale-"));
    const target = join(dir, "model.safetensors");
    writeFileSync(target, "old");
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!;
    const now = Date.now();
    const temp = (pid: number, time = now): string => `model.safetensors.mnist-wasm.${pid}.${time}.tmp`;
    const stale = [temp(deadPid), temp(deadPid, now - 5000), temp(process.pid, now - 1), temp(process.ppid, now - 3)];
    // A live process's save in progress, and files that are not this target's temporary files.
    const kept = [
      temp(process.ppid),
      "model.safetensors.tmp",
      "other.safetensors.mnist-wasm." + deadPid + ".1.tmp",
      `model.safetensors.mnist-wasm.${deadPid}.x.tmp`,
      "notes.txt",
    ];
    for (const name of [...stale, ...kept]) writeFileSync(join(dir, name), "partial");
    const hourAgo = (now - 2 * 3600_000) / 1000;
    utimesSync(join(dir, temp(process.ppid, now - 3)), hourAgo, hourAgo);
    await writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
    expect(readdirSync(dir).sort()).toEqual(["model.safetensors", ...kept].sort());
    expect([...readFileSync(target)]).toEqual([1, 2, 3]);
  });

  it("does not outlive a process that exits during a save", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-wasm-exit-"));
    const target = join(dir, "model.safetensors");
    writeFileSync(target, "old");
    // The child exits (as a second Ctrl-C would) as soon as its temporary file exists.
    const child = `
      import { writeFileAtomic } from ${JSON.stringify(NODE_ENTRY)};
      import { readdirSync } from "node:fs";
      const [dir, target] = process.argv.slice(-2);
      const save = writeFileAtomic(target, new Uint8Array(128 * 2 ** 20).fill(7));
      setInterval(() => { if (readdirSync(dir).some((n) => n.endsWith(".tmp"))) process.exit(130); }, 0);
      await save;
      process.exit(3);
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", child, dir, target], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(130);
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
    expect(readFileSync(target, "utf8")).toBe("old");
  });
});
