// A tiny static server for demo/dist/ (no dependency), with the COOP/COEP headers that make the
// page cross-origin isolated. `npm run demo`, or `PORT=9000 node scripts/serve-demo.mjs`.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".safetensors": "application/octet-stream",
};

/** Starts serving `dir`; resolves to the server and its URL once listening (port 0: a free port). */
export function serveDemo({ dir = join(root, "demo", "dist"), port = 8080, host = "127.0.0.1" } = {}) {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const headers = {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-cache",
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400, headers).end("bad request");
      return;
    }
    if (path.endsWith("/")) path += "index.html";
    const file = resolve(base, "." + path);
    let size = -1;
    if (file === base || file.startsWith(base + sep)) {
      try {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      } catch {
        // not found
      }
    }
    if (size < 0) {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("not found");
      return;
    }
    res.writeHead(200, {
      ...headers,
      "Content-Type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": size,
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      resolvePromise({ server, url: `http://${host}:${actual}/` });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const port = Number(process.env.PORT ?? 8080);
  const { url } = await serveDemo({ port });
  console.log(`mnist-wasm demo: ${url}  (Ctrl-C to stop)`);
}
