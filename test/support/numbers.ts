// Numbers a file may state that a reader must refuse, generated from the rule they break.

import { PLAIN_DECIMAL as DECIMAL } from "../../sdk/io/model-file";

/**
 * Text that is not a number `valid` accepts: non-finite and overflowing values, values just
 * and far outside any range from 0 to 10^6, fractions, and text that Number() would still read
 * (blanks, hex, underscores). Only those the rule refuses are returned.
 */
export function badNumberTexts(valid: (x: number) => boolean): string[] {
  const candidates = [
    "Infinity",
    "-Infinity",
    "NaN",
    "1e308",
    "1e999",
    "-1e999",
    "9007199254740993",
    "2147483649",
    "1000001",
    "1.0000001",
    "-3",
    "-1",
    "-1e-9",
    "-0.5",
    "2.5",
    "0.5",
    "1e-400x",
    "",
    " ",
    " 1",
    "1 ",
    "0x10",
    "0b1",
    "1_000",
    "ten",
    "[1]",
    "+-1",
    // Numbers Number() reads that the trainer never writes: exponents, a bare point, a sign, leading zeros.
    "1e3",
    "1E5",
    ".5",
    "0.99e0",
    "1e-400",
    "+5",
    "05",
    "5.",
    "-0",
  ];
  return candidates.filter((text) => !(DECIMAL.test(text) && Number.isFinite(Number(text)) && valid(Number(text))));
}

/** JSON numbers (and non-numbers) a setting must refuse when `valid` is its rule. */
export function badJsonValues(valid: (x: number) => boolean): unknown[] {
  const candidates: unknown[] = [-1, -1e-9, 0, 0.5, 1, 2.5, 2 ** 31 + 1, 1e308, "1", null, true, [1], { n: 1 }];
  return candidates.filter((v) => !(typeof v === "number" && Number.isFinite(v) && valid(v)));
}
