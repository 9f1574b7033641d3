// Types of bench/micro-kernel.mjs for the TypeScript tests (test/bench/bench-ceiling.test.ts).
export interface MicroKernelRate {
  value: number;
  best: number;
  unit: "GFLOP/s";
  sameAsLibrary: boolean;
  correct: boolean;
}

export function microKernelGflops(relaxed: boolean, seconds?: number): Promise<MicroKernelRate>;
