import { describeValue } from "./args";
import { fail } from "./errors";
import { Random } from "./random";

/**
 * Weight initialisers, all zero-mean normal:
 * - "normal": variance 1/fanIn, the course's choice (eq. 1-6);
 * - "xavier": variance 2/(fanIn + fanOut), Glorot and Bengio's normal form;
 * - "he": variance 2/fanIn, for ReLU networks.
 */
export type Initializer = "normal" | "xavier" | "he";

export const INITIALIZERS: readonly Initializer[] = ["normal", "xavier", "he"];

export function initStd(init: Initializer, fanIn: number, fanOut: number): number {
  if (!INITIALIZERS.includes(init) || !(fanIn >= 1 && fanOut >= 1))
    fail(
      "BAD_ARGUMENT",
      `initStd: init must be one of ${INITIALIZERS.join(", ")} and fanIn, fanOut at least 1, got ${describeValue(init)}, ${describeValue(fanIn)}, ${describeValue(fanOut)}`,
    );
  switch (init) {
    case "normal":
      return Math.sqrt(1 / fanIn);
    case "xavier":
      return Math.sqrt(2 / (fanIn + fanOut));
    case "he":
      return Math.sqrt(2 / fanIn);
  }
}

/** Fills `out` with normal samples of the initialiser's spread. */
export function initWeights(out: Float32Array, init: Initializer, fanIn: number, fanOut: number, rng: Random): void {
  if (!(out instanceof Float32Array) || !(rng instanceof Random))
    fail(
      "BAD_ARGUMENT",
      `initWeights: out must be a Float32Array and rng a Random, got ${describeValue(out)}, ${describeValue(rng)}`,
    );
  const std = initStd(init, fanIn, fanOut);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * std;
}
