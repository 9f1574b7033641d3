// bench/README.md is generated from bench/results/*.json by bench/report.mjs. The committed page
// must be exactly what the script writes from the committed results (a results file updated
// without `npm run bench:report` fails here), and every row of every results file must appear in
// its table, formatted as the script formats it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  formatFigure,
  formatPeerCell,
  formatRatio,
  PEER_COLUMNS,
  README,
  readResults,
  renderReport,
  RESULT_NAMES,
  RESULTS_DIR,
  TARGETS,
  type Results,
} from "../../bench/report.mjs";

const results = readResults();
const page = readFileSync(README, "utf8");

/** The body rows of the table whose header's first cell is `first`, as cells, keyed by the first cell. */
function tableRows(markdown: string, first: string): Map<string, string[]> {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`| ${first} |`));
  expect(start, `a table headed "${first}"`).toBeGreaterThanOrEqual(0);
  const rows = new Map<string, string[]>();
  for (let i = start + 2; i < lines.length && lines[i].startsWith("|"); i++) {
    const cells = lines[i]
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.set(cells[0], cells);
  }
  return rows;
}

/** The cells of the row labelled `label` in the table headed `first`. */
function row(markdown: string, first: string, label: string): string[] {
  const cells = tableRows(markdown, first).get(label);
  expect(cells, `a row "${label}" in the table headed "${first}"`).toBeDefined();
  return cells!;
}

const copy = (r: Results): Results => JSON.parse(JSON.stringify(r));

describe("bench/README.md", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-report-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is what `node bench/report.mjs` writes from the committed results", () => {
    const out = join(dir, "README.md");
    const script = fileURLToPath(new URL("../../bench/report.mjs", import.meta.url));
    execFileSync(process.execPath, [script, "--out", out], { stdio: "pipe" });
    expect(readFileSync(out, "utf8")).toBe(page);
  });

  it("has every results file to draw from", () => {
    for (const name of RESULT_NAMES) expect(existsSync(join(RESULTS_DIR, `${name}.json`)), `${name}.json`).toBe(true);
  });

  it("shows every row of the mlp and cnn suites, one column per thread count", () => {
    for (const suite of [results.mlp, results.cnn]) {
      suite.runs.forEach((run: any, column: number) => {
        for (const r of run.rows) expect(row(page, r.suite, r.name)[1 + column]).toBe(formatFigure(r.value, r.unit));
      });
    }
  });

  it("shows every GEMM row of every build, the ceiling and the core contention", () => {
    const withBest = (r: any) => `${formatFigure(r.value, r.unit)} (best ${formatFigure(r.best, r.unit)})`;
    results.gemm.builds.forEach((build: any, column: number) => {
      for (const r of build.rows) expect(row(page, "GEMM", r.name)[1 + column]).toBe(withBest(r));
    });
    const ceiling = row(page, "GEMM", "the 5x8 micro-kernel alone, panels in L1 (the ceiling)");
    const { plain, relaxed } = results.gemm.microKernelAlone;
    expect(ceiling.slice(1, 3)).toEqual([withBest(plain), withBest(relaxed)]);
    for (const [name, ms] of Object.entries(results.gemm.coreContentionMs as Record<string, number>)) {
      expect(page).toContain(`${name} ${ms.toFixed(2)} ms`);
    }
  });

  it("shows every peer row: each library's figure and the speed ratios", () => {
    for (const r of results.peers.rows) {
      const cells = row(page, "workload", r.workload);
      expect(cells.slice(1, 5)).toEqual(PEER_COLUMNS.map((library) => formatPeerCell(r[library], r.unit)));
      expect(cells[5]).toBe(`${formatRatio(r.speedupVsTfjsWasm)} / ${formatRatio(r.threadsSpeedupVsTfjsWasm)}`);
      expect(cells[6]).toBe(formatRatio(r.threadsSpeedupVsOneThread));
    }
  });

  it("shows every browser row: Node, Chromium and their ratio", () => {
    for (const r of results.browser.rows) {
      const cells = row(page, "workload (one thread)", r.workload);
      const expected = [formatFigure(r.node, r.unit), formatFigure(r.chromium, r.unit), formatRatio(r.ratio)];
      expect(cells.slice(1)).toEqual(expected);
    }
  });

  it("states under each table the command, date and load average its file records", () => {
    for (const name of RESULT_NAMES) {
      const json = results[name];
      const load = (json.machine ?? json).loadAverage.map((l: number) => l.toFixed(2)).join(" ");
      const line = page.split("\n").find((l) => l.startsWith(`Measured by \`${json.command}\``));
      expect(line, json.command).toBeDefined();
      expect(line).toContain(`${json.date.slice(0, 16).replace("T", " ")} UTC`);
      expect(line).toContain(load);
    }
  });

  it("checks every target against the results, with a verdict", () => {
    for (const t of TARGETS) {
      const cells = row(page, "target", t.target);
      expect(cells[3]).toMatch(/^(met|not met|\d+ of \d+ met)$/);
      expect(cells[1]).toBe(t.check(results).measured);
    }
  });
});

describe("bench/report.mjs", () => {
  it("takes its figures from the results: a changed value changes the page", () => {
    const changed = copy(results);
    const r = changed.mlp.runs[0].rows[0];
    r.value = 12345.6;
    const text = renderReport({ results: changed });
    expect(text).not.toBe(page);
    expect(row(text, r.suite, r.name)[1]).toBe("12,346 images/s");
  });

  it("says which command to run for each results file that is missing, and measures no target without it", () => {
    for (const name of RESULT_NAMES) {
      const partial = copy(results);
      delete partial[name];
      const text = renderReport({ results: partial });
      expect(text).toContain(`No results yet: run \`node bench/${name}.mjs\``);
      for (const t of TARGETS.filter((target) => target.files.includes(name))) {
        expect(row(text, "target", t.target)[1]).toBe(`not measured: no ${name}.json`);
      }
    }
  });

  it("refuses a template that asks for a table it does not know", () => {
    expect(() => renderReport({ results, template: "# x\n\n<!-- insert: nonsense -->\n" })).toThrow(/nonsense/);
  });

  it("says a target is not met when a figure falls short", () => {
    const slow = copy(results);
    for (const run of slow.cnn.runs) for (const r of run.rows) if (r.id === "cnn-train") r.value = 10;
    const target = "CNN training ≥ 1,000 images/s on one thread, ≥ 1,800 on two";
    expect(row(page, "target", target)[3]).toBe("met");
    expect(row(renderReport({ results: slow }), "target", target)[3]).toBe("not met");
  });
});
