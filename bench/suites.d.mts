// Types of bench/suites.mjs for the TypeScript tests (test/bench/bench-measure.test.ts).
export interface Timing {
  /** Seconds per call: the mean over all samples. */
  mean: number;
  /** Seconds per call in the fastest sample. */
  best: number;
  /** Calls timed in the samples. */
  calls: number;
}

export interface MeasureOptions {
  seconds?: number;
  warmupSeconds?: number;
  minSamples?: number;
  /** The clock, in seconds (default performance.now() / 1000). */
  clock?: () => number;
}

export interface Size {
  seconds: number;
  warmupSeconds: number;
  minSamples: number;
  epochImages: number;
  occasionalCalls: number;
}

export const SIZES: { full: Size; quick: Size };
export const SUITES: string[];

export function measure(fn: () => unknown, options?: MeasureOptions): Promise<Timing>;

export function clockTick(clock?: () => number): number;
export function everyFewMilliseconds(
  fn: () => unknown,
  count: number,
  options?: { clock?: () => number },
): Promise<Timing>;
