// The names of a data set and of its classes: what a model records of the data it was trained on.
import { fail } from "../errors";
import { classNameProblem } from "../spec";
import { quote } from "../text";

/** Most classes a model may have (labels are bytes; see validateSpec). */
export const MAX_CLASS_NAMES = 255;

/**
 * The largest class names file read: MAX_CLASS_NAMES lines of the longest name (64 characters of
 * up to 4 UTF-8 bytes each) and its line break, rounded up.
 */
export const MAX_CLASS_NAMES_BYTES = 128 * 1024;

/**
 * What is wrong with a data set's name, or undefined: the rules of a class name (1 to 64
 * characters that print as themselves), as both are printed and recorded in model files, and no
 * space at either end.
 */
export function datasetNameProblem(name: unknown): string | undefined {
  const problem = classNameProblem(name);
  if (problem) return problem;
  return (name as string).trim() === name ? undefined : "starts or ends with a space";
}

/**
 * The class names of a text file with one name per line, in label order (as CIFAR-10's
 * batches.meta.txt): each name stripped of the spaces around it and valid as a class name, no
 * name twice, 1 to MAX_CLASS_NAMES of them; empty lines may end the file but not interrupt it.
 * Anything else is a BAD_FILE error naming `what` and the line.
 */
export function parseClassNames(text: string, what: string): string[] {
  const lines = text
    .replace(/^\uFEFF/, "")
    .split("\n")
    .map((l) => l.replace(/\r$/, "").trim());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) fail("BAD_FILE", `${what}: no class names (expected one name per line)`);
  if (lines.length > MAX_CLASS_NAMES)
    fail("BAD_FILE", `${what}: ${lines.length} class names, more than the ${MAX_CLASS_NAMES} a model may have`);
  const seen = new Map<string, number>();
  lines.forEach((name, i) => {
    if (name === "") fail("BAD_FILE", `${what}: line ${i + 1} is empty (expected one class name per line)`);
    const problem = classNameProblem(name);
    if (problem) fail("BAD_FILE", `${what}: the class name on line ${i + 1} ${problem}`);
    const first = seen.get(name);
    if (first !== undefined)
      fail("BAD_FILE", `${what}: line ${i + 1} repeats the class name ${quote(name)} of line ${first}`);
    seen.set(name, i + 1);
  });
  return lines;
}

/** The largest label of `labels` (0 when there are none). */
export function maxLabel(labels: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  return max;
}
