// The demo server run out of file descriptors: a child process serving with a tiny descriptor
// limit (ulimit -n) is sent more downloads at once than it can open. It must answer what it can,
// turn each failed open into a 500 and one log line, never die, and give every descriptor back.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { get, type ClientRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = new URL("../../scripts/serve-demo.mjs", import.meta.url).pathname;
const DESCRIPTOR_LIMIT = 40;
const DOWNLOADS = 60;
const BIG = 8 * 1024 * 1024;

const work = mkdtempSync(join(tmpdir(), "mnist-wasm-serve-hostile-"));
let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** Starts the server on `dir` in a child limited to `limit` descriptors; resolves to its URL. */
async function serveLimited(
  dir: string,
  limit: number,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const code = `import { serveDemo } from ${JSON.stringify(SCRIPT)};
    const { url } = await serveDemo({ dir: ${JSON.stringify(dir)}, port: 0 });
    console.log(url);`;
  const c = spawn(
    "sh",
    ["-c", `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, "--input-type=module", "-e", code],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  c.stderr!.on("data", (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    c.stdout!.once("data", (chunk) => resolve(String(chunk).trim()));
    c.once("exit", (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
  });
  return { child: c, url, stderr: () => stderr };
}

function download(url: string): Promise<{ req: ClientRequest; outcome: string }> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.pause(); // hold the file open on the server's side
      resolve({ req, outcome: String(res.statusCode) });
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ req, outcome: e.code ?? e.message }));
  });
}

function fetchAll(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode!, bytes }));
    }).on("error", reject);
  });
}

describe("the demo server out of descriptors", () => {
  it("answers 500 with one log line per failed open, stays up, and returns to its baseline", async () => {
    expect(spawnSync("sh", ["-c", "ulimit -n 40"]).status, "sh with ulimit").toBe(0);
    writeFileSync(join(work, "big.bin"), new Uint8Array(BIG));
    writeFileSync(join(work, "index.html"), "<p>demo</p>");
    const started = performance.now();
    const server = await serveLimited(work, DESCRIPTOR_LIMIT);
    child = server.child;
    const descriptors = (): number => readdirSync(`/proc/${server.child.pid}/fd`).length;
    const baseline = descriptors();

    const downloads = await Promise.all(Array.from({ length: DOWNLOADS }, () => download(server.url + "big.bin")));
    const outcomes = downloads.map((d) => d.outcome);
    expect(server.child.exitCode, server.stderr()).toBe(null);
    expect(outcomes.filter((o) => o === "500").length, outcomes.join(" ")).toBeGreaterThan(0);
    expect(
      outcomes.every((o) => ["200", "500", "ECONNRESET", "EPIPE"].includes(o)),
      outcomes.join(" "),
    ).toBe(true);

    for (const d of downloads) d.req.destroy();
    const until = Date.now() + 5000;
    while (descriptors() > baseline && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(descriptors()).toBeLessThanOrEqual(baseline);

    expect(await fetchAll(server.url + "index.html")).toEqual({ status: 200, bytes: 11 });
    expect(await fetchAll(server.url + "big.bin")).toEqual({ status: 200, bytes: BIG });
    expect(server.child.exitCode).toBe(null);

    // One line per 500; a refused connection may add a line of its own.
    const lines = server.stderr().trim().split("\n");
    const failedOpens = lines.filter((l) => /^mnist-wasm demo: GET "\/big\.bin": ".*EMFILE/.test(l));
    expect(failedOpens.length).toBe(outcomes.filter((o) => o === "500").length);
    for (const line of lines) expect(line).toMatch(/^mnist-wasm demo: (GET "\/big\.bin"|server error): ".*EMFILE/);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
    expect((performance.now() - started) / 1000).toBeLessThan(10);
  });
});
