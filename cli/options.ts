// Parsers for command-line values: each returns the value or throws a one-line usage error.
import { InvalidArgumentError } from "commander";

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError("expected a positive integer");
  return Number(value);
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a non-negative integer");
  return Number(value);
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a non-negative number");
  return n;
}

export function dropoutRate(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !(n >= 0 && n < 1)) throw new InvalidArgumentError("expected a rate from 0 up to (not including) 1");
  return n;
}

/** "100" or "256,128": hidden layer widths. */
export function intList(value: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) <= 0)) {
    throw new InvalidArgumentError("expected positive integers separated by commas, e.g. 100 or 256,128");
  }
  return parts.map(Number);
}

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!choices.includes(value as T)) throw new InvalidArgumentError(`expected one of ${choices.join(", ")}`);
    return value as T;
  };
}
