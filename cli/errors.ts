/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** The longest error line printed; longer messages keep their start and their end. */
export const MAX_ERROR_LINE = 500;

/**
 * `text` as one line of a terminal: line breaks and tabs become spaces, other control characters
 * (escape sequences among them) are shown escaped, and a message longer than MAX_ERROR_LINE keeps
 * its beginning and its end (where a hint such as "see --help" is).
 */
export function oneLine(text: string): string {
  const line = text
    .replace(/\s*[\r\n\t\v\f\u2028\u2029]+\s*/g, " ")
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .trim();
  if (line.length <= MAX_ERROR_LINE) return line;
  return `${line.slice(0, MAX_ERROR_LINE - 100)} … ${line.slice(-95)}`;
}
