// npm run bench: every suite in turn. The browser comparison needs Debian's Chromium
// (/usr/bin/chromium; never downloaded); without it, it says so and is skipped. The peer
// comparison needs TensorFlow.js, a devDependency of bench/ only (cd bench && npm ci); without
// it, it says so and is skipped (it runs last: it ends the process when tfjs is missing).
import { existsSync } from "node:fs";

await import("./mlp.mjs");
await import("./cnn.mjs");
await import("./gemm.mjs");
const browser = await import("./browser.mjs");
if (existsSync(browser.CHROMIUM)) {
  console.log("\nBrowser comparison (npm run bench:browser):");
  const code = await browser.main([]);
  if (code !== 0) process.exitCode = code;
} else {
  console.log(`\nbench/browser.mjs: ${browser.CHROMIUM} not found (apt-get install chromium); skipping the browser comparison.`);
}
await import("./peers.mjs");
