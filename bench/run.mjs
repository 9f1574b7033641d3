// npm run bench: every suite in turn, then bench/README.md from the results (bench/report.mjs).
// The browser comparison needs Debian's Chromium (/usr/bin/chromium; never downloaded); without
// it, it says so and is skipped. The peer comparison needs TensorFlow.js, a devDependency of
// bench/ only (cd bench && npm ci --ignore-scripts); without it, it says so and is skipped.
import { existsSync } from "node:fs";
import { writeReport } from "./report.mjs";

await import("./mlp.mjs");
await import("./cnn.mjs");
await import("./gemm.mjs");
const browser = await import("./browser.mjs");
if (existsSync(browser.CHROMIUM)) {
  console.log("\nBrowser comparison (npm run bench:browser):");
  const code = await browser.main([]);
  if (code !== 0) process.exitCode = code;
} else {
  console.log(
    `\nbench/browser.mjs: ${browser.CHROMIUM} not found (apt-get install chromium); ` +
      "skipping the browser comparison.",
  );
}
// bench/peers.mjs ends the process when TensorFlow.js is missing, so it is imported only when present.
let tfjsInstalled = true;
try {
  import.meta.resolve("@tensorflow/tfjs-core");
} catch {
  tfjsInstalled = false;
}
if (tfjsInstalled) await import("./peers.mjs");
else
  console.log(
    "\nbench/peers.mjs: TensorFlow.js is not installed (cd bench && npm ci --ignore-scripts); skipping the peers.",
  );
writeReport();
console.log("\nwrote bench/README.md");
