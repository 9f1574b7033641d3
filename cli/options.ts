// Parsers for command-line values: each returns the value or throws a one-line usage error.
// Numbers are read as written in decimal: no sign, no hex, no spaces, nothing that Number()
// would quietly round (integers beyond 2^53) or turn into Infinity (1e400).
import { InvalidArgumentError } from "commander";
import { MAX_EPOCHS } from "../sdk/node";

const WHOLE = /^\d+$/;
const DECIMAL = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Seeds are 32-bit (sdk/random.ts takes seed >>> 0): a larger one would alias a smaller one. */
export const MAX_SEED = 0xffff_ffff;
/** Runtime.create's limit on kernel threads. */
export const MAX_THREADS = 64;

function whole(value: string): number {
  return WHOLE.test(value) ? Number(value) : NaN;
}

function decimal(value: string): number {
  return DECIMAL.test(value) ? Number(value) : NaN;
}

export function positiveInt(value: string): number {
  const n = whole(value);
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new InvalidArgumentError(`expected a positive integer up to ${Number.MAX_SAFE_INTEGER}`);
  return n;
}

/** An integer from `min` to `max`, both included. */
export function intFrom(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = whole(value);
    if (!(Number.isSafeInteger(n) && n >= min && n <= max))
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

export const seed = intFrom(0, MAX_SEED);
/** Epochs a run may count in all (sdk/io/run-record.ts). */
export const epochs = intFrom(1, MAX_EPOCHS);
export const threads = intFrom(1, MAX_THREADS);

export function positiveNumber(value: string): number {
  const n = decimal(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError("expected a positive number");
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = decimal(value);
  if (!(Number.isFinite(n) && n >= 0)) throw new InvalidArgumentError("expected a non-negative number");
  return n;
}

/** A rate or a coefficient that must stay below 1: dropout, momentum. */
export function fractionBelowOne(value: string): number {
  const n = decimal(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError("expected a number from 0 up to (not including) 1");
  return n;
}

/** "100" or "256,128": hidden layer widths. */
export function intList(value: string): number[] {
  const parts = value.split(",").map(whole);
  if (parts.some((n) => !(Number.isSafeInteger(n) && n > 0))) {
    throw new InvalidArgumentError("expected positive integers separated by commas, e.g. 100 or 256,128");
  }
  return parts;
}

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!choices.includes(value as T)) throw new InvalidArgumentError(`expected one of ${choices.join(", ")}`);
    return value as T;
  };
}
