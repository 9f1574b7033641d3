// What the codes of an autoencoder say about its data: a scatter plot of the first two code
// dimensions coloured by class (SVG text, for files and pages alike), and how well the classes
// separate, measured by the nearest-centroid rule.
import { describeValue } from "../args";
import { fail } from "../errors";
import { axisTicks, escapeXml } from "./chart";

/** Ten colours told apart in print and by most colour-blind readers (Tableau 10). */
export const CLASS_COLORS = [
  "#e15759",
  "#59a14f",
  "#4e79a7",
  "#f28e2b",
  "#b07aa1",
  "#76b7b2",
  "#edc948",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/** The colour of class `label` (cycling beyond ten classes). */
export const classColor = (label: number): string => CLASS_COLORS[label % CLASS_COLORS.length];

export interface LatentPoints {
  /** Codes [count, latent] row-major; the plot shows dimensions 0 and 1. */
  codes: Float32Array;
  latent: number;
  /** Class of each code. */
  labels: ArrayLike<number>;
  /** Class names, by label. */
  classes: readonly string[];
}

const WIDTH = 560;
const HEIGHT = 480;
const MARGIN = { left: 56, right: 130, top: 36, bottom: 44 };

/** The scatter plot of codes by class as an SVG document, with a legend of the classes present. */
export function latentScatterSvg(points: LatentPoints, title = "Codes of the test images"): string {
  checkPoints(points, "latentScatterSvg");
  const { codes, latent, labels, classes } = points;
  const count = codes.length / latent;
  const xAt = (i: number): number => codes[i * latent];
  const yAt = (i: number): number => (latent > 1 ? codes[i * latent + 1] : 0);
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < count; i++) {
    [x0, x1] = [Math.min(x0, xAt(i)), Math.max(x1, xAt(i))];
    [y0, y1] = [Math.min(y0, yAt(i)), Math.max(y1, yAt(i))];
  }
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  const [padX, padY] = [(x1 - x0) * 0.04, (y1 - y0) * 0.04];
  [x0, x1, y0, y1] = [x0 - padX, x1 + padX, y0 - padY, y1 + padY];
  const w = WIDTH - MARGIN.left - MARGIN.right;
  const h = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + ((x - x0) / (x1 - x0)) * w;
  const sy = (y: number): number => MARGIN.top + h - ((y - y0) / (y1 - y0)) * h;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
  ];
  for (const t of axisTicks(x0, x1, 6)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${MARGIN.top + h + 16}" font-size="11" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of axisTicks(y0, y1, 6)) {
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${(sy(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${t}</text>`,
    );
  }
  parts.push(`<text x="${MARGIN.left + w / 2}" y="${HEIGHT - 8}" font-size="12" text-anchor="middle">code 1</text>`);
  parts.push(
    `<text x="14" y="${MARGIN.top + h / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${MARGIN.top + h / 2})">code 2</text>`,
  );
  const present = new Set<number>();
  for (let i = 0; i < count; i++) {
    present.add(labels[i]);
    parts.push(
      `<circle cx="${sx(xAt(i)).toFixed(1)}" cy="${sy(yAt(i)).toFixed(1)}" r="2.5" fill="${classColor(labels[i])}" fill-opacity="0.75"/>`,
    );
  }
  [...present]
    .sort((a, b) => a - b)
    .forEach((label, row) => {
      const y = MARGIN.top + 12 + row * 18;
      const x = MARGIN.left + w + 16;
      parts.push(`<circle cx="${x}" cy="${y - 4}" r="5" fill="${classColor(label)}"/>`);
      parts.push(`<text x="${x + 12}" y="${y}" font-size="12">${escapeXml(classes[label] ?? String(label))}</text>`);
    });
  parts.push("</svg>", "");
  return parts.join("\n");
}

/**
 * The nearest-centroid rule on codes: each class's centroid is the mean of `reference` codes of
 * that class, and each code of `points` is given the class of the nearest centroid (Euclidean).
 * Returns the fraction of `points` given their own class, and how many were judged.
 */
export function nearestCentroidAccuracy(
  reference: LatentPoints,
  points: LatentPoints,
): { accuracy: number; count: number } {
  checkPoints(reference, "nearestCentroidAccuracy: reference");
  checkPoints(points, "nearestCentroidAccuracy: points");
  if (reference.latent !== points.latent) fail("BAD_SHAPE", "nearestCentroidAccuracy: codes of different widths");
  const d = reference.latent;
  const sums = new Map<number, { sum: Float64Array; n: number }>();
  for (let i = 0; i < reference.codes.length / d; i++) {
    const label = reference.labels[i];
    const entry = sums.get(label) ?? { sum: new Float64Array(d), n: 0 };
    for (let j = 0; j < d; j++) entry.sum[j] += reference.codes[i * d + j];
    entry.n++;
    sums.set(label, entry);
  }
  const centroids = [...sums].map(([label, { sum, n }]) => ({ label, at: sum.map((v) => v / n) }));
  const count = points.codes.length / d;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    let best = -1;
    let bestDistance = Infinity;
    for (const c of centroids) {
      let distance = 0;
      for (let j = 0; j < d; j++) distance += (points.codes[i * d + j] - c.at[j]) ** 2;
      if (distance < bestDistance) [best, bestDistance] = [c.label, distance];
    }
    if (best === points.labels[i]) correct++;
  }
  return { accuracy: count ? correct / count : 0, count };
}

function checkPoints(points: LatentPoints, call: string): void {
  if (typeof points !== "object" || points === null || !(points.codes instanceof Float32Array)) {
    fail(
      "BAD_ARGUMENT",
      `${call}: expected { codes: Float32Array, latent, labels, classes }, got ${describeValue(points)}`,
    );
  }
  const { codes, latent, labels } = points;
  if (
    !Number.isInteger(latent) ||
    latent < 1 ||
    codes.length % latent !== 0 ||
    labels?.length !== codes.length / latent
  ) {
    fail(
      "BAD_SHAPE",
      `${call}: ${codes.length} code values, latent ${String(latent)} and ${String(labels?.length)} labels do not fit together`,
    );
  }
}
