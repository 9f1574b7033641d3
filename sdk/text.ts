// Text that comes from files (class names, tensor names, metadata) and may reach a terminal.

/**
 * A character that prints as itself: a letter, mark, digit, punctuation, symbol or space. Not a
 * control character (C0, DEL, C1: ESC starts terminal sequences), a format character (bidi
 * overrides, zero-width joiners), a line or paragraph separator, a lone surrogate, a private-use
 * or an unassigned code point.
 */
const PRINTABLE_CHAR = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]$/u;

/** The first character of `text` that does not print as itself, or undefined. */
export function firstUnprintable(text: string): string | undefined {
  for (const c of text) if (!PRINTABLE_CHAR.test(c)) return c;
  return undefined;
}

/** "U+001B": how a message names a character. */
export const codePointName = (c: string): string =>
  `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

/**
 * `text` safe to print: every character that does not print as itself written as \u{…}, and
 * at most `max` characters kept (then "…").
 */
export function escapeText(text: string, max = Infinity): string {
  let out = "";
  let count = 0;
  for (const c of String(text)) {
    // anything a file held: a number or null reads as its text
    if (count++ >= max) return out + "…";
    out += PRINTABLE_CHAR.test(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`;
  }
  return out;
}

/** `text` quoted for an error message: escaped as escapeText does, at most 64 characters. */
export const quote = (text: string, max = 64): string => `"${escapeText(text, max)}"`;
