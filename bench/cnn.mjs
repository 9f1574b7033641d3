// CNN training and inference throughput, on one thread and on every core, through the SDK's public API: the "cnn"
// suite of bench/suites.mjs (the LeNet-like `cnn` preset,
// conv3x3x32-relu-maxpool2-conv3x3x64-relu-maxpool2-dense128-relu-dense10, momentum SGD), the
// same code the browser benchmark (bench/browser.mjs) runs in Chromium. Prints a markdown table,
// writes bench/results/cnn.json.
// Run: npm run build && node bench/cnn.mjs   (or npm run bench)
import { benchSuiteInNode } from "./node-suites.mjs";

await benchSuiteInNode("cnn", "CNN (LeNet-like)", "node bench/cnn.mjs");
