// The demo's static server (scripts/serve-demo.mjs), in this process: what it serves and what it
// refuses, the headers on every answer, and that aborted downloads give back every descriptor.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { get, request, type IncomingMessage, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { portFromEnv, serveDemo } from "../scripts/serve-demo.mjs";

const SCRIPT = new URL("../scripts/serve-demo.mjs", import.meta.url).pathname;
const BIG = 8 * 1024 * 1024;

let work: string;
let server: Server;
let url: string;
const logged: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "mnist-wasm-serve-"));
  const dir = join(work, "site");
  const outside = join(work, "outside");
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(dir, "index.html"), "<!doctype html><p>demo</p>");
  writeFileSync(
    join(dir, "big.bin"),
    new Uint8Array(BIG).map((_, i) => i * 7),
  );
  writeFileSync(join(dir, "empty.js"), "");
  writeFileSync(join(outside, "secret.txt"), "outside the served folder");
  spawnSync("mkfifo", [join(dir, "pipe.js")]);
  mkdirSync(join(dir, "folder.js"));
  symlinkSync(join(dir, "index.html"), join(dir, "alias.html")); // inside: served
  symlinkSync(join(outside, "secret.txt"), join(dir, "secret.txt")); // a file outside: not served
  symlinkSync(outside, join(dir, "elsewhere")); // a folder outside: nothing under it served
  symlinkSync("/etc/passwd", join(dir, "passwd"));
  symlinkSync("/dev/zero", join(dir, "zero.bin"));
  // A loop is the server's own problem, a 500 (permissions cannot make one as root).
  symlinkSync("loop-b", join(dir, "loop-a"));
  symlinkSync("loop-a", join(dir, "loop-b"));
  ({ server, url } = await serveDemo({ dir, port: 0, log: (line) => logged.push(line) }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
  rmSync(work, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

function fetchRaw(path: string, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
    req.on("error", reject);
    req.end();
  });
}

function expectDemoHeaders(a: Answer): void {
  expect(a.headers["x-content-type-options"]).toBe("nosniff");
  expect(a.headers["cross-origin-opener-policy"]).toBe("same-origin");
  expect(a.headers["cross-origin-embedder-policy"]).toBe("require-corp");
}

const openDescriptors = (): number => readdirSync("/proc/self/fd").length;

/** Starts a download of `path` and cuts it as soon as the first bytes of the body arrive. */
function abortAfterFirstChunk(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(url + path, { agent: false }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", (e) => (req.destroyed ? resolve() : reject(e)));
  });
}

async function descriptorsSettleTo(baseline: number, ms = 5000): Promise<number> {
  const until = Date.now() + ms;
  let now = openDescriptors();
  while (now > baseline && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    now = openDescriptors();
  }
  return now;
}

