// Terminal drawing: images as half-block characters, probability bars, tables.
import { escapeText } from "../sdk/node";

const SHADES = " .:-=+*#%@";

/**
 * Draws a [channels, height, width] uint8 image. With colour, each character cell shows two
 * pixel rows with "▀" (foreground = upper pixel, background = lower pixel, 24-bit colour); without,
 * each pixel becomes two characters of an ASCII grey ramp, so the drawing keeps its aspect.
 */
export function drawImage(pixels: Uint8Array, shape: readonly number[], color: boolean): string {
  const [channels, height, width] = shape;
  const plane = height * width;
  const rgb = (y: number, x: number): [number, number, number] => {
    const i = y * width + x;
    if (channels === 3) return [pixels[i], pixels[plane + i], pixels[2 * plane + i]];
    return [pixels[i], pixels[i], pixels[i]];
  };
  const lines: string[] = [];
  if (color) {
    for (let y = 0; y < height; y += 2) {
      let line = "";
      for (let x = 0; x < width; x++) {
        const [r1, g1, b1] = rgb(y, x);
        const [r2, g2, b2] = y + 1 < height ? rgb(y + 1, x) : [0, 0, 0];
        line += `\x1b[38;2;${r1};${g1};${b1}m\x1b[48;2;${r2};${g2};${b2}m▀`;
      }
      lines.push(line + "\x1b[0m");
    }
  } else {
    for (let y = 0; y < height; y++) {
      let line = "";
      for (let x = 0; x < width; x++) {
        const [r, g, b] = rgb(y, x);
        const grey = (r + g + b) / 3;
        const c = SHADES[Math.min(SHADES.length - 1, Math.floor((grey / 256) * SHADES.length))];
        line += c + c;
      }
      lines.push(line.trimEnd());
    }
  }
  return lines.join("\n");
}

/**
 * Text from a file (a class name, a metadata string) as it may be printed: characters that would
 * not print as themselves (ESC, other controls, bidi overrides) escaped as \u{…}. Model files have
 * their class names checked on load; this keeps any other source from reaching the terminal raw.
 */
export const terminalText = (text: string): string => escapeText(text);

/** One line per class: name, percentage and a bar; the predicted class marked. */
export function probabilityBars(probs: ArrayLike<number>, names: readonly string[], predicted: number): string {
  const classes = names.map(terminalText);
  const nameWidth = Math.max(...classes.map((c) => c.length));
  const lines: string[] = [];
  for (let i = 0; i < classes.length; i++) {
    const p = probs[i];
    const bar = "█".repeat(Math.round(p * 30));
    const mark = i === predicted ? " ◀" : "";
    lines.push(`  ${classes[i].padStart(nameWidth)}  ${(p * 100).toFixed(2).padStart(6)}%  ${bar}${mark}`);
  }
  return lines.join("\n");
}

/** Confusion matrix with true labels as rows and predictions as columns. */
export function confusionTable(confusion: number[][], names: readonly string[]): string {
  const classes = names.map(terminalText);
  const width = Math.max(5, ...confusion.flat().map((v) => String(v).length + 1), ...classes.map((c) => c.length + 1));
  const head = "true\\pred".padEnd(Math.max(9, ...classes.map((c) => c.length))) + " ";
  const lines = [head + classes.map((c) => c.padStart(width)).join("")];
  confusion.forEach((row, i) => {
    lines.push(classes[i].padEnd(head.length) + row.map((v) => String(v).padStart(width)).join(""));
  });
  return lines.join("\n");
}

export const percent = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** Two drawings line by line, the second starting `column` visible characters in. */
export function sideBySide(left: string, right: string, column: number): string {
  const a = left.split("\n");
  const b = right.split("\n");
  const visible = (line: string): number => line.replace(/\x1b\[[0-9;]*m/g, "").length;
  return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => {
    const l = a[i] ?? "";
    return `${l}${" ".repeat(Math.max(1, column - visible(l)))}${b[i] ?? ""}`.trimEnd();
  }).join("\n");
}
