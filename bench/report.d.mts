// Types of bench/report.mjs for the TypeScript tests (test/bench/bench-report.test.ts).
export const RESULTS_DIR: string;
export const TEMPLATE: string;
export const README: string;
export const RESULT_NAMES: string[];
export const PEER_COLUMNS: string[];
export const ORT_COLUMNS: string[];
export function ORT_HEADERS(threads: number): string[];

/** Parsed bench/results/<name>.json files, by name; a file not there is absent. */
// biome-ignore lint/suspicious/noExplicitAny: the results files are JSON read as they are
export type Results = Record<string, any>;

export function formatFigure(value: number, unit: string): string;
export function formatPeerFigure(value: number, unit: string): string;
export interface PeerResult {
  value?: number;
  error?: string;
  method?: string;
  calls?: number;
}
export function formatPeerCell(result: PeerResult, unit: string): string;
export function formatRatio(ratio: number | null | undefined): string;

export interface Target {
  target: string;
  files: string[];
  check(results: Results): { measured: string; met: boolean[] };
}
export const TARGETS: Target[];

export function readResults(dir?: string): Results;
export function renderReport(options?: { results?: Results; template?: string }): string;
export function writeReport(options?: { out?: string; resultsDir?: string }): string;
