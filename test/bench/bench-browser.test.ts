// Smoke test of the browser benchmark (bench/browser.mjs): its quick mode builds the page, runs
// every suite of bench/suites.mjs in Debian's Chromium and in Node with tiny timing budgets, and
// the comparison must have every row with finite positive figures on both sides. Nothing about
// speed is asserted. Without Chromium it is skipped, except on CI where that fails.
import { describe, expect, it } from "vitest";
import { comparisonTable, runBrowserBench } from "../../bench/browser.mjs";
import { chromiumAvailable } from "../support/browser";

const EXPECTED_ROWS = [
  "mlp-train",
  "mlp-epoch",
  "mlp-infer-1000",
  "mlp-infer-1",
  "mlp-infer-1-idle",
  "cnn-train",
  "cnn-winograd-train",
  "cnn-infer-1000",
  "cnn-infer-1",
  "cnn-infer-1-idle",
  "cnn-int8-infer-1000",
  "cnn-int8-infer-1",
  "cnn-int8-infer-1-idle",
  "cnn-winograd-infer-1000",
  "cnn-winograd-infer-1",
  "cnn-winograd-infer-1-idle",
  "gemm-100x784x100",
  "gemm-100x100x10",
  "gemm-256x256x256",
  "gemm-512x512x512",
  "gemm-1024x1024x1024",
];

describe.skipIf(!chromiumAvailable("test/bench/bench-browser.test.ts", "browser benchmark"))(
  "browser benchmark",
  () => {
    it("runs every suite in Chromium and in Node (quick mode) and compares them row by row", async () => {
      const result = await runBrowserBench({ quick: true });
      expect(result.rows.map((r) => r.id)).toEqual(EXPECTED_ROWS);
      for (const row of result.rows) {
        for (const value of [row.node, row.nodeBest, row.chromium, row.chromiumBest, row.ratio]) {
          expect(Number.isFinite(value) && value > 0, `${row.id}: ${value}`).toBe(true);
        }
      }
      // The page was served with COOP/COEP and says which wasm features it used.
      expect(result.chromium.crossOriginIsolated).toBe(true);
      expect(typeof result.chromium.features.relaxedSimd).toBe("boolean");
      expect(typeof result.node.features.relaxedSimd).toBe("boolean");
      const table = comparisonTable(result);
      for (const row of result.rows) expect(table).toContain(`| ${row.workload} | `);
      expect(table).toContain("cross-origin isolated yes");
    }, 60_000);
  },
);
