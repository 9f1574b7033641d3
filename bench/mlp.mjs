// MLP 784-100-10 training and inference throughput, on one thread and on every core, through the SDK's public API:
// the "mlp" suite of bench/suites.mjs, the same code the browser benchmark (bench/browser.mjs)
// runs in Chromium. Prints a markdown table, writes bench/results/mlp.json.
// Run: npm run build && node bench/mlp.mjs   (or npm run bench)
import { benchSuiteInNode } from "./node-suites.mjs";

await benchSuiteInNode("mlp", "MLP 784-100-10 sigmoid", "node bench/mlp.mjs");
