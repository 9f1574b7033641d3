// Preloaded into a probed CLI process (node --import): on exit, writes the process's peak
// resident memory in KiB (worker threads included) to the file named by MNIST_WASM_PEAK_RSS_FILE.
import { writeFileSync } from "node:fs";

const file = process.env.MNIST_WASM_PEAK_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
