// A tiny static server for demo/dist/ (no dependency), with the COOP/COEP headers that make the
// page cross-origin isolated. `npm run demo`, or `PORT=9000 node scripts/serve-demo.mjs`.
//
// It serves regular files inside its folder and nothing else: paths are resolved and their real
// path (symlinks followed) must stay inside the folder; a file is opened first (without blocking,
// so a FIFO cannot hang it) and what the open handle says is what is served. Every response body is
// streamed with stream.pipeline, so a client that goes away releases the file at once. An error
// is a 500 (or, once the body has started, a cut connection) and one line on stderr; the server
// never stops on one.
import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const MIME = new Map([
  [".html", "text/html; charset=utf-8"],
  [".js", "text/javascript; charset=utf-8"],
  [".mjs", "text/javascript; charset=utf-8"],
  [".css", "text/css; charset=utf-8"],
  [".map", "application/json; charset=utf-8"],
  [".json", "application/json; charset=utf-8"],
  [".svg", "image/svg+xml"],
  [".png", "image/png"],
  [".ico", "image/x-icon"],
  [".wasm", "application/wasm"],
  [".safetensors", "application/octet-stream"],
]);

/** Sent with every response, errors included. */
const HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
};

/** Errors that mean "no such file here" (a 404), not a fault of the server. */
const NOT_FOUND_CODES = new Set(["ENOENT", "ENOTDIR", "ENAMETOOLONG"]);

/** Errors that mean the client went away while its response was being sent: nothing to report. */
const CLIENT_GONE_CODES = new Set([
  "ERR_STREAM_PREMATURE_CLOSE",
  "ECONNRESET",
  "EPIPE",
  "ERR_STREAM_DESTROYED",
  "HPE_INVALID_EOF_STATE",
]);

/** Opening flags: never block on a FIFO or a device, never follow a symlink swapped in after realpath. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

const logToStderr = (line) => process.stderr.write(`${line}\n`);

/** A value as it may appear in a log line: quoted, control characters escaped, bounded. */
function quote(value) {
  const text = String(value);
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const inside = (base, path) => path === base || path.startsWith(base.endsWith(sep) ? base : base + sep);

/**
 * Starts serving `dir`; resolves to the server and its URL once listening (port 0: a free port).
 * `log` receives one line per error (default: standard error).
 */
export function serveDemo({
  dir = join(root, "demo", "dist"),
  port = 8080,
  host = "127.0.0.1",
  log = logToStderr,
} = {}) {
  const base = resolve(dir);

  async function respond(req, res) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...HEADERS, Allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400, { ...HEADERS, "Content-Type": "text/plain; charset=utf-8" }).end("bad request");
      return;
    }
    if (path.endsWith("/")) path += "index.html";
    const notFound = () =>
      res.writeHead(404, { ...HEADERS, "Content-Type": "text/plain; charset=utf-8" }).end("not found");
    const file = resolve(base, "." + path);
    if (path.includes("\0") || file === base || !inside(base, file)) return notFound();

    // The real path, symlinks followed, must still be inside the (real) served folder.
    let real;
    try {
      real = await realpath(file);
      if (!inside(await realpath(base), real)) return notFound();
    } catch (e) {
      if (NOT_FOUND_CODES.has(e?.code)) return notFound();
      throw e;
    }

    let handle;
    try {
      handle = await open(real, OPEN_FLAGS);
    } catch (e) {
      if (NOT_FOUND_CODES.has(e?.code) || e?.code === "ELOOP") return notFound(); // gone, or now a symlink
      throw e;
    }
    try {
      // What the handle is, not what the path was: only a regular file is served.
      const stat = await handle.stat();
      if (!stat.isFile()) return notFound();
      const size = stat.size;
      res.writeHead(200, {
        ...HEADERS,
        "Content-Type": MIME.get(extname(real).toLowerCase()) ?? "application/octet-stream",
        "Content-Length": size,
      });
      if (req.method === "HEAD" || size === 0) {
        res.end();
        return;
      }
      // The size checked is the size sent: a file that grows is cut there, one that shrinks
      // leaves the response short, and a short response is cut rather than ended.
      const body = handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
      await pipeline(
        body,
        async function* checkLength(chunks) {
          let sent = 0;
          for await (const chunk of chunks) {
            sent += chunk.length;
            yield chunk;
          }
          if (sent !== size) throw new Error(`the file shrank from ${size} to ${sent} bytes while it was sent`);
        },
        res,
      );
    } finally {
      await handle.close(); // waits for a read still under way
    }
  }

  function fail(req, res, e) {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      if (CLIENT_GONE_CODES.has(e?.code)) return; // the client went away: nothing to report
    } else {
      res.writeHead(500, { ...HEADERS, "Content-Type": "text/plain; charset=utf-8" }).end("internal error");
    }
    log(`mnist-wasm demo: ${req.method} ${quote(req.url)}: ${quote(e?.message ?? e)}`);
  }

  const server = createServer((req, res) => {
    respond(req, res).catch((e) => {
      try {
        fail(req, res, e);
      } catch (again) {
        res.destroy();
        log(`mnist-wasm demo: ${req.method} ${quote(req.url)}: ${quote(again?.message ?? again)}`);
      }
    });
  });

  // A malformed request, a header overflow or a broken connection: answer 400 when the socket
  // can still take it, otherwise close it. A client that simply hung up is not logged.
  server.on("clientError", (e, socket) => {
    if (!CLIENT_GONE_CODES.has(e?.code)) log(`mnist-wasm demo: client error: ${quote(e?.code ?? e?.message ?? e)}`);
    if (socket.writable && !CLIENT_GONE_CODES.has(e?.code)) {
      socket.end(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
          `${Object.entries(HEADERS)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join("")}Content-Length: 11\r\n\r\nbad request`,
      );
    }
    socket.destroy();
  });

  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      // Errors after start (EMFILE on accept when descriptors run out) are logged; serving goes on.
      server.on("error", (e) => log(`mnist-wasm demo: server error: ${quote(e?.message ?? e)}`));
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      resolvePromise({ server, url: `http://${host}:${actual}/` });
    });
  });
}

/** PORT from the environment: a whole number from 0 to 65535 (0: any free port), default 8080. */
export function portFromEnv(value) {
  if (value === undefined) return 8080;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new Error(`PORT must be a whole number from 0 to 65535, got ${quote(value)}`);
  }
  return Number(value);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  let port;
  try {
    port = portFromEnv(process.env.PORT);
  } catch (e) {
    process.stderr.write(`mnist-wasm demo: ${e.message}\n`);
    process.exit(2);
  }
  try {
    const { url } = await serveDemo({ port });
    console.log(`mnist-wasm demo: ${url}  (Ctrl-C to stop)`);
  } catch (e) {
    process.stderr.write(`mnist-wasm demo: cannot serve on port ${port}: ${e?.message ?? e}\n`);
    process.exit(1);
  }
}
