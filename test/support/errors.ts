import { expect } from "vitest";
import { MnistWasmError } from "../../sdk/node";

/**
 * Calls `fn`, expecting an MnistWasmError of `code` with a one-line message that contains every
 * string and matches every pattern given.
 */
export function expectError(fn: () => unknown, code: string, ...patterns: (RegExp | string)[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "an error").toBeInstanceOf(MnistWasmError);
  const message = (caught as Error).message;
  expect((caught as MnistWasmError).code, message).toBe(code);
  expect(message).not.toContain("\n");
  for (const p of patterns) {
    if (typeof p === "string") expect(message).toContain(p);
    else expect(message).toMatch(p);
  }
}
