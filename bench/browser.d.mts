// Types of bench/browser.mjs for the TypeScript tests (test/bench/bench-browser.test.ts).
export const CHROMIUM: string;
export const PAGE_DIST: string;

export interface BenchRow {
  id: string;
  suite: string;
  name: string;
  value: number;
  best: number;
  unit: string;
  better: "higher" | "lower";
  calls: number;
}

export interface SideResult {
  rows: BenchRow[];
  features: { relaxedSimd: boolean };
  timing: { seconds: number; warmupSeconds: number; minSamples: number; epochImages: number };
}

export interface ComparedRow {
  id: string;
  workload: string;
  unit: string;
  better: "higher" | "lower";
  node: number;
  nodeBest: number;
  chromium: number;
  chromiumBest: number;
  /** Chromium's speed over Node's. */
  ratio: number;
}

export interface BrowserBenchResult {
  date: string;
  quick: boolean;
  machine: {
    node: string;
    platform: string;
    cpu: string;
    cpuCount: number;
    loadAverage: number[];
    loadAverageBefore: number[];
  };
  node: SideResult & { version: string };
  chromium: SideResult & {
    version: string;
    userAgent: string;
    crossOriginIsolated: boolean;
    hardwareConcurrency: number;
  };
  rows: ComparedRow[];
}

export function buildBenchPage(options?: { outDir?: string }): Promise<string>;
export function runBrowserBench(options?: {
  quick?: boolean;
  suites?: string[];
  log?: (text: string) => void;
}): Promise<BrowserBenchResult>;
export function comparisonTable(result: BrowserBenchResult): string;
export function main(argv: string[]): Promise<number>;