describe("the demo server", () => {
  it("gives back every descriptor when hundreds of downloads are aborted mid-body, and still serves", async () => {
    const before = await fetchRaw("big.bin");
    expect(before.status).toBe(200);
    const baseline = await descriptorsSettleTo(openDescriptors());
    const rounds = 6;
    const perRound = 50;
    for (let r = 0; r < rounds; r++)
      await Promise.all(Array.from({ length: perRound }, () => abortAfterFirstChunk("big.bin")));
    expect(await descriptorsSettleTo(baseline)).toBeLessThanOrEqual(baseline);
    const after = await fetchRaw("big.bin");
    expect(after.status).toBe(200);
    expect(after.body.length).toBe(BIG);
    expect(after.body.equals(before.body)).toBe(true);
    expect(logged, "a client going away is not an error").toEqual([]);
  });

  it("serves regular files inside its folder with their type, length and headers (GET and HEAD)", async () => {
    for (const [path, type, body] of [
      ["", "text/html; charset=utf-8", "<!doctype html><p>demo</p>"],
      ["alias.html", "text/html; charset=utf-8", "<!doctype html><p>demo</p>"],
      ["empty.js", "text/javascript; charset=utf-8", ""],
    ] as const) {
      const a = await fetchRaw(path);
      expect(a.status, path).toBe(200);
      expect(a.headers["content-type"]).toBe(type);
      expect(a.body.toString()).toBe(body);
      expectDemoHeaders(a);
      const head = await fetchRaw(path, "HEAD");
      expect(head.status).toBe(200);
      expect(Number(head.headers["content-length"])).toBe(Buffer.byteLength(body));
      expect(head.body.length).toBe(0);
    }
  });

  it("answers 404 for everything that is not a regular file inside its folder, without hanging on a FIFO", async () => {
    for (const path of [
      "missing.js",
      "pipe.js",
      "folder.js",
      "folder.js/",
      "secret.txt",
      "elsewhere/secret.txt",
      "passwd",
      "zero.bin",
      "..%2foutside%2fsecret.txt",
      "%2e%2e/outside/secret.txt",
      "a%00b",
      "index.html%00.js",
      `${"x".repeat(5000)}.js`,
    ]) {
      const a = await fetchRaw(path);
      expect(a.status, path).toBe(404);
      expect(a.body.toString()).toBe("not found");
      expectDemoHeaders(a);
    }
  });

  it("answers 405 for other methods and 400 for an undecodable path, with the same headers", async () => {
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const a = await fetchRaw("index.html", method);
      expect(a.status).toBe(405);
      expect(a.headers.allow).toBe("GET, HEAD");
      expectDemoHeaders(a);
    }
    const bad = await fetchRaw("%E0%A4%A");
    expect(bad.status).toBe(400);
    expectDemoHeaders(bad);
  });

  it("turns a failure of its own into a 500 and one log line, and serves on", async () => {
    logged.length = 0;
    const a = await fetchRaw("loop-a");
    expect(a.status).toBe(500);
    expectDemoHeaders(a);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^mnist-wasm demo: GET "\/loop-a": .*ELOOP/);
    expect(logged[0]).not.toContain("\n");
    expect((await fetchRaw("index.html")).status).toBe(200);
  });

  it("answers a malformed request with 400 and nosniff, logs one line, and serves on", async () => {
    logged.length = 0;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(url).port), "127.0.0.1");
      let text = "";
      socket.on("data", (c) => (text += c));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.end("NOT HTTP AT ALL\r\n\r\n");
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toMatch(/X-Content-Type-Options: nosniff/i);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^mnist-wasm demo: client error: /);
    expect((await fetchRaw("index.html")).status).toBe(200);
  });
});

describe("PORT", () => {
  it("is a whole number from 0 to 65535, 8080 when unset", () => {
    expect(portFromEnv(undefined)).toBe(8080);
    expect(portFromEnv("0")).toBe(0);
    expect(portFromEnv("9000")).toBe(9000);
    expect(portFromEnv("65535")).toBe(65535);
    for (const bad of ["", " ", "x", "-1", "65536", "1e3", "0x50", "80.5", " 80", "99999999999999999999", "8080\n"]) {
      expect(() => portFromEnv(bad), JSON.stringify(bad)).toThrow(/^PORT must be a whole number from 0 to 65535/);
    }
  });

  it("a bad PORT is one line and exit 2; a port in use is one line and exit 1", async () => {
    for (const port of ["abc", "70000", "-5"]) {
      const r = spawnSync(process.execPath, [SCRIPT], {
        env: { ...process.env, PORT: port },
        encoding: "utf8",
        timeout: 10_000,
      });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^mnist-wasm demo: PORT must be a whole number from 0 to 65535, got "[^"]*"\n$/);
    }
    const busy = new URL(url).port;
    const r = spawnSync(process.execPath, [SCRIPT], {
      env: { ...process.env, PORT: busy },
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^mnist-wasm demo: cannot serve on port ${busy}: .*EADDRINUSE.*\\n$`));
  });
});
